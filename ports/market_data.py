"""Market data in: historical bars now, live subscriptions later."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from core.model import Bar, BarSeries, Interval


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

    def history_series(self, symbol: str, interval: Interval, start: datetime | None = None,
                       end: datetime | None = None) -> BarSeries:
        """The same bars as ``history`` in columnar form (numpy), for bulk consumers.

        ``start_ns`` is the bar start in int64 ns UTC; daily bars start at 00:00 IST of the
        session date. Unknown symbols and invalid data raise ``core.errors.DataError``.
        """
        ...


@runtime_checkable
class LiveBarSource(Protocol):
    """Pushes completed bars as they close (live ticks aggregated, or a replay)."""

    def stream(self, symbols: Sequence[str], interval: Interval) -> Iterator[Bar]:
        """Yield closed bars across ``symbols`` in time order until the session ends."""
        ...
