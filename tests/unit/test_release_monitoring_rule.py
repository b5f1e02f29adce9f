"""``release_underperforming`` over scripted events: raises inside the heightened window on a
breach, clears on recovery, rollback or the window's end, and ignores runs of other releases."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, timedelta, timezone

from core.events.base import RecordedEvent
from core.events.catalog import PortfolioSnapshotted, RunStarted, TradeClosed
from core.events.release import ReleaseApplied, ReleaseDeployed, ReleaseRolledBack
from core.monitoring.release_rule import ReleaseUnderperformingRule
from core.monitoring.rules import Clear, Raise

T0 = datetime(2026, 12, 1, 4, 0, tzinfo=timezone.utc)
SEQ = itertools.count(1)
THRESHOLDS = {"min_win_rate_pct": 40.0, "max_drawdown_pct": -5.0, "max_loss_pct": -3.0}


def rec(event, *, run_id="r1", stream="swing", at=T0) -> RecordedEvent:
    n = next(SEQ)
    return RecordedEvent(seq=n, event_id=uuid.uuid4(), stream_id=f"{run_id}:{stream}" if stream else "releases",
                         stream_version=n, run_id=run_id, occurred_at=at, recorded_at=at, correlation_id=None,
                         causation_id=None, event=event)


def deployed(release="rel-1", hours=48.0):
    return rec(ReleaseDeployed(release_id=release, previous_release_id=None, previous_model_id=None, deployer="t",
                               reason="", forced=False, heightened_hours=hours, thresholds=THRESHOLDS),
               run_id="ops", stream=None)


def started(run_id="r1"):
    return rec(RunStarted(mode="paper", config={"initial_cash_paise_by_book": {"swing": 10_000_000}},
                          config_hash="h", code_version="c", data_fingerprint="f", symbols=["TCS"],
                          strategies=["swing"], initial_cash_paise=10_000_000, seed=1), run_id=run_id, stream="run")


def snapshot(equity, run_id="r1", at=T0):
    return rec(PortfolioSnapshotted(session_date=date(2026, 12, 1), cash_paise=equity, positions_value_paise=0,
                                    equity_paise=equity, realized_pnl_paise=0, unrealized_pnl_paise=0,
                                    fees_paid_paise=0, positions={}, prices={}), run_id=run_id, at=at)


def trade(pnl, run_id="r1"):
    return rec(TradeClosed(trade_id=str(uuid.uuid4()), symbol="TCS", strategy="swing", direction="LONG", quantity=1,
                           entry_time=T0, exit_time=T0, entry_price_paise=100, exit_price_paise=100,
                           gross_pnl_paise=pnl, fees_paise=0, net_pnl_paise=pnl, exit_reason="tp",
                           cash_before_paise=0, cash_after_paise=0, equity_before_paise=0, equity_after_paise=0),
               run_id=run_id)


def applied(run_id="r1", release="rel-1"):
    return rec(ReleaseApplied(release_id=release, run_id=run_id, mode="paper", config_sha256=None, model_id=None),
               run_id=run_id, stream=None)


def feed(rule, events):
    return [d for e in events for d in rule.observe(e)]


def test_a_drawdown_breach_raises_once_per_state_and_recovery_clears():
    rule = ReleaseUnderperformingRule()
    out = feed(rule, [deployed(), applied(), started(), snapshot(10_000_000), snapshot(9_400_000)])
    assert [type(d) for d in out] == [Raise]
    assert out[0].key == "release_underperforming:rel-1" and "drawdown" in out[0].message
    assert "return since deployment" in out[0].message  # -6 % is also below the -3 % floor
    # the window's worst drawdown is remembered, so a new high does not hide it
    again = feed(rule, [snapshot(10_200_000)])
    assert isinstance(again[0], Raise) and "drawdown" in again[0].message and "return" not in again[0].message


def test_a_release_that_recovers_within_its_thresholds_clears():
    rule = ReleaseUnderperformingRule()
    raised = feed(rule, [deployed(), applied(), started(), snapshot(10_000_000), *[trade(-1) for _ in range(5)]])
    assert isinstance(raised[-1], Raise) and "win rate" in raised[-1].message
    cleared = feed(rule, [trade(+1) for _ in range(5)])
    assert isinstance(cleared[-1], Clear)


def test_win_rate_needs_enough_trades_and_other_runs_are_ignored():
    rule = ReleaseUnderperformingRule(min_trades_for_win_rate=5)
    feed(rule, [deployed(), applied(), started(), snapshot(10_000_000)])
    assert feed(rule, [trade(-10) for _ in range(4)]) == []
    assert isinstance(feed(rule, [trade(-10)])[-1], Raise)
    other = ReleaseUnderperformingRule()
    feed(other, [deployed(), applied(run_id="r1"), started(run_id="r2")])
    assert feed(other, [snapshot(1_000_000, run_id="r2"), *[trade(-1, run_id="r2") for _ in range(9)]]) == []


def test_rollback_and_the_end_of_the_window_clear():
    rule = ReleaseUnderperformingRule()
    assert isinstance(feed(rule, [deployed(), applied(), started(), snapshot(10_000_000), snapshot(9_000_000)])[0],
                      Raise)
    assert rule.tick(T0 + timedelta(hours=47)) == []
    cleared = rule.tick(T0 + timedelta(hours=48))
    assert cleared and isinstance(cleared[0], Clear)
    rule2 = ReleaseUnderperformingRule()
    feed(rule2, [deployed(), applied(), started(), snapshot(10_000_000), snapshot(9_000_000)])
    out = rule2.observe(rec(ReleaseRolledBack(from_release_id="rel-1", to_release_id=None, restored_model_id=None,
                                              deployer="t", reason=""), run_id="ops", stream=None))
    assert isinstance(out[0], Clear)
    # after the rollback nothing of that release is watched
    assert feed(rule2, [snapshot(1, at=T0 + timedelta(hours=1))]) == []


def test_events_after_the_window_are_not_judged():
    rule = ReleaseUnderperformingRule()
    feed(rule, [deployed(hours=1), applied(), started(), snapshot(10_000_000)])
    assert feed(rule, [snapshot(5_000_000, at=T0 + timedelta(hours=2))]) == []
