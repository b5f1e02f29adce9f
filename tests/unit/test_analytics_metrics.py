"""Analytics metrics against independent hand computations (plain Python, no numpy)."""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from scipy import stats

from applications.analytics.metrics import (
    CompositeWeights,
    DegradationThresholds,
    classification_metrics,
    compare_strategies,
    compute_metrics,
    detect_degradation,
    detect_live,
    json_safe,
    max_drawdown,
    profit_factor,
    rolling_vs_alltime,
    sharpe_ratio,
    sortino_ratio,
    welch_t_test,
)

# The tiny run of tests/builders.py, worked out by hand (net of 5 bps fees a side):
#   intraday RELIANCE LONG 10 @100 -> 102: net 2000-50-51 = 1899 paise on 100000 -> +1.899 %
#   intraday TCS SHORT 10 @200 -> 204:     net -4000-100-102 = -4202 on 200000   -> -2.101 %
#   swing    RELIANCE LONG 5 @100 -> 110:  net 5000-25-28 = 4947 on 50000       -> +9.894 %
#   intraday RELIANCE LONG 10 @100 -> 99.5: net -500-50-50 = -600 on 100000     -> -0.600 %
#   swing    TCS LONG 5 @200 -> 190:       net -5000-50-48 = -5098 on 100000    -> -5.098 %
#   intraday TCS SHORT 10 @200 -> 190:     net 10000-100-95 = 9805 on 200000    -> +4.9025 %
TINY = [
    # strategy, predicted, actual (price move vs 0.3 % / 0.5 %), return %, minutes held
    ("intraday", "LONG", "LONG", 1.899, 90),
    ("intraday", "SHORT", "LONG", -2.101, 310),
    ("swing", "LONG", "LONG", 9.894, 2880),
    ("intraday", "LONG", "SHORT", -0.6, 330),
    ("swing", "LONG", "SHORT", -5.098, 1445),
    ("intraday", "SHORT", "SHORT", 4.9025, 150),
]


def tiny_traces() -> pd.DataFrame:
    start = datetime(2024, 1, 2, 4, 0, tzinfo=timezone.utc)
    return pd.DataFrame({
        "timestamp": [start + timedelta(hours=i) for i in range(len(TINY))],
        "symbol": ["RELIANCE", "TCS", "RELIANCE", "RELIANCE", "TCS", "TCS"],
        "strategy": [t[0] for t in TINY], "predicted_direction": [t[1] for t in TINY],
        "actual_direction": [t[2] for t in TINY], "realized_return_pct": [t[3] for t in TINY],
        "holding_period_minutes": [t[4] for t in TINY],
    })


def hand_sharpe(pct: list[float]) -> float:
    r = [x / 100 for x in pct]
    return statistics.mean(r) / statistics.stdev(r) * math.sqrt(252)


def test_classification_matches_hand_counts():
    m = compute_metrics(tiny_traces())
    # rows actual, columns predicted (LONG, SHORT, NOOP)
    assert m.confusion_matrix == [[2, 1, 0], [2, 1, 0], [0, 0, 0]]
    assert m.precision == pytest.approx({"LONG": 2 / 4, "SHORT": 1 / 2, "NOOP": 0.0})
    assert m.recall == pytest.approx({"LONG": 2 / 3, "SHORT": 1 / 3, "NOOP": 0.0})
    f1_long = 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)
    f1_short = 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3)
    assert m.f1_score == pytest.approx({"LONG": f1_long, "SHORT": f1_short, "NOOP": 0.0})
    assert m.support == {"LONG": 3, "SHORT": 3, "NOOP": 0}
    assert m.accuracy == pytest.approx(0.5)
    # no prices in this frame: hits are traces whose actual LONG/SHORT was predicted
    assert m.hit_ratio == pytest.approx(0.5)


def test_hit_ratio_follows_the_price_and_ignores_the_noop_band():
    traces = tiny_traces().assign(
        entry_price=[100.0, 200.0, 100.0, 100.0, 200.0, 200.0],
        exit_price=[100.1, 204.0, 110.0, 99.5, 190.0, 190.0])  # first trade: +0.1 %, inside the NOOP band
    traces.loc[0, "actual_direction"] = "NOOP"
    m = compute_metrics(traces)
    # LONG up: trades 0 and 2; SHORT down: trade 5 -> 3 of 6, while accuracy drops to 2 of 6
    assert m.hit_ratio == pytest.approx(3 / 6)
    assert m.accuracy == pytest.approx(2 / 6)


def test_financial_matches_hand_computation():
    m = compute_metrics(tiny_traces())
    pct = [t[3] for t in TINY]
    assert m.total_trades == 6
    assert m.win_rate == pytest.approx(3 / 6)
    assert m.avg_return == pytest.approx(8.8965 / 6)
    assert m.profit_factor == pytest.approx((1.899 + 9.894 + 4.9025) / (2.101 + 0.6 + 5.098))
    assert m.sharpe_ratio == pytest.approx(hand_sharpe(pct))
    downside = math.sqrt(sum(min(x / 100, 0) ** 2 for x in pct) / 6)
    assert m.sortino_ratio == pytest.approx(statistics.mean(x / 100 for x in pct) / downside * math.sqrt(252))
    # peak after the swing RELIANCE win; then -0.6 % and -5.098 %: 1 - 0.994 * 0.94902
    assert m.max_drawdown == pytest.approx(-(1 - 0.994 * 0.94902))
    assert m.avg_holding_minutes == pytest.approx((90 + 310 + 2880 + 330 + 1445 + 150) / 6)
    total = 1.0
    for x in pct:
        total *= 1 + x / 100
    assert m.total_return == pytest.approx(total - 1)
    assert (m.best_return, m.worst_return) == (9.894, -5.098)


def test_edge_cases_never_produce_nan_or_inf():
    empty = compute_metrics(tiny_traces().iloc[0:0])
    assert empty.total_trades == 0 and empty.sharpe_ratio == 0.0 and empty.profit_factor is None
    assert empty.confusion_matrix == [[0] * 3] * 3
    winners = compute_metrics(tiny_traces().iloc[[0, 2]])
    assert winners.profit_factor is None and winners.sortino_ratio == 0.0 and winners.max_drawdown == 0.0
    assert sharpe_ratio([0.01]) == 0.0 and sharpe_ratio([0.01, 0.01]) == 0.0
    assert sortino_ratio([]) == 0.0 and max_drawdown([]) == 0.0 and profit_factor([0.1, -0.05]) == pytest.approx(2.0)
    assert json_safe({"a": float("nan"), "b": [float("inf")], "c": (1, 2)}) == {"a": None, "b": [None], "c": [1, 2]}


def test_classification_with_zero_division_is_zero():
    m = classification_metrics(["LONG", "LONG"], ["SHORT", "NOOP"])
    assert m.precision == {"LONG": 0.0, "SHORT": 0.0, "NOOP": 0.0}
    assert m.recall == {"LONG": 0.0, "SHORT": 0.0, "NOOP": 0.0}
    assert m.accuracy == 0.0
    with pytest.raises(ValueError):
        classification_metrics(["LONG"], ["LONG", "SHORT"])


def test_comparison_deltas_score_verdict_and_welch_test():
    c = compare_strategies(tiny_traces())
    intra = [1.899, -2.101, -0.6, 4.9025]
    swing = [9.894, -5.098]
    assert (c.intraday_trades, c.swing_trades) == (4, 2)
    # both have LONG precision 1/2 and win rate 1/2
    assert c.deltas["precision"] == pytest.approx(0.0)
    assert c.deltas["win_rate"] == pytest.approx(0.0)
    assert c.deltas["sharpe"] == pytest.approx(hand_sharpe(intra) - hand_sharpe(swing))
    assert c.intraday_score == pytest.approx(0.4 * hand_sharpe(intra) + 0.3 * 0.5 + 0.3 * 0.5)
    assert c.swing_score == pytest.approx(0.4 * hand_sharpe(swing) + 0.3 * 0.5 + 0.3 * 0.5)
    assert c.better_strategy == ("intraday" if hand_sharpe(intra) > hand_sharpe(swing) else "swing")
    # Welch by hand: t and Welch-Satterthwaite degrees of freedom
    m1, m2 = statistics.mean(intra), statistics.mean(swing)
    v1, v2 = statistics.variance(intra), statistics.variance(swing)
    se2 = v1 / 4 + v2 / 2
    t = (m1 - m2) / math.sqrt(se2)
    df = se2 ** 2 / ((v1 / 4) ** 2 / 3 + (v2 / 2) ** 2 / 1)
    assert c.t_test.t_statistic == pytest.approx(t)
    assert c.t_test.p_value == pytest.approx(2 * stats.t.sf(abs(t), df))
    assert c.t_test.significant is False
    doc = c.to_dict()
    assert doc["comparison"]["better_strategy"] == c.better_strategy
    assert set(doc) == {"intraday", "swing", "comparison"}


def test_comparison_weights_and_one_sided_verdicts():
    traces = tiny_traces()
    only_swing = compare_strategies(traces[traces["strategy"] == "swing"])
    assert only_swing.better_strategy == "swing" and only_swing.intraday is None
    assert only_swing.t_test.p_value is None and only_swing.deltas == {}
    assert compare_strategies(traces.iloc[0:0]).better_strategy is None
    # all weight on win rate: both are 0.5 -> a tie
    tie = compare_strategies(traces, CompositeWeights(sharpe=0.0, precision=0.0, win_rate=1.0))
    assert tie.better_strategy == "tie"


def test_significant_welch_test():
    a = [1.0 + 0.01 * i for i in range(30)]
    b = [-1.0 - 0.01 * i for i in range(30)]
    w = welch_t_test(a, b)
    assert w.significant and w.p_value < 0.05
    assert welch_t_test([1.0], [2.0, 3.0]).p_value is None


def _series(outcomes: list[tuple[str, str, float]]) -> pd.DataFrame:
    start = datetime(2024, 3, 1, 4, 0, tzinfo=timezone.utc)
    return pd.DataFrame({
        "timestamp": [start + timedelta(minutes=30 * i) for i in range(len(outcomes))],
        "strategy": "intraday", "symbol": "TCS",
        "predicted_direction": [o[0] for o in outcomes], "actual_direction": [o[1] for o in outcomes],
        "realized_return_pct": [o[2] for o in outcomes], "holding_period_minutes": 30,
    })


def test_rolling_window_and_degradation():
    good = [("LONG", "LONG", 1.0), ("LONG", "LONG", 0.5), ("LONG", "SHORT", -0.4)] * 30
    bad = [("LONG", "SHORT", -0.8), ("LONG", "LONG", 0.2)] * 10
    traces = _series(good + bad)
    rolling, alltime = rolling_vs_alltime(traces, window=20)
    assert rolling.total_trades == 20 and alltime.total_trades == 110
    assert rolling.precision["LONG"] == pytest.approx(0.5)
    assert alltime.precision["LONG"] == pytest.approx(70 / 110)
    alerts = detect_degradation(rolling, alltime)
    assert {a.metric for a in alerts} == {"precision_LONG", "win_rate", "sharpe_ratio"}
    assert all(a.drop > a.threshold for a in alerts)
    lenient = detect_degradation(rolling, alltime, DegradationThresholds(precision_drop=0.5, win_rate_drop=0.5,
                                                                         sharpe_drop=100.0))
    assert lenient == []
    stable_r, stable_a = rolling_vs_alltime(_series(good), window=30)
    assert detect_degradation(stable_r, stable_a) == []
    with pytest.raises(ValueError):
        rolling_vs_alltime(traces, window=0)


def test_live_detection_relative_to_now():
    traces = _series([("LONG", "LONG", 1.0)] * 3)
    last_exit = traces["timestamp"].max() + timedelta(minutes=30)
    assert detect_live(traces, last_exit + timedelta(minutes=10), 15).is_live
    stale = detect_live(traces, last_exit + timedelta(minutes=20), 15)
    assert not stale.is_live and stale.age_minutes == pytest.approx(20)
    traced = traces.assign(traced_at=last_exit + timedelta(hours=1))
    assert detect_live(traced, last_exit + timedelta(minutes=70), 15).is_live
    assert not detect_live(traces.iloc[0:0], last_exit, 15).is_live
    with pytest.raises(ValueError):
        detect_live(traces, datetime(2024, 3, 1), 15)
