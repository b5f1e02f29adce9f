"""Tick -> 1-minute bar aggregation and the websocket live bar source (fake SDK)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.breeze import BreezeLiveBarSource, TickBarAggregator, symbol_map_for
from adapters.breeze.times import IST
from core.errors import BrokerApiError
from core.model import Interval
from ports.market_data import LiveBarSource
from tests.fakes.breeze_sdk import FakeBreezeSDK
from tests.fakes.manual_clock import ManualClock
from tests.integration.test_breeze_session import KEY, make_session


def quote(ltt: str, last: float, ttq: int, ltq: int = 1, token: str = "4.1!2885") -> dict:
    return {"symbol": token, "open": "2500.00", "last": str(last), "high": "2510", "low": "2490", "change": "0.1",
            "bPrice": "2499.9", "bQty": "10", "sPrice": "2500.1", "sQty": "5", "ltq": str(ltq),
            "avgPrice": "2500", "ttq": str(ttq), "totalBuyQt": "1", "totalSellQ": "1", "ttv": "1328.72C",
            "lowerCktLm": "2250", "upperCktLm": "2750", "ltt": ltt, "close": "2495", "exchange": "NSE Equity",
            "stock_name": "RELIANCE INDUSTRIES"}


def resolve(tick):
    return {"4.1!2885": "RELIANCE", "RELIND": "RELIANCE"}.get(tick.get("symbol") or tick.get("stock_code"))


def test_quote_ticks_make_closed_one_minute_bars():
    agg = TickBarAggregator(quote_time_zone=IST)
    assert agg.on_tick(quote("Wed Feb 12 11:12:01 2025", 2500.0, 1000, 10), resolve) == []
    assert agg.on_tick(quote("Wed Feb 12 11:12:30 2025", 2503.5, 1040), resolve) == []
    assert agg.on_tick(quote("Wed Feb 12 11:12:59 2025", 2498.0, 1050), resolve) == []
    (bar,) = agg.on_tick(quote("Wed Feb 12 11:13:00 2025", 2499.0, 1060), resolve)
    assert bar.start == datetime(2025, 2, 12, 11, 12, tzinfo=IST)
    assert bar.start.astimezone(timezone.utc).hour == 5
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (2500.0, 2503.5, 2498.0, 2498.0, 60)
    (last,) = agg.flush()
    assert last.start == datetime(2025, 2, 12, 11, 13, tzinfo=IST) and last.volume == 10
    assert agg.flush() == []


def test_gaps_and_late_ticks():
    agg = TickBarAggregator(quote_time_zone=IST)
    agg.on_tick(quote("Wed Feb 12 11:12:01 2025", 100, 10), resolve)
    (bar,) = agg.on_tick(quote("Wed Feb 12 11:15:01 2025", 101, 20), resolve)     # minutes 13-14 had no trades
    assert bar.start == datetime(2025, 2, 12, 11, 12, tzinfo=IST)
    assert agg.on_tick(quote("Wed Feb 12 11:14:59 2025", 99, 25), resolve) == []  # late: dropped
    assert agg.late_ticks == 1
    (bar,) = agg.flush()
    assert bar.low == 101


def test_unknown_and_malformed_ticks_are_ignored():
    agg = TickBarAggregator(quote_time_zone=IST)
    assert agg.on_tick(quote("Wed Feb 12 11:12:01 2025", 100, 10, token="4.1!9999"), resolve) == []
    assert agg.on_tick({"symbol": "4.1!2885", "last": "x", "ltt": "?"}, resolve) == []
    assert agg.ignored_ticks == 2 and agg.flush() == []


def test_ohlcv_stream_second_candles_are_summed_and_minute_candles_replaced():
    agg = TickBarAggregator(quote_time_zone=IST)
    base = {"interval": "1second", "exchange_code": "NSE", "stock_code": "RELIND"}
    agg.on_tick({**base, "open": "10", "high": "11", "low": "9", "close": "10.5", "volume": "5",
                 "datetime": "2025-02-12 11:12:01"}, resolve)
    agg.on_tick({**base, "open": "10.5", "high": "12", "low": "10", "close": "11", "volume": "7",
                 "datetime": "2025-02-12 11:12:02"}, resolve)
    minute = {"interval": "1minute", "exchange_code": "NSE", "stock_code": "RELIND"}
    (bar,) = agg.on_tick({**minute, "open": "20", "high": "20", "low": "20", "close": "20", "volume": "1",
                          "datetime": "2025-02-12 11:13:00"}, resolve)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (10, 12, 9, 11, 12)
    agg.on_tick({**minute, "open": "20", "high": "21", "low": "19", "close": "20.5", "volume": "4",
                 "datetime": "2025-02-12 11:13:00"}, resolve)       # the same minute, grown
    (bar,) = agg.flush()
    assert (bar.high, bar.low, bar.close, bar.volume) == (21, 19, 20.5, 4)


def test_five_minute_aggregation_aligns_to_ist_session():
    agg = TickBarAggregator(Interval.MINUTE_5, quote_time_zone=IST)
    agg.on_tick(quote("Wed Feb 12 09:15:10 2025", 100, 10), resolve)
    agg.on_tick(quote("Wed Feb 12 09:19:59 2025", 101, 15), resolve)
    (bar,) = agg.on_tick(quote("Wed Feb 12 09:20:00 2025", 102, 16), resolve)
    assert bar.start == datetime(2025, 2, 12, 9, 15, tzinfo=IST) and bar.interval is Interval.MINUTE_5
    with pytest.raises(ValueError):
        TickBarAggregator(Interval.DAY_1)


class StepClock(ManualClock):
    """Moves one second each time it is read, so the stream loop reaches session end."""

    def now(self):
        moment = super().now()
        self.advance(timedelta(seconds=1))
        return moment


def test_live_source_subscribes_streams_bars_and_flushes_at_session_end():
    sdk = FakeBreezeSDK(KEY)
    sdk.names["RELIANCE"] = {"isec_stock_code": "RELIND", "isec_token_level1": "4.1!2885"}
    session, sdk, _ = make_session(sdk)
    start = datetime(2025, 2, 12, 11, 12, tzinfo=IST)
    sdk.ticks_on_subscribe = [quote("Wed Feb 12 11:12:01 2025", 100, 10), quote("Wed Feb 12 11:12:40 2025", 102, 20),
                              quote("Wed Feb 12 11:13:05 2025", 101, 25)]
    source = BreezeLiveBarSource(session, symbol_map_for(session), StepClock(start),
                                 session_end=start + timedelta(seconds=20), poll_seconds=0.001, quote_time_zone=IST)
    assert isinstance(source, LiveBarSource)
    bars = list(source.stream(["RELIANCE"], Interval.MINUTE_1))
    assert [b.start.astimezone(IST).minute for b in bars] == [12, 13]
    assert bars[0].close == 102 and bars[1].close == 101
    assert sdk.subscribed == [] and sdk.ws_connected is False         # cleaned up
    assert source.ticks_received == 3


def test_subscribe_failure_string_raises_and_marks_feed_down():
    events: list = []
    session, sdk, _ = make_session(events=events)
    sdk.subscribe_answer = "Exception while subscribing: socket not connected"
    start = datetime(2025, 2, 12, 11, 12, tzinfo=IST)
    source = BreezeLiveBarSource(session, symbol_map_for(session), ManualClock(start),
                                 session_end=start + timedelta(hours=1))
    with pytest.raises(BrokerApiError, match="subscribe_feeds"):
        list(source.stream(["RELIANCE"], Interval.MINUTE_1))
    assert events[-1].status == "down"


def test_a_quiet_socket_marks_the_feed_degraded_and_a_tick_restores_it():
    events: list = []
    sdk = FakeBreezeSDK(KEY)
    session, sdk, _ = make_session(sdk, events)
    start = datetime(2025, 2, 12, 11, 12, tzinfo=IST)
    clock = StepClock(start)
    source = BreezeLiveBarSource(session, symbol_map_for(session), clock, session_end=start + timedelta(seconds=30),
                                 stale_after=timedelta(seconds=5), poll_seconds=0.001)
    bars = source.stream(["RELIANCE"], Interval.MINUTE_1)
    original_get = source._ticks.get
    calls = {"n": 0}

    def get(timeout):
        calls["n"] += 1
        if calls["n"] == 8:                        # the socket wakes up after a quiet spell
            sdk.push_tick({"interval": "1minute", "exchange_code": "NSE", "stock_code": "RELIND", "open": "1",
                           "high": "1", "low": "1", "close": "1", "volume": "1", "datetime": "2025-02-12 11:12:00"})
        return original_get(timeout=timeout)

    source._ticks.get = get
    assert len(list(bars)) == 1
    statuses = [e.status for e in events]
    assert statuses[:3] == ["ok", "degraded", "ok"]
    assert "no ticks" in events[1].reason


@pytest.mark.parametrize("answer", [None, TypeError("can only concatenate str (not \"bool\") to str")])
def test_subscribe_returning_none_or_raising_is_a_typed_error(answer):
    session, sdk, _ = make_session()
    if isinstance(answer, Exception):
        def boom(**kwargs):
            raise answer
        sdk.subscribe_feeds = boom
    else:
        sdk.subscribe_answer = None
    start = datetime(2025, 2, 12, 11, 12, tzinfo=IST)
    source = BreezeLiveBarSource(session, symbol_map_for(session), ManualClock(start),
                                 session_end=start + timedelta(hours=1))
    with pytest.raises(BrokerApiError, match="RELIND"):
        list(source.stream(["RELIANCE"], Interval.MINUTE_1))
    assert sdk.ws_connected is False


def test_quote_tick_times_default_to_the_sdk_hosts_local_zone():
    # The SDK renders ltt with datetime.fromtimestamp(): local wall time, space-padded day.
    local = datetime.now().astimezone().tzinfo
    agg = TickBarAggregator()
    agg.on_tick(quote("Wed Feb  5 11:12:01 2025", 100, 10), resolve)
    (bar,) = agg.flush()
    assert bar.start == datetime(2025, 2, 5, 11, 12, tzinfo=local)
    utc_host = TickBarAggregator(quote_time_zone=timezone.utc)
    utc_host.on_tick(quote("Wed Feb  5 05:42:01 2025", 100, 10), resolve)
    (bar,) = utc_host.flush()
    assert bar.start == datetime(2025, 2, 5, 11, 12, tzinfo=IST)        # 05:42 UTC is 11:12 IST


def test_ohlcv_feed_subscribes_to_one_second_candles_and_sums_them():
    sdk = FakeBreezeSDK(KEY)
    session, sdk, _ = make_session(sdk)
    start = datetime(2025, 2, 12, 11, 12, tzinfo=IST)
    base = {"interval": "1second", "exchange_code": "NSE", "stock_code": "RELIND"}
    sdk.ticks_on_subscribe = [
        {**base, "open": "10", "high": "11", "low": "9", "close": "10", "volume": "5", "datetime": "2025-02-12 11:12:01"},
        {**base, "open": "10", "high": "12", "low": "10", "close": "11", "volume": "6", "datetime": "2025-02-12 11:12:02"}]
    source = BreezeLiveBarSource(session, symbol_map_for(session), StepClock(start),
                                 session_end=start + timedelta(seconds=10), poll_seconds=0.001, feed="ohlcv")
    (bar,) = list(source.stream(["RELIANCE"], Interval.MINUTE_1))
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (10, 12, 9, 11, 11)
    assert sdk.ws_connected is False


def test_unknown_feed_kind_is_a_config_error():
    from core.errors import ConfigError
    session, _, _ = make_session()
    with pytest.raises(ConfigError):
        BreezeLiveBarSource(session, symbol_map_for(session), ManualClock(datetime(2025, 1, 1, tzinfo=IST)),
                            session_end=datetime(2025, 1, 1, 15, 30, tzinfo=IST), feed="depth")


def test_quiet_symbols_bars_close_on_time():
    agg = TickBarAggregator(quote_time_zone=IST)
    agg.on_tick(quote("Wed Feb 12 11:12:01 2025", 100, 10), resolve)
    assert agg.close_before(datetime(2025, 2, 12, 11, 12, 59, tzinfo=IST)) == []
    (bar,) = agg.close_before(datetime(2025, 2, 12, 11, 13, 2, tzinfo=IST))
    assert bar.start == datetime(2025, 2, 12, 11, 12, tzinfo=IST)
    assert agg.on_tick(quote("Wed Feb 12 11:12:59 2025", 99, 12), resolve) == [] and agg.late_ticks == 1
    assert agg.close_before(datetime(2025, 2, 12, 11, 20, tzinfo=IST)) == []      # nothing traded since
    agg.on_tick(quote("Wed Feb 12 11:21:30 2025", 101, 15), resolve)
    (bar,) = agg.flush()
    assert bar.start == datetime(2025, 2, 12, 11, 21, tzinfo=IST) and bar.volume == 3
