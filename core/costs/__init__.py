"""Exact NSE cash-equity transaction costs and tick sizes (pure, int paise)."""

from core.costs.model import (
    ZERO_FEES,
    BrokerageConfig,
    BrokerageMode,
    CostConfig,
    CostModel,
    FeeBreakdown,
    FlatPercentCosts,
    NseEquityCosts,
    ZeroCosts,
)
from core.costs.ticks import (
    TICK_BANDS_FROM,
    TICK_SUB_RUPEE_FROM,
    round_paise_to_tick,
    round_to_tick,
    tick_size_paise,
)

__all__ = [
    "BrokerageConfig", "BrokerageMode", "CostConfig", "CostModel", "FeeBreakdown", "FlatPercentCosts",
    "NseEquityCosts", "TICK_BANDS_FROM", "TICK_SUB_RUPEE_FROM", "ZERO_FEES", "ZeroCosts",
    "round_paise_to_tick", "round_to_tick", "tick_size_paise",
]
