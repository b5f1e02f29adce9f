"""Position sizing: fixed notional/fraction, capped Kelly, ATR risk, fixed quantity."""

from core.sizing.sizer import METHODS, PositionSizer, SizingConfig, SizingMethod

__all__ = ["METHODS", "PositionSizer", "SizingConfig", "SizingMethod"]
