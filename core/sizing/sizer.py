"""Position sizing: how many whole shares an entry gets.

Methods (``SizingConfig.method``); ``c`` is the signal confidence clipped to [0, 1]
(applied when ``scale_by_confidence``), ``E`` equity and ``P`` the price, in paise:

* ``fixed_notional``: ``floor(notional_paise * c / P)``;
* ``fixed_fraction``: ``floor(E * fraction * c / P)``;
* ``kelly``: ``f = clip(w - (1 - w) / b, 0, kelly_cap)`` with win rate ``w`` and payoff
  ratio ``b`` (average win / average loss); ``floor(E * f * c / P)``. Without a trade
  history (``w`` or ``b`` unknown) it falls back to ``fixed_fraction``;
* ``atr``: risk ``E * atr_risk_fraction * c`` paise per trade with a stop
  ``atr_multiple * ATR`` away: ``floor(budget / (atr_multiple * ATR * 100))``. Without an
  ATR it falls back to ``fixed_fraction``;
* ``fixed_quantity``: exactly ``fixed_quantity`` shares (the reference strategy's 100),
  not scaled by confidence. Setting ``fixed_quantity`` overrides any method.

Every result is capped at ``floor(E * max_notional_fraction / P)`` (no leverage by
default) and is never negative. Arithmetic is exact (``Decimal``) and floors at the end.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Literal

import attrs

from core.errors import ConfigError

SizingMethod = Literal["fixed_notional", "fixed_fraction", "kelly", "atr", "fixed_quantity"]
METHODS: tuple[str, ...] = ("fixed_notional", "fixed_fraction", "kelly", "atr", "fixed_quantity")


def _d(value: float | int) -> Decimal:
    return Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)


def _non_negative(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is not None and (value != value or value < 0):  # type: ignore[operator]
        raise ConfigError(f"sizing.{attribute.name} must be >= 0, got {value!r}")


def _method(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if value not in METHODS:
        raise ConfigError(f"sizing.method {value!r} is unknown; use one of {', '.join(METHODS)}")


@attrs.frozen(kw_only=True, slots=True)
class SizingConfig:
    """Sizing method and its parameters (see the module docstring for the formulas)."""

    method: str = attrs.field(default="fixed_fraction", validator=_method)
    notional_paise: int = attrs.field(default=10_000_000, validator=_non_negative)  # Rs1,00,000
    fraction: float = attrs.field(default=0.1, validator=_non_negative)
    kelly_cap: float = attrs.field(default=0.25, validator=_non_negative)
    atr_risk_fraction: float = attrs.field(default=0.01, validator=_non_negative)
    atr_multiple: float = attrs.field(default=2.0, validator=_non_negative)
    fixed_quantity: int | None = attrs.field(default=None, validator=_non_negative)
    max_notional_fraction: float = attrs.field(default=1.0, validator=_non_negative)
    scale_by_confidence: bool = True

    def __attrs_post_init__(self) -> None:
        if self.method == "fixed_quantity" and not self.fixed_quantity:
            raise ConfigError("sizing.method 'fixed_quantity' needs sizing.fixed_quantity > 0 (e.g. 100)")


class PositionSizer:
    """Turns equity, price and confidence into a whole number of shares."""

    def __init__(self, config: SizingConfig | None = None) -> None:
        self.config = config or SizingConfig()

    @staticmethod
    def kelly_fraction(win_rate: float, payoff_ratio: float, cap: float) -> float:
        """``clip(w - (1 - w) / b, 0, cap)``; 0 for a non-positive payoff ratio."""
        if not (0.0 <= win_rate <= 1.0) or not (payoff_ratio > 0):
            return 0.0
        return min(max(win_rate - (1.0 - win_rate) / payoff_ratio, 0.0), cap)

    def size(self, *, equity_paise: int, price_paise: int, confidence: float,
             atr: float | None = None, win_rate: float | None = None,
             payoff_ratio: float | None = None) -> int:
        """Whole shares (>= 0) for an entry at ``price_paise``; ``atr`` is in rupees."""
        cfg = self.config
        if price_paise <= 0:
            return 0
        if cfg.fixed_quantity is not None and (cfg.fixed_quantity > 0 or cfg.method == "fixed_quantity"):
            return int(cfg.fixed_quantity)
        if equity_paise <= 0:
            return 0
        conf = confidence if confidence == confidence else 0.0
        conf = min(max(conf, 0.0), 1.0) if cfg.scale_by_confidence else 1.0
        c = _d(conf)
        equity = Decimal(equity_paise)
        price = Decimal(price_paise)
        method = cfg.method
        if method == "kelly" and (win_rate is None or payoff_ratio is None):
            method = "fixed_fraction"
        if method == "atr" and (atr is None or not (atr == atr) or atr <= 0 or cfg.atr_multiple <= 0):
            method = "fixed_fraction"

        if method == "fixed_notional":
            shares = Decimal(cfg.notional_paise) * c / price
        elif method == "fixed_fraction":
            shares = equity * _d(cfg.fraction) * c / price
        elif method == "kelly":
            assert win_rate is not None and payoff_ratio is not None
            f = self.kelly_fraction(win_rate, payoff_ratio, cfg.kelly_cap)
            shares = equity * _d(f) * c / price
        else:  # atr
            assert atr is not None
            budget = equity * _d(cfg.atr_risk_fraction) * c
            per_share_risk = _d(atr) * 100 * _d(cfg.atr_multiple)
            shares = budget / per_share_risk
        cap = equity * _d(cfg.max_notional_fraction) / price
        shares = min(shares, cap)
        return max(int(shares.to_integral_value(rounding=ROUND_FLOOR)), 0)


__all__ = ["METHODS", "PositionSizer", "SizingConfig", "SizingMethod"]
