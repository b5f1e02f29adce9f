"""Pre-trade risk caps and the daily-loss circuit breaker."""

from core.risk.account import AccountRisk, BookRisk
from core.risk.manager import (
    Brackets,
    PortfolioView,
    RiskConfig,
    RiskDecision,
    RiskManager,
    default_brackets,
)

__all__ = ["AccountRisk", "BookRisk", "Brackets", "PortfolioView", "RiskConfig", "RiskDecision", "RiskManager", "default_brackets"]
