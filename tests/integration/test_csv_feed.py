"""CsvFeed on the shipped real samples and on generated variants of them (real files)."""

from __future__ import annotations

import gzip
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters.csv import CsvFeed, Manifest, NseCalendar, discover, read_bar_file
from adapters.csv.calendar import day_number
from adapters.csv.manifest import SourceSpec
from core.errors import ConfigError, DataError
from core.model import IST_OFFSET_NS, Interval

ROOT = Path(__file__).resolve().parents[2]
MARKET = ROOT / "data" / "market"
IST = timezone(timedelta(hours=5, minutes=30))
# non-bar tables that live next to the bars (read by their own loaders, not by CsvFeed)
AUXILIARY_TABLES = {"corporate_actions.csv"}


@pytest.fixture(scope="module")
def calendar() -> NseCalendar:
    return NseCalendar(ROOT / "data" / "calendar")


@pytest.fixture(scope="module")
def feed(calendar) -> CsvFeed:
    return CsvFeed(MARKET, calendar=calendar)


@pytest.fixture(scope="module")
def tcs_frame() -> pd.DataFrame:
    return pd.read_csv(MARKET / "TCS_1minute.csv.gz", dtype=str)


def _write(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            frame.to_csv(fh, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _same(a, b) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.start_ns, b.start_ns)
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


# -- shipped data ---------------------------------------------------------------------------
def test_every_shipped_market_file_validates_clean(calendar):
    files = discover(MARKET)
    loose = sorted(p.name for p in MARKET.iterdir() if p.name.endswith((".csv", ".csv.gz"))
                   and p.name not in AUXILIARY_TABLES)
    listed = sorted(f.name for fs in files.values() for f in fs)
    assert loose == listed, "every CSV in data/market must follow SYMBOL_interval.csv[.gz]"
    manifest = Manifest.load(MARKET)
    assert manifest.path is not None
    for (symbol, interval), paths in files.items():
        for path in paths:
            assert manifest.entry_for(path) is not None, f"{path.name} has no [[source]] entry in sources.toml"
            _, report = read_bar_file(path, symbol=symbol, interval=interval, spec=manifest.resolve(path),
                                      calendar=calendar)
            assert report.ok, [str(e) for e in report.errors]
            assert report.rows_used == report.rows_read
            assert report.out_of_session == 0 and not report.extra_sessions and not report.missing_sessions


def test_shipped_symbols(feed):
    assert feed.symbols(Interval.MINUTE_1) == ["NIFTY50", "TCS"]
    assert feed.symbols(Interval.DAY_1) == ["HDFCBANK", "INFY", "RELIANCE", "SBIN", "TATAMOTORS", "TCS", "WIPRO"]
    assert feed.symbols(Interval.MINUTE_5) == ["NIFTY50", "TCS"]  # built from 1-minute


def test_tcs_minute_sample(feed):
    series = feed.history_series("TCS", Interval.MINUTE_1)
    assert len(series) == 14_625
    bars = feed.history("TCS", Interval.MINUTE_1)
    assert bars[0].start == datetime(2024, 1, 1, 9, 15, tzinfo=IST)
    assert bars[-1].start == datetime(2024, 2, 23, 15, 29, tzinfo=IST)
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].volume) == (3790.0, 3793.0, 3783.0,
                                                                                        3788.0, 7724)
    report = feed.reports("TCS", Interval.MINUTE_1)[0]
    assert report.sessions == 39 and report.gaps == 0 and report.missing_bars == 0
    assert any(s.startswith("2024-01-20") for s in report.special_sessions)  # Saturday special live session


def test_nifty_end_labelled_sample_is_normalised_to_bar_start(feed):
    bars = feed.history("NIFTY50", Interval.MINUTE_1)
    # file: first label 09:16 (bar end) -> bar start 09:15; last label 15:30 -> 15:29
    assert bars[0].start == datetime(2016, 7, 1, 9, 15, tzinfo=IST)
    assert bars[-1].start == datetime(2016, 9, 30, 15, 29, tzinfo=IST)
    assert bars[0].open == 8317.05 and bars[0].volume is None
    report = feed.reports("NIFTY50", Interval.MINUTE_1)[0]
    assert report.label == "end" and report.declared_by.startswith("manifest:")
    assert {"date": "2016-08-31", "bars": 284, "expected": 375} in report.short_sessions


def test_daily_samples_report_unadjusted_bonus_moves(feed):
    series = feed.history_series("RELIANCE", Interval.DAY_1)
    assert len(series) == 1087
    first = feed.history("RELIANCE", Interval.DAY_1)[0]
    assert first.start == datetime(2016, 1, 1, tzinfo=IST)  # daily bars start 00:00 IST of the session date
    assert first.close == 1015.35 and first.volume == 1238135
    moves = feed.reports("RELIANCE", Interval.DAY_1)[0].big_moves
    assert [m["date"] for m in moves] == ["2017-09-07"]
    assert moves[0]["change_pct"] == pytest.approx(-50.28, abs=0.01)
    assert "1:1 bonus" in moves[0]["hint"]


def test_history_bounds_and_series_agree(feed):
    start = datetime(2024, 1, 2, 9, 15, tzinfo=IST)
    end = datetime(2024, 1, 3, tzinfo=IST)
    bars = feed.history("TCS", Interval.MINUTE_1, start, end)
    series = feed.history_series("TCS", Interval.MINUTE_1, start, end)
    assert len(bars) == len(series) == 375
    assert bars[0].start == start and bars[-1].start == datetime(2024, 1, 2, 15, 29, tzinfo=IST)
    assert [b.close for b in bars] == series.close.tolist()
    # same instant expressed in UTC gives the same slice
    utc_start = start.astimezone(timezone.utc)
    assert len(feed.history_series("TCS", Interval.MINUTE_1, utc_start, end)) == 375
    with pytest.raises(DataError, match="timezone-aware"):
        feed.history_series("TCS", Interval.MINUTE_1, datetime(2024, 1, 2), None)


def test_resampled_five_and_fifteen_minute_bars(feed):
    one = feed.history_series("TCS", Interval.MINUTE_1)
    five = feed.history_series("TCS", Interval.MINUTE_5)
    fifteen = feed.history_series("TCS", Interval.MINUTE_15)
    assert len(five) == 39 * 75 and len(fifteen) == 39 * 25
    assert five.open[0] == one.open[0] and five.close[0] == one.close[4]
    assert five.high[0] == one.high[:5].max() and five.low[0] == one.low[:5].min()
    assert five.volume[0] == one.volume[:5].sum()
    assert fifteen.bars()[-1].start == datetime(2024, 2, 23, 15, 15, tzinfo=IST)


def test_unknown_symbol(feed):
    with pytest.raises(DataError, match="no 1minute data for symbol 'NOPE'.*available: NIFTY50, TCS"):
        feed.history_series("NOPE", Interval.MINUTE_1)


def test_describe_records_effective_settings(feed):
    d = feed.describe()
    assert d["timezone"] == "Asia/Kolkata" and d["label"] == "start" and d["lenient"] is False
    assert any(s["glob"].startswith("NIFTY50") and s["label"] == "end" for s in d["manifest"]["sources"])
    assert d["calendar"]["special_sessions_file"].endswith("nse_sessions_missing_from_calendars_observed.csv")


# -- label, timezone and layout equivalences -----------------------------------------------
def test_start_and_end_label_of_the_same_minutes_give_identical_bars(tmp_path, tcs_frame, calendar):
    start_dir, end_dir = tmp_path / "start", tmp_path / "end"
    _write(start_dir / "TCS_1minute.csv.gz", tcs_frame)
    shifted = tcs_frame.copy()
    ts = pd.to_datetime(shifted["timestamp"]) + pd.Timedelta(minutes=1)  # 09:16 .. 15:30 labels
    shifted["timestamp"] = ts.dt.strftime("%Y-%m-%dT%H:%M:%S+05:30")
    _write(end_dir / "TCS_1minute.csv.gz", shifted)
    a = CsvFeed(start_dir, label="start", calendar=calendar).history_series("TCS", Interval.MINUTE_1)
    b = CsvFeed(end_dir, label="end", calendar=calendar).history_series("TCS", Interval.MINUTE_1)
    _same(a, b)
    # read with the wrong declaration the 15:30-labelled bar falls outside the session and is reported
    wrong = CsvFeed(end_dir, label="start", calendar=calendar)
    assert len(wrong.history_series("TCS", Interval.MINUTE_1)) == len(a) - 39
    assert wrong.reports("TCS", Interval.MINUTE_1)[0].out_of_session_by_time == {"15:30": 39}


def test_utc_aware_and_declared_naive_utc_files_equal_ist(tmp_path, tcs_frame, calendar):
    ts = pd.to_datetime(tcs_frame["timestamp"]).dt.tz_convert("UTC")
    aware = tcs_frame.rename(columns={"timestamp": "timestamp_utc"}).assign(
        timestamp_utc=ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    naive = tcs_frame.assign(timestamp=ts.dt.strftime("%Y-%m-%d %H:%M:%S"))
    _write(tmp_path / "aware" / "TCS_1minute.csv.gz", aware)
    _write(tmp_path / "naive" / "TCS_1minute.csv", naive)
    (tmp_path / "naive" / "sources.toml").write_text('[[source]]\nglob = "TCS_*"\ntimezone = "UTC"\n')
    ref = CsvFeed(MARKET, calendar=calendar).history_series("TCS", Interval.MINUTE_1)
    _same(ref, CsvFeed(tmp_path / "aware", calendar=calendar).history_series("TCS", Interval.MINUTE_1))
    naive_feed = CsvFeed(tmp_path / "naive", calendar=calendar)
    _same(ref, naive_feed.history_series("TCS", Interval.MINUTE_1))
    assert naive_feed.reports("TCS", Interval.MINUTE_1)[0].timezone == "UTC"
    # the same naive UTC file read as IST (undeclared) is shifted 5:30 and mostly out of session
    _write(tmp_path / "undeclared" / "TCS_1minute.csv", naive)
    wrong = CsvFeed(tmp_path / "undeclared", calendar=calendar)
    assert len(wrong.history_series("TCS", Interval.MINUTE_1)) < len(ref) // 2
    assert wrong.reports("TCS", Interval.MINUTE_1)[0].out_of_session > len(ref) // 2


def test_directory_layout_concatenates_and_deduplicates(tmp_path, tcs_frame, calendar):
    folder = tmp_path / "TCS" / "1minute"
    jan = tcs_frame[tcs_frame["timestamp"] < "2024-02-02"]
    feb = tcs_frame[tcs_frame["timestamp"] >= "2024-01-31"]  # overlaps two days with January
    _write(folder / "2024-01.csv.gz", jan)
    _write(folder / "2024-02.csv", feb)
    feed = CsvFeed(tmp_path, calendar=calendar)
    assert feed.symbols(Interval.MINUTE_1) == ["TCS"]
    assert feed.files("TCS", "1min") == [folder / "2024-01.csv.gz", folder / "2024-02.csv"]
    _same(CsvFeed(MARKET, calendar=calendar).history_series("TCS", Interval.MINUTE_1),
          feed.history_series("TCS", Interval.MINUTE_1))
    # overlapping files that disagree are rejected, naming both files and rows
    feb2 = feb.copy()
    feb2.loc[feb2.index[0], "volume"] = "1"
    _write(folder / "2024-02.csv", feb2)
    with pytest.raises(DataError) as info:
        CsvFeed(tmp_path, calendar=calendar).history_series("TCS", Interval.MINUTE_1)
    msg = str(info.value)
    assert "2024-01.csv.gz" in msg and "2024-02.csv" in msg and "row 1" in msg and "2024-01-31 09:15" in msg


# -- sessions, renames, manifest ------------------------------------------------------------
def test_out_of_session_rows_are_dropped_and_counted(tmp_path, calendar):
    rows = ["timestamp,open,high,low,close",
            "2020-03-02 09:08:00,100,100,100,100",  # pre-open auction row (end label)
            *[f"2020-03-02 {9 + (15 + m) // 60:02d}:{(15 + m) % 60:02d}:00,100,101,99,100" for m in range(1, 376)],
            "2020-03-02 15:31:00,100,100,100,100", "2020-03-02 15:35:00,100,100,100,100",
            "2020-03-02 16:36:00,100,100,100,100"]
    path = tmp_path / "NIFTY50_1minute.csv"
    path.write_text("\n".join(rows) + "\n")
    feed = CsvFeed(tmp_path, label="end", calendar=calendar)
    series = feed.history_series("NIFTY50", Interval.MINUTE_1)
    assert len(series) == 375
    report = feed.reports("NIFTY50", Interval.MINUTE_1)[0]
    assert report.rows_read == 379 and report.out_of_session == 4
    assert report.out_of_session_by_time == {"09:08": 1, "15:31": 1, "15:35": 1, "16:36": 1}
    assert any("outside the session" in w for w in report.warnings)


def test_weekday_muhurat_uses_the_calendars_special_hours(tmp_path, calendar):
    assert calendar.session_hours(date(2017, 10, 19)) == (18 * 60 + 30, 19 * 60 + 30)
    rows = ["timestamp,open,high,low,close"]
    rows += [f"2017-10-19 {18 + (30 + m) // 60}:{(30 + m) % 60:02d}:00,100,101,99,100" for m in range(60)]
    rows += ["2017-10-19 19:45:00,100,101,99,100"]
    (tmp_path / "X_1minute.csv").write_text("\n".join(rows) + "\n")
    feed = CsvFeed(tmp_path, calendar=calendar)
    assert len(feed.history_series("X", Interval.MINUTE_1)) == 60
    report = feed.reports("X", Interval.MINUTE_1)[0]
    assert report.out_of_session == 1 and report.missing_bars == 0
    assert report.special_sessions and report.special_sessions[0].startswith("2017-10-19")


def test_calendar_sessions(calendar):
    assert calendar.is_session(date(2024, 1, 19))
    assert calendar.is_session(date(2024, 1, 20))  # Saturday special live session (extras file)
    assert not calendar.is_session(date(2024, 1, 22))  # declared holiday
    assert not calendar.is_session(date(2024, 1, 21))  # Sunday
    assert calendar.session_hours(date(2024, 1, 2)) == (555, 930)
    days = calendar.sessions_between(day_number(date(2024, 1, 1)), day_number(date(2024, 1, 31)))
    assert len(days) == 22  # 21 weekday sessions (26 Jan and 22 Jan closed) + Saturday 20 Jan


def test_missing_and_extra_sessions_are_reported(tmp_path, calendar):
    rows = ["Date,Symbol,Open,High,Low,Close,Volume",
            "2024-01-01,X,10,11,9,10,5", "2024-01-02,X,10,11,9,10,5",
            # 2024-01-03 missing
            "2024-01-04,X,10,11,9,10,5", "2024-01-06,X,10,11,9,10,5"]  # Saturday: unknown session
    (tmp_path / "X_1day.csv").write_text("\n".join(rows) + "\n")
    feed = CsvFeed(tmp_path, calendar=calendar)
    assert len(feed.history_series("X", Interval.DAY_1)) == 4
    report = feed.reports("X", Interval.DAY_1)[0]
    assert report.missing_sessions == ["2024-01-03", "2024-01-05"]
    assert report.extra_sessions == ["2024-01-06"]


def test_renamed_symbol_inside_a_daily_file(tmp_path, calendar):
    rows = ["Date,Symbol,Series,Open,High,Low,Last,Close,Volume",
            "2003-10-10,TELCO,EQ,100,110,95,105,105,10",
            "2003-10-13,TELCO,EQ,105,112,101,110,110,10",
            "2003-10-14,TATAMOTORS,EQ,110,115,108,112,112,10",
            "2003-10-15,TATAMOTORS,EQ,112,116,110,114,114,10"]
    (tmp_path / "TATAMOTORS_1day.csv").write_text("\n".join(rows) + "\n")
    feed = CsvFeed(tmp_path, calendar=calendar)
    bars = feed.history("TATAMOTORS", Interval.DAY_1)
    assert [b.symbol for b in bars] == ["TATAMOTORS"] * 4
    report = feed.reports("TATAMOTORS", Interval.DAY_1)[0]
    assert report.symbol_column == [{"row": 1, "date": "2003-10-10", "value": "TELCO"},
                                    {"row": 3, "date": "2003-10-14", "from": "TELCO", "value": "TATAMOTORS"}]
    assert any("TELCO -> TATAMOTORS" in w for w in report.warnings)


def test_intraday_big_move_is_flagged(tmp_path, calendar):
    rows = ["timestamp,open,high,low,close"]
    for day, price in (("2024-01-01", 1000), ("2024-01-02", 500)):
        rows += [f"{day} {9 + (15 + m) // 60:02d}:{(15 + m) % 60:02d}:00,{price},{price},{price},{price}"
                 for m in range(375)]
    (tmp_path / "X_1minute.csv").write_text("\n".join(rows) + "\n")
    # Beyond NSE's price bands: an error unless the split is in the corporate-actions list.
    with pytest.raises(DataError, match="beyond NSE's price bands.*unadjusted 1:2 split"):
        CsvFeed(tmp_path, calendar=calendar, big_move_threshold=0.2).history_series("X", Interval.MINUTE_1)
    (tmp_path / "corporate_actions.csv").write_text("symbol,ex_date,factor\nX,2024-01-02,2\n")
    feed = CsvFeed(tmp_path, calendar=calendar, big_move_threshold=0.2)
    feed.history_series("X", Interval.MINUTE_1)
    moves = feed.reports("X", Interval.MINUTE_1)[0].big_moves
    assert moves == [{"date": "2024-01-02", "prev_close": 1000.0, "close": 500.0, "change_pct": -50.0,
                      "hint": "looks like an unadjusted 1:2 split or 1:1 bonus"}]


def test_manifest_globs_match_nested_layouts(tmp_path):
    (tmp_path / "sources.toml").write_text('[[source]]\nglob = "NIFTY50/1minute/*"\nlabel = "end"\n')
    m = Manifest.load(tmp_path)
    assert m.resolve(tmp_path / "NIFTY50" / "1minute" / "2016-07.csv.gz").label == "end"
    assert m.resolve(tmp_path / "TCS" / "1minute" / "2024-01.csv.gz").label == "start"


def test_manifest_precedence_and_errors(tmp_path):
    (tmp_path / "sources.toml").write_text(
        '[defaults]\ntimezone = "UTC"\nlabel = "end"\n\n'
        '[[source]]\nglob = "A_*"\nlabel = "start"\n')
    m = Manifest.load(tmp_path)
    assert m.resolve(tmp_path / "A_1minute.csv") == SourceSpec(
        timezone="UTC", label="start", declared_by="timezone=manifest-defaults, label=manifest:A_*")
    assert m.resolve(tmp_path / "B_1minute.csv").label == "end"
    # constructor / CLI values beat [defaults] but not a file's own entry
    spec = m.resolve(tmp_path / "A_1minute.csv", timezone="Asia/Kolkata", label="end")
    assert (spec.timezone, spec.label) == ("Asia/Kolkata", "start")
    (tmp_path / "sources.toml").write_text('[[source]]\nglob = "A_*"\nlabel = "middle"\n')
    with pytest.raises(ConfigError, match=r"sources.toml \[\[source\]\] #1.label: bar label must be 'start' or 'end'"):
        Manifest.load(tmp_path)
    (tmp_path / "sources.toml").write_text('[[source]]\nglob = "A_*"\ntimezone = "India/Mumbai"\n')
    with pytest.raises(ConfigError, match="unknown timezone 'India/Mumbai'"):
        Manifest.load(tmp_path)
    (tmp_path / "sources.toml").write_text('[[source]\nglob = "A_*"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        CsvFeed(tmp_path)
    with pytest.raises(ConfigError, match="bar label must be"):
        CsvFeed(MARKET, label="middle")


def test_feed_cache_follows_file_changes(tmp_path, tcs_frame, calendar):
    path = _write(tmp_path / "TCS_1minute.csv", tcs_frame.head(375))
    feed = CsvFeed(tmp_path, calendar=calendar)
    assert len(feed.history_series("TCS", Interval.MINUTE_1)) == 375
    assert feed.history_series("TCS", Interval.MINUTE_1) is feed.history_series("TCS", Interval.MINUTE_1)
    _write(path, tcs_frame.head(750))
    assert len(feed.history_series("TCS", Interval.MINUTE_1)) == 750


def test_series_start_ns_is_ist_aligned(feed):
    s = feed.history_series("NIFTY50", Interval.MINUTE_1)
    minute_of_day = ((s.start_ns + IST_OFFSET_NS) % (86_400 * 10**9)) // (60 * 10**9)
    assert minute_of_day.min() == 9 * 60 + 15 and minute_of_day.max() == 15 * 60 + 29


def test_native_five_minute_file_end_labelled_equals_resampled_minutes(tmp_path, feed, calendar):
    five = feed.history_series("TCS", Interval.MINUTE_5)
    labels = pd.to_datetime(five.start_ns + 5 * 60 * 10**9, utc=True).tz_convert("Asia/Kolkata")
    frame = pd.DataFrame({"datetime": labels.strftime("%Y-%m-%d %H:%M:%S"), "o": five.open, "h": five.high,
                          "l": five.low, "c": five.close, "vol": five.volume.astype(np.int64)})
    _write(tmp_path / "TCS_5minute.csv.gz", frame)  # naive IST, stamped at each bar's END (09:20 first)
    native = CsvFeed(tmp_path, label="end", calendar=calendar)
    _same(five, native.history_series("TCS", Interval.MINUTE_5))
    report = native.reports("TCS", Interval.MINUTE_5)[0]
    assert report.out_of_session == 0 and report.missing_bars == 0 and report.first == "2024-01-01 09:15"
