"""HybridFeed over a real CSV cache directory and a scripted API feed (and over Breeze)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from adapters.hybrid import CsvBarCache, HybridFeed, subtract
from core.errors import BrokerDailyLimitError, DataError
from core.model import Bar, Interval
from ports.market_data import MarketDataFeed
from tests.fakes.scripted_feed import ScriptedFeed

IST = timezone(timedelta(hours=5, minutes=30))
FETCHED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def day_bars(symbol: str, first: datetime, n: int) -> list[Bar]:
    return [Bar(symbol=symbol, interval=Interval.DAY_1, start=first + timedelta(days=i), open=100 + i,
                high=102 + i, low=99 + i, close=101 + i, volume=1000 + i) for i in range(n)]


def d(day: int, month: int = 1) -> datetime:
    return datetime(2025, month, day, tzinfo=IST)


@pytest.fixture
def setup(tmp_path):
    api = ScriptedFeed(day_bars("RELIANCE", d(1), 31))
    cache = CsvBarCache(tmp_path / "cache", now=lambda: FETCHED_AT)
    events: list = []
    feed = HybridFeed(cache, api, cache_writer=cache, on_health=events.append, api_source="breeze_api")
    return feed, cache, api, events, tmp_path / "cache"


def test_is_a_market_data_feed(setup):
    feed, cache, *_ = setup
    assert isinstance(feed, MarketDataFeed) and isinstance(cache, MarketDataFeed)


def test_miss_fetches_from_api_then_serves_from_cache(setup):
    feed, cache, api, events, root = setup
    first = feed.history("RELIANCE", Interval.DAY_1, d(1), d(11))
    assert len(first) == 10 and feed.last_report.from_api == 10 and len(api.calls) == 1
    again = feed.history("RELIANCE", Interval.DAY_1, d(2), d(6))
    assert [b.start for b in again] == [d(i) for i in range(2, 6)]
    assert len(api.calls) == 1 and feed.last_report.from_cache == 4 and feed.last_report.status == "ok"
    assert again[0] == first[1]                          # the CSV round trip is exact
    meta = json.loads((root / "RELIANCE" / "1day" / "metadata.json").read_text())
    (info,) = meta["files"].values()
    assert info["rows"] == 10 and info["source"] == "breeze_api" and info["fetched_at"].startswith("2025-03-01")
    assert meta["ranges"] == [[d(1).isoformat(), d(11).isoformat()]]
    assert cache.symbols(Interval.DAY_1) == ["RELIANCE"] and cache.symbols(Interval.MINUTE_1) == []


def test_partial_coverage_fetches_only_the_gaps(setup):
    feed, cache, api, *_ = setup
    feed.history("RELIANCE", Interval.DAY_1, d(5), d(10))
    api.calls.clear()
    bars = feed.history("RELIANCE", Interval.DAY_1, d(1), d(15))
    assert len(bars) == 14
    assert [(c[2], c[3]) for c in api.calls] == [(d(1), d(5)), (d(10), d(15))]
    assert cache.covered("RELIANCE", Interval.DAY_1) == [(d(1), d(15))]


def test_empty_answer_counts_as_covered(setup):
    feed, _, api, *_ = setup
    assert feed.history("RELIANCE", Interval.DAY_1, d(1, 6), d(5, 6)) == []
    feed.history("RELIANCE", Interval.DAY_1, d(1, 6), d(5, 6))
    assert len(api.calls) == 1


def test_api_failure_returns_the_partial_cache_with_a_warning_and_health(setup, caplog):
    feed, _, api, events, _ = setup
    feed.history("RELIANCE", Interval.DAY_1, d(1), d(6))
    api.failure = BrokerDailyLimitError("Breeze daily API call limit reached")
    with caplog.at_level(logging.WARNING):
        bars = feed.history("RELIANCE", Interval.DAY_1, d(1), d(11))
    assert len(bars) == 5
    report = feed.last_report
    assert report.status == "degraded" and report.missing == ((d(6), d(11)),) and "daily" in report.reason
    assert "partial cache" in caplog.text
    assert [(e.feed, e.status) for e in events] == [("hybrid", "degraded")]
    api.failure = None
    assert len(feed.history("RELIANCE", Interval.DAY_1, d(1), d(11))) == 10
    assert [e.status for e in events] == ["degraded", "ok"]


def test_api_failure_with_nothing_cached_raises_the_api_error(setup):
    feed, _, api, events, _ = setup
    api.failure = BrokerDailyLimitError("limit")
    with pytest.raises(BrokerDailyLimitError):
        feed.history("RELIANCE", Interval.DAY_1, d(1), d(11))
    assert feed.last_report.status == "down" and events[-1].status == "down"


def test_without_a_writer_an_empty_cache_is_a_miss():
    cache = ScriptedFeed(day_bars("TCS", d(1), 3))
    api = ScriptedFeed(day_bars("RELIANCE", d(1), 3))
    feed = HybridFeed(cache, api)
    assert len(feed.history("TCS", Interval.DAY_1)) == 3 and api.calls == []
    assert len(feed.history("RELIANCE", Interval.DAY_1)) == 3 and len(api.calls) == 1
    assert feed.symbols(Interval.DAY_1) == ["RELIANCE", "TCS"]
    assert len(feed.history_series("RELIANCE", Interval.DAY_1)) == 3


def test_corrupt_cached_csv_names_file_row_and_column(setup):
    feed, cache, _, _, root = setup
    feed.history("RELIANCE", Interval.DAY_1, d(1), d(4))
    (csv_path,) = (root / "RELIANCE" / "1day").glob("*.csv")
    lines = csv_path.read_text().splitlines()
    lines[2] = lines[2].replace(lines[2].split(",")[3], "abc", 1)
    csv_path.write_text("\n".join(lines) + "\n")
    fresh = CsvBarCache(root)
    with pytest.raises(DataError) as info:
        fresh.history("RELIANCE", Interval.DAY_1)
    assert info.value.row == 2 and info.value.column == "low" and str(csv_path) in str(info.value)


def test_subtract_ranges_with_tolerance():
    have = [(d(3), d(5)), (d(4), d(8))]
    assert subtract((d(1), d(10)), have) == [(d(1), d(3)), (d(8), d(10))]
    assert subtract((d(1), d(10)), have, tolerance=timedelta(days=2)) == []
    assert subtract((d(3), d(8)), have) == []


def test_hybrid_over_the_breeze_feed_survives_the_daily_cap(tmp_path):
    from adapters.breeze import BreezeHistoricalFeed, symbol_map_for
    from tests.fakes.breeze_sdk import DAILY_CAP, FakeBreezeSDK, minute_candles
    from tests.fakes.manual_clock import ManualClock
    from tests.integration.test_breeze_session import KEY, make_session

    sdk = FakeBreezeSDK(KEY)
    for day in (3, 4):
        sdk.add_candles("RELIND", "1minute", minute_candles(datetime(2025, 2, day)))
    session, sdk, _ = make_session(sdk)
    api = BreezeHistoricalFeed(session, symbol_map_for(session), ManualClock(d(5, 2)))
    cache = CsvBarCache(tmp_path)
    feed = HybridFeed(cache, api, cache_writer=cache, api_source="breeze_api")
    assert len(feed.history("RELIANCE", Interval.MINUTE_1, d(3, 2), d(4, 2))) == 375
    sdk.fail_next("get_historical_data_v2", DAILY_CAP)
    bars = feed.history("RELIANCE", Interval.MINUTE_1, d(3, 2), d(5, 2))
    assert len(bars) == 375 and feed.last_report.status == "degraded"


def test_hybrid_over_the_shipped_csv_feed_answers_like_the_csv_feed(tmp_path):
    from pathlib import Path

    import numpy as np

    from adapters.csv import CsvFeed

    source = CsvFeed(Path(__file__).resolve().parents[2] / "data" / "market")
    cache = CsvBarCache(tmp_path)
    feed = HybridFeed(cache, source, cache_writer=cache, api_source="csv")
    for symbol, interval, start, end in (("TCS", Interval.MINUTE_1, datetime(2024, 1, 2, tzinfo=IST),
                                          datetime(2024, 1, 6, tzinfo=IST)),
                                         ("RELIANCE", Interval.DAY_1, datetime(2019, 1, 1, tzinfo=IST),
                                          datetime(2019, 7, 1, tzinfo=IST))):
        expected = source.history(symbol, interval, start, end)
        assert feed.history(symbol, interval, start, end) == expected and len(expected) > 100
        assert feed.last_report.from_api == len(expected)
        again = feed.history_series(symbol, interval, start, end)
        assert feed.last_report.from_cache == len(expected)
        assert np.array_equal(again.start_ns, source.history_series(symbol, interval, start, end).start_ns)
