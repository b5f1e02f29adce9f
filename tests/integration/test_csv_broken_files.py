"""A corpus of deliberately broken bar files: one defect each, each rejected precisely.

Every case starts from the same clean 6-bar file (real TCS minutes, 2024-01-01 09:15-09:20
IST, bar-start labels) and changes one thing. The test checks the typed error, its
row/column, and that the message names the file, the row, the column and the problem;
and that nothing from the file is delivered (the feed raises, the report has no rows used).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from adapters.csv import CsvFeed, read_bar_file
from adapters.csv.manifest import SourceSpec
from core.errors import DataError
from core.model import Interval

HEADER = "timestamp,symbol,open,high,low,close,volume"
CLEAN = [
    "2024-01-01T09:15:00+05:30,TCS,3790.0,3793.0,3783.0,3788.0,7724",
    "2024-01-01T09:16:00+05:30,TCS,3787.0,3787.0,3776.0,3779.85,8576",
    "2024-01-01T09:17:00+05:30,TCS,3780.8,3786.0,3780.8,3782.5,3454",
    "2024-01-01T09:18:00+05:30,TCS,3782.5,3785.0,3780.0,3784.0,2100",
    "2024-01-01T09:19:00+05:30,TCS,3784.0,3786.5,3783.1,3785.2,1900",
    "2024-01-01T09:20:00+05:30,TCS,3785.2,3787.0,3784.0,3786.0,1500",
]
SPEC = SourceSpec(timezone="Asia/Kolkata", label="start")


def _replace(row: int, column: str, value: str, rows: list[str] | None = None) -> list[str]:
    """Copy of CLEAN with data row ``row`` (1-based), ``column`` set to ``value``."""
    names = HEADER.split(",")
    out = list(CLEAN if rows is None else rows)
    fields = out[row - 1].split(",")
    fields[names.index(column)] = value
    out[row - 1] = ",".join(fields)
    return out


def _write(tmp_path: Path, lines: list[str], header: str = HEADER, gz: bool = True) -> Path:
    path = tmp_path / ("TCS_1minute.csv.gz" if gz else "TCS_1minute.csv")
    text = "\n".join([header, *lines]) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


# name, lines, header, expected row, expected column, fragments the message must contain
CASES = [
    ("duplicate_exact", CLEAN[:3] + [CLEAN[2]] + CLEAN[3:], HEADER, 4, "timestamp",
     ["duplicate timestamp", "exact copy of row 3", "lenient"]),
    ("duplicate_conflicting", CLEAN[:3] + [CLEAN[2].replace("3782.5,3454", "3783.0,3454")] + CLEAN[3:], HEADER,
     4, "timestamp", ["duplicate timestamp", "different prices"]),
    ("high_below_open", _replace(2, "high", "3786.0"), HEADER, 2, "high", ["high 3786.0 is below open 3787.0"]),
    ("high_below_close", _replace(3, "high", "3782.0"), HEADER, 3, "high", ["high 3782.0 is below close 3782.5"]),
    ("low_above_open", _replace(4, "low", "3783.0"), HEADER, 4, "low", ["low 3783.0 is above open 3782.5"]),
    ("low_above_close", _replace(2, "low", "3780.0"), HEADER, 2, "low", ["low 3780.0 is above close 3779.85"]),
    ("high_below_low", _replace(2, "low", "3790.0", _replace(2, "high", "3770.0")), HEADER, 2, "high",
     ["high 3770.0 is below low 3790.0"]),
    ("nan_close", _replace(3, "close", "NaN"), HEADER, 3, "close", ["close is empty or NaN"]),
    ("empty_open", _replace(6, "open", ""), HEADER, 6, "open", ["open is empty or NaN"]),
    ("inf_high", _replace(2, "high", "inf"), HEADER, 2, "high", ["high is infinite"]),
    ("zero_price", _replace(4, "low", "0"), HEADER, 4, "low", ["low is 0.0", "must be positive"]),
    ("negative_price", _replace(5, "open", "-3784.0"), HEADER, 5, "open", ["open is -3784.0", "must be positive"]),
    ("negative_volume", _replace(3, "volume", "-5"), HEADER, 3, "volume", ["volume is -5.0", "cannot be negative"]),
    ("text_in_price", _replace(2, "close", "37x9"), HEADER, 2, "close", ["'37x9' is not a number"]),
    ("unparseable_timestamp", _replace(5, "timestamp", "2024-01-01 9h19"), HEADER, 5, "timestamp",
     ["cannot parse timestamp '2024-01-01 9h19'"]),
    ("mixed_offsets", _replace(3, "timestamp", "2024-01-01 09:17:00"), HEADER, 3, "timestamp",
     ["has no UTC offset", "one form throughout"]),
    ("empty_timestamp", _replace(2, "timestamp", ""), HEADER, 2, "timestamp", ["timestamp"]),
    ("unsorted", [CLEAN[0], CLEAN[2], CLEAN[1], *CLEAN[3:]], HEADER, 3, "timestamp",
     ["not sorted", "09:16", "09:17"]),
    ("off_grid", _replace(4, "timestamp", "2024-01-01T09:18:30+05:30"), HEADER, 4, "timestamp",
     ["not on the 1minute grid"]),
    ("missing_close_column", [",".join(x.split(",")[:5] + x.split(",")[6:]) for x in CLEAN],
     "timestamp,symbol,open,high,low,volume", None, "close", ["missing required column(s) close", "close: close/c"]),
    ("missing_timestamp_column", [",".join(x.split(",")[1:]) for x in CLEAN], "symbol,open,high,low,close,volume",
     None, "timestamp", ["missing required column(s) timestamp", "timestamp/timestamp_utc/datetime"]),
    ("ragged_row", CLEAN[:2] + [CLEAN[2] + ",99"] + CLEAN[3:], HEADER, 3, None, ["8 fields", "header has 7"]),
    ("header_only", [], HEADER, None, None, ["no data rows"]),
    # Impossible values (issue 19): absurd magnitudes, spikes beyond NSE's price bands, dates the
    # calendar does not know, and files with no usable row.
    ("huge_prices", [",".join([r.split(",")[0], "TCS", "1e308", "1e308", "1e308", "1e308", "10"]) for r in CLEAN],
     HEADER, 1, "open", ["beyond any NSE share price"]),
    ("spike_bar", _replace(4, "high", "1000000000000.0"), HEADER, 4, "high", ["beyond any NSE share price"]),
    ("band_spike", _replace(4, "high", "6000.0"), HEADER, 4, "high", ["beyond NSE's price bands", "58%"]),
    ("year_2099", [r.replace("2024-01-01", "2099-01-01") for r in CLEAN], HEADER, 1, "timestamp",
     ["outside the NSE calendar's known years"]),
    ("year_1970", [r.replace("2024-01-01", "1970-01-01") for r in CLEAN], HEADER, 1, "timestamp",
     ["outside the NSE calendar's known years"]),
    ("all_outside_session", [r.replace("T09:", "T03:") for r in CLEAN], HEADER, None, None,
     ["no usable row", "outside NSE session hours"]),
]


@pytest.mark.parametrize("name,lines,header,row,column,fragments", CASES, ids=[c[0] for c in CASES])
def test_broken_file_is_rejected_precisely(tmp_path, name, lines, header, row, column, fragments):
    path = _write(tmp_path, lines, header)
    cols, report = read_bar_file(path, symbol="TCS", interval=Interval.MINUTE_1, spec=SPEC)
    assert cols is None, f"{name}: a broken file must deliver nothing"
    assert report.errors, f"{name}: no error reported"
    err = report.errors[0]
    assert isinstance(err, DataError)
    assert err.path == str(path)
    assert err.row == row
    assert err.column == column
    message = str(err)
    assert str(path) in message
    if row is not None:
        assert f"row {row}" in message
    if column is not None:
        assert f"column '{column}'" in message
    for fragment in fragments:
        assert fragment in message, f"{name}: {fragment!r} not in {message!r}"
    # the feed refuses the whole file with the same precise error
    with pytest.raises(DataError) as info:
        CsvFeed(tmp_path).history_series("TCS", Interval.MINUTE_1)
    assert info.value.row == row and info.value.column == column


def test_empty_file(tmp_path):
    path = tmp_path / "TCS_1minute.csv"
    path.write_text("")
    _, report = read_bar_file(path, symbol="TCS", interval=Interval.MINUTE_1, spec=SPEC)
    assert "the file is empty" in str(report.errors[0])


def test_not_gzip(tmp_path):
    path = tmp_path / "TCS_1minute.csv.gz"
    path.write_text("timestamp,open\n")
    _, report = read_bar_file(path, symbol="TCS", interval=Interval.MINUTE_1, spec=SPEC)
    assert str(path) in str(report.errors[0]) and "gzip" in str(report.errors[0])


def test_plain_csv_and_aliases_read(tmp_path):
    header = "Datetime,Ticker,O,H,L,C,Vol,oi"
    lines = [x + ",0" for x in CLEAN]
    path = _write(tmp_path, lines, header, gz=False)
    cols, report = read_bar_file(path, symbol="TCS", interval=Interval.MINUTE_1, spec=SPEC)
    assert report.ok, report.errors
    assert len(cols) == 6 and cols.volume[0] == 7724


def test_several_defects_are_all_listed_in_the_report(tmp_path):
    lines = _replace(5, "volume", "-1", _replace(2, "high", "3786.0"))
    path = _write(tmp_path, lines)
    _, report = read_bar_file(path, symbol="TCS", interval=Interval.MINUTE_1, spec=SPEC)
    assert [(e.row, e.column) for e in report.errors] == [(2, "high"), (5, "volume")]
    with pytest.raises(DataError, match=r"row 2, column 'high'.*1 more problem"):
        CsvFeed(tmp_path).history_series("TCS", Interval.MINUTE_1)


def test_lenient_drops_exact_duplicates_only(tmp_path):
    path = _write(tmp_path, CLEAN[:3] + [CLEAN[2]] + CLEAN[3:])
    feed = CsvFeed(tmp_path, lenient=True)
    series = feed.history_series("TCS", Interval.MINUTE_1)
    assert len(series) == 6
    report = feed.reports("TCS", Interval.MINUTE_1)[0]
    assert report.duplicates_dropped == 1
    assert any("exact duplicate" in w for w in report.warnings)
    # a conflicting duplicate and any other defect are still rejected in lenient mode
    _write(tmp_path, CLEAN[:3] + [CLEAN[2].replace(",3454", ",3455")] + CLEAN[3:])
    with pytest.raises(DataError, match="different prices"):
        CsvFeed(tmp_path, lenient=True).history_series("TCS", Interval.MINUTE_1)
    _write(tmp_path, _replace(2, "high", "3786.0"))
    with pytest.raises(DataError, match="below open"):
        CsvFeed(tmp_path, lenient=True).history_series("TCS", Interval.MINUTE_1)
    assert path.exists()


def test_empty_volume_is_allowed_as_missing(tmp_path):
    _write(tmp_path, _replace(2, "volume", ""))
    series = CsvFeed(tmp_path).history_series("TCS", Interval.MINUTE_1)
    assert np.isnan(series.volume[1]) and series.volume[0] == 7724
    assert series.bars()[1].volume is None


def test_committed_broken_corpus_is_rejected(tmp_path):
    """The small committed files under tests/data/broken each fail with row and column."""
    folder = Path(__file__).resolve().parents[1] / "data" / "broken"
    files = sorted(folder.glob("*.csv"))
    assert len(files) >= 5
    for f in files:
        expected_row = int(f.name.split("__row")[1].split("_")[0]) if "__row" in f.name else None
        _, report = read_bar_file(f, symbol="X", interval=Interval.MINUTE_1, spec=SPEC)
        assert not report.ok, f
        assert report.errors[0].row == expected_row, (f, str(report.errors[0]))
