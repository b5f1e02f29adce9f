"""Technical features: indicator specs (batch + incremental) and the per-symbol FeatureBook."""

from core.features.book import FeatureBook, bar_start_ns, ist_minute_of_day, ist_session
from core.features.indicators import (
    ATR,
    EMA,
    RSI,
    SMA,
    VWAP,
    BarColumns,
    IncrementalIndicator,
    IndicatorSpec,
    RollingPaiseSum,
    RollingReturn,
    RollingVolatility,
)

__all__ = [
    "ATR", "EMA", "RSI", "SMA", "VWAP", "BarColumns", "FeatureBook", "IncrementalIndicator",
    "IndicatorSpec", "RollingPaiseSum", "RollingReturn", "RollingVolatility", "bar_start_ns",
    "ist_minute_of_day", "ist_session",
]
