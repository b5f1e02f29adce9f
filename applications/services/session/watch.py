"""What a running session says about itself: heartbeats, latency rollups, feed health, reduce-only.

``SessionWatch`` lives on the trading thread. The session calls ``bar_done`` after each bar
and ``idle`` while it waits for one (the interruptible reader polls every fraction of a
second), so heartbeats keep coming on a fixed wall-clock interval when no bar arrives.
Adapters report feed health from their own threads through ``report_health`` (a queue): the
trading thread records those events, so the health stream has a single writer.

Reduce-only: while any market-data/broker feed is not ``ok`` (a dropped websocket, an expired
session token) or no bar arrived for ``feed_stale_seconds``, every book stops new entries
(exits, stops and targets still work); a ``SessionReduceOnlyChanged`` says when and why.

Everything goes to the ``{run_id}:health`` stream; times are the wall clock (``now``).
"""

from __future__ import annotations

import math
import queue
import time as _time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from core.engine.recorder import EventRecorder
from core.events.catalog import FeedHealthChanged
from core.events.monitoring import LatencyRolledUp, SessionHeartbeat, SessionReduceOnlyChanged

#: Latency histogram bounds (ms) of the per-minute rollups; the spec's 1000 ms threshold is a bound.
LATENCY_BOUNDS_MS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
#: The feed name of the session's own bar-staleness check.
BARS_FEED = "bars"


class HealthInbox:
    """Where adapters report feed health from any thread (``report`` is an ``on_health`` callback);
    the session's watch records what arrived on the trading thread."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[FeedHealthChanged] = queue.SimpleQueue()

    def report(self, event: FeedHealthChanged) -> None:
        self._queue.put(event)

    def drain(self) -> list[FeedHealthChanged]:
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out


@attrs.frozen(kw_only=True)
class WatchSettings:
    """``heartbeat_seconds``: wall-clock interval of ``SessionHeartbeat`` (None: none);
    ``rollup_seconds``: length of a latency rollup; ``feed_stale_seconds``: no bar for this long
    makes the bar feed ``degraded`` and the session reduce-only (None: never, e.g. a replay
    whose overnight gaps are legitimately quiet)."""

    heartbeat_seconds: float | None = 5.0
    rollup_seconds: float = 60.0
    feed_stale_seconds: float | None = None


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _quantile(sorted_ms: Sequence[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    k = max(0, min(len(sorted_ms) - 1, math.ceil(q * len(sorted_ms)) - 1))
    return float(sorted_ms[k])


class SessionWatch:
    """See the module docstring. ``books``: objects with ``plan.name`` and ``engine`` (``_Book``)."""

    def __init__(self, recorder: EventRecorder, books: Sequence[Any], *, mode: str,
                 settings: WatchSettings = WatchSettings(), inbox: HealthInbox | None = None,
                 now: Callable[[], datetime] = _utc_now,
                 monotonic: Callable[[], float] = _time.monotonic) -> None:
        self._recorder = recorder
        self._books = list(books)
        self._mode = mode
        self.settings = settings
        self._now = now
        self._monotonic = monotonic
        self.inbox = inbox if inbox is not None else HealthInbox()
        self._feeds: dict[str, FeedHealthChanged] = {}
        self.reduce_only = False
        self._stopped: list[Any] = []
        self._sequence = 0
        self._bars = 0
        self._last_bar_start: datetime | None = None
        self._last_bar_at: float | None = None
        self._started = monotonic()
        self._next_heartbeat = self._started
        self._window_start = now()
        self._window_until = self._started + settings.rollup_seconds
        self._latencies_ms: list[float] = []

    # ------------------------------------------------------------------ inputs

    def report_health(self, event: FeedHealthChanged) -> None:
        """Thread-safe: an adapter's health callback (recorded on the trading thread)."""
        self.inbox.report(event)

    def bar_done(self, bar_start: datetime, latency_s: float) -> None:
        self._bars += 1
        self._last_bar_start = bar_start
        self._last_bar_at = self._monotonic()
        self._latencies_ms.append(latency_s * 1000.0)
        stale = self._feeds.get(BARS_FEED)
        if stale is not None and stale.status != "ok":
            self._feed(FeedHealthChanged(feed=BARS_FEED, status="ok", reason="bars arriving again"))
        self.pump()

    def idle(self) -> None:
        if self.settings.feed_stale_seconds is not None:
            since = self._monotonic() - (self._last_bar_at if self._last_bar_at is not None else self._started)
            current = self._feeds.get(BARS_FEED)
            if since > self.settings.feed_stale_seconds and (current is None or current.status == "ok"):
                self._feed(FeedHealthChanged(feed=BARS_FEED, status="degraded",
                                             reason=f"no bar for {since:.0f} s "
                                                    f"(stale after {self.settings.feed_stale_seconds:g} s)"))
        self.pump()

    # ----------------------------------------------------------------- outputs

    def pump(self) -> None:
        """Record queued health changes, a due heartbeat and a finished latency rollup."""
        for event in self.inbox.drain():
            self._feed(event)
        t = self._monotonic()
        if t >= self._window_until:
            self._roll_up()
        if self.settings.heartbeat_seconds is not None and t >= self._next_heartbeat:
            self.heartbeat()

    def heartbeat(self) -> None:
        self._sequence += 1
        t = self._monotonic()
        interval = self.settings.heartbeat_seconds or 0.0
        # The next beat on the fixed grid, even if this one came late (a slow bar).
        self._next_heartbeat = max(self._next_heartbeat + interval, t + interval * 0.5)
        self._recorder.record(SessionHeartbeat(
            mode=self._mode, sequence=self._sequence, bars_processed=self._bars, last_bar_start=self._last_bar_start,
            seconds_since_bar=None if self._last_bar_at is None else round(t - self._last_bar_at, 3),
            feed_status=self.feed_status, reduce_only=self.reduce_only,
            books={b.plan.name: book_state(b.engine) for b in self._books}), self._now())

    def close(self) -> None:
        """The session is ending: flush health, the partial rollup and a last heartbeat."""
        self.pump()
        self._roll_up()
        if self.settings.heartbeat_seconds is not None:
            self.heartbeat()

    @property
    def feed_status(self) -> str:
        statuses = {e.status for e in self._feeds.values() if not e.feed.startswith("sentiment")}
        return "down" if "down" in statuses else "degraded" if "degraded" in statuses else "ok"

    # ---------------------------------------------------------------- internals

    def _feed(self, event: FeedHealthChanged) -> None:
        self._feeds[event.feed] = event
        self._recorder.record(event, self._now())
        if event.feed.startswith("sentiment"):
            return  # a failing sentiment source degrades the gate, not the prices: trading goes on
        bad = sorted(f"{e.feed} {e.status}: {e.reason}" for e in self._feeds.values()
                     if e.status != "ok" and not e.feed.startswith("sentiment"))
        if bool(bad) != self.reduce_only:
            self.reduce_only = bool(bad)
            if self.reduce_only:
                # the engine's own switch: no new entries, exits and brackets still work
                self._stopped = [b for b in self._books if not b.engine.entries_stopped]
                for b in self._stopped:
                    b.engine.entries_stopped = True
            else:  # lift only what this watch stopped (a shutdown's stop stays)
                for b in self._stopped:
                    b.engine.entries_stopped = False
                self._stopped = []
            reason = ("; ".join(bad) if bad else f"{event.feed} {event.status}: {event.reason}")
            self._recorder.record(SessionReduceOnlyChanged(reduce_only=self.reduce_only, reason=reason), self._now())

    def _roll_up(self) -> None:
        samples, self._latencies_ms = sorted(self._latencies_ms), []
        start, self._window_start = self._window_start, self._now()
        self._window_until = self._monotonic() + self.settings.rollup_seconds
        if not samples:
            return
        counts = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        for ms in samples:
            counts[next((i for i, b in enumerate(LATENCY_BOUNDS_MS) if ms <= b), len(LATENCY_BOUNDS_MS))] += 1
        self._recorder.record(LatencyRolledUp(
            minute_start=start, count=len(samples), p50_ms=round(_quantile(samples, 0.5), 4),
            p95_ms=round(_quantile(samples, 0.95), 4), max_ms=round(samples[-1], 4),
            bucket_bounds_ms=list(LATENCY_BOUNDS_MS), bucket_counts=counts), self._now())


def book_state(engine: Any) -> dict[str, Any]:
    """A book's risk state for the heartbeat (day P&L against its daily-loss cap)."""
    equity = int(engine.portfolio.equity_paise())
    start = engine.risk.start_of_day_equity_paise
    limit = engine.risk.daily_loss_limit_paise()
    return {"equity_paise": equity, "day_pnl_paise": equity - start if start is not None else 0,
            "loss_limit_paise": int(limit or 0), "breaker_tripped": bool(engine.risk.entries_blocked),
            "open_positions": len(engine.open_symbols)}
