"""Bringing Breeze history into the CSV bar cache: planned in chunks, resumable, validated.

``plan_fetch`` lists, per symbol, the parts of ``[start, end)`` the cache has never fetched,
cut into chunks of one Breeze request window (two days of 1-minute bars, twelve of
5-minute, 1000 of daily: each under the 1000-candle page; a full page still continues
from its last candle). ``run_fetch`` asks the hybrid feed for each chunk; the feed fetches
it and the cache writes it atomically (CSV first, then its metadata), so an interruption
(Ctrl-C, a crash, the daily request cap) loses at most the chunk in flight, and the next
run fetches only what is still missing: nothing twice. The command then reads every
file back with the strict bar validation ``sensequant data validate`` uses
(``applications.wiring.breeze.validate_cache_files``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from core.errors import BrokerDailyLimitError
from core.model import Interval

CHUNK = {Interval.MINUTE_1: timedelta(days=2), Interval.MINUTE_5: timedelta(days=12),
         Interval.MINUTE_15: timedelta(days=12), Interval.DAY_1: timedelta(days=1000)}


class CacheView(Protocol):
    def missing(self, symbol: str, interval: Interval, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        ...


@attrs.frozen(kw_only=True)
class FetchChunk:
    symbol: str
    start: datetime
    end: datetime


@attrs.frozen(kw_only=True)
class FetchSummary:
    interval: str
    planned_chunks: int
    fetched_chunks: int
    bars: dict[str, int]
    requests: int
    stopped: str = ""
    already_cached: list[str] = attrs.Factory(list)

    @property
    def complete(self) -> bool:
        return not self.stopped and self.fetched_chunks == self.planned_chunks


def plan_fetch(cache: CacheView, symbols: Sequence[str], interval: Interval, start: datetime,
               end: datetime) -> list[FetchChunk]:
    """The chunks still to fetch, symbol by symbol, oldest first."""
    step = CHUNK[interval]
    chunks = []
    for symbol in symbols:
        for a, b in cache.missing(symbol, interval, start, end):
            cursor = a
            while cursor < b:
                chunks.append(FetchChunk(symbol=symbol, start=cursor, end=min(b, cursor + step)))
                cursor += step
    return chunks


def run_fetch(feed: Any, chunks: Sequence[FetchChunk], interval: Interval, *, requests: Callable[[], int],
              max_requests: int, progress: Callable[[FetchChunk, int], None] = lambda _c, _n: None,
              symbols: Sequence[str] = ()) -> FetchSummary:
    """Fetch ``chunks`` through ``feed`` (a ``HybridFeed`` with a cache writer) until done or stopped."""
    bars: dict[str, int] = {s: 0 for s in symbols}
    done, stopped = 0, ""
    first = requests()
    for chunk in chunks:
        if requests() - first >= max_requests:
            stopped = (f"request budget of {max_requests} reached (Breeze allows 5000 calls a day); run the same "
                       "command again later: it continues where this one stopped")
            break
        before = feed.last_report
        try:
            got = feed.history(chunk.symbol, interval, chunk.start, chunk.end)
        except BrokerDailyLimitError as exc:
            stopped = f"Breeze daily limit reached ({exc}); run the same command tomorrow to continue"
            break
        report = feed.last_report
        if report is not before and report is not None and report.status != "ok":
            stopped = f"{chunk.symbol}: Breeze did not answer for {chunk.start:%Y-%m-%d}..{chunk.end:%Y-%m-%d} " \
                      f"({report.reason}); run the same command again to retry the missing ranges"
            break
        fetched = report.from_api if report is not None else len(got)
        bars[chunk.symbol] = bars.get(chunk.symbol, 0) + fetched
        done += 1
        progress(chunk, fetched)
    return FetchSummary(interval=interval.value, planned_chunks=len(chunks), fetched_chunks=done, bars=bars,
                        requests=requests() - first, stopped=stopped,
                        already_cached=[s for s in symbols if not any(c.symbol == s for c in chunks)])


__all__ = ["CHUNK", "FetchChunk", "FetchSummary", "plan_fetch", "run_fetch"]
