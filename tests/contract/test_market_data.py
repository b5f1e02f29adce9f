"""The ``MarketDataFeed`` port contract, over every feed adapter.

The CSV feed reads the shipped samples; the in-memory feed (when present) is built from
the same bars, so both must answer identically.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from adapters.csv import CsvFeed
from core.errors import DataError
from core.model import BarSeries, Interval
from ports.market_data import MarketDataFeed

IST = timezone(timedelta(hours=5, minutes=30))
MARKET = Path(__file__).resolve().parents[2] / "data" / "market"
CASES = [("TCS", Interval.MINUTE_1), ("NIFTY50", Interval.MINUTE_1), ("RELIANCE", Interval.DAY_1)]


def _csv() -> MarketDataFeed:
    return CsvFeed(MARKET)


def _memory() -> MarketDataFeed:
    try:
        module = importlib.import_module("adapters.memory.feed")
    except ImportError:
        pytest.skip("adapters.memory.feed is not available")
    source = CsvFeed(MARKET)
    return module.InMemoryFeed([source.history_series(s, i) for s, i in CASES])


FEEDS = {"csv": _csv, "memory": _memory}


@pytest.fixture(scope="module", params=sorted(FEEDS))
def feed(request: pytest.FixtureRequest) -> MarketDataFeed:
    return FEEDS[request.param]()


def test_implements_the_port(feed) -> None:
    assert isinstance(feed, MarketDataFeed)


def test_symbols(feed) -> None:
    assert {"TCS", "NIFTY50"} <= set(feed.symbols(Interval.MINUTE_1))
    assert "RELIANCE" in feed.symbols(Interval.DAY_1)


@pytest.mark.parametrize("symbol,interval", CASES)
def test_history_is_ordered_aware_and_valid(feed, symbol, interval) -> None:
    series = feed.history_series(symbol, interval)
    assert isinstance(series, BarSeries) and series.symbol == symbol and series.interval is interval
    assert len(series) > 0 and series.start_ns.dtype == np.int64
    assert np.all(np.diff(series.start_ns) > 0)
    assert np.all(series.high >= np.maximum(series.open, series.close))
    assert np.all(series.low <= np.minimum(series.open, series.close))
    assert np.all(series.low > 0)
    bars = feed.history(symbol, interval)
    assert len(bars) == len(series)
    for bar, i in ((bars[0], 0), (bars[-1], len(series) - 1)):
        assert bar.start.utcoffset() is not None
        assert int(bar.start.timestamp()) * 10**9 == int(series.start_ns[i])
        assert (bar.open, bar.high, bar.low, bar.close) == (series.open[i], series.high[i], series.low[i],
                                                           series.close[i])


def test_bounds_are_start_inclusive_end_exclusive(feed) -> None:
    start = datetime(2024, 1, 2, 9, 20, tzinfo=IST)
    end = datetime(2024, 1, 2, 9, 25, tzinfo=IST)
    bars = feed.history("TCS", Interval.MINUTE_1, start, end)
    assert [b.start for b in bars] == [start + timedelta(minutes=k) for k in range(5)]
    assert len(feed.history_series("TCS", Interval.MINUTE_1, end, start)) == 0
    assert len(feed.history_series("TCS", Interval.MINUTE_1, start=datetime(2030, 1, 1, tzinfo=IST))) == 0


def test_minute_bars_are_labelled_by_start(feed) -> None:
    # TCS is start-labelled in its file, NIFTY50 end-labelled: both deliver 09:15 first bars
    for symbol in ("TCS", "NIFTY50"):
        first = feed.history(symbol, Interval.MINUTE_1)[0]
        assert first.start.astimezone(IST).time().isoformat() == "09:15:00"


def test_unknown_symbol_raises_data_error(feed) -> None:
    with pytest.raises(DataError):
        feed.history_series("NO_SUCH_SYMBOL", Interval.MINUTE_1)
