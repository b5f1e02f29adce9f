"""Deflated Sharpe Ratio and PBO (CSCV) against values computed by hand on constructed examples."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from core.research import (
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)
from core.research.overfitting import sharpe_per_period


def test_probabilistic_sharpe_of_a_normal_sample_by_hand():
    # SR = 0.1 per period over T = 101 periods, normal returns (skew 0, kurtosis 3), benchmark 0:
    # z = 0.1 * sqrt(100) / sqrt(1 + 2/4 * 0.01) = 1 / sqrt(1.005) = 0.997509...
    z = 1 / math.sqrt(1.005)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101) == pytest.approx(stats.norm.cdf(z), abs=1e-12)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101) == pytest.approx(0.84074, abs=1e-5)


def test_expected_maximum_sharpe_by_hand():
    # N = 10 trials whose Sharpe ratios have variance 0.0004 (std 0.02):
    # SR0 = 0.02 * ((1 - 0.5772) * Z(0.9) + 0.5772 * Z(1 - 1/(10e)))
    g = 0.5772156649015329
    expected = 0.02 * ((1 - g) * stats.norm.ppf(0.9) + g * stats.norm.ppf(1 - 1 / (10 * math.e)))
    assert expected_maximum_sharpe(0.0004, 10) == pytest.approx(expected, abs=1e-12)
    # 0.02 * (0.42278 * 1.28155 + 0.57722 * 1.78924) = 0.02 * 1.57460
    assert expected == pytest.approx(0.031492, abs=1e-5)
    assert expected_maximum_sharpe(0.0004, 1) == 0.0


def test_deflated_sharpe_ratio_by_hand():
    best = np.array([0.012, -0.004, 0.007, 0.015, -0.010, 0.003, 0.009, -0.002, 0.011, 0.004])
    trial_sharpes = [0.05, 0.10, 0.20, 0.15, sharpe_per_period(best)]
    sr = best.mean() / best.std(ddof=1)
    skew = stats.skew(best, bias=True)
    kurt = stats.kurtosis(best, fisher=False, bias=True)
    v = np.var(trial_sharpes, ddof=1)
    g = 0.5772156649015329
    sr0 = math.sqrt(v) * ((1 - g) * stats.norm.ppf(1 - 1 / 5) + g * stats.norm.ppf(1 - 1 / (5 * math.e)))
    z = (sr - sr0) * math.sqrt(len(best) - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2)
    assert deflated_sharpe_ratio(best, trial_sharpes) == pytest.approx(stats.norm.cdf(z), abs=1e-12)
    # More trials tried for the same best: less convincing.
    assert deflated_sharpe_ratio(best, trial_sharpes, trials=100) < deflated_sharpe_ratio(best, trial_sharpes)


def test_pbo_is_one_when_the_in_sample_winner_always_loses_out_of_sample():
    # Trial A earns in the first half and loses in the second; trial B the opposite. With two
    # blocks, each split picks the in-sample winner, which is the out-of-sample loser.
    a = [0.01, 0.02, 0.01, 0.03, -0.01, -0.02, -0.01, -0.03]
    b = [-0.01, -0.02, -0.01, -0.03, 0.01, 0.02, 0.01, 0.03]
    result = probability_of_backtest_overfitting(np.column_stack([a, b]), blocks=2)
    assert result.splits == 2
    # rank of the winner out of sample is 1 of 2: w = 1/3, logit ln(0.5) < 0 in both splits.
    assert result.logits == pytest.approx([math.log(0.5), math.log(0.5)])
    assert result.pbo == 1.0


def test_pbo_is_zero_when_one_trial_dominates_everywhere():
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 0.01, size=(40, 3))
    skilled = noise[:, 0] * 0.1 + 0.01
    matrix = np.column_stack([skilled, noise[:, 1], noise[:, 2]])
    result = probability_of_backtest_overfitting(matrix, blocks=4)
    assert result.splits == math.comb(4, 2)
    # winner ranks 3 of 3 out of sample: w = 3/4, logit ln 3 in every split.
    assert result.logits == pytest.approx([math.log(3)] * 6)
    assert result.pbo == 0.0


def test_pbo_matches_a_brute_force_cscv():
    rng = np.random.default_rng(11)
    matrix = rng.normal(0, 0.01, size=(48, 5))
    blocks = 6
    parts = np.array_split(matrix, blocks)
    below = 0
    combos = list(itertools.combinations(range(blocks), blocks // 2))
    for chosen in combos:
        ins = np.vstack([parts[i] for i in chosen])
        outs = np.vstack([parts[i] for i in range(blocks) if i not in chosen])
        winner = int(np.argmax(ins.mean(0) / ins.std(0, ddof=1)))
        rank = stats.rankdata(outs.mean(0) / outs.std(0, ddof=1))[winner]
        below += math.log((rank / 6) / (1 - rank / 6)) <= 0
    assert probability_of_backtest_overfitting(matrix, blocks=blocks).pbo == pytest.approx(below / len(combos))


def test_pbo_rejects_what_it_cannot_split():
    with pytest.raises(ValueError, match="even number"):
        probability_of_backtest_overfitting(np.zeros((10, 2)), blocks=3)
    with pytest.raises(ValueError, match="at least two trials"):
        probability_of_backtest_overfitting(np.zeros((10, 1)))
    with pytest.raises(ValueError, match="2 periods per block"):
        probability_of_backtest_overfitting(np.zeros((10, 2)), blocks=8)
