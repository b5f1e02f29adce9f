"""Backtest-overfitting statistics: the Deflated Sharpe Ratio and the Probability of Backtest
Overfitting (combinatorially symmetric cross-validation). Pure functions over plain arrays.

Sharpe ratios here are *per period* (not annualised): mean / standard deviation (ddof=1) of
the per-period returns, because the formulas below are stated for the per-period estimate.

Deflated Sharpe Ratio (Bailey & Lopez de Prado, 2014)
    ``PSR(SR*) = Phi( (SR - SR*) * sqrt(T - 1) / sqrt(1 - g3*SR + (g4 - 1)/4 * SR^2) )`` is the
    probability that the true Sharpe exceeds ``SR*`` given ``T`` returns of skewness ``g3`` and
    (non-excess) kurtosis ``g4``. The DSR is the PSR against the Sharpe the best of ``N``
    independent unskilled trials would reach by luck:
    ``SR0 = sqrt(V) * ((1 - e) * Z(1 - 1/N) + e * Z(1 - 1/(N * E)))``, ``V`` the variance of the
    trials' Sharpe ratios, ``e`` the Euler-Mascheroni constant, ``E`` Euler's number, ``Z`` the
    standard normal quantile. DSR near 1: the best trial is unlikely to be luck; near 0.5 or
    below: it is what the search alone would produce.

Probability of Backtest Overfitting (Bailey, Borwein, Lopez de Prado & Zhu, 2015)
    The ``T x N`` matrix of per-period returns of ``N`` trials is cut into ``S`` (even) blocks
    of consecutive rows. For every choice of ``S/2`` blocks as in-sample (the rest out of
    sample) the trial with the best in-sample Sharpe is found and its out-of-sample Sharpe
    ranked among all trials: ``w = rank / (N + 1)`` (rank 1 = worst, ties averaged) and the
    logit ``l = ln(w / (1 - w))``. PBO is the share of splits with ``l <= 0``: the in-sample
    winner did no better than the out-of-sample median.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist

import attrs
import numpy as np

EULER_MASCHERONI = 0.5772156649015329
_NORMAL = NormalDist()


def sharpe_per_period(returns: Sequence[float] | np.ndarray) -> float:
    """``mean / std(ddof=1)`` of per-period returns; 0 with fewer than two returns or no dispersion."""
    r = np.asarray(returns, dtype=float)
    if r.size < 2:
        return 0.0
    std = float(r.std(ddof=1))
    return float(r.mean()) / std if std > 0 else 0.0


def _moments(returns: np.ndarray) -> tuple[float, float]:
    """Sample skewness and (non-excess) kurtosis, population moments (normal: 0 and 3)."""
    centred = returns - returns.mean()
    m2 = float(np.mean(centred ** 2))
    if m2 <= 0:
        return 0.0, 3.0
    return float(np.mean(centred ** 3)) / m2 ** 1.5, float(np.mean(centred ** 4)) / m2 ** 2


def probabilistic_sharpe_ratio(sharpe: float, benchmark_sharpe: float, observations: int,
                               skewness: float = 0.0, kurtosis: float = 3.0) -> float:
    """Probability that the true per-period Sharpe exceeds ``benchmark_sharpe``."""
    if observations < 2:
        return float("nan")
    denominator = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe ** 2
    if denominator <= 0:
        return float("nan")
    z = (sharpe - benchmark_sharpe) * math.sqrt(observations - 1) / math.sqrt(denominator)
    return _NORMAL.cdf(z)


def expected_maximum_sharpe(sharpe_variance: float, trials: int) -> float:
    """Expected maximum per-period Sharpe of ``trials`` unskilled trials with that variance."""
    if trials < 2 or sharpe_variance <= 0:
        return 0.0
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_MASCHERONI) * _NORMAL.inv_cdf(1.0 - 1.0 / trials)
                                         + EULER_MASCHERONI * _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e)))


def deflated_sharpe_ratio(best_returns: Sequence[float] | np.ndarray, trial_sharpes: Sequence[float],
                          trials: int | None = None) -> float:
    """DSR of the best trial's per-period returns, deflated by the ``trial_sharpes`` of the search.

    ``trials`` defaults to ``len(trial_sharpes)`` (pass a larger effective count when trials
    were discarded before scoring).
    """
    r = np.asarray(best_returns, dtype=float)
    sharpes = np.asarray(trial_sharpes, dtype=float)
    n = int(trials if trials is not None else sharpes.size)
    variance = float(sharpes.var(ddof=1)) if sharpes.size > 1 else 0.0
    skewness, kurtosis = _moments(r) if r.size else (0.0, 3.0)
    return probabilistic_sharpe_ratio(sharpe_per_period(r), expected_maximum_sharpe(variance, n), int(r.size),
                                      skewness, kurtosis)


@attrs.frozen(kw_only=True)
class PboResult:
    """PBO and the per-split logits (one per combination of in-sample blocks)."""

    pbo: float
    logits: list[float]
    splits: int
    blocks: int


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their average rank (rank 1 = smallest)."""
    order = values.argsort(kind="stable")
    ranks = np.empty(values.size, dtype=float)
    ranks[order] = np.arange(1, values.size + 1, dtype=float)
    for value in np.unique(values):
        same = values == value
        if same.sum() > 1:
            ranks[same] = ranks[same].mean()
    return ranks


def probability_of_backtest_overfitting(returns: np.ndarray | Sequence[Sequence[float]], blocks: int = 8) -> PboResult:
    """PBO by CSCV of a ``T x N`` matrix of per-period returns (rows: periods, columns: trials).

    ``blocks`` (even, >= 2) consecutive row blocks; trailing rows that do not fill a block are
    dropped so that every block has the same length. The in-sample winner is the first
    column with the highest Sharpe (ties go to the lower column index).
    """
    matrix = np.asarray(returns, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ValueError("PBO needs a periods x trials matrix with at least two trials")
    if blocks < 2 or blocks % 2:
        raise ValueError(f"PBO needs an even number of blocks >= 2, got {blocks}")
    size = matrix.shape[0] // blocks
    if size < 2:
        raise ValueError(f"PBO needs at least 2 periods per block: {matrix.shape[0]} periods, {blocks} blocks")
    parts = [matrix[i * size:(i + 1) * size] for i in range(blocks)]
    logits: list[float] = []
    n = matrix.shape[1]
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        ins = np.vstack([parts[i] for i in chosen])
        outs = np.vstack([parts[i] for i in range(blocks) if i not in chosen])
        in_sharpe = np.array([sharpe_per_period(ins[:, j]) for j in range(n)])
        out_sharpe = np.array([sharpe_per_period(outs[:, j]) for j in range(n)])
        winner = int(np.argmax(in_sharpe))
        w = _ranks(out_sharpe)[winner] / (n + 1)
        logits.append(math.log(w / (1.0 - w)))
    pbo = float(np.mean(np.asarray(logits) <= 0.0))
    return PboResult(pbo=pbo, logits=logits, splits=len(logits), blocks=blocks)
