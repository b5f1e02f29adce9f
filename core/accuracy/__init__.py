"""Accuracy and performance metrics: the one definition of every figure, in plain numpy.

The engine's run summary, the analytics, the exports and the dashboard all call these
functions, so no two views of a run can disagree on a figure. They are pure (no I/O, no
clock, no randomness); scikit-learn and scipy serve only as test oracles.

Conventions (documented once, here):
- returns are plain fractions (0.01 = 1 %); callers that show percent multiply by 100;
- **drawdown is a negative fraction** (or 0): ``-0.12`` means 12 % below the running peak;
  exports whose format asks for a positive magnitude negate it explicitly;
- a ratio that is undefined (no dispersion, no loss, fewer than two observations) is 0,
  except the profit factor, which is ``None`` when nothing was lost (never ``inf``/``NaN``).
"""

from core.accuracy.classification import (
    DIRECTIONS,
    Classification,
    accuracy,
    classify,
    confusion_matrix,
    precision_recall_f1_support,
)
from core.accuracy.performance import (
    PERIODS_PER_YEAR,
    EquityFigures,
    annualized_return,
    average,
    calmar_ratio,
    drawdown_curve,
    equity_figures,
    hit_ratio,
    max_drawdown,
    max_drawdown_duration,
    period_returns,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    win_rate,
)

__all__ = [
    "DIRECTIONS", "PERIODS_PER_YEAR", "Classification", "EquityFigures", "accuracy", "annualized_return", "average",
    "calmar_ratio", "classify", "confusion_matrix", "drawdown_curve", "equity_figures", "hit_ratio",
    "max_drawdown", "max_drawdown_duration", "period_returns", "precision_recall_f1_support", "profit_factor",
    "sharpe_ratio", "sortino_ratio", "total_return", "win_rate",
]
