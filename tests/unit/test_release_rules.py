"""Release rules (core.release): risk flags, the readiness verdict, heightened monitoring."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core.release import (
    AuditThresholds,
    BookFigures,
    HeightenedThresholds,
    MonitoringWindow,
    ObservedFigures,
    deployment_ready,
    risk_flags,
    underperformance,
)


def figures(**over) -> BookFigures:
    base = dict(strategy="swing", sharpe=1.0, total_return_pct=5.0, win_rate_pct=55.0, max_drawdown_pct=-6.0,
                trades=40)
    return BookFigures(**{**base, **over})


def codes(flags) -> list[str]:
    return [f.code for f in flags]


def test_a_candidate_as_good_as_production_is_ready():
    flags = risk_flags({"swing": figures()}, {"swing": figures()})
    assert flags == [] and deployment_ready(flags)


@pytest.mark.parametrize("candidate,expected", [
    (figures(sharpe=0.79), ["sharpe_degradation"]),  # drop 0.21 > 0.2
    (figures(sharpe=0.8), []),  # drop exactly 0.2 is allowed
    (figures(win_rate_pct=49.9), ["win_rate_degradation"]),
    (figures(max_drawdown_pct=-20.5), ["drawdown_above_limit"]),
    (figures(trades=4), ["too_few_trades"]),
])
def test_each_rule_flags_its_breach(candidate, expected):
    assert codes(risk_flags({"swing": candidate}, {"swing": figures()})) == expected


def test_books_without_a_production_counterpart_are_judged_on_their_own():
    flags = risk_flags({"intraday": figures(strategy="intraday", sharpe=-3.0)}, {"swing": figures()})
    assert flags == []


def test_gate_dsr_live_and_integrity_flags():
    flags = risk_flags({"swing": figures()}, {}, gate_verdict="REJECT", deflated_sharpe=0.5,
                       live_refusal="live cannot short", model_integrity_error="manifest altered")
    assert codes(flags) == ["promotion_gate_failed", "deflated_sharpe_low", "live_would_refuse", "model_integrity"]
    assert not deployment_ready(flags)
    assert codes(risk_flags({"swing": figures()}, {}, gate_verdict="PROMOTE", deflated_sharpe=0.99)) == []


def test_no_candidate_book_is_a_flag():
    assert codes(risk_flags({}, {})) == ["no_candidate_books"]


def test_thresholds_are_validated():
    with pytest.raises(ValueError, match="negative percentage"):
        AuditThresholds(max_drawdown_pct=5.0)


def test_heightened_thresholds_from_the_audit_loosen_by_five_points():
    t = HeightenedThresholds.from_audit({"swing": figures(win_rate_pct=50.0, max_drawdown_pct=-8.0)})
    assert t.min_win_rate_pct == 45.0 and t.max_drawdown_pct == -13.0 and t.max_loss_pct == -5.0


def test_heightened_thresholds_from_a_deployment_plan():
    t = HeightenedThresholds.from_plan({"thresholds": {"win_rate_pct": 40.0, "max_drawdown_pct": 12.0}})
    assert t.min_win_rate_pct == 40.0 and t.max_drawdown_pct == -12.0 and t.max_loss_pct is None


def test_underperformance_names_each_breach():
    t = HeightenedThresholds(min_win_rate_pct=45.0, max_drawdown_pct=-10.0, max_loss_pct=-5.0)
    ok = ObservedFigures(trades=10, win_rate_pct=50.0, max_drawdown_pct=-4.0, total_return_pct=1.0)
    assert underperformance(t, ok) == []
    bad = ObservedFigures(trades=10, win_rate_pct=30.0, max_drawdown_pct=-11.0, total_return_pct=-6.0)
    assert len(underperformance(t, bad)) == 3
    # too few trades says nothing about the win rate
    few = ObservedFigures(trades=2, win_rate_pct=0.0, max_drawdown_pct=-1.0, total_return_pct=0.0)
    assert underperformance(t, few) == []


def test_monitoring_window_mode_and_time_left():
    t0 = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
    w = MonitoringWindow(deployed_at=t0, heightened_hours=48)
    assert w.mode_at(t0 + timedelta(hours=47)) == "heightened"
    assert w.time_left(t0 + timedelta(hours=47)) == timedelta(hours=1)
    assert w.mode_at(t0 + timedelta(hours=48)) == "normal" and w.time_left(t0 + timedelta(hours=50)) == timedelta(0)
