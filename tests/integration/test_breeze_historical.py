"""BreezeHistoricalFeed over the fake SDK: paging, labels, validation, codes, retries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.breeze import BreezeHistoricalFeed, BreezeSymbolMap, symbol_map_for
from adapters.breeze.times import IST
from core.errors import BrokerDailyLimitError, DataError
from core.model import Interval
from ports.market_data import MarketDataFeed
from tests.fakes.breeze_sdk import DAILY_CAP, FakeBreezeSDK, candle, err, minute_candles
from tests.fakes.manual_clock import ManualClock
from tests.integration.test_breeze_session import KEY, make_session

UTC = timezone.utc


def ist(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


def make_feed(sdk: FakeBreezeSDK | None = None):
    session, sdk, time = make_session(sdk)
    clock = ManualClock(ist(2025, 2, 10, 16, 0))
    feed = BreezeHistoricalFeed(session, symbol_map_for(session), clock, universe=["RELIANCE", "TCS"])
    return feed, sdk, time


def test_is_a_market_data_feed():
    feed, _, _ = make_feed()
    assert isinstance(feed, MarketDataFeed)
    assert feed.symbols(Interval.MINUTE_1) == ["RELIANCE", "TCS"]


def test_minute_history_pages_by_window_and_labels_bar_start_in_utc():
    sdk = FakeBreezeSDK(KEY)
    days = [datetime(2025, 2, d) for d in (3, 4, 5, 6, 7)]
    for day in days:
        sdk.add_candles("RELIND", "1minute", minute_candles(day))
    feed, sdk, _ = make_feed(sdk)
    bars = feed.history("RELIANCE", Interval.MINUTE_1, ist(2025, 2, 3), ist(2025, 2, 8))
    assert len(bars) == 5 * 375
    assert bars[0].start == datetime(2025, 2, 3, 3, 45, tzinfo=UTC)     # 09:15 IST
    assert bars[0].start.tzinfo is not None and bars[0].symbol == "RELIANCE"
    assert bars[-1].start == ist(2025, 2, 7, 15, 29)
    assert all(a.start < b.start for a, b in zip(bars, bars[1:]))
    calls = [kw for m, kw in sdk.calls if m == "get_historical_data_v2"]
    assert len(calls) == 3 and calls[0]["stock_code"] == "RELIND" and calls[0]["product_type"] == "cash"
    assert calls[0]["from_date"] == "2025-02-03T00:00:00.000Z"     # IST wall clock on the wire


def test_full_pages_of_1000_continue_from_the_last_candle():
    sdk = FakeBreezeSDK(KEY)
    first = datetime(2020, 1, 1)
    sdk.add_candles("TCS", "1day", [candle(first + timedelta(days=i), 100, 101, 99, 100.5, 10, "TCS")
                                    for i in range(1200)])
    feed, sdk, _ = make_feed(sdk)
    bars = feed.history("TCS", Interval.DAY_1, ist(2020, 1, 1), ist(2023, 6, 1))
    assert len(bars) == 1200
    assert len({b.start for b in bars}) == 1200
    pages = [kw for m, kw in sdk.calls if m == "get_historical_data_v2"]
    assert len(pages) == 2 and pages[1]["from_date"].startswith("2022-09-27")    # day 1001


def test_bounds_are_half_open():
    sdk = FakeBreezeSDK(KEY)
    sdk.add_candles("RELIND", "1minute", minute_candles(datetime(2025, 2, 3)))
    feed, _, _ = make_feed(sdk)
    bars = feed.history("RELIANCE", Interval.MINUTE_1, ist(2025, 2, 3, 9, 20), ist(2025, 2, 3, 9, 25))
    assert [b.start.astimezone(IST).minute for b in bars] == [20, 21, 22, 23, 24]


def test_fifteen_minute_bars_are_built_from_five_minute_candles():
    sdk = FakeBreezeSDK(KEY)
    t = datetime(2025, 2, 3, 9, 15)
    rows = [candle(t + timedelta(minutes=5 * i), 100 + i, 102 + i, 99 + i, 101 + i, 10 * (i + 1)) for i in range(6)]
    sdk.add_candles("RELIND", "5minute", rows)
    feed, _, _ = make_feed(sdk)
    bars = feed.history("RELIANCE", Interval.MINUTE_15, ist(2025, 2, 3), ist(2025, 2, 4))
    assert [b.start for b in bars] == [ist(2025, 2, 3, 9, 15), ist(2025, 2, 3, 9, 30)]
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].volume) == (100, 104, 99, 103, 60)
    assert bars[1].interval is Interval.MINUTE_15 and bars[1].volume == 150


def test_inconsistent_bar_raises_data_error_naming_row_and_field():
    sdk = FakeBreezeSDK(KEY)
    sdk.add_candles("RELIND", "1minute", [candle(datetime(2025, 2, 3, 9, 15), 100, 101, 99, 100, 5),
                                          candle(datetime(2025, 2, 3, 9, 16), 100, 98, 99, 100, 5)])
    feed, _, _ = make_feed(sdk)
    with pytest.raises(DataError) as info:
        feed.history("RELIANCE", Interval.MINUTE_1, ist(2025, 2, 3), ist(2025, 2, 4))
    assert info.value.row == 2 and info.value.column == "high"
    assert "09:16" in str(info.value) and "RELIND" in str(info.value)


def test_duplicate_candles_keep_the_last():
    sdk = FakeBreezeSDK(KEY)
    t = datetime(2025, 2, 3, 9, 15)
    sdk.add_candles("RELIND", "1minute", [candle(t, 100, 101, 99, 100, 5), candle(t, 100, 101, 99, 100.5, 7)])
    feed, _, _ = make_feed(sdk)
    (bar,) = feed.history("RELIANCE", Interval.MINUTE_1, ist(2025, 2, 3), ist(2025, 2, 4))
    assert bar.close == 100.5 and bar.volume == 7


def test_no_data_found_is_an_empty_history():
    sdk = FakeBreezeSDK(KEY)
    feed, sdk, _ = make_feed(sdk)
    sdk.fail_next("get_historical_data_v2", err("No Data Found"))
    assert feed.history("RELIANCE", Interval.MINUTE_1, ist(2025, 2, 3), ist(2025, 2, 4)) == []


def test_transient_failure_is_retried_with_backoff():
    sdk = FakeBreezeSDK(KEY)
    sdk.add_candles("RELIND", "1minute", minute_candles(datetime(2025, 2, 3)))
    feed, sdk, time = make_feed(sdk)
    sdk.fail_next("get_historical_data_v2", Exception("Error in get_historical_data_v2(): Read timed out."),
                  err("Too Many Requests", 429))
    bars = feed.history("RELIANCE", Interval.MINUTE_1, ist(2025, 2, 3), ist(2025, 2, 4))
    assert len(bars) == 375
    assert time.sleeps[:2] == [1.0, 30.0]


def test_daily_cap_stops_the_fetch():
    sdk = FakeBreezeSDK(KEY)
    feed, sdk, _ = make_feed(sdk)
    sdk.fail_next("get_historical_data_v2", DAILY_CAP)
    with pytest.raises(BrokerDailyLimitError):
        feed.history("RELIANCE", Interval.MINUTE_1, ist(2025, 2, 3), ist(2025, 2, 4))
    assert sdk.count("get_historical_data_v2") == 1


def test_default_range_uses_the_clock():
    sdk = FakeBreezeSDK(KEY)
    sdk.add_candles("RELIND", "1minute", minute_candles(datetime(2025, 2, 10)))
    feed, _, _ = make_feed(sdk)
    bars = feed.history("RELIANCE", Interval.MINUTE_1)
    assert len(bars) == 375


def test_symbol_codes_table_lookup_and_unknown():
    sdk = FakeBreezeSDK(KEY)
    sdk.names["ZOMATO"] = {"exchange_code": "NSE", "exchange_stock_code": "ZOMATO", "isec_stock_code": "ZOMLIM",
                           "isec_token": "5097", "company name": "ZOMATO LIMITED", "isec_token_level1": "4.1!5097",
                           "isec_token_level2": "4.2!5097"}
    session, sdk, _ = make_session(sdk)
    codes = symbol_map_for(session)
    assert codes.to_breeze("RELIANCE") == "RELIND" and codes.to_breeze("sbin") == "STABAN"
    assert codes.to_nse("TATMOT") == "TATAMOTORS"
    assert codes.to_breeze("ZOMATO") == "ZOMLIM" and codes.to_nse("ZOMLIM") == "ZOMATO"
    assert codes.to_breeze("ZOMATO") == "ZOMLIM" and codes.lookups == 1          # cached
    assert codes.stream_token("ZOMATO") == "4.1!5097"
    with pytest.raises(DataError, match="unknown symbol 'NOSUCH'"):
        codes.to_breeze("NOSUCH")


def test_verify_reports_table_codes_that_differ_from_get_names():
    codes = BreezeSymbolMap(lookup=lambda s: {"isec_stock_code": "RELIND" if s == "RELIANCE" else "XXX"})
    assert codes.verify(["RELIANCE", "TCS"]) == {"TCS": ("TCS", "XXX")}


def test_history_series_matches_history_and_daily_bars_start_at_ist_midnight():
    sdk = FakeBreezeSDK(KEY)
    sdk.add_candles("TCS", "1day", [candle(datetime(2025, 2, 3, 5, 30), 100, 101, 99, 100.5, 10, "TCS"),
                                    candle(datetime(2025, 2, 4, 5, 30), 100, 102, 99, 101.5, 12, "TCS")])
    feed, _, _ = make_feed(sdk)
    bars = feed.history("TCS", Interval.DAY_1, ist(2025, 2, 1), ist(2025, 2, 5))
    assert [b.start for b in bars] == [ist(2025, 2, 3), ist(2025, 2, 4)]
    series = feed.history_series("TCS", Interval.DAY_1, ist(2025, 2, 1), ist(2025, 2, 5))
    assert series.bars() == bars
    assert len(feed.history_series("TCS", Interval.DAY_1, ist(2024, 1, 1), ist(2024, 1, 5))) == 0
