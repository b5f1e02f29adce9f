"""The monitor over a real store (SQLite and PostgreSQL): alerts raised once and delivered once,
acknowledgements, and a restart that neither re-delivers nor misses anything."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from applications.services.monitoring import (
    ALERTS_STREAM,
    AlertNotFoundError,
    Monitor,
    MonitorBusyError,
    acknowledge,
    read_alerts,
)
from applications.wiring.store import open_store
from core.events.base import NewEvent
from core.events.catalog import CircuitBreakerTripped
from core.events.monitoring import AlertDelivered, SessionHeartbeat
from ports.alerts import AlertMessage, DeliveryReport
from tests.fakes.manual_clock import ManualClock

T0 = datetime(2026, 12, 3, 4, 0, tzinfo=timezone.utc)


class RecordingSink:
    def __init__(self) -> None:
        self.sent: list[AlertMessage] = []

    def send(self, message: AlertMessage) -> DeliveryReport:
        self.sent.append(message)
        return DeliveryReport(delivered=True, channels=("test#1",), attempts=1)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = open_store(url)
    yield s
    s.close()


def beat(store, run: str, n: int, at: datetime, day_pnl: int = 0, tripped: bool = False) -> None:
    ev = SessionHeartbeat(mode="paper", sequence=n, bars_processed=n, last_bar_start=None, seconds_since_bar=None,
                          feed_status="ok", reduce_only=False,
                          books={"intraday": {"equity_paise": 1, "day_pnl_paise": day_pnl, "loss_limit_paise": 1000,
                                              "breaker_tripped": tripped, "open_positions": 0}})
    stream = f"{run}:health"
    store.append(stream, store.stream_version(stream), [NewEvent(event=ev, occurred_at=at)], run_id=run)


def test_raise_deliver_ack_and_restart_without_duplicates(store):
    clock, sink = ManualClock(T0), RecordingSink()
    monitor = Monitor(store, sink, now=clock.now)
    monitor.start()
    beat(store, "S1", 1, clock.now(), day_pnl=-900)  # 90 % of the cap: daily_loss_high
    monitor.poll()
    assert [m.rule for m in sink.sent] == ["daily_loss_high"]
    clock.advance(31)
    monitor.poll()  # heartbeat lapsed
    assert [m.rule for m in sink.sent] == ["daily_loss_high", "heartbeat_lapsed"]
    lapsed = sink.sent[-1]
    assert lapsed.alert_id in lapsed.body and lapsed.severity == "critical"
    monitor.poll()
    assert len(sink.sent) == 2  # raised once

    row = acknowledge(store, lapsed.alert_id[:8], by="asha", note="restarting the box")
    assert row.status == "acknowledged"
    with pytest.raises(AlertNotFoundError):
        acknowledge(store, "zzzz", by="asha", note="x")

    # the monitor dies; meanwhile the session trips its breaker. A new monitor resumes.
    store.append("S1:intraday", 0, [NewEvent(event=CircuitBreakerTripped(
        session_date=date(2026, 12, 3), daily_pnl_paise=-1100, limit_paise=-1000, equity_paise=1),
        occurred_at=clock.now())], run_id="S1")
    clock.advance(10 * 60)  # past heartbeat_lapsed's 5-minute suppression: only the ack keeps it quiet
    sink2 = RecordingSink()
    restarted = Monitor(store, sink2, now=clock.now)
    restarted.poll()
    assert [m.rule for m in sink2.sent] == ["circuit_breaker_triggered"]
    beat(store, "S1", 2, clock.now(), day_pnl=-1100, tripped=True)
    restarted.poll()
    assert sorted((m.kind, m.rule) for m in sink2.sent[1:]) == [("cleared", "daily_loss_high"),
                                                                ("cleared", "heartbeat_lapsed")]
    rows = {r.rule: r for r in read_alerts(store)}
    assert rows["heartbeat_lapsed"].status == "cleared" and rows["heartbeat_lapsed"].acknowledged_by == "asha"
    assert rows["circuit_breaker_triggered"].status == "open" and rows["circuit_breaker_triggered"].delivery == "delivered"
    assert [r.rule for r in read_alerts(store, open_only=True)] == ["circuit_breaker_triggered"]


def test_undelivered_notice_is_sent_on_restart_and_a_second_monitor_is_refused(store):
    clock = ManualClock(T0)

    class DownSink(RecordingSink):
        def send(self, message):  # the process "dies" before recording the outcome
            raise KeyboardInterrupt

    dying = Monitor(store, DownSink(), now=clock.now)
    dying.start()
    beat(store, "S2", 1, clock.now(), day_pnl=-950)
    with pytest.raises(KeyboardInterrupt):
        dying.poll()
    sink = RecordingSink()
    Monitor(store, sink, now=clock.now).poll()
    assert [m.rule for m in sink.sent] == ["daily_loss_high"]
    outcomes = [r.event for r in store.read_stream(ALERTS_STREAM) if isinstance(r.event, AlertDelivered)]
    assert len(outcomes) == 1
    first, second = Monitor(store, RecordingSink(), now=clock.now), Monitor(store, RecordingSink(), now=clock.now)
    first.start(), second.start()
    clock.advance(timedelta(seconds=31))
    first.poll()
    with pytest.raises(MonitorBusyError):
        second.poll()


def test_the_first_monitor_treats_history_as_state_and_skips_backtests(store):
    from core.events.catalog import RunStarted

    clock = ManualClock(T0)
    beat(store, "OLD", 1, clock.now(), day_pnl=-990)  # before any monitor: no alert for it
    started = RunStarted(mode="backtest", config={}, config_hash="h", code_version="c", data_fingerprint="d",
                         symbols=["TCS"], strategies=["intraday"], initial_cash_paise=1, seed=1)
    sink = RecordingSink()
    monitor = Monitor(store, sink, now=clock.now)
    monitor.start()
    store.append("BT:run", 0, [NewEvent(event=started, occurred_at=clock.now())], run_id="BT")
    store.append("BT:intraday", 0, [NewEvent(event=CircuitBreakerTripped(
        session_date=date(2026, 12, 3), daily_pnl_paise=-1100, limit_paise=-1000, equity_paise=1),
        occurred_at=clock.now())], run_id="BT")
    monitor.poll()
    assert sink.sent == []
    clock.advance(31)
    monitor.poll()  # but a session that was running stays watched: its heartbeat lapses
    assert [(m.rule, m.kind) for m in sink.sent] == [("heartbeat_lapsed", "raised")]


def test_an_unavailable_store_is_waited_for_not_fatal(store):
    from core.errors import StoreUnavailableError

    clock, sink = ManualClock(T0), RecordingSink()
    monitor = Monitor(store, sink, now=clock.now)
    monitor.start()
    beat(store, "S3", 1, clock.now(), day_pnl=-990)
    real_read = store.read_all
    outages = {"left": 2}

    def flaky(*args, **kwargs):
        if outages["left"]:
            outages["left"] -= 1
            raise StoreUnavailableError("server closed the connection")
        return real_read(*args, **kwargs)

    store.read_all = flaky
    sleeps, logs = [], []
    monitor.run(lambda: len(sleeps) >= 3, sleep=sleeps.append, log=logs.append)
    assert sleeps[:2] == [1.0, 2.0] and "reachable again" in logs[-1]
    assert [m.rule for m in sink.sent] == ["daily_loss_high"]


def test_a_release_breaching_its_heightened_thresholds_is_alerted_once(store):
    """Issue 15: during a release's heightened window the monitor applies its tighter thresholds."""
    from core.events.base import RunInfo
    from core.events.catalog import PortfolioSnapshotted, RunStarted
    from core.events.release import RELEASES_STREAM, ReleaseApplied, ReleaseDeployed

    clock, sink = ManualClock(T0), RecordingSink()
    monitor = Monitor(store, sink, now=clock.now)
    monitor.start()
    deployed = ReleaseDeployed(release_id="release-x", previous_release_id=None, previous_model_id=None,
                               deployer="ops", reason="", forced=False, heightened_hours=48.0,
                               thresholds={"min_win_rate_pct": None, "max_drawdown_pct": -5.0, "max_loss_pct": None})
    store.append(RELEASES_STREAM, 0, [NewEvent(event=deployed, occurred_at=T0)], run_id="ops")
    store.append(RELEASES_STREAM, 1, [NewEvent(event=ReleaseApplied(release_id="release-x", run_id="P1", mode="paper",
                                                                    config_sha256=None, model_id=None),
                                               occurred_at=T0)], run_id="P1")
    store.start_run(RunInfo(run_id="P1", mode="paper", config_hash="h", code_version="c", data_fingerprint="f",
                            started_at=T0))
    store.append("P1:run", 0, [NewEvent(event=RunStarted(
        mode="paper", config={"initial_cash_paise_by_book": {"swing": 10_000_000}}, config_hash="h",
        code_version="c", data_fingerprint="f", symbols=["TCS"], strategies=["swing"],
        initial_cash_paise=10_000_000, seed=1), occurred_at=T0)], run_id="P1")

    def snap(version: int, equity: int) -> None:
        ev = PortfolioSnapshotted(session_date=date(2026, 12, 3), cash_paise=equity, positions_value_paise=0,
                                  equity_paise=equity, realized_pnl_paise=0, unrealized_pnl_paise=0,
                                  fees_paid_paise=0, positions={}, prices={})
        store.append("P1:swing", version, [NewEvent(event=ev, occurred_at=T0 + timedelta(hours=1))], run_id="P1")

    snap(0, 9_800_000)
    monitor.poll()
    assert [m.rule for m in sink.sent] == []
    snap(1, 9_300_000)  # 7 % under the starting equity: deeper than the release's -5 %
    monitor.poll()
    snap(2, 9_200_000)
    monitor.poll()
    assert [m.rule for m in sink.sent] == ["release_underperforming"]
    assert "release-x" in sink.sent[0].body and "drawdown" in sink.sent[0].body
