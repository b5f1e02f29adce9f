"""Pre-trade risk caps and the daily-loss circuit breaker."""

from core.risk.manager import (
    Brackets,
    PortfolioView,
    RiskConfig,
    RiskDecision,
    RiskManager,
    default_brackets,
)

__all__ = ["Brackets", "PortfolioView", "RiskConfig", "RiskDecision", "RiskManager", "default_brackets"]
