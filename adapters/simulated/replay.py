"""Replay recorded bars as if they were closing live (implements ``ports.market_data.LiveBarSource``).

``ReplayBarSource(feed, clock, speed=60)`` plays the bars of any ``MarketDataFeed``
(the shipped CSVs, an in-memory feed, a broker's history) in time order: bars of
several symbols that start at the same moment come in the order the symbols were
asked for (the backtest's merge order). Each bar is handed out when it *closes* on
the replay timeline: the first bar closes at once, and bar ``k`` closes
``(end_k - end_0) / speed`` seconds of the clock later; ``speed=0`` (or ``inf``)
means as fast as possible. Waiting goes through the clock's ``sleep``, so a
``SimulatedClock`` makes a replay instant and deterministic in tests.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone

from core.errors import ConfigError
from core.model import Bar, BarSeries, Interval
from ports.clock import WaitableClock
from ports.market_data import MarketDataFeed

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _bar(series: BarSeries, k: int) -> Bar:
    vol = float(series.volume[k])
    return Bar(symbol=series.symbol, interval=series.interval,
               start=_EPOCH + timedelta(microseconds=int(series.start_ns[k]) // 1000),
               open=float(series.open[k]), high=float(series.high[k]), low=float(series.low[k]),
               close=float(series.close[k]), volume=None if vol != vol else int(vol))


class ReplayBarSource:
    """Recorded bars at ``speed`` times real time (see the module docstring)."""

    def __init__(self, feed: MarketDataFeed, clock: WaitableClock, *, speed: float = 60.0,
                 start: datetime | None = None, end: datetime | None = None) -> None:
        if not (speed == speed) or speed < 0:
            raise ConfigError(f"replay speed must be a number >= 0 (0 = as fast as possible), got {speed!r}")
        self._feed = feed
        self._clock = clock
        self._speed = speed
        self._start = start
        self._end = end
        self.bars_emitted = 0

    def stream(self, symbols: Sequence[str], interval: Interval) -> Iterator[Bar]:
        series = [self._feed.history_series(s, interval, self._start, self._end) for s in symbols]
        heap = [(int(s.start_ns[0]), k, 0) for k, s in enumerate(series) if len(s)]
        heapq.heapify(heap)
        fast = self._speed == 0 or math.isinf(self._speed)
        anchor_wall: datetime | None = None
        anchor_end: datetime | None = None
        while heap:
            _, k, j = heapq.heappop(heap)
            s = series[k]
            if j + 1 < len(s):
                heapq.heappush(heap, (int(s.start_ns[j + 1]), k, j + 1))
            bar = _bar(s, j)
            if not fast:
                if anchor_wall is None or anchor_end is None:
                    anchor_wall, anchor_end = self._clock.now(), bar.end
                else:
                    due = anchor_wall + (bar.end - anchor_end) / self._speed
                    wait = (due - self._clock.now()).total_seconds()
                    if wait > 0:
                        self._clock.sleep(wait)
            self.bars_emitted += 1
            yield bar

    def describe(self) -> dict[str, object]:
        inner = getattr(self._feed, "describe", None)
        return {"type": "replay", "speed": self._speed, "feed": inner() if callable(inner) else type(self._feed).__name__}


__all__ = ["ReplayBarSource"]
