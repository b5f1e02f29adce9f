"""Each alert rule over a scripted event sequence with a manual clock: raises once, respects its
suppression window, clears; plus the engine's TTL, acknowledgement and restart behaviour."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from core.events.base import RecordedEvent
from core.events.catalog import (
    AlertRaised,
    CircuitBreakerTripped,
    FeedHealthChanged,
    ModelPromoted,
    ModelTrained,
    PredictionTraced,
    RunCompleted,
)
from core.events.monitoring import (
    AlertAcknowledged,
    LatencyRolledUp,
    MonitorAlertRaised,
    SessionHeartbeat,
)
from core.monitoring import (
    AccuracyRule,
    AlertEngine,
    AlertPolicy,
    CircuitBreakerRule,
    ConnectivityRule,
    DailyLossRule,
    ForwardedAlertRule,
    HeartbeatRule,
    LatencyRule,
    SentimentFailuresRule,
    StaleModelRule,
    default_rules,
    histogram_quantile,
    sessions_between,
)
from tests.fakes.manual_clock import ManualClock

T0 = datetime(2026, 12, 3, 4, 0, tzinfo=timezone.utc)


class Log:
    """Scripted recorded events, stamped with the manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock, self.seq = clock, 0

    def __call__(self, event, run_id: str = "run1", stream: str = "intraday", at: datetime | None = None):
        self.seq += 1
        when = at or self.clock.now()
        return RecordedEvent(seq=self.seq, event_id=uuid.uuid4(), stream_id=f"{run_id}:{stream}", stream_version=self.seq,
                             run_id=run_id, occurred_at=when, recorded_at=when, correlation_id=None,
                             causation_id=None, event=event)


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def log(clock):
    return Log(clock)


def heartbeat(day_pnl: int = 0, limit: int = 2_000_000, tripped: bool = False, seq: int = 1) -> SessionHeartbeat:
    return SessionHeartbeat(mode="paper", sequence=seq, bars_processed=seq, last_bar_start=T0, seconds_since_bar=0.1,
                            feed_status="ok", reduce_only=False,
                            books={"intraday": {"equity_paise": 100_000_000 + day_pnl, "day_pnl_paise": day_pnl,
                                                "loss_limit_paise": limit, "breaker_tripped": tripped,
                                                "open_positions": 0}})


def kinds(events):
    return [(type(e).__name__, e.key) for e in events]


def run(engine: AlertEngine, log: Log, clock: ManualClock, *events, advance: float = 0.0):
    out = []
    for ev in events:
        out.extend(engine.observe(log(ev), clock.now()))
    if advance:
        clock.advance(advance)
    out.extend(engine.tick(clock.now(), log.seq))
    return out


def test_circuit_breaker_raises_once_suppresses_then_clears_on_the_next_session(clock, log):
    engine = AlertEngine([CircuitBreakerRule()])
    trip = CircuitBreakerTripped(session_date=date(2026, 12, 3), daily_pnl_paise=-2_100_000, limit_paise=-2_000_000,
                                 equity_paise=97_900_000)
    first = run(engine, log, clock, trip)
    assert kinds(first) == [("MonitorAlertRaised", "circuit_breaker_triggered:run1:intraday")]
    assert first[0].severity == "critical" and first[0].subject_run_id == "run1"
    clock.advance(timedelta(minutes=10))
    assert run(engine, log, clock, trip) == []  # within 15 minutes: suppressed
    clock.advance(timedelta(minutes=6))
    reminder = run(engine, log, clock, trip)  # open and past the window: one reminder
    assert kinds(reminder) == [("MonitorAlertRaised", "circuit_breaker_triggered:run1:intraday")]
    assert run(engine, log, clock, heartbeat(tripped=True)) == []
    cleared = run(engine, log, clock, heartbeat(tripped=False))
    assert kinds(cleared) == [("AlertCleared", "circuit_breaker_triggered:run1:intraday")]
    assert cleared[0].alert_id == reminder[0].alert_id


def test_daily_loss_warns_at_the_share_of_the_cap_before_the_breaker(clock, log):
    engine = AlertEngine([DailyLossRule(share=0.8)])
    assert run(engine, log, clock, heartbeat(day_pnl=-1_500_000)) == []  # 75 %
    raised = run(engine, log, clock, heartbeat(day_pnl=-1_600_000))  # 80 %
    assert kinds(raised) == [("MonitorAlertRaised", "daily_loss_high:run1:intraday")]
    assert "80%" in raised[0].message and raised[0].severity == "warning"
    assert run(engine, log, clock, heartbeat(day_pnl=-1_900_000)) == []  # still open: raised once
    # the breaker trips: its own alert takes over
    assert kinds(run(engine, log, clock, heartbeat(day_pnl=-2_100_000, tripped=True))) == [
        ("AlertCleared", "daily_loss_high:run1:intraday")]
    assert run(engine, log, clock, heartbeat(day_pnl=-100_000)) == []
    # flapping back within the 30-minute window is suppressed; after it, a new alert
    clock.advance(timedelta(minutes=5))
    assert run(engine, log, clock, heartbeat(day_pnl=-1_700_000)) == []
    clock.advance(timedelta(minutes=26))
    assert kinds(run(engine, log, clock, heartbeat(day_pnl=-1_700_000))) == [
        ("MonitorAlertRaised", "daily_loss_high:run1:intraday")]


def test_sentiment_failures_over_a_window(clock, log):
    engine = AlertEngine([SentimentFailuresRule(threshold=2, window=timedelta(hours=1))])
    down = FeedHealthChanged(feed="sentiment.newsapi", status="down", reason="5 consecutive failures")
    assert run(engine, log, clock, down) == []
    clock.advance(timedelta(minutes=20))
    raised = run(engine, log, clock, down)
    assert kinds(raised) == [("MonitorAlertRaised", "sentiment_failures_high:run1")]
    assert run(engine, log, clock, FeedHealthChanged(feed="sentiment.newsapi", status="ok", reason="closed")) == []
    assert run(engine, log, clock, advance=41 * 60) == []  # the second failure is still in the window
    assert kinds(run(engine, log, clock, advance=20 * 60)) == [("AlertCleared", "sentiment_failures_high:run1")]


def test_stale_production_model_and_its_teacher(clock, log):
    engine = AlertEngine([StaleModelRule(max_sessions=3)])
    old = T0 - timedelta(days=10)

    def trained(model_id, role, at, teacher=None):
        return log(ModelTrained(model_id=model_id, role=role, algorithm="lgbm", feature_names=["f"],
                                training_window_start=at, training_window_end=at, data_fingerprint="x", n_samples=1,
                                label_config={}, params={}, seed=0, training_seconds=1.0, teacher_model_id=teacher),
                   run_id="eod", at=at)

    for rec in (trained("t1", "teacher", old), trained("s1", "student", old, "t1")):
        assert engine.observe(rec, clock.now()) == []
    assert engine.tick(clock.now(), log.seq) == []  # nothing promoted: nothing to be stale
    engine.observe(log(ModelPromoted(model_id="s1", previous_model_id=None, registry="r"), run_id="eod"), clock.now())
    raised = engine.tick(clock.now(), log.seq)
    assert sorted(kinds(raised)) == [("MonitorAlertRaised", "stale_student_model:production"),
                                     ("MonitorAlertRaised", "stale_teacher_artifacts:t1")]
    assert engine.tick(clock.now() + timedelta(hours=1), log.seq) == []  # suppressed for 6 hours
    for rec in (trained("t2", "teacher", clock.now()), trained("s2", "student", clock.now(), "t2"),
                log(ModelPromoted(model_id="s2", previous_model_id="s1", registry="r"), run_id="eod")):
        engine.observe(rec, clock.now())
    cleared = engine.tick(clock.now(), log.seq)
    assert kinds(cleared) == [("AlertCleared", "stale_student_model:production")]
    assert sessions_between(date(2026, 12, 4), date(2026, 12, 7)) == 1  # Friday -> Monday: one session


def test_heartbeat_lapse_raises_once_and_clears_on_resume(clock, log):
    engine = AlertEngine([HeartbeatRule(lapse=timedelta(seconds=30))])
    assert run(engine, log, clock, heartbeat(), advance=29) == []
    raised = run(engine, log, clock, advance=2)
    assert kinds(raised) == [("MonitorAlertRaised", "heartbeat_lapsed:run1")] and raised[0].severity == "critical"
    assert run(engine, log, clock, advance=60) == []  # within 5 minutes: suppressed
    assert kinds(run(engine, log, clock, heartbeat())) == [("AlertCleared", "heartbeat_lapsed:run1")]
    # a session that ends is no longer watched
    run(engine, log, clock, RunCompleted(status="completed", bars_processed=1, final_equity_paise=1), advance=3600)
    assert engine.open == {}


def test_connectivity_down_raises_critical_and_ok_clears(clock, log):
    engine = AlertEngine([ConnectivityRule()])
    down = FeedHealthChanged(feed="breeze.websocket", status="down", reason="5 reconnect attempts failed")
    raised = run(engine, log, clock, down, down)
    assert kinds(raised) == [("MonitorAlertRaised", "breeze_connectivity_lost:run1:breeze.websocket")]
    assert run(engine, log, clock, FeedHealthChanged(feed="sentiment.x", status="down", reason="")) == []
    degraded = FeedHealthChanged(feed="bars", status="degraded", reason="quiet")
    assert [e.severity for e in run(engine, log, clock, degraded, degraded)] == ["warning"]
    escalated = run(engine, log, clock, FeedHealthChanged(feed="bars", status="down", reason="gone"))
    assert [e.severity for e in escalated] == ["critical"]  # a worse state is news at once
    assert kinds(run(engine, log, clock, FeedHealthChanged(feed="breeze.websocket", status="ok", reason="resubscribed"))) \
        == [("AlertCleared", "breeze_connectivity_lost:run1:breeze.websocket")]


def rollup(fast: int, slow: int, minute: int) -> LatencyRolledUp:
    return LatencyRolledUp(minute_start=T0 + timedelta(minutes=minute), count=fast + slow, p50_ms=1.0, p95_ms=1.0,
                           max_ms=3000.0 if slow else 4.0, bucket_bounds_ms=[5.0, 1000.0, 2000.0],
                           bucket_counts=[fast, 0, slow, 0])


def test_latency_p95_over_the_window(clock, log):
    engine = AlertEngine([LatencyRule(threshold_ms=1000, window_minutes=3)])
    assert run(engine, log, clock, rollup(100, 0, 0), rollup(100, 3, 1)) == []  # 3 of 203 slow: p95 fast
    raised = run(engine, log, clock, rollup(50, 40, 2))
    assert kinds(raised) == [("MonitorAlertRaised", "performance_degradation_latency:run1")]
    assert raised[0].details["p95_ms"] > 1000
    cleared = run(engine, log, clock, rollup(200, 0, 3), rollup(200, 0, 4), rollup(200, 0, 5))
    assert kinds(cleared) == [("AlertCleared", "performance_degradation_latency:run1")]
    assert histogram_quantile([10.0], [10, 0], 0.5, 10.0) == pytest.approx(5.0)


def trace(predicted: str, actual: str, ret: float) -> PredictionTraced:
    return PredictionTraced(timestamp=T0, symbol="TCS", strategy="intraday", predicted_direction=predicted,
                            actual_direction=actual, predicted_confidence=0.6, entry_price=100.0, exit_price=101.0,
                            holding_period_minutes=5, realized_return_pct=ret, features={}, metadata={}, signals={},
                            context={})


def test_accuracy_rules_agree_with_the_dashboards_definitions(clock, log):
    engine = AlertEngine([AccuracyRule(window=4, precision_threshold=0.55, sharpe_threshold=0.5, min_trades=2)])
    good = [trace("LONG", "LONG", 1.0), trace("LONG", "LONG", 2.0)]
    assert run(engine, log, clock, *good) == []
    bad = run(engine, log, clock, trace("LONG", "SHORT", -3.0), trace("LONG", "SHORT", -3.0), trace("LONG", "SHORT", -3.0))
    assert sorted(k for _, k in kinds(bad)) == ["accuracy_degradation:run1:intraday",
                                                "accuracy_precision_low:run1:intraday",
                                                "accuracy_sharpe_low:run1:intraday"]


def test_forwarded_ad_hoc_alerts_share_a_key_per_message(clock, log):
    engine = AlertEngine([ForwardedAlertRule()])
    ev = AlertRaised(severity="error", source="eod-scheduler", message="training failed")
    raised = run(engine, log, clock, ev, ev)
    assert len(raised) == 1 and raised[0].severity == "critical"


def test_ttl_expires_an_unconfirmed_alert(clock, log):
    engine = AlertEngine([ConnectivityRule()], policies={"breeze_connectivity_lost": AlertPolicy(
        suppress=timedelta(minutes=1), ttl=timedelta(minutes=10))})
    run(engine, log, clock, FeedHealthChanged(feed="breeze", status="down", reason="x"))
    expired = run(engine, log, clock, advance=11 * 60)
    assert kinds(expired) == [("AlertCleared", "breeze_connectivity_lost:run1:breeze")]
    assert expired[0].reason.startswith("expired")


def test_acknowledged_alert_gets_no_reminders_until_the_ack_expires(clock, log):
    engine = AlertEngine([HeartbeatRule(lapse=timedelta(seconds=30))])
    raised = run(engine, log, clock, heartbeat(), advance=31)
    ack = AlertAcknowledged(alert_id=raised[0].alert_id, key=raised[0].key, acknowledged_by="asha", note="restarting",
                            until=clock.now() + timedelta(hours=1))
    engine.observe(log(ack, run_id="monitor", stream="acks"), clock.now())
    assert run(engine, log, clock, advance=10 * 60) == []  # past the 5-minute window, but acknowledged
    assert kinds(run(engine, log, clock, advance=3600)) == [("MonitorAlertRaised", "heartbeat_lapsed:run1")]


def test_a_restarted_engine_decides_nothing_twice(clock, log):
    events = [log(heartbeat(day_pnl=-1_700_000)), log(CircuitBreakerTripped(
        session_date=date(2026, 12, 3), daily_pnl_paise=-2_100_000, limit_paise=-2_000_000, equity_paise=1))]
    first = AlertEngine(default_rules())
    written = [e for rec in events for e in first.observe(rec, clock.now())]
    assert {type(e) for e in written} == {MonitorAlertRaised}
    own = [log(e, run_id="monitor", stream="alerts") for e in written]
    second = AlertEngine(default_rules())
    second.restore(own)
    for rec in events:
        second.warm(rec)
    assert second.tick(clock.now(), log.seq) == []
    assert set(second.open) == set(first.open)
    assert second.observe(log(events[1].event), clock.now()) == []  # the same trip again: already open
