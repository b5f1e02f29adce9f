"""Market data in: historical bars now, live subscriptions later."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from core.model import Bar, Interval


@runtime_checkable
class MarketDataFeed(Protocol):
    """Delivers validated bars, ordered by start time, normalised to bar-start labels."""

    def symbols(self, interval: Interval) -> list[str]:
        """Symbols this feed can deliver at ``interval``."""
        ...

    def history(self, symbol: str, interval: Interval, start: datetime | None = None,
                end: datetime | None = None) -> Sequence[Bar]:
        """Bars with ``start <= bar.start < end`` (bounds optional), oldest first."""
        ...


@runtime_checkable
class LiveBarSource(Protocol):
    """Pushes completed bars as they close (live ticks aggregated, or a replay)."""

    def stream(self, symbols: Sequence[str], interval: Interval) -> Iterator[Bar]:
        """Yield closed bars across ``symbols`` in time order until the session ends."""
        ...
