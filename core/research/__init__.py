"""Research statistics: how much a backtest optimisation's best result can be trusted."""

from core.research.overfitting import (
    PboResult,
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)

__all__ = ["PboResult", "deflated_sharpe_ratio", "expected_maximum_sharpe", "probabilistic_sharpe_ratio",
           "probability_of_backtest_overfitting"]
