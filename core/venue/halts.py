"""Exchange halts, as pure rules: a stock at its price band, and NSE's market-wide circuit breaker.

* **Price band** (``PriceBand``): a stock at its upper circuit has only buyers, so a long
  entry cannot fill (and chases the limit); at its lower circuit a short cannot. The engine
  takes no new entry in that direction (``band_refusal``); exits are never blocked.
* **Market-wide circuit breaker** (``market_wide_halt``): when the index (NIFTY 50) moves
  10 / 15 / 20 % from the previous close, NSE halts all equity trading, for a time that
  depends on the hour (nseindia.com, "equity market circuit breakers"):

  ====  ================  ==================================
  move  triggered         halt
  ====  ================  ==================================
  10 %  before 13:00      45 min, then 15 min pre-open
  10 %  13:00 - 14:30     15 min, then 15 min pre-open
  10 %  after 14:30       no halt
  15 %  before 13:00      1 h 45 min, then 15 min pre-open
  15 %  13:00 - 14:00     45 min, then 15 min pre-open
  15 %  after 14:00       rest of the day
  20 %  any time          rest of the day
  ====  ================  ==================================

  A session pauses while the market is halted: no decision, no order.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import attrs

from core.model import Direction
from ports.halts import PriceBand

REST_OF_DAY = -1
# NSE's normal equity session, IST (the calendar knows the special ones).
NSE_OPEN = time(9, 15)
NSE_CLOSE = time(15, 30)


def band_refusal(symbol: str, direction: Direction, price_paise: int, band: PriceBand | None) -> str | None:
    """Why an entry in ``direction`` at ``price_paise`` is refused by the band, or None."""
    if band is None:
        return None
    if direction is Direction.LONG and band.upper_paise and price_paise >= band.upper_paise:
        return (f"price band: {symbol} is at its upper circuit ({band.upper_paise / 100:.2f}); only buyers "
                "are left, so no new long entry")
    if direction is Direction.SHORT and band.lower_paise and price_paise <= band.lower_paise:
        return (f"price band: {symbol} is at its lower circuit ({band.lower_paise / 100:.2f}); only sellers "
                "are left, so no new short entry")
    return None


@attrs.frozen(kw_only=True)
class MarketHalt:
    """A market-wide halt: ``minutes`` of halt plus ``pre_open_minutes`` (REST_OF_DAY: until the close)."""

    level_pct: int
    minutes: int
    pre_open_minutes: int = 15

    @property
    def rest_of_day(self) -> bool:
        return self.minutes == REST_OF_DAY

    def describe(self) -> str:
        if self.rest_of_day:
            return f"market-wide circuit breaker: index moved {self.level_pct} %, trading halted for the rest of the day"
        return (f"market-wide circuit breaker: index moved {self.level_pct} %, trading halted for {self.minutes} min "
                f"then {self.pre_open_minutes} min pre-open")


def market_wide_halt(move_fraction: float, ist_minute_of_day: int) -> MarketHalt | None:
    """The halt NSE imposes for an index move of ``move_fraction`` (either sign) triggered at that IST minute."""
    move = abs(move_fraction)
    t1300, t1400, t1430 = 13 * 60, 14 * 60, 14 * 60 + 30
    if move >= 0.20:
        return MarketHalt(level_pct=20, minutes=REST_OF_DAY, pre_open_minutes=0)
    if move >= 0.15:
        if ist_minute_of_day < t1300:
            return MarketHalt(level_pct=15, minutes=105)
        if ist_minute_of_day < t1400:
            return MarketHalt(level_pct=15, minutes=45)
        return MarketHalt(level_pct=15, minutes=REST_OF_DAY, pre_open_minutes=0)
    if move >= 0.10:
        if ist_minute_of_day < t1300:
            return MarketHalt(level_pct=10, minutes=45)
        if ist_minute_of_day < t1430:
            return MarketHalt(level_pct=10, minutes=15)
        return None
    return None


class MarketHaltWatch:
    """Which market-wide halt is in force, from index moves observed during the day.

    ``observe(move, at)`` with the index's move from the previous close at ``at`` (an IST
    wall-clock time): a level triggers once per day; the halt lasts its minutes plus the
    pre-open, never past the close. Shared by every source of index prices (Breeze quotes
    live, index bars in a replay), so live and its rehearsal halt alike.
    """

    def __init__(self, close: time = NSE_CLOSE) -> None:
        self._close = close
        self._until: tuple[datetime, str] | None = None
        self._fired: set[tuple[date, int]] = set()

    def active(self, at: datetime) -> str | None:
        """Why the market is halted at ``at`` (IST), or None."""
        if self._until is not None:
            until, reason = self._until
            if at < until:
                return reason
            self._until = None
        return None

    def observe(self, move_fraction: float, at: datetime) -> str | None:
        """Record the index's move at ``at`` (IST); returns the halt it starts, if any."""
        current = self.active(at)
        if current is not None:
            return current
        halt = market_wide_halt(move_fraction, at.hour * 60 + at.minute)
        if halt is None or (at.date(), halt.level_pct) in self._fired:
            return None
        self._fired.add((at.date(), halt.level_pct))
        close = datetime.combine(at.date(), self._close, tzinfo=at.tzinfo)
        until = close if halt.rest_of_day else min(close, at + timedelta(minutes=halt.minutes + halt.pre_open_minutes))
        self._until = (until, halt.describe())
        return halt.describe()


__all__ = ["NSE_CLOSE", "NSE_OPEN", "REST_OF_DAY", "MarketHalt", "MarketHaltWatch", "PriceBand", "band_refusal",
           "market_wide_halt"]
