"""Value objects shared by every layer: bars, directions, money.

Money convention (one representation everywhere): amounts of money — cash, fees,
P&L, position values — are ``int`` paise (1 rupee = 100 paise), so sums are exact and
reconcile to the paisa. Prices on bars are ``float`` rupees exactly as the data gives
them; a price becomes money only when it is filled, at which point it is rounded to
the exchange tick and expressed in paise. Quantities are ``int`` shares.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, NewType

import attrs

if TYPE_CHECKING:
    import numpy as np

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


IST_OFFSET_NS = 19_800 * 1_000_000_000  # +05:30, India has no DST
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def datetime_to_ns(moment: datetime) -> int:
    """Exact UTC epoch nanoseconds of a tz-aware datetime (integer arithmetic, no float)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def ns_to_datetime(ns: int) -> datetime:
    """The tz-aware UTC datetime of epoch nanoseconds (exact to the microsecond)."""
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)
NS_PER_MINUTE = 60 * 1_000_000_000
NS_PER_DAY = 86_400 * 1_000_000_000


@attrs.frozen(kw_only=True, eq=False)
class BarSeries:
    """Columnar bars of one symbol and interval, oldest first (numpy arrays, equal length).

    ``start_ns`` is the bar start as int64 nanoseconds since the Unix epoch (UTC).
    ``volume`` is float64 with NaN where the source has no volume. Used for bulk loads
    (backtests, validation, benchmarks); ``bars()`` gives the same data as ``Bar`` values.
    """

    symbol: str
    interval: Interval
    start_ns: "np.ndarray"
    open: "np.ndarray"
    high: "np.ndarray"
    low: "np.ndarray"
    close: "np.ndarray"
    volume: "np.ndarray"

    def __len__(self) -> int:
        return int(self.start_ns.shape[0])

    def bars(self) -> list[Bar]:
        out = []
        for i in range(len(self)):
            vol = self.volume[i]
            out.append(Bar(symbol=self.symbol, interval=self.interval, start=ns_to_datetime(int(self.start_ns[i])),
                           open=float(self.open[i]), high=float(self.high[i]), low=float(self.low[i]),
                           close=float(self.close[i]), volume=None if vol != vol else int(vol)))
        return out

    @classmethod
    def from_bars(cls, bars: "list[Bar]") -> "BarSeries":
        import numpy as np
        if not bars:
            raise ValueError("BarSeries.from_bars needs at least one bar")
        first = bars[0]
        return cls(
            symbol=first.symbol, interval=first.interval,
            start_ns=np.array([datetime_to_ns(b.start) for b in bars], dtype=np.int64),
            open=np.array([b.open for b in bars], dtype=np.float64),
            high=np.array([b.high for b in bars], dtype=np.float64),
            low=np.array([b.low for b in bars], dtype=np.float64),
            close=np.array([b.close for b in bars], dtype=np.float64),
            volume=np.array([np.nan if b.volume is None else b.volume for b in bars], dtype=np.float64),
        )


@attrs.frozen(kw_only=True, slots=True)
class CorporateAction:
    """A split or bonus: from ``ex_date`` on, one old share is ``factor`` new shares.

    ``factor`` is exact (e.g. ``Fraction(4, 3)`` for a 1:3 bonus).
    """

    symbol: str
    ex_date: "date"
    factor: "Fraction"
    kind: str = "split"
    note: str = ""


def back_adjust(series: BarSeries, actions: "list[CorporateAction]") -> BarSeries:
    """Prices before each ex-date divided by its factor, volumes multiplied (pure).

    Backtests trade adjusted history, so a bonus day is not mistaken for a crash.
    Prices are kept to the paisa after division.
    """
    import numpy as np

    mine = [a for a in actions if a.symbol == series.symbol]
    if not mine or len(series) == 0:
        return series
    scale = np.ones(len(series), dtype=np.float64)
    sessions = (series.start_ns + IST_OFFSET_NS) // NS_PER_DAY
    for action in mine:
        ex_day = (action.ex_date - date(1970, 1, 1)).days
        scale[sessions < ex_day] *= float(action.factor)

    def price(col: "np.ndarray") -> "np.ndarray":
        return np.round(col / scale, 2)

    high = price(series.high)
    low = price(series.low)
    opened = price(series.open)
    closed = price(series.close)
    # Rounding can nudge open/close a paisa outside the range; keep bars valid.
    high = np.maximum(high, np.maximum(opened, closed))
    low = np.minimum(low, np.minimum(opened, closed))
    return BarSeries(symbol=series.symbol, interval=series.interval, start_ns=series.start_ns, open=opened,
                     high=high, low=low, close=closed, volume=series.volume * scale)
