"""A MarketDataFeed over bars already in memory (replays, benchmarks, tests)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np

from core.errors import DataError
from core.model import Bar, BarSeries, Interval, datetime_to_ns


def _ns(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("feed bounds must be timezone-aware")
    return datetime_to_ns(moment)


class InMemoryFeed:
    """Serves the given series; bounds select ``start <= bar.start < end``."""

    def __init__(self, series: Iterable[BarSeries]) -> None:
        self._series: dict[tuple[str, Interval], BarSeries] = {}
        for s in series:
            if len(s) > 1 and not bool(np.all(np.diff(s.start_ns) > 0)):
                raise DataError(f"{s.symbol} {s.interval.value}: bars must be strictly increasing in time")
            self._series[(s.symbol, s.interval)] = s

    def symbols(self, interval: Interval) -> list[str]:
        return sorted(sym for sym, iv in self._series if iv is interval)

    def history_series(self, symbol: str, interval: Interval, start: datetime | None = None,
                       end: datetime | None = None) -> BarSeries:
        try:
            s = self._series[(symbol, interval)]
        except KeyError:
            raise DataError(f"no {interval.value} bars for {symbol!r} in this feed") from None
        lo = 0 if start is None else int(np.searchsorted(s.start_ns, _ns(start), side="left"))
        hi = len(s) if end is None else int(np.searchsorted(s.start_ns, _ns(end), side="left"))
        if lo == 0 and hi == len(s):
            return s
        return BarSeries(symbol=s.symbol, interval=s.interval, start_ns=s.start_ns[lo:hi], open=s.open[lo:hi],
                         high=s.high[lo:hi], low=s.low[lo:hi], close=s.close[lo:hi], volume=s.volume[lo:hi])

    def history(self, symbol: str, interval: Interval, start: datetime | None = None,
                end: datetime | None = None) -> Sequence[Bar]:
        return self.history_series(symbol, interval, start, end).bars()

    def describe(self) -> dict[str, object]:
        return {"type": "memory", "series": [f"{s}/{i.value}" for s, i in sorted(self._series)]}
