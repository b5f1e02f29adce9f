"""Promotion gate verdicts, checklist rendering and the gate metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.learning.gate import PROMOTE, REJECT, PromotionThresholds, Scorecard, evaluate_promotion
from core.learning.labels import LONG, NOOP, SHORT
from core.learning.metrics import hit_ratio, long_precision, sharpe_ratio, signal_scorecard

CHAMP = Scorecard(precision=0.50, hit_ratio=0.50, sharpe_ratio=1.00)


def decide(candidate: Scorecard, **kw):
    return evaluate_promotion(candidate, CHAMP, candidate_id="cand", champion_id="champ", **kw)


def test_all_uplifts_met_promotes():
    d = decide(Scorecard(precision=0.53, hit_ratio=0.52, sharpe_ratio=1.05))
    assert d.verdict == PROMOTE and d.promote
    assert d.reason == "All validation criteria passed."
    assert [c.passed for c in d.checks] == [True, True, True]


def test_exact_threshold_passes_despite_float_rounding():
    # 0.52 - 0.50 is 0.020000000000000018 or 0.01999999... depending on the values
    d = decide(Scorecard(precision=0.52, hit_ratio=0.52, sharpe_ratio=1.05))
    assert d.verdict == PROMOTE


def test_one_miss_rejects_when_all_are_required():
    d = decide(Scorecard(precision=0.53, hit_ratio=0.52, sharpe_ratio=1.04))
    assert d.verdict == REJECT
    assert "sharpe_ratio" in d.reason
    assert [c.name for c in d.checks if not c.passed] == ["sharpe_ratio"]


def test_any_criterion_rule():
    loose = PromotionThresholds(require_all=False)
    assert decide(Scorecard(precision=0.53, hit_ratio=0.40, sharpe_ratio=0.0), thresholds=loose).verdict == PROMOTE
    assert decide(Scorecard(precision=0.50, hit_ratio=0.50, sharpe_ratio=1.0), thresholds=loose).verdict == REJECT


def test_nan_metric_fails_its_check():
    d = decide(Scorecard(precision=float("nan"), hit_ratio=0.6, sharpe_ratio=2.0))
    assert d.verdict == REJECT
    assert d.checks[0].passed is False
    payload = json.loads(json.dumps(d.checklist(), allow_nan=False))  # JSON-safe: NaN becomes null
    assert payload["checks"][0]["candidate"] is None


def test_first_model_needs_a_positive_edge():
    ok = evaluate_promotion(Scorecard(precision=0.55, hit_ratio=0.55, sharpe_ratio=0.5), None, candidate_id="c")
    bad = evaluate_promotion(Scorecard(precision=0.55, hit_ratio=0.55, sharpe_ratio=-0.5), None, candidate_id="c")
    assert ok.verdict == PROMOTE and bad.verdict == REJECT
    assert ok.checklist()["champion_model"] is None


def test_custom_thresholds_are_in_the_checklist():
    t = PromotionThresholds(min_precision_uplift=0.1, min_hit_ratio_uplift=0.0, min_sharpe_uplift=0.0)
    d = decide(Scorecard(precision=0.55, hit_ratio=0.5, sharpe_ratio=1.0), thresholds=t,
               context={"validation_window": "2020-01-01..2020-12-31"})
    assert d.verdict == REJECT
    cl = d.checklist()
    assert cl["thresholds"] == {"min_precision_uplift": 0.1, "min_hit_ratio_uplift": 0.0, "min_sharpe_uplift": 0.0,
                                "require_all": True}
    assert cl["recommendation"] == REJECT and cl["context"]["validation_window"].startswith("2020")
    assert cl["checks"][0]["uplift"] == pytest.approx(0.05)


def test_markdown_checklist_lists_every_check_and_the_sign_off():
    d = decide(Scorecard(precision=0.53, hit_ratio=0.52, sharpe_ratio=0.9))
    md = d.to_markdown()
    assert md.startswith("# Promotion checklist: cand")
    for name in ("precision", "hit_ratio", "sharpe_ratio"):
        assert f"| {name} |" in md
    assert "FAIL" in md and "PASS" in md
    assert "**Recommendation: REJECT**" in md
    assert "Risk manager" in md and "sensequant models rollback" in md


def test_metric_helpers():
    pred = np.array([LONG, LONG, SHORT, NOOP, LONG])
    actual = np.array([LONG, SHORT, SHORT, NOOP, LONG])
    assert long_precision(pred, actual) == pytest.approx(2 / 3)
    assert math.isnan(long_precision(np.array([NOOP]), np.array([LONG])))
    assert hit_ratio(np.array([0.01, -0.02, 0.0, 0.03])) == 0.5
    assert math.isnan(hit_ratio(np.array([])))
    assert math.isnan(sharpe_ratio(np.array([0.01, 0.01])))
    r = np.array([0.01, -0.005, 0.02, 0.0])
    assert sharpe_ratio(r, 252) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))


def test_signal_scorecard_trades_long_and_short_calls():
    pred = np.array([LONG, SHORT, NOOP, LONG])
    actual = np.array([LONG, SHORT, LONG, SHORT])
    fwd = np.array([0.02, -0.01, 0.05, -0.01])
    sc = signal_scorecard(pred, actual, fwd, horizon_periods=5)
    assert sc.precision == 0.5
    assert sc.hit_ratio == pytest.approx(2 / 3)  # +2%, +1% (short), -1%
    trades = np.array([0.02, 0.01, -0.01])
    assert sc.sharpe_ratio == pytest.approx(trades.mean() / trades.std(ddof=1) * math.sqrt(252 / 5))


def test_markdown_renders_fold_lists_as_tables():
    folds = [{"start": "2020-01-01", "trades": 3, "sharpe_ratio": 0.5}, {"start": "2020-04-01", "trades": 2,
                                                                           "sharpe_ratio": None}]
    md = decide(Scorecard(precision=0.6, hit_ratio=0.6, sharpe_ratio=1.2),
                context={"candidate_folds": folds, "symbols": "TCS"}).to_markdown()
    assert "### Candidate folds" in md
    assert "| start | trades | sharpe_ratio |" in md
    assert "| 2020-01-01 | 3 | 0.5000 |" in md and "| 2020-04-01 | 2 | n/a |" in md
    assert "- Symbols: TCS" in md
