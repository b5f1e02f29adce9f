"""Small helpers shared by the strategies: stops, holding periods, signal context."""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING, Any

import attrs

from core.model import Direction
from core.strategies.base import PositionView

if TYPE_CHECKING:
    from core.features.book import FeatureBook

STOP_MODES = ("atr", "percent")


def _non_negative(instance: object, attribute: attrs.Attribute, value: float | None) -> None:
    if value is not None and not value >= 0:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be >= 0 (or None), got {value!r}")


@attrs.frozen(kw_only=True)
class StopConfig:
    """Stop-loss / take-profit distances attached to every entry.

    ``mode="atr"``: distances are multiples of the ATR at the signal bar.
    ``mode="percent"``: distances are fractions of the signal bar's close (0.005 = 0.5%).
    ``None`` disables that leg. Levels are rounded to the paisa.
    """

    mode: str = attrs.field(default="atr", validator=attrs.validators.in_(STOP_MODES))
    stop_loss: float | None = attrs.field(default=2.0, validator=_non_negative)
    take_profit: float | None = attrs.field(default=4.0, validator=_non_negative)

    def levels(self, direction: Direction, close: float, atr: float) -> tuple[float | None, float | None]:
        """``(stop_loss, take_profit)`` price levels for an entry at ``close``."""
        unit = atr if self.mode == "atr" else close
        if not math.isfinite(unit) or unit <= 0:
            return None, None
        sign = 1.0 if direction is Direction.LONG else -1.0
        sl = None if self.stop_loss is None or self.stop_loss == 0 else round(close - sign * self.stop_loss * unit, 2)
        tp = None if self.take_profit is None or self.take_profit == 0 else round(close + sign * self.take_profit * unit, 2)
        if sl is not None and sl <= 0:
            sl = None
        if tp is not None and tp <= 0:
            tp = None
        return sl, tp


def parse_hhmm(text: str) -> int:
    """``"09:15"`` -> 555 (minutes since midnight)."""
    try:
        hh, mm = text.split(":")
        h, m = int(hh), int(mm)
    except (ValueError, AttributeError):
        raise ValueError(f"time of day must look like 'HH:MM' (e.g. '09:15'), got {text!r}") from None
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"time of day out of range: {text!r}")
    return h * 60 + m


def hhmm_validator(instance: object, attribute: attrs.Attribute, value: str) -> None:
    try:
        parse_hhmm(value)
    except ValueError as exc:
        raise ValueError(f"{type(instance).__name__}.{attribute.name}: {exc}") from None


def bars_held(i: int, position: PositionView) -> int:
    """Bars the position has been open at the close of bar ``i``, entry bar included (0 if flat)."""
    if position.is_flat or position.entry_index < 0 or position.entry_index > i:
        return 0
    return i - position.entry_index + 1


def sessions_held(book: "FeatureBook", i: int, position: PositionView) -> int:
    """Distinct sessions from the entry bar to bar ``i`` inclusive (0 when flat).

    A position filled at the open of day ``k`` has been held 1 session at the close of
    day ``k``; an exit decided at the close of the ``n``-th session fills at the next
    open, so the trade lasted ``n`` sessions. Uses ``entry_index`` when known, else
    ``entry_session``.
    """
    if position.is_flat:
        return 0
    sessions = book.session
    if 0 <= position.entry_index <= i:
        stop_index, stop_session = position.entry_index, None
    elif position.entry_session >= 0:
        stop_index, stop_session = 0, position.entry_session
    else:
        return 0
    count = 0
    last = None
    k = i
    while k >= stop_index:
        s = sessions[k]
        if stop_session is not None and s < stop_session:
            break
        if s != last:
            count += 1
            last = s
        k -= 1
    return count


def signal_context(book: "FeatureBook", i: int, position: PositionView, **extra: Any) -> dict[str, Any]:
    """The ``context`` dict of a Signal: time of day, session, position state."""
    ctx: dict[str, Any] = {
        "minute_of_day": book.minute_of_day[i],
        "session": date.fromordinal(book.session[i]).isoformat(),
        "position": position.direction.value,
        "bars_held": bars_held(i, position),
    }
    ctx.update(extra)
    return ctx


def clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x


def all_finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)
