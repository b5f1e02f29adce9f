"""Strategies: bars + features (+ sentiment + optional model score) in, Signals out."""

from core.strategies.base import FLAT_POSITION, PositionView, Signal, Strategy
from core.strategies.gate import (
    SUPPRESSED,
    ModelBlendConfig,
    SentimentGateConfig,
    gate_entry,
    is_suppressed,
)
from core.strategies.intraday import IntradayConfig, IntradayStrategy
from core.strategies.rules import StopConfig
from core.strategies.sma_cross import SmaCrossStrategy
from core.strategies.swing import SwingConfig, SwingStrategy

__all__ = [
    "FLAT_POSITION", "SUPPRESSED", "IntradayConfig", "IntradayStrategy", "ModelBlendConfig",
    "PositionView", "SentimentGateConfig", "Signal", "SmaCrossStrategy", "StopConfig", "Strategy",
    "SwingConfig", "SwingStrategy", "gate_entry", "is_suppressed",
]
