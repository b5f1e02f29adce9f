"""A dropped Breeze websocket against the fake SDK: back-off, reconnect, resubscribe, bars resume;
five failed attempts report the feed down, which makes a session reduce-only and the monitor alert."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from adapters.breeze import BreezeLiveBarSource, symbol_map_for
from adapters.breeze.times import IST
from applications.services.session.watch import SessionWatch, WatchSettings
from core.events.base import RecordedEvent
from core.monitoring import AlertEngine, ConnectivityRule
from core.model import Interval
from tests.fakes.breeze_sdk import FakeBreezeSDK
from tests.fakes.manual_clock import FakeTime
from tests.integration.test_breeze_live import StepClock, quote
from tests.integration.test_breeze_session import KEY, make_session

START = datetime(2025, 2, 12, 11, 12, tzinfo=IST)


def flaky_connect(sdk: FakeBreezeSDK, failures: int | None):
    """``ws_connect`` raises ``failures`` times (None: always) after the first connection."""
    calls = {"n": 0}
    original = sdk.ws_connect

    def ws_connect():
        calls["n"] += 1
        if calls["n"] > 1 and (failures is None or calls["n"] <= 1 + failures):
            raise ConnectionError("socket.io handshake failed")
        original()

    sdk.ws_connect = ws_connect
    return calls


def source_for(sdk, events, seconds: int, time: FakeTime):
    sdk.names["RELIANCE"] = {"isec_stock_code": "RELIND", "isec_token_level1": "4.1!2885"}
    session, sdk, _ = make_session(sdk, events)
    return BreezeLiveBarSource(session, symbol_map_for(session), StepClock(START),
                               session_end=START + timedelta(seconds=seconds), stale_after=timedelta(seconds=5),
                               poll_seconds=0.001, quote_time_zone=IST, reconnect_backoff=1.0, sleep=time.sleep)


def test_drop_back_off_resubscribe_and_bars_resume():
    events: list = []
    sdk, time = FakeBreezeSDK(KEY), FakeTime()
    calls = flaky_connect(sdk, failures=2)
    sdk.ticks_on_subscribe = [quote("Wed Feb 12 11:12:01 2025", 100, 10)]
    source = source_for(sdk, events, 40, time)
    original_subscribe = sdk.subscribe_feeds
    resubscribed = []

    def subscribe(**kwargs):
        if calls["n"] > 1:  # after the drop: the socket is back and ticks flow again
            resubscribed.append(kwargs["stock_code"])
            sdk.ticks_on_subscribe = [quote("Wed Feb 12 11:13:10 2025", 103, 30),
                                      quote("Wed Feb 12 11:14:05 2025", 104, 40)]
        return original_subscribe(**kwargs)

    sdk.subscribe_feeds = subscribe
    bars = list(source.stream(["RELIANCE"], Interval.MINUTE_1))
    assert [b.start.astimezone(IST).minute for b in bars] == [12, 13, 14]  # bars resume after the drop
    # the first drop: two failed connects, then the third attempt resubscribes (later quiet spells
    # of this short script reconnect at once)
    assert calls["n"] >= 4 and resubscribed[0] == "RELIND" and source.reconnects >= 1
    assert time.sleeps[:2] == [1.0, 2.0]  # exponential back-off between the failed attempts
    statuses = [(e.status, e.reason.split(";")[0]) for e in events]
    assert statuses[:3] == [("ok", "session created"), ("degraded", "no ticks for 0:00:05"),
                            ("ok", "ticks arriving")]
    assert source.failed_reconnect_rounds == 0


def test_five_failed_attempts_report_the_feed_down_reduce_only_and_alert():
    events: list = []
    sdk, time = FakeBreezeSDK(KEY), FakeTime()
    flaky_connect(sdk, failures=None)
    sdk.ticks_on_subscribe = [quote("Wed Feb 12 11:12:01 2025", 100, 10)]
    source = source_for(sdk, events, 12, time)
    list(source.stream(["RELIANCE"], Interval.MINUTE_1))  # never raises for a lost socket
    down = [e for e in events if e.status == "down"]
    assert down and "reconnect failed 5 times" in down[0].reason and "handshake" in down[0].reason
    assert time.sleeps[:4] == [1.0, 2.0, 4.0, 8.0]

    # what the session and the monitor make of that health event
    class Engine:
        entries_stopped = False

    class Book:
        engine = Engine()

    recorded: list = []

    class Recorder:
        def record(self, event, at):
            recorded.append(event)

    watch = SessionWatch(Recorder(), [Book()], mode="live", settings=WatchSettings(heartbeat_seconds=None))
    for e in events:
        watch.report_health(e)
    watch.pump()
    assert watch.reduce_only and Book.engine.entries_stopped
    engine = AlertEngine([ConnectivityRule()])
    alerts = []
    for k, e in enumerate(recorded, start=1):
        rec = RecordedEvent(seq=k, event_id=uuid.uuid4(), stream_id="L:health", stream_version=k, run_id="L",
                            occurred_at=START, recorded_at=START, correlation_id=None, causation_id=None, event=e)
        alerts.extend(engine.observe(rec, START))
    raised = [a for a in alerts if type(a).__name__ == "MonitorAlertRaised"]
    assert [(a.rule, a.severity) for a in raised][-1] == ("breeze_connectivity_lost", "critical")
