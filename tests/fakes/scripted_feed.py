"""A ``MarketDataFeed`` fake with canned bars, a call log and switchable failures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.model import Bar, BarSeries, Interval


class ScriptedFeed:
    """Serves ``bars[(symbol, interval)]``; raises ``failure`` (if set) instead of answering."""

    def __init__(self, bars: Sequence[Bar] = ()) -> None:
        self.bars: dict[tuple[str, Interval], list[Bar]] = {}
        for bar in bars:
            self.bars.setdefault((bar.symbol, bar.interval), []).append(bar)
        self.calls: list[tuple[str, Interval, datetime | None, datetime | None]] = []
        self.failure: Exception | None = None

    def symbols(self, interval: Interval) -> list[str]:
        return sorted({s for s, i in self.bars if i is interval})

    def history(self, symbol: str, interval: Interval, start: datetime | None = None,
                end: datetime | None = None) -> Sequence[Bar]:
        self.calls.append((symbol, interval, start, end))
        if self.failure is not None:
            raise self.failure
        return [b for b in sorted(self.bars.get((symbol, interval), []), key=lambda b: b.start)
                if (start is None or b.start >= start) and (end is None or b.start < end)]

    def history_series(self, symbol: str, interval: Interval, start: datetime | None = None,
                       end: datetime | None = None) -> BarSeries:
        return BarSeries.from_bars(list(self.history(symbol, interval, start, end)))
