"""Return, risk and trade figures of equity curves and trade results.

A *value series* is equity over time (paise or any unit); its period returns are
``v[i] / v[i-1] - 1``. Ratios are annualised with ``sqrt(periods_per_year)`` (252 NSE
sessions a year for daily series). Drawdown is a negative fraction (see ``core.accuracy``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np

PERIODS_PER_YEAR = 252

_TINY = 1e-15


def _arr(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def period_returns(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Simple returns between consecutive values (one fewer than the values)."""
    v = _arr(values)
    if v.size < 2:
        return np.empty(0)
    return v[1:] / v[:-1] - 1.0


def total_return(values: Sequence[float] | np.ndarray) -> float:
    """Last value over the first, minus one (0 for fewer than two values or a zero start)."""
    v = _arr(values)
    if v.size < 2 or v[0] == 0:
        return 0.0
    return float(v[-1] / v[0] - 1.0)


def annualized_return(total: float, periods: int, periods_per_year: float = PERIODS_PER_YEAR) -> float:
    """Compound annual growth of ``total`` earned over ``periods`` (-1 when all was lost)."""
    if periods <= 0:
        return 0.0
    if total <= -1.0:
        return -1.0
    return float((1.0 + total) ** (periods_per_year / periods) - 1.0)


def sharpe_ratio(returns: Sequence[float] | np.ndarray, periods_per_year: float = PERIODS_PER_YEAR) -> float:
    """Mean over sample standard deviation (ddof=1), annualised; 0 below two returns or flat."""
    r = _arr(returns)
    if r.size < 2:
        return 0.0
    sd = float(np.std(r, ddof=1))
    if not sd > _TINY:
        return 0.0
    return float(np.mean(r) / sd * math.sqrt(periods_per_year))


def sortino_ratio(returns: Sequence[float] | np.ndarray, periods_per_year: float = PERIODS_PER_YEAR) -> float:
    """Mean over downside deviation ``sqrt(mean(min(r, 0)^2))`` (target 0, every
    observation), annualised; 0 without any losing period."""
    r = _arr(returns)
    if r.size == 0:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if not downside > _TINY:
        return 0.0
    return float(np.mean(r) / downside * math.sqrt(periods_per_year))


def drawdown_curve(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Fraction below the running peak at each value (<= 0); the first value seeds the peak."""
    v = _arr(values)
    if v.size == 0:
        return v
    peak = np.maximum.accumulate(v)
    # (v - peak) / peak rather than v / peak - 1: exactly 0 at every peak.
    return np.divide(v - peak, peak, out=np.zeros_like(v), where=peak != 0)


def max_drawdown(values: Sequence[float] | np.ndarray) -> float:
    """Deepest drawdown of a value series (negative fraction, or 0 when it never fell)."""
    v = _arr(values)
    if v.size == 0:
        return 0.0
    return float(min(0.0, drawdown_curve(v).min()))


def max_drawdown_duration(values: Sequence[float] | np.ndarray) -> int:
    """Longest run of consecutive points below a previous peak."""
    under = drawdown_curve(values) < 0
    longest = run = 0
    for below in under:
        run = run + 1 if below else 0
        longest = max(longest, run)
    return longest


def calmar_ratio(annualized: float, max_dd: float) -> float:
    """Annualised return over the magnitude of the maximum drawdown; 0 without a drawdown."""
    return float(annualized / -max_dd) if max_dd < 0 else 0.0


def win_rate(results: Sequence[float] | np.ndarray) -> float:
    """Share of results strictly above zero (0 for none)."""
    r = _arr(results)
    return float(np.mean(r > 0)) if r.size else 0.0


def profit_factor(results: Sequence[float] | np.ndarray) -> float | None:
    """Sum of gains over the magnitude of the sum of losses; ``None`` when nothing was lost."""
    r = _arr(results)
    loss = -float(r[r < 0].sum())
    if loss <= 0:
        return None
    return float(r[r > 0].sum()) / loss


def average(values: Sequence[float] | np.ndarray) -> float:
    """Arithmetic mean (0 for none), e.g. the average holding period."""
    v = _arr(values)
    return float(v.mean()) if v.size else 0.0


def hit_ratio(predicted: Sequence[str] | np.ndarray, entry_price: Sequence[float] | np.ndarray,
              exit_price: Sequence[float] | np.ndarray) -> float:
    """Share of trades whose price moved the predicted way at all (LONG and exit > entry,
    SHORT and exit < entry), before costs."""
    pred = np.asarray(predicted, dtype=object)
    if pred.size == 0:
        return 0.0
    move = _arr(exit_price) - _arr(entry_price)
    return float(np.mean(((pred == "LONG") & (move > 0)) | ((pred == "SHORT") & (move < 0))))


@attrs.frozen(kw_only=True)
class EquityFigures:
    """Return and risk figures of one equity curve (fractions; drawdown negative)."""

    periods: int
    total_return: float
    annualized_return: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration: int
    volatility: float


def equity_figures(equity: Sequence[float] | np.ndarray, initial: float | None = None,
                   periods_per_year: float = PERIODS_PER_YEAR) -> EquityFigures:
    """Figures of an equity curve sampled once per period, starting from ``initial`` (the
    value before the first period; ``None`` when the curve's first point is the start)."""
    e = _arr(equity)
    curve = e if initial is None else np.concatenate([[float(initial)], e])
    periods = max(curve.size - 1, 0)
    if periods == 0 or curve[0] <= 0:
        return EquityFigures(periods=periods, total_return=0.0, annualized_return=0.0, sharpe=0.0, sortino=0.0,
                             calmar=0.0, max_drawdown=0.0, max_drawdown_duration=0, volatility=0.0)
    rets = period_returns(curve)
    total = total_return(curve)
    annual = annualized_return(total, periods, periods_per_year)
    mdd = max_drawdown(curve)
    vol = float(np.std(rets, ddof=1) * math.sqrt(periods_per_year)) if rets.size > 1 else 0.0
    return EquityFigures(periods=periods, total_return=total, annualized_return=annual,
                         sharpe=sharpe_ratio(rets, periods_per_year), sortino=sortino_ratio(rets, periods_per_year),
                         calmar=calmar_ratio(annual, mdd), max_drawdown=mdd,
                         max_drawdown_duration=max_drawdown_duration(curve), volatility=vol)
