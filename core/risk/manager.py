"""Pre-trade risk caps and the daily-loss circuit breaker.

Caps, all fractions of current equity (``check_entry``):

* ``max_gross_exposure``: sum of ``|qty| * mark`` over all positions after the entry;
* ``max_position_fraction``: ``|qty| * mark`` of the entry's symbol after the entry.

An entry larger than the room left is clipped to whole shares; no room means
``allowed_quantity == 0`` with a reason. Caps are computed exactly: ``floor(equity *
fraction)`` paise via ``Decimal`` of the fraction's shortest repr.

Circuit breaker (``update``): trips once per session when ``equity - start_of_day_equity
<= -floor(start_of_day_equity * daily_loss_cap)``; entries stay blocked until the next
session starts. Stop-loss and take-profit levels are attached by the engine from the
strategy's signal; :func:`default_brackets` offers ATR-based levels for strategies that
give none.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol, runtime_checkable

import attrs

from core.errors import ConfigError
from core.events import CircuitBreakerTripped
from core.model import Direction


def _fraction(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not (value == value) or value < 0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a number >= 0, got {value!r}")


def _floor_paise(amount_paise: int, fraction: float) -> int:
    return int((Decimal(amount_paise) * Decimal(repr(float(fraction)))).to_integral_value(rounding=ROUND_FLOOR))


@attrs.frozen(kw_only=True, slots=True)
class RiskConfig:
    """Risk limits as fractions of equity; each check can be switched off.

    ``max_gross_exposure=1.0`` means no leverage (the sum of open notionals may reach
    equity); ``max_position_fraction=0.25`` keeps any single symbol at or below a quarter
    of equity; ``daily_loss_cap=0.02`` halts new entries after a 2% loss on the day.
    """

    max_gross_exposure: float = attrs.field(default=1.0, validator=_fraction)
    max_position_fraction: float = attrs.field(default=0.25, validator=_fraction)
    daily_loss_cap: float = attrs.field(default=0.02, validator=_fraction)
    gross_exposure_enabled: bool = True
    position_limit_enabled: bool = True
    circuit_breaker_enabled: bool = True
    default_stop_atr_multiple: float = attrs.field(default=2.0, validator=_fraction)
    default_target_atr_multiple: float = attrs.field(default=3.0, validator=_fraction)


@attrs.frozen(kw_only=True, slots=True)
class RiskDecision:
    """How many shares of a requested entry may go; 0 means rejected (``reason`` says why)."""

    allowed_quantity: int
    reason: str = ""
    requested_quantity: int = 0

    @property
    def rejected(self) -> bool:
        return self.allowed_quantity <= 0

    @property
    def clipped(self) -> bool:
        return 0 < self.allowed_quantity < self.requested_quantity


@runtime_checkable
class PortfolioView(Protocol):
    """What the risk manager reads from a portfolio (``core.portfolio.Portfolio`` fits)."""

    def equity_paise(self) -> int: ...

    def gross_exposure_paise(self) -> int: ...

    def symbol_exposure_paise(self, symbol: str) -> int: ...


class RiskManager:
    """Applies :class:`RiskConfig` before entries and watches the day's loss."""

    def __init__(self, config: RiskConfig | None = None) -> None:
        self.config = config or RiskConfig()
        self._session: date | None = None
        self._start_equity: int | None = None
        self._tripped = False

    @property
    def session_date(self) -> date | None:
        return self._session

    @property
    def start_of_day_equity_paise(self) -> int | None:
        return self._start_equity

    @property
    def entries_blocked(self) -> bool:
        """True from the moment the breaker trips until the next session starts."""
        return self._tripped

    def start_session(self, session_date: date, equity_paise: int) -> None:
        """Begin a session: remember its opening equity and lift any block."""
        self._session = session_date
        self._start_equity = int(equity_paise)
        self._tripped = False

    def daily_loss_limit_paise(self) -> int | None:
        if self._start_equity is None:
            return None
        return _floor_paise(max(self._start_equity, 0), self.config.daily_loss_cap)

    def update(self, equity_paise: int, session_date: date) -> CircuitBreakerTripped | None:
        """Check the day's P&L; return the event the first time it breaches the cap.

        A ``session_date`` other than the current one starts that session implicitly with
        ``equity_paise`` as its opening equity (the engine normally calls
        :meth:`start_session` at each session's first bar).
        """
        if self._session != session_date or self._start_equity is None:
            self.start_session(session_date, equity_paise)
        if self._tripped or not self.config.circuit_breaker_enabled:
            return None
        limit = self.daily_loss_limit_paise()
        assert limit is not None and self._start_equity is not None
        daily_pnl = int(equity_paise) - self._start_equity
        if daily_pnl <= -limit:
            self._tripped = True
            return CircuitBreakerTripped(session_date=session_date, daily_pnl_paise=daily_pnl,
                                         limit_paise=limit, equity_paise=int(equity_paise))
        return None

    def check_entry(self, *, symbol: str, quantity: int, price_paise: int,
                    portfolio: PortfolioView) -> RiskDecision:
        """Clip a new entry of ``quantity`` shares at ``price_paise`` to the caps."""
        if quantity <= 0:
            return RiskDecision(allowed_quantity=0, reason="sizer gave zero shares",
                                requested_quantity=quantity)
        if price_paise <= 0:
            return RiskDecision(allowed_quantity=0, reason=f"no valid price for {symbol}",
                                requested_quantity=quantity)
        if self._tripped:
            return RiskDecision(allowed_quantity=0, requested_quantity=quantity,
                                reason=f"circuit breaker tripped on {self._session}: no new entries today")
        cfg = self.config
        equity = portfolio.equity_paise()
        if equity <= 0:
            return RiskDecision(allowed_quantity=0, reason=f"equity is {equity} paise: nothing to risk",
                                requested_quantity=quantity)
        allowed = quantity
        reasons: list[str] = []
        if cfg.gross_exposure_enabled:
            room = _floor_paise(equity, cfg.max_gross_exposure) - portfolio.gross_exposure_paise()
            cap = max(room, 0) // price_paise
            if cap < allowed:
                allowed = cap
                reasons.append(f"gross exposure cap {cfg.max_gross_exposure:g} x equity "
                               f"leaves room for {cap} shares")
        if cfg.position_limit_enabled:
            room = _floor_paise(equity, cfg.max_position_fraction) - portfolio.symbol_exposure_paise(symbol)
            cap = max(room, 0) // price_paise
            if cap < allowed:
                allowed = cap
                reasons.append(f"position cap {cfg.max_position_fraction:g} x equity on {symbol} "
                               f"leaves room for {cap} shares")
        allowed = max(allowed, 0)
        if not reasons:
            reason = ""
        elif allowed == 0:
            reason = "rejected: " + "; ".join(reasons)
        else:
            reason = f"clipped from {quantity} to {allowed}: " + "; ".join(reasons)
        return RiskDecision(allowed_quantity=allowed, reason=reason, requested_quantity=quantity)


@attrs.frozen(kw_only=True, slots=True)
class Brackets:
    """Stop-loss and take-profit levels in paise (not yet on the tick)."""

    stop_loss_paise: int
    take_profit_paise: int


def default_brackets(direction: Direction, entry_price_paise: int, atr: float,
                     config: RiskConfig) -> Brackets | None:
    """ATR-based stop/target around an entry: stop ``k_s * ATR`` away, target ``k_t * ATR``.

    ``atr`` is in rupees. Returns ``None`` for FLAT or a non-positive/unknown ATR, and
    never returns a level at or below zero.
    """
    direction = Direction(direction)
    if direction is Direction.FLAT or not (atr == atr) or atr <= 0:
        return None
    atr_paise = Decimal(repr(float(atr))) * 100
    stop_dist = int((atr_paise * Decimal(repr(config.default_stop_atr_multiple))).to_integral_value())
    target_dist = int((atr_paise * Decimal(repr(config.default_target_atr_multiple))).to_integral_value())
    if direction is Direction.LONG:
        stop, target = entry_price_paise - stop_dist, entry_price_paise + target_dist
    else:
        stop, target = entry_price_paise + stop_dist, entry_price_paise - target_dist
    if stop <= 0 or target <= 0:
        return None
    return Brackets(stop_loss_paise=stop, take_profit_paise=target)


__all__ = ["Brackets", "PortfolioView", "RiskConfig", "RiskDecision", "RiskManager", "default_brackets"]
