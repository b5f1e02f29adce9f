"""core.accuracy against independent oracles: scikit-learn for classification, scipy /
pandas / plain Python for the performance figures (the oracles never run in production)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import precision_recall_fscore_support

from core import accuracy

LABELS = list(accuracy.DIRECTIONS)


def random_directions(rng: np.random.Generator, n: int, extra: bool = False) -> np.ndarray:
    pool = LABELS + (["FLAT"] if extra else [])
    return rng.choice(pool, size=n)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("extra", [False, True])
def test_classification_equals_scikit_learn(seed, extra):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    actual, predicted = random_directions(rng, n, extra), random_directions(rng, n, extra)
    c = accuracy.classify(actual, predicted)
    if n == 0:
        assert c.confusion_matrix == [[0] * 3] * 3 and c.accuracy == 0.0
        return
    p, r, f, s = precision_recall_fscore_support(actual, predicted, labels=LABELS, zero_division=0)
    assert [c.precision[k] for k in LABELS] == pytest.approx(list(p))
    assert [c.recall[k] for k in LABELS] == pytest.approx(list(r))
    assert [c.f1_score[k] for k in LABELS] == pytest.approx(list(f))
    assert [c.support[k] for k in LABELS] == list(s)
    assert c.confusion_matrix == sk_confusion(actual, predicted, labels=LABELS).tolist()
    assert c.accuracy == pytest.approx(float(np.mean(actual == predicted)))


def test_confusion_rows_are_actual_columns_predicted():
    cm = accuracy.confusion_matrix(["LONG", "LONG", "SHORT"], ["SHORT", "LONG", "NOOP"])
    assert cm.tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0]]


def daily_returns_oracle(values: list[float]) -> list[float]:
    return [b / a - 1 for a, b in zip(values, values[1:])]


@pytest.mark.parametrize("seed", range(6))
def test_equity_figures_against_hand_and_pandas(seed):
    rng = np.random.default_rng(seed)
    equity = list(1_000_000 * np.cumprod(1 + rng.normal(0.0002, 0.01, size=int(rng.integers(2, 300)))))
    f = accuracy.equity_figures(equity[1:], equity[0])
    rets = daily_returns_oracle(equity)
    mean, sd = sum(rets) / len(rets), pd.Series(rets).std(ddof=1)
    assert f.periods == len(rets)
    assert f.sharpe == pytest.approx(mean / sd * math.sqrt(252))
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in rets) / len(rets))
    assert f.sortino == pytest.approx(mean / downside * math.sqrt(252))
    assert f.total_return == pytest.approx(equity[-1] / equity[0] - 1)
    assert f.annualized_return == pytest.approx((equity[-1] / equity[0]) ** (252 / len(rets)) - 1)
    s = pd.Series(equity)
    mdd = float((s / s.cummax() - 1).min())
    assert f.max_drawdown == pytest.approx(mdd) and f.max_drawdown <= 0
    assert f.calmar == pytest.approx(f.annualized_return / -mdd if mdd < 0 else 0.0)
    assert f.volatility == pytest.approx(sd * math.sqrt(252))


def test_drawdown_sign_convention_and_duration():
    values = [100, 120, 90, 95, 130, 117]
    assert accuracy.drawdown_curve(values).tolist() == pytest.approx([0, 0, -0.25, 90 / 120 * 95 / 90 - 1, 0, -0.1])
    assert accuracy.max_drawdown(values) == pytest.approx(-0.25)
    assert accuracy.max_drawdown_duration(values) == 2
    assert accuracy.max_drawdown([1, 2, 3]) == 0.0
    assert accuracy.calmar_ratio(0.1, 0.0) == 0.0


def test_trade_figures():
    results = [1899, -4202, 4947, -600, 0]
    assert accuracy.win_rate(results) == pytest.approx(2 / 5)
    assert accuracy.profit_factor(results) == pytest.approx((1899 + 4947) / (4202 + 600))
    assert accuracy.profit_factor([1, 2]) is None and accuracy.profit_factor([]) is None
    assert accuracy.average([30, 90]) == 60 and accuracy.average([]) == 0.0
    assert accuracy.hit_ratio(["LONG", "SHORT", "LONG"], [100, 100, 100], [101, 99, 100]) == pytest.approx(2 / 3)


def test_degenerate_inputs_are_zero_not_nan():
    assert accuracy.sharpe_ratio([0.01]) == 0.0 and accuracy.sharpe_ratio([0.01, 0.01]) == 0.0
    assert accuracy.sortino_ratio([0.01, 0.02]) == 0.0
    f = accuracy.equity_figures([], 100)
    assert (f.sharpe, f.max_drawdown, f.total_return) == (0.0, 0.0, 0.0)
    assert accuracy.annualized_return(-1.0, 10) == -1.0


def test_sharpe_matches_scipy_describe():
    rng = np.random.default_rng(3)
    r = rng.normal(0.001, 0.02, 100)
    d = stats.describe(r)
    assert accuracy.sharpe_ratio(r) == pytest.approx(d.mean / math.sqrt(d.variance) * math.sqrt(252))
