"""Value objects shared by every layer: bars, directions, money.

Money convention (one representation everywhere): amounts of money — cash, fees,
P&L, position values — are ``int`` paise (1 rupee = 100 paise), so sums are exact and
reconcile to the paisa. Prices on bars are ``float`` rupees exactly as the data gives
them; a price becomes money only when it is filled, at which point it is rounded to
the exchange tick and expressed in paise. Quantities are ``int`` shares.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import NewType

import attrs

Paise = NewType("Paise", int)
PAISE_PER_RUPEE = 100


def rupees_to_paise(rupees: float | Decimal | str) -> Paise:
    """Round a rupee amount to the nearest paisa (half away from zero)."""
    d = Decimal(str(rupees)) * PAISE_PER_RUPEE
    return Paise(int(d.quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def paise_to_rupees(paise: int) -> Decimal:
    """Exact rupee value of an amount of paise."""
    return Decimal(paise) / PAISE_PER_RUPEE


def format_rupees(paise: int) -> str:
    """Human form, e.g. ``-1,234.50``."""
    return f"{paise_to_rupees(paise):,.2f}"


class Interval(str, enum.Enum):
    """Bar intervals the feeds deliver."""

    MINUTE_1 = "1minute"
    MINUTE_5 = "5minute"
    MINUTE_15 = "15minute"
    DAY_1 = "1day"

    @property
    def duration(self) -> timedelta:
        return _INTERVAL_DURATION[self]

    @property
    def is_intraday(self) -> bool:
        return self is not Interval.DAY_1

    @classmethod
    def parse(cls, text: str) -> "Interval":
        """Accept the canonical names and common aliases (1m, 5min, 1d, daily)."""
        key = text.strip().lower()
        for interval, aliases in _INTERVAL_ALIASES.items():
            if key == interval.value or key in aliases:
                return interval
        valid = ", ".join(i.value for i in cls)
        raise ValueError(f"unknown interval {text!r}; use one of {valid}")


_INTERVAL_DURATION = {
    Interval.MINUTE_1: timedelta(minutes=1),
    Interval.MINUTE_5: timedelta(minutes=5),
    Interval.MINUTE_15: timedelta(minutes=15),
    Interval.DAY_1: timedelta(days=1),
}
_INTERVAL_ALIASES = {
    Interval.MINUTE_1: {"1m", "1min", "minute", "1minutes"},
    Interval.MINUTE_5: {"5m", "5min", "5minutes"},
    Interval.MINUTE_15: {"15m", "15min", "15minutes"},
    Interval.DAY_1: {"1d", "day", "daily", "1days"},
}


class Direction(str, enum.Enum):
    """What a signal or a prediction says about the next move."""

    LONG = "LONG"
    SHORT = "SHORT"
    FLAT = "FLAT"


class Side(str, enum.Enum):
    """Order side."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class StrategyKind(str, enum.Enum):
    """The two trading styles; they differ in holding period and cost treatment."""

    INTRADAY = "intraday"
    SWING = "swing"


def _require_aware(instance: object, attribute: attrs.Attribute, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be timezone-aware, got {value!r}")


@attrs.frozen(kw_only=True, slots=True)
class Bar:
    """One OHLCV bar. ``start`` is the bar's opening time (tz-aware).

    ``volume`` is ``None`` where the source has none (indices, some vendors).
    """

    symbol: str
    interval: Interval
    start: datetime = attrs.field(validator=_require_aware)
    open: float
    high: float
    low: float
    close: float
    volume: int | None = None

    @property
    def end(self) -> datetime:
        return self.start + self.interval.duration
