"""Indicators against independent pandas computations; batch == incremental; FeatureBook."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from core.features import (
    ATR,
    EMA,
    RSI,
    SMA,
    VWAP,
    BarColumns,
    FeatureBook,
    RollingPaiseSum,
    RollingReturn,
    RollingVolatility,
    ist_minute_of_day,
    ist_session,
)
from core.model import Bar, BarSeries, Interval

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
IST = timezone(timedelta(hours=5, minutes=30))
ALL_SPECS = [SMA(1), SMA(5), SMA(20), EMA(1), EMA(9), EMA(21), RSI(), RSI(3), ATR(), ATR(5), VWAP(),
             RollingReturn(1), RollingReturn(10), RollingVolatility(2), RollingVolatility(20),
             RollingPaiseSum(10), RollingPaiseSum(30)]


def minute_series(n: int, seed: int, *, volume: str = "full", days_gap: bool = True,
                  symbol: str = "SYN") -> BarSeries:
    """Random-walk 1-minute bars, 375 per IST session from 09:15, prices on the paisa."""
    rng = np.random.default_rng(seed)
    close = np.round(500 * np.exp(np.cumsum(rng.normal(0, 2e-3, n))), 2)
    # Flat stretches and exact repeats exercise ties, zero ranges and zero returns.
    flat = rng.random(n) < 0.1
    close[1:][flat[1:]] = close[:-1][flat[1:]]
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.round(np.abs(rng.normal(0, 0.4, n)), 2)
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - np.round(np.abs(rng.normal(0, 0.4, n)), 2)
    day = np.arange(n) // 375
    if days_gap:
        day = day + (day // 5) * 2  # skip weekends
    minute = np.arange(n) % 375
    base = np.int64(int(datetime(2024, 1, 1, 9, 15, tzinfo=IST).timestamp())) * 10**9
    start = base + day.astype(np.int64) * 86_400 * 10**9 + minute.astype(np.int64) * 60 * 10**9
    if volume == "full":
        vol = rng.integers(0, 5000, n).astype(np.float64)
    elif volume == "none":
        vol = np.full(n, np.nan)
    else:  # patchy: some missing, some zero
        vol = rng.integers(0, 5000, n).astype(np.float64)
        vol[rng.random(n) < 0.02] = np.nan
        vol[rng.random(n) < 0.05] = 0.0
    return BarSeries(symbol=symbol, interval=Interval.MINUTE_1, start_ns=start, open=open_, high=high,
                     low=low, close=close, volume=vol)


def nifty_minute() -> BarSeries:
    path = DATA / "NIFTY50_1minute.csv.gz"
    if not path.exists():
        pytest.skip(f"sample file {path} is not in this checkout")
    df = pd.read_csv(path)
    ts = pd.to_datetime(df["timestamp"], utc=True) - pd.Timedelta(minutes=1)  # labelled by bar END
    return BarSeries(symbol="NIFTY50", interval=Interval.MINUTE_1,
                     start_ns=ts.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64),
                     open=df["open"].to_numpy(float), high=df["high"].to_numpy(float),
                     low=df["low"].to_numpy(float), close=df["close"].to_numpy(float),
                     volume=np.full(len(df), np.nan))


def tcs_minute() -> BarSeries:
    path = DATA / "TCS_1minute.csv.gz"
    if not path.exists():
        pytest.skip(f"sample file {path} is not in this checkout")
    df = pd.read_csv(path)
    ts = pd.to_datetime(df["timestamp"], utc=True)  # labelled by bar START
    return BarSeries(symbol="TCS", interval=Interval.MINUTE_1,
                     start_ns=ts.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64),
                     open=df["open"].to_numpy(float), high=df["high"].to_numpy(float),
                     low=df["low"].to_numpy(float), close=df["close"].to_numpy(float),
                     volume=df["volume"].to_numpy(float))


def reliance_daily() -> BarSeries:
    path = DATA / "RELIANCE_1day.csv.gz"
    if not path.exists():
        pytest.skip(f"sample file {path} is not in this checkout")
    df = pd.read_csv(path)
    ts = pd.to_datetime(df["Date"]).dt.tz_localize("Asia/Kolkata").dt.tz_convert("UTC")
    return BarSeries(symbol="RELIANCE", interval=Interval.DAY_1,
                     start_ns=ts.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64),
                     open=df["Open"].to_numpy(float), high=df["High"].to_numpy(float),
                     low=df["Low"].to_numpy(float), close=df["Close"].to_numpy(float),
                     volume=df["Volume"].to_numpy(float))


def columns(s: BarSeries) -> BarColumns:
    session = (s.start_ns + 19_800 * 10**9) // (86_400 * 10**9)
    return BarColumns(open=s.open, high=s.high, low=s.low, close=s.close, volume=s.volume, session=session)


def assert_close(actual, expected, rtol=1e-9, atol=1e-12):
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert a.shape == e.shape
    assert np.array_equal(np.isnan(a), np.isnan(e)), (
        f"NaN pattern differs at {np.flatnonzero(np.isnan(a) != np.isnan(e))[:10]}")
    ok = ~np.isnan(a)
    np.testing.assert_allclose(a[ok], e[ok], rtol=rtol, atol=atol)


# ------------------------------------------------------------- independent references (pandas)

def ref_wilder(x: pd.Series, period: int, first: int) -> pd.Series:
    """Textbook Wilder: SMA of x[first:first+period] then (prev*(p-1) + x)/p."""
    values = x.to_numpy(float)
    out = np.full(len(values), np.nan)
    seed_at = first + period - 1
    if len(values) > seed_at:
        avg = values[first:seed_at + 1].mean()
        out[seed_at] = avg
        for k in range(seed_at + 1, len(values)):
            avg = (avg * (period - 1) + values[k]) / period
            out[k] = avg
    return pd.Series(out, index=x.index)


def reference(spec, s: BarSeries) -> np.ndarray:
    df = pd.DataFrame({"open": s.open, "high": s.high, "low": s.low, "close": s.close, "volume": s.volume})
    c = df["close"]
    if isinstance(spec, SMA):
        return c.rolling(spec.window).mean().to_numpy()
    if isinstance(spec, EMA):
        out = c.ewm(span=spec.span, adjust=False).mean().to_numpy().copy()
        out[: spec.span - 1] = np.nan
        return out
    if isinstance(spec, RSI):
        delta = c.diff()
        g = ref_wilder(delta.clip(lower=0), spec.period, 1)
        lo = ref_wilder((-delta).clip(lower=0), spec.period, 1)
        rsi = 100 - 100 / (1 + g / lo)
        rsi[(lo == 0) & (g > 0)] = 100.0
        rsi[(lo == 0) & (g == 0)] = 50.0
        return rsi.to_numpy()
    if isinstance(spec, ATR):
        pc = c.shift(1)
        tr = pd.concat([df["high"] - df["low"], (df["high"] - pc).abs(), (df["low"] - pc).abs()],
                       axis=1).max(axis=1, skipna=False)
        return ref_wilder(tr, spec.period, 1).to_numpy()
    if isinstance(spec, VWAP):
        session = pd.Series((s.start_ns + 19_800 * 10**9) // (86_400 * 10**9))
        tp = (df["high"] + df["low"] + df["close"]) / 3
        vol = df["volume"]
        vw = (tp * vol).groupby(session).cumsum() / vol.groupby(session).cumsum()
        equal = tp.groupby(session).cumsum() / tp.groupby(session).cumcount().add(1)
        missing_so_far = vol.isna().astype(int).groupby(session).cumsum() > 0
        zero_so_far = vol.fillna(0).groupby(session).cumsum() <= 0
        return vw.where(~missing_so_far & ~zero_so_far, equal).to_numpy()
    if isinstance(spec, RollingReturn):
        return c.pct_change(spec.window, fill_method=None).to_numpy()
    if isinstance(spec, RollingVolatility):
        return np.log(c).diff().rolling(spec.window).std(ddof=1).to_numpy()
    if isinstance(spec, RollingPaiseSum):
        return (c * 100).round().rolling(spec.window).sum().to_numpy()
    raise AssertionError(spec)


# ------------------------------------------------------------- indicator values

@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("volume", ["full", "none", "patchy"])
def test_batch_matches_pandas_reference(spec, volume):
    s = minute_series(3000, seed=7, volume=volume)
    # Rolling std in pandas uses an online algorithm: allow a little more there.
    rtol = 1e-7 if isinstance(spec, RollingVolatility) else 1e-9
    assert_close(spec.batch(columns(s)), reference(spec, s), rtol=rtol)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_batch_matches_pandas_reference_on_shipped_data(spec):
    for s in (nifty_minute(), tcs_minute(), reliance_daily()):
        rtol = 1e-7 if isinstance(spec, RollingVolatility) else 1e-9
        assert_close(spec.batch(columns(s)), reference(spec, s), rtol=rtol)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_incremental_matches_batch(spec):
    for seed, volume in ((1, "full"), (2, "none"), (3, "patchy")):
        s = minute_series(2000, seed=seed, volume=volume)
        cols = columns(s)
        upd = spec.incremental()
        inc = [upd.update(cols.open[k], cols.high[k], cols.low[k], cols.close[k], cols.volume[k],
                          int(cols.session[k])) for k in range(len(cols))]
        assert_close(inc, spec.batch(cols), rtol=1e-9)


def test_warm_up_lengths():
    s = minute_series(100, seed=4)
    cols = columns(s)
    first_valid = {spec.name: int(np.flatnonzero(~np.isnan(spec.batch(cols)))[0]) for spec in ALL_SPECS}
    assert first_valid["sma_20"] == 19
    assert first_valid["ema_21"] == 20
    assert first_valid["rsi_14"] == 14
    assert first_valid["atr_14"] == 14
    assert first_valid["vwap"] == 0
    assert first_valid["ret_10"] == 10
    assert first_valid["vol_20"] == 20
    assert first_valid["psum_30"] == 29


def test_short_series_are_all_nan_not_errors():
    s = minute_series(3, seed=5)
    for spec in ALL_SPECS:
        values = spec.batch(columns(s))
        assert values.shape == (3,)
    assert np.isnan(SMA(5).batch(columns(s))).all()
    assert np.isnan(RSI().batch(columns(s))).all()


def test_rsi_edge_cases_flat_and_one_way_markets():
    n = 30
    flat = BarColumns(open=np.full(n, 100.0), high=np.full(n, 100.0), low=np.full(n, 100.0),
                      close=np.full(n, 100.0), volume=np.full(n, 1.0), session=np.zeros(n, dtype=np.int64))
    assert RSI(14).batch(flat)[14:].tolist() == [50.0] * (n - 14)
    up = np.arange(n, dtype=float) + 100
    rising = BarColumns(open=up, high=up, low=up, close=up, volume=np.ones(n), session=np.zeros(n, dtype=np.int64))
    assert RSI(14).batch(rising)[14:].tolist() == [100.0] * (n - 14)


def test_vwap_resets_each_session_and_weights_by_volume():
    cols = BarColumns(open=np.array([10.0, 10, 10, 20]), high=np.array([10.0, 10, 10, 20]),
                      low=np.array([10.0, 10, 10, 20]), close=np.array([10.0, 13, 16, 20]),
                      volume=np.array([1.0, 3.0, 0.0, 5.0]), session=np.array([1, 1, 1, 2]))
    vw = VWAP().batch(cols)
    tp = [10.0, 11.0, 12.0, 20.0]
    assert vw[0] == pytest.approx(tp[0])
    assert vw[1] == pytest.approx((tp[0] * 1 + tp[1] * 3) / 4)
    assert vw[2] == pytest.approx((tp[0] * 1 + tp[1] * 3) / 4)  # zero volume adds nothing
    assert vw[3] == pytest.approx(20.0)  # new session


def test_vwap_without_volume_is_equal_weight_typical_price():
    cols = BarColumns(open=np.array([10.0, 10, 10]), high=np.array([12.0, 14, 10]),
                      low=np.array([9.0, 10, 7]), close=np.array([9.0, 12, 10]),
                      volume=np.array([5.0, np.nan, 5.0]), session=np.array([3, 3, 3]))
    vw = VWAP().batch(cols)
    tp = np.array([10.0, 12.0, 9.0])
    assert vw[0] == pytest.approx(10.0)  # volume known so far
    assert vw[1] == pytest.approx(tp[:2].mean())  # a bar without volume: equal weights from here on
    assert vw[2] == pytest.approx(tp.mean())


def test_paise_sums_are_exact_integers():
    closes = np.array([10.1, 10.2, 10.3, 0.07, 99999.99, 123.45])
    cols = BarColumns(open=closes, high=closes, low=closes, close=closes, volume=np.ones(6),
                      session=np.zeros(6, dtype=np.int64))
    sums = RollingPaiseSum(3).batch(cols)
    assert sums[2:].tolist() == [3060.0, 2057.0, 10001036.0, 10012351.0]
    upd = RollingPaiseSum(3).incremental()
    assert [upd.update(c, c, c, c, 1.0, 0) for c in closes][2:] == sums[2:].tolist()


def test_specs_have_stable_names_and_validate_parameters():
    assert [s.name for s in (SMA(10), EMA(9), RSI(), ATR(), VWAP(), RollingReturn(5), RollingVolatility(20),
                              RollingPaiseSum(30))] == [
        "sma_10", "ema_9", "rsi_14", "atr_14", "vwap", "ret_5", "vol_20", "psum_30"]
    assert SMA(10) == SMA(10) and hash(SMA(10)) == hash(SMA(10))
    for bad in (lambda: SMA(0), lambda: EMA(-1), lambda: RSI(0), lambda: RollingVolatility(1), lambda: SMA(2.5)):
        with pytest.raises(ValueError):
            bad()


# ------------------------------------------------------------- FeatureBook

def test_book_time_columns_are_ist_sessions_and_minutes():
    s = minute_series(800, seed=1)
    book = FeatureBook.from_series(s, [SMA(5)])
    assert book.minute_of_day[0] == 555  # 09:15 IST
    assert book.minute_of_day[374] == 555 + 374  # 15:29
    assert book.minute_of_day[375] == 555
    assert book.session[0] == date(2024, 1, 1).toordinal()
    assert book.session[375] == date(2024, 1, 2).toordinal()
    assert book.bar_end_minute(374) == 15 * 60 + 30
    assert book.start_at(0) == datetime(2024, 1, 1, 9, 15, tzinfo=IST)
    ts = int(datetime(2024, 3, 5, 23, 59, tzinfo=IST).timestamp()) * 10**9
    assert ist_session(ts) == date(2024, 3, 5).toordinal()
    assert ist_minute_of_day(ts) == 23 * 60 + 59


def test_daily_bars_stamped_at_ist_midnight_get_their_own_date():
    s = reliance_daily()
    book = FeatureBook.from_series(s, [SMA(5)])
    assert date.fromordinal(book.session[0]) == date(2016, 1, 1)
    assert book.minute_of_day[0] == 0
    assert len(set(book.session)) == len(book)


def replay(series: BarSeries, specs) -> FeatureBook:
    book = FeatureBook.empty(series.symbol, series.interval, specs)
    for k, bar in enumerate(series.bars()):
        assert book.append(bar) == k
    return book


def assert_books_equal(a: FeatureBook, b: FeatureBook) -> None:
    assert len(a) == len(b)
    for name in ("ts_ns", "session", "minute_of_day", "open", "high", "low", "close"):
        assert getattr(a, name) == getattr(b, name), name
    assert_close(a.volume, b.volume, rtol=0, atol=0)
    assert list(a.features) == list(b.features)
    for name in a.features:
        assert_close(a.features[name], b.features[name], rtol=1e-9)


@pytest.mark.parametrize("volume", ["full", "none", "patchy"])
def test_book_built_bar_by_bar_equals_book_built_in_bulk(volume):
    s = minute_series(1200, seed=11, volume=volume)
    assert_books_equal(replay(s, ALL_SPECS), FeatureBook.from_series(s, ALL_SPECS))


def test_book_parity_on_shipped_data():
    for s in (nifty_minute(), tcs_minute(), reliance_daily()):
        n = 3000
        cut = BarSeries(symbol=s.symbol, interval=s.interval, start_ns=s.start_ns[:n], open=s.open[:n],
                        high=s.high[:n], low=s.low[:n], close=s.close[:n], volume=s.volume[:n])
        bulk, live = FeatureBook.from_series(cut, ALL_SPECS), replay(cut, ALL_SPECS)
        assert_books_equal(live, bulk)
        for name in bulk.features:  # real NSE prices are on the paisa grid: bit-identical
            assert np.array_equal(np.array(bulk.features[name]), np.array(live.features[name]),
                                  equal_nan=True), name


@pytest.mark.parametrize("volume", ["full", "none", "patchy"])
def test_both_paths_agree_to_the_bit(volume):
    """Prices on the paisa grid: every column is bit-identical between bulk and bar-by-bar
    books, so a live run makes exactly the decisions its backtest made."""
    s = minute_series(1500, seed=13, volume=volume)
    bulk, live = FeatureBook.from_series(s, ALL_SPECS), replay(s, ALL_SPECS)
    for name in bulk.features:
        assert np.array_equal(np.array(bulk.features[name]), np.array(live.features[name]), equal_nan=True), name


def test_sma_off_the_paisa_grid_still_matches():
    rng = np.random.default_rng(8)
    s = minute_series(600, seed=8)
    odd = s.close * (1 + rng.normal(0, 1e-3, len(s)))  # adjusted prices: not on the paisa grid
    odd[::7] = np.round(odd[::7], 2)
    series = BarSeries(symbol="ADJ", interval=s.interval, start_ns=s.start_ns, open=odd, high=odd + 1,
                       low=odd - 1, close=odd, volume=s.volume)
    specs = [SMA(3), SMA(20)]
    assert_books_equal(replay(series, specs), FeatureBook.from_series(series, specs))
    for spec in specs:
        assert_close(spec.batch(columns(series)), reference(spec, series), rtol=1e-12)


def test_bulk_book_can_continue_bar_by_bar():
    s = minute_series(900, seed=12, volume="patchy")
    bars = s.bars()
    head = BarSeries.from_bars(bars[:500])
    book = FeatureBook.from_series(head, ALL_SPECS)
    for bar in bars[500:]:
        book.append(bar)
    assert_books_equal(book, FeatureBook.from_series(s, ALL_SPECS))


def test_features_at_gives_finite_values_rounded_to_6_decimals():
    s = minute_series(40, seed=2)
    book = FeatureBook.from_series(s, [SMA(3), SMA(30), RSI(14)])
    early = book.features_at(5)
    assert set(early) == {"sma_3"}
    late = book.features_at(39)
    assert set(late) == {"sma_3", "sma_30", "rsi_14"}
    for name, v in late.items():
        assert v == round(book.value(name, 39), 6)
    with pytest.raises(KeyError, match="sma_99"):
        book.value("sma_99", 0)


def test_feature_spec_mapping_and_duplicates():
    s = minute_series(50, seed=3)
    book = FeatureBook.from_series(s, {"sma_5": SMA(5), "ema_9": EMA(9)})
    assert list(book.features) == ["sma_5", "ema_9"]
    book = FeatureBook.from_series(s, [SMA(5), SMA(5)])
    assert list(book.features) == ["sma_5"]
    with pytest.raises(ConfigError):
        FeatureBook.from_series(s, ["sma_5"])


def test_append_rejects_out_of_order_and_foreign_bars():
    s = minute_series(10, seed=3)
    bars = s.bars()
    book = FeatureBook.empty("SYN", Interval.MINUTE_1, [SMA(3)])
    book.append(bars[0])
    book.append(bars[1])
    with pytest.raises(DataError, match="not after the last bar"):
        book.append(bars[1])
    with pytest.raises(DataError, match="book of SYN"):
        book.append(Bar(symbol="OTHER", interval=Interval.MINUTE_1, start=bars[5].start, open=1, high=1, low=1,
                        close=1))
    assert len(book) == 2


def test_bulk_build_rejects_unsorted_bars():
    s = minute_series(10, seed=3)
    start = s.start_ns.copy()
    start[4], start[5] = start[5], start[4]
    bad = BarSeries(symbol="SYN", interval=Interval.MINUTE_1, start_ns=start, open=s.open, high=s.high,
                    low=s.low, close=s.close, volume=s.volume)
    with pytest.raises(DataError, match="at bar 5"):
        FeatureBook.from_series(bad, [SMA(3)])


def test_append_takes_missing_volume_as_nan():
    bar = Bar(symbol="IDX", interval=Interval.MINUTE_1, start=datetime(2024, 1, 1, 9, 15, tzinfo=IST),
              open=10, high=11, low=9, close=10.5, volume=None)
    book = FeatureBook.empty("IDX", Interval.MINUTE_1, [VWAP()])
    book.append(bar)
    assert math.isnan(book.volume[0])
    assert book.features["vwap"][0] == pytest.approx((11 + 9 + 10.5) / 3)
