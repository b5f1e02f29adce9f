"""Market-wide halts of a replay, from the index's own bars (NIFTY 50 one-minute bars).

A paper session rehearses live, where halts come from Breeze quotes (``adapters.breeze.halts``):
here the index's move is the close of its last bar closed by then against the previous
session's last close, and NSE's rule (``core.venue.halts.MarketHaltWatch``) decides the halt
exactly as live does. No price bands: the shipped data has no per-stock circuit limits.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone

import numpy as np

from core.model import IST_OFFSET_NS, BarSeries, datetime_to_ns
from core.venue.halts import MarketHaltWatch
from ports.halts import PriceBand

_IST = timezone(timedelta(microseconds=IST_OFFSET_NS // 1000))
_NS_PER_DAY = 86_400 * 1_000_000_000


class IndexBarHalts:
    """``ports.halts.MarketHalts`` over an index's bars (see the module docstring)."""

    def __init__(self, index: BarSeries) -> None:
        if not index.interval.is_intraday:
            raise ValueError("market-wide halts need intraday index bars (a halt starts and ends within a day)")
        starts = np.asarray(index.start_ns, dtype=np.int64)
        self._ends = (starts + int(index.interval.duration.total_seconds() * 1e9)).tolist()
        self._close = np.asarray(index.close, dtype=np.float64).tolist()
        self._session = ((starts + IST_OFFSET_NS) // _NS_PER_DAY).tolist()
        # the previous session's last close, for every bar (the bars are in time order)
        self._previous: list[float | None] = []
        previous = last = day = None
        for k, session in enumerate(self._session):
            if session != day:
                previous, day = last, session
            self._previous.append(previous)
            last = self._close[k]
        self._watch = MarketHaltWatch()
        self.symbol = index.symbol

    def covers(self, first_ns: int, last_ns: int) -> bool:
        """Whether any index bar closes between ``first_ns`` and ``last_ns`` (the traded bars' span)."""
        k = bisect.bisect_left(self._ends, first_ns)
        return k < len(self._ends) and self._ends[k] <= last_ns

    def band(self, symbol: str, at: datetime) -> PriceBand | None:
        return None

    def market_halt(self, at: datetime) -> str | None:
        local = at.astimezone(_IST)
        active = self._watch.active(local)
        if active is not None:
            return active
        at_ns = datetime_to_ns(at)
        k = bisect.bisect_right(self._ends, at_ns) - 1
        if k < 0:
            return None
        today = (at_ns + IST_OFFSET_NS) // _NS_PER_DAY
        previous = self._previous[k]
        if self._session[k] != today or previous is None or previous <= 0:
            return None          # no index move known today yet
        return self._watch.observe(self._close[k] / previous - 1.0, local)


__all__ = ["IndexBarHalts"]
