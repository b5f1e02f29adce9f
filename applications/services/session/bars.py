"""Bars into a session: merging symbol streams in time order, an interruptible reader, square-off bars and fills."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from core.features.book import FeatureBook
from core.model import Bar, BarSeries
from core.orders import Fill
from ports.broker import Broker
from applications.services.session.settings import StopSignal
from ports.clock import Clock

def _key(bar_ns: int, symbol: str, order: dict[str, int]) -> tuple[int, int]:
    return bar_ns, order.get(symbol, len(order))


_DONE = object()


def _interruptible(bars: Iterator[Bar], shutdown: StopSignal, poll_seconds: float,
                   on_idle: Callable[[], None] | None = None, *, lockstep: bool = False) -> Iterator[Bar]:
    """Yield ``bars`` (produced on a daemon thread) but return as soon as a stop is requested.

    Exceptions of the producer are re-raised here, in the trading thread; ``on_idle`` runs
    there every ``poll_seconds`` while no bar arrives (heartbeats of a quiet session).
    ``lockstep``: the producer waits until each bar has been traded before it goes on (a
    daily session's wait for the close starts once the morning's bars are done).
    """
    import queue
    import threading

    handoff: queue.Queue[Any] = queue.Queue(maxsize=64)
    stop = threading.Event()
    traded = threading.Event()

    def produce() -> None:
        try:
            for bar in bars:
                while not stop.is_set():
                    try:
                        handoff.put(bar, timeout=poll_seconds)
                        break
                    except queue.Full:
                        continue
                while lockstep and not stop.is_set() and not traded.wait(poll_seconds):
                    continue
                traded.clear()
                if stop.is_set():
                    return
            item: Any = _DONE
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            item = exc
        while not stop.is_set():
            try:
                handoff.put(item, timeout=poll_seconds)
                return
            except queue.Full:
                continue

    worker = threading.Thread(target=produce, name="bar-stream", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = handoff.get(timeout=poll_seconds)
            except queue.Empty:
                if shutdown.requested:
                    return
                if on_idle is not None:
                    on_idle()
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            traded.set()
    finally:
        stop.set()


def flat_bar_after(book: FeatureBook) -> Bar:
    """A zero-range bar at the last close, right after the book's last bar (paper square-off price)."""
    k = len(book) - 1
    start = book.start_at(k) + book.interval.duration
    close = book.close[k]
    return Bar(symbol=book.symbol, interval=book.interval, start=start, open=close, high=close, low=close,
               close=close, volume=0)


def paper_square_off_fills(broker: Broker, book: FeatureBook) -> Sequence[Fill]:
    """Paper: the simulated venue fills the square-off at the last seen close (plus slippage)."""
    return broker.advance(flat_bar_after(book))


def iter_merge(streams: Iterable[Iterator[Bar]]) -> Iterator[Bar]:
    """Merge several bar streams by bar end (then the order of ``streams``)."""
    import heapq
    return heapq.merge(*streams, key=lambda bar: bar.end)


def without_last_bar(series: BarSeries) -> BarSeries:
    """``series`` minus its newest bar (the bar a fresh daily session trades)."""
    n = len(series) - 1
    return BarSeries(symbol=series.symbol, interval=series.interval, start_ns=series.start_ns[:n],
                     open=series.open[:n], high=series.high[:n], low=series.low[:n], close=series.close[:n],
                     volume=series.volume[:n])


def daily_session_bars(series: Sequence[BarSeries], resume_from: datetime | None, *, clock: Clock,
                       shutdown: StopSignal | None, market_open: datetime, session_end: datetime,
                       poll_seconds: float) -> Iterator[Bar]:
    """A daily book's live session: wait for the open, give the completed daily bars to trade
    (fresh: the newest; resumed: every bar from the checkpoint on, which the session skips
    up to the checkpoint), then wait for the close (the session polls fills meanwhile)."""
    def stopping() -> bool:
        return shutdown is not None and shutdown.requested

    while clock.now() < market_open and not stopping():
        clock.sleep(min(poll_seconds, max((market_open - clock.now()).total_seconds(), 0.001)))
    bars = []
    for s in series:
        for bar in s.bars()[(-1 if resume_from is None else 0):]:
            if resume_from is None or bar.start >= resume_from:
                bars.append(bar)
    order = {s.symbol: k for k, s in enumerate(series)}
    yield from sorted(bars, key=lambda b: (b.start, order[b.symbol]))
    while clock.now() < session_end and not stopping():
        clock.sleep(min(poll_seconds, max((session_end - clock.now()).total_seconds(), 0.001)))


class LiveSessionHistory:
    """The history a session on live data warms up from (a ``MarketDataFeed`` over the venue's).

    Intraday bars from the last ``intraday_days``; daily bars from the last ``daily_days``
    and only those completed before ``today_start`` (today's forms until the close). With
    ``hold_back_newest_daily`` (a fresh session) the newest completed daily bar is left out
    too: the session trades it (``DailyBarsAtOpen``), as a backtest decides on that close.
    """

    def __init__(self, feed: Any, today_start: datetime, *, intraday_days: int, daily_days: int,
                 hold_back_newest_daily: bool) -> None:
        self._feed = feed
        self._today = today_start
        self._intraday_from = today_start - timedelta(days=intraday_days)
        self._daily_from = today_start - timedelta(days=daily_days)
        self._hold_back = hold_back_newest_daily

    def symbols(self, interval: Any) -> list[str]:
        return self._feed.symbols(interval)

    def history_series(self, symbol: str, interval: Any, start: datetime | None = None,
                       end: datetime | None = None) -> BarSeries:
        if interval.is_intraday:
            start = self._intraday_from if start is None else max(start, self._intraday_from)
            return self._feed.history_series(symbol, interval, start, end)
        start = self._daily_from if start is None else max(start, self._daily_from)
        end = self._today if end is None else min(end, self._today)
        series = self._feed.history_series(symbol, interval, start, end)
        return without_last_bar(series) if self._hold_back and len(series) else series

    def history(self, symbol: str, interval: Any, start: datetime | None = None,
                end: datetime | None = None) -> list[Bar]:
        return self.history_series(symbol, interval, start, end).bars()

    def describe(self) -> dict[str, Any]:
        inner = getattr(self._feed, "describe", None)
        return {"type": "live_session_history", "feed": inner() if callable(inner) else type(self._feed).__name__}


class DailyBarsAtOpen:
    """A ``LiveBarSource`` for daily books on live data: at the market open, the daily bars
    completed in the last ``recent_days`` (the session skips those it already holds and
    trades the rest); intraday intervals come from ``intraday`` (the websocket)."""

    def __init__(self, feed: Any, intraday: Any, clock: Clock, *, today_start: datetime, market_open: datetime,
                 recent_days: int = 10, shutdown: StopSignal | None = None, poll_seconds: float = 30.0) -> None:
        self._feed, self._intraday, self._clock = feed, intraday, clock
        self._today, self._open, self._days = today_start, market_open, recent_days
        self._shutdown, self._poll = shutdown, poll_seconds

    def stream(self, symbols: Sequence[str], interval: Any) -> Iterator[Bar]:
        if interval.is_intraday:
            return self._intraday.stream(symbols, interval)
        since = self._today - timedelta(days=self._days)
        series = [self._feed.history_series(s, interval, since, self._today) for s in symbols]
        return daily_session_bars(series, since, clock=self._clock, shutdown=self._shutdown,
                                  market_open=self._open, session_end=self._open, poll_seconds=self._poll)
