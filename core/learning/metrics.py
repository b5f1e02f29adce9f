"""Gate metrics in plain numpy: LONG precision, hit ratio, Sharpe ratio.

``signal_scorecard`` measures a model's calls on a labelled set directly (act on every
LONG/SHORT call, hold for the label horizon, no costs) — a quick, cost-free proxy used
when no backtest of the model is available. Backtest-based scorecards use the same
``hit_ratio``/``sharpe_ratio`` on trade and equity returns.
"""

from __future__ import annotations

import numpy as np

from core import accuracy
from core.learning.gate import Scorecard
from core.learning.labels import LONG, SHORT


def long_precision(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Share of LONG calls that were LONG in hindsight (NaN with no LONG call)."""
    predicted = np.asarray(predicted)
    calls = predicted == LONG
    if not calls.any():
        return float("nan")
    return float(np.mean(np.asarray(actual)[calls] == LONG))


def hit_ratio(trade_returns: np.ndarray) -> float:
    """Share of trades with a positive return (``core.accuracy.win_rate``; NaN with no
    trades, which the gate reads as "not measured")."""
    r = np.asarray(trade_returns, dtype=np.float64)
    if r.size == 0:
        return float("nan")
    return accuracy.win_rate(r)


def sharpe_ratio(returns: np.ndarray, periods_per_year: float = 252.0) -> float:
    """Annualised mean/std of per-period returns (sample std); NaN if fewer than 2 or flat."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 2 or float(np.std(r, ddof=1)) == 0.0:
        return float("nan")  # the gate's "not measured"; the figure itself is core.accuracy's
    return accuracy.sharpe_ratio(r, periods_per_year)


def signal_scorecard(predicted: np.ndarray, actual: np.ndarray, forward_return: np.ndarray, *,
                     horizon_periods: int = 1, periods_per_year: float = 252.0) -> Scorecard:
    """Scorecard of a model's calls: trade every LONG/SHORT call over its label horizon.

    ``forward_return`` is each row's label return; a SHORT call earns its negative.
    The Sharpe ratio annualises per-trade returns with ``periods_per_year / horizon``.
    """
    predicted = np.asarray(predicted)
    fwd = np.asarray(forward_return, dtype=np.float64)
    sign = np.where(predicted == LONG, 1.0, np.where(predicted == SHORT, -1.0, 0.0))
    traded = sign != 0
    trade_returns = sign[traded] * fwd[traded]
    return Scorecard(precision=long_precision(predicted, actual), hit_ratio=hit_ratio(trade_returns),
                     sharpe_ratio=sharpe_ratio(trade_returns, periods_per_year / max(horizon_periods, 1)))
