"""One strategy book inside a session: its engine, feature books and recorder; stopping and finishing it."""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from typing import Any

import attrs

from applications.services.books import BookPlan
from core.engine.engine import BookResult, TradingEngine
from core.engine.state import EngineState
from core.features.book import FeatureBook
from core.orders import Product
from ports.broker import Broker
from ports.event_store import EventStore
from applications.services.session.settings import SessionSettings, SquareOffFills

@attrs.define
class _Book:
    plan: BookPlan
    engine: TradingEngine
    broker: Broker
    books: dict[str, FeatureBook]
    order: dict[str, int]
    state: EngineState | None
    resume_key: tuple[int, int] | None
    pending_restore: bool


class _TimedStore:
    """Measures the time spent in ``append`` (the durable commit) for the latency benchmark."""

    def __init__(self, inner: EventStore) -> None:
        self._inner = inner
        self._spent = 0.0

    def append(self, *args: Any, **kwargs: Any) -> Any:
        t0 = _time.perf_counter()
        try:
            return self._inner.append(*args, **kwargs)
        finally:
            self._spent += _time.perf_counter() - t0

    def take(self) -> float:
        spent, self._spent = self._spent, 0.0
        return spent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _symbols(plan: BookPlan) -> list[str]:
    return [s.symbol for s in plan.series] if plan.series else list(getattr(plan, "symbols", []))


def _stop_book(b: _Book, settings: SessionSettings, square_off_fills: SquareOffFills | None,
               log: Callable[[str], None]) -> None:
    engine = b.engine
    engine.stop_entries()
    if not (settings.square_off_on_stop and b.plan.product is Product.INTRADAY and engine.open_symbols):
        return
    symbols = engine.open_symbols
    ids = engine.square_off(b.books, "shutdown")
    log(f"{b.plan.name}: squaring off {', '.join(symbols)} ({len(ids)} orders)")
    if square_off_fills is None:
        return
    for symbol in symbols:
        fb = b.books[symbol]
        fills = square_off_fills(b.broker, fb)
        engine.on_fills(fb, fills)


def _finish_book(b: _Book) -> BookResult:
    engine = b.engine
    state = b.state
    if (state is not None and state.finished and state.checkpoint is not None
            and engine.recorder.version == state.stream_version and not b.pending_restore):
        # killed after this book finished but before the run was marked done: nothing new
        # was recorded since, so its finish is already in the log
        return engine.result()
    return engine.finish()
