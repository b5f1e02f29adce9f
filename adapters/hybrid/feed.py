"""``HybridFeed``: the cache first, the API for what the cache lacks, partial data if the API fails."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from adapters.hybrid.cache import bars_to_series
from core.errors import SenseQuantError
from core.events.catalog import FeedHealthChanged
from core.model import Bar, BarSeries, Interval
from ports.market_data import MarketDataFeed

log = logging.getLogger(__name__)


class CacheWriter(Protocol):
    """Knows which ranges the cache holds and stores new fetches (``CsvBarCache`` is one)."""

    def missing(self, symbol: str, interval: Interval, start: datetime, end: datetime,
                tolerance: timedelta = ...) -> list[tuple[datetime, datetime]]:
        ...

    def record(self, symbol: str, interval: Interval, start: datetime, end: datetime, bars: Sequence[Bar],
               source: str) -> None:
        ...


@attrs.frozen(kw_only=True)
class FetchReport:
    """What the last ``history`` call did: ``status`` ok | degraded | down."""

    symbol: str
    interval: Interval
    status: str
    from_cache: int
    from_api: int
    missing: tuple[tuple[datetime, datetime], ...] = ()
    reason: str = ""


class HybridFeed:
    """A ``MarketDataFeed`` composed of two feeds: ``cache`` and ``api`` (any adapters).

    With a ``cache_writer`` the feed asks it which parts of ``[start, end)`` were never
    fetched, fetches only those from ``api`` and records them. Without one, an empty cache
    answer counts as a miss. When the API fails the cached (possibly partial) bars are
    returned with a warning, ``last_report.status == "degraded"`` and a ``FeedHealthChanged``
    event; if there is nothing cached at all the API error is raised.
    """

    def __init__(self, cache: MarketDataFeed, api: MarketDataFeed, *, cache_writer: CacheWriter | None = None,
                 on_health: Callable[[FeedHealthChanged], None] | None = None, feed_name: str = "hybrid",
                 api_source: str = "api", tolerance: timedelta = timedelta(0)) -> None:
        self._cache = cache
        self._api = api
        self._writer = cache_writer
        self._on_health = on_health
        self.feed_name = feed_name
        self._api_source = api_source
        self._tolerance = tolerance
        self.health_status = "ok"
        self.last_report: FetchReport | None = None
        self.reports: list[FetchReport] = []

    def symbols(self, interval: Interval) -> list[str]:
        names = set(self._cache.symbols(interval))
        try:
            names.update(self._api.symbols(interval))
        except SenseQuantError as exc:
            log.warning("%s: API symbol list unavailable: %s", self.feed_name, exc)
        return sorted(names)

    def history(self, symbol: str, interval: Interval, start: datetime | None = None,
                end: datetime | None = None) -> Sequence[Bar]:
        if self._writer is not None and start is not None and end is not None:
            return self._with_writer(symbol, interval, start, end)
        cached = list(self._cache.history(symbol, interval, start, end))
        if cached:
            self._report(FetchReport(symbol=symbol, interval=interval, status="ok", from_cache=len(cached),
                                     from_api=0))
            return cached
        try:
            fetched = list(self._api.history(symbol, interval, start, end))
        except SenseQuantError as exc:
            self._report(FetchReport(symbol=symbol, interval=interval, status="down", from_cache=0, from_api=0,
                                     reason=str(exc)))
            raise
        self._report(FetchReport(symbol=symbol, interval=interval, status="ok", from_cache=0, from_api=len(fetched)))
        return fetched

    def history_series(self, symbol: str, interval: Interval, start: datetime | None = None,
                       end: datetime | None = None) -> BarSeries:
        return bars_to_series(symbol.upper(), interval, self.history(symbol, interval, start, end))

    # ---------------------------------------------------------------- internals

    def _with_writer(self, symbol: str, interval: Interval, start: datetime, end: datetime) -> list[Bar]:
        assert self._writer is not None
        gaps = self._writer.missing(symbol, interval, start, end, self._tolerance)
        fetched = 0
        failed: list[tuple[datetime, datetime]] = []
        reason = ""
        last_error: SenseQuantError | None = None
        for a, b in gaps:
            try:
                bars = list(self._api.history(symbol, interval, a, b))
            except SenseQuantError as exc:
                failed.append((a, b))
                reason, last_error = str(exc), exc
                continue
            self._writer.record(symbol, interval, a, b, bars, self._api_source)
            fetched += len(bars)
        result = list(self._cache.history(symbol, interval, start, end))
        if failed:
            if not result:
                self._report(FetchReport(symbol=symbol, interval=interval, status="down", from_cache=0,
                                         from_api=0, missing=tuple(failed), reason=reason))
                assert last_error is not None
                raise last_error
            log.warning("%s: %s %s served from a partial cache: API failed for %s (%s)", self.feed_name, symbol,
                        interval.value, ", ".join(f"{a.isoformat()}..{b.isoformat()}" for a, b in failed), reason)
            self._report(FetchReport(symbol=symbol, interval=interval, status="degraded",
                                     from_cache=len(result) - fetched, from_api=fetched, missing=tuple(failed),
                                     reason=reason))
        else:
            self._report(FetchReport(symbol=symbol, interval=interval, status="ok", from_cache=len(result) - fetched,
                                     from_api=fetched))
        return result

    def _report(self, report: FetchReport) -> None:
        self.last_report = report
        self.reports.append(report)
        if report.status != self.health_status:
            self.health_status = report.status
            reason = report.reason or "cache and API answering"
            if report.status == "degraded":
                reason = f"{report.symbol} {report.interval.value}: partial cache, API failed: {report.reason}"
            if self._on_health is not None:
                self._on_health(FeedHealthChanged(feed=self.feed_name, status=report.status, reason=reason))
