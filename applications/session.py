"""The paper/live trading session shared by ``applications.paper`` and ``applications.live``.

Bars arrive as they close (a ``LiveBarSource``: a replay or the Breeze websocket); each
is appended to its symbol's ``FeatureBook`` (``FeatureBook.empty`` + ``append``) and
handed to the same ``TradingEngine.step`` a backtest uses, with the strategy, risk,
sizing, costs and venue built by ``applications.books`` from the same config. The
engine checkpoints every bar that recorded anything and flushes it as one batch to a
store opened with ``durable=True``, so a crash loses at most the bar in flight.

Resuming (``resume=True`` with the run's id):

1. the run must exist, be of the same mode and not be completed;
2. each book stream is folded into an ``EngineState`` (``core.engine.state``); events
   after the last checkpoint would mean a torn batch and refuse the resume;
3. bars are replayed into the books up to each book's checkpoint without stepping
   (warm-up from ``warmup_feed`` and then the stream itself), the engine and the venue
   are restored (a ``SimulatedBroker`` from the log's working orders: ``restore``), and
4. the broker is reconciled: positions and open orders from the ``Broker`` port must
   equal the log's; every difference is recorded (``PositionReconciled``), the outcome
   too (``ReconciliationCompleted``, on the run stream), and a mismatch raises
   ``ReconciliationError`` before any order can be sent;
5. the engine continues with the next bar; streams continue at their versions.

Stopping (``shutdown.requested``, set by SIGINT/SIGTERM): no new bar is processed, no
new entries are taken, intraday positions are squared off (``square_off_on_stop``)
through ``square_off_fills``, every book is finished (snapshot + checkpoint + flush)
and the run is marked ``interrupted`` (it may be resumed later).
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

import attrs

from applications.books import BacktestConfig, BookPlan, book_portfolio, run_namespace
from applications.config import config_hash
from applications.wiring import code_version
from core.engine.engine import BookResult, EngineSettings, TradingEngine
from core.engine.recorder import EventRecorder
from core.engine.state import EngineState
from core.model import datetime_to_ns
from core.errors import ReconciliationError, ResumeError
from core.events.base import RunInfo, RunStatus
from core.events.catalog import (
    PositionReconciled,
    PredictionTraced,
    ReconciliationCompleted,
    RunCompleted,
    RunStarted,
)
from core.events.codec import converter
from core.features.book import FeatureBook, bar_start_ns
from core.model import Bar, Interval
from core.orders import Fill, Product
from core.risk import RiskManager
from core.sizing import PositionSizer
from core.telemetry import TelemetryConfig
from ports.broker import Broker
from ports.event_store import EventStore
from ports.market_data import MarketDataFeed
from ports.predictor import Predictor
from ports.sentiment import SentimentProvider


class StopSignal(Protocol):
    """Anything with a ``requested`` flag (``adapters.system.ShutdownFlag``)."""

    @property
    def requested(self) -> bool: ...


class _NeverStop:
    requested = False


@attrs.frozen(kw_only=True)
class SessionSettings:
    """How a paper/live session runs (the trading config is the shared ``BacktestConfig``)."""

    square_off_on_stop: bool = True
    event_batch_size: int = 10_000
    measure_latency: bool = False
    # Live venues may not report bracket legs as orders; paper's simulated venue does.
    compare_bracket_legs: bool = True
    # Read the bar stream on a helper thread so a stop request is seen within
    # ``stop_poll_seconds`` even while no bar arrives (a quiet websocket, a slow replay).
    interruptible_stream: bool = True
    stop_poll_seconds: float = 0.2


@attrs.frozen(kw_only=True)
class SessionResult:
    run_id: str
    resumed: bool
    status: str
    books: list[BookResult]
    bars: int
    telemetry: dict[str, dict[str, int]]
    duplicate_fills_ignored: int
    reconciliation: dict[str, dict[str, Any]]
    latencies_s: list[float] = attrs.Factory(list)
    commit_s: list[float] = attrs.Factory(list)


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


SquareOffFills = Callable[[Broker, FeatureBook], Sequence[Fill]]
BrokerFactory = Callable[[BookPlan], Broker]


def _key(bar_ns: int, symbol: str, order: dict[str, int]) -> tuple[int, int]:
    return bar_ns, order.get(symbol, len(order))


def run_session(config: BacktestConfig, plans: Sequence[BookPlan], *, store: EventStore, mode: str,
                stream: Callable[[datetime | None], Iterator[Bar]], broker_factory: BrokerFactory,
                telemetry: TelemetryConfig, run_id: str, resume: bool = False,
                warmup_feed: MarketDataFeed | None = None, warmup_start: datetime | None = None,
                sentiment: SentimentProvider | None = None, predictor: Predictor | None = None,
                shutdown: StopSignal | None = None, settings: SessionSettings = SessionSettings(),
                square_off_fills: SquareOffFills | None = None, data_fingerprint: str = "",
                describe: dict[str, Any] | None = None, trace_sink: Callable[[PredictionTraced], None] | None = None,
                log: Callable[[str], None] = lambda _m: None, label: str = "") -> SessionResult:
    """Run (or resume) a paper/live session; see the module docstring.

    ``stream(resume_from)`` yields closed bars in merge order (time, then the plan's
    symbol order), starting at ``resume_from`` (bar start, inclusive) or at the
    beginning when None. ``warmup_feed`` (optional) supplies the bars before that.
    """
    shutdown = shutdown or _NeverStop()
    timed = _TimedStore(store) if settings.measure_latency else None
    book_store: EventStore = timed if timed is not None else store  # type: ignore[assignment]
    namespace = run_namespace(run_id)
    run_stream_id = f"{run_id}:run"
    if resume:
        info = store.get_run(run_id)
        run_id = info.run_id
        run_stream_id = f"{run_id}:run"
        namespace = run_namespace(run_id)
        if info.mode != mode:
            raise ResumeError(f"run {run_id} is a {info.mode} run; resume it with `sensequant {info.mode} "
                              f"--resume {run_id}`")
        for rec in store.read_stream(run_stream_id):
            if isinstance(rec.event, RunCompleted) and rec.event.status == RunStatus.COMPLETED:
                raise ResumeError(f"run {run_id} already completed; start a new session instead of --resume")
        run_recorder = EventRecorder(store, stream_id=run_stream_id, run_id=run_id, namespace=namespace,
                                     batch_size=1)
    else:
        config_dict = converter.unstructure(config)
        config_dict["initial_cash_paise_by_book"] = {p.name: p.initial_cash_paise for p in plans}
        config_dict["data"] = describe or {}
        config_dict["telemetry_live"] = converter.unstructure(telemetry)
        info = RunInfo(run_id=run_id, mode=mode, config_hash=config_hash(config), code_version=code_version(),
                       data_fingerprint=data_fingerprint, started_at=datetime.now(timezone.utc), label=label)
        store.start_run(info)
        run_recorder = EventRecorder(store, stream_id=run_stream_id, run_id=run_id, namespace=namespace,
                                     batch_size=1, expected_version=0)
        import json
        run_recorder.record(RunStarted(
            mode=mode, config=json.loads(json.dumps(config_dict, default=str)), config_hash=info.config_hash,
            code_version=info.code_version, data_fingerprint=data_fingerprint,
            symbols=sorted({s for p in plans for s in _symbols(p)}), strategies=[p.name for p in plans],
            initial_cash_paise=sum(p.initial_cash_paise for p in plans), seed=config.seed),
            datetime.now(timezone.utc))

    sessions: dict[tuple[Interval, str], _Book] = {}
    all_books: list[_Book] = []
    for plan in plans:
        stream_id = f"{run_id}:{plan.name}"
        portfolio = book_portfolio(plan)
        state = None
        version = 0
        if resume:
            state = EngineState.from_events(store.read_stream(stream_id), strategy=plan.strategy.name,
                                            portfolio=portfolio, product=plan.product)
            version = store.stream_version(stream_id)
            if version != state.stream_version:
                raise ResumeError(f"stream {stream_id} has {version - state.stream_version} events after its last "
                                  "checkpoint (a torn batch); the log cannot be resumed safely")
        recorder = EventRecorder(book_store, stream_id=stream_id, run_id=run_id, namespace=namespace,
                                 batch_size=settings.event_batch_size, expected_version=version)
        broker = broker_factory(plan)
        engine = TradingEngine(
            strategy=plan.strategy, portfolio=portfolio, risk=RiskManager(plan.risk),
            sizer=PositionSizer(plan.sizing), broker=broker, recorder=recorder, telemetry=telemetry,
            settings=EngineSettings(product=plan.product, record_signals=config.record_signals,
                                    checkpoint_bars=True),
            sentiment=sentiment if plan.name != "sma_cross" else None, predictor=predictor, trace_sink=trace_sink)
        wanted = plan.strategy.feature_spec()
        specs = list(wanted.values()) if isinstance(wanted, dict) else list(wanted)
        symbols = _symbols(plan)
        interval = plan.series[0].interval if plan.series else Interval.parse("1minute")
        books = {s: FeatureBook.empty(s, interval, specs) for s in symbols}
        order = {s: k for k, s in enumerate(symbols)}
        resume_key = None
        if state is not None and state.checkpoint is not None:
            resume_key = _key(state.resume_after_ns or 0, state.checkpoint.symbol, order)
        book = _Book(plan=plan, engine=engine, broker=broker, books=books, order=order, state=state,
                     resume_key=resume_key, pending_restore=resume_key is not None)
        all_books.append(book)
        for s in symbols:
            sessions[(interval, s)] = book

    # Warm-up: bars before the earliest resume point (and, live, recent history) go into
    # the books without being traded.
    resume_from: datetime | None = None
    keys = [b.resume_key for b in all_books if b.resume_key is not None]
    if resume and keys and len(keys) == len(all_books):
        first_ns = min(k[0] for k in keys)
        resume_from = datetime.fromtimestamp(first_ns // 1_000_000_000, tz=timezone.utc).replace(
            microsecond=(first_ns % 1_000_000_000) // 1000)
    if warmup_feed is not None:
        for b in all_books:
            for symbol, fb in b.books.items():
                for bar in warmup_feed.history(symbol, fb.interval, warmup_start, resume_from):
                    fb.append(bar)

    reconciliation: dict[str, dict[str, Any]] = {}
    latencies: list[float] = []
    commits: list[float] = []
    status, message, stopped = RunStatus.COMPLETED, "", False
    bars = 0
    try:
        bars_in = stream(resume_from)
        if settings.interruptible_stream:
            bars_in = _interruptible(bars_in, shutdown, settings.stop_poll_seconds)
        for bar in bars_in:
            if shutdown.requested:
                stopped = True
                break
            t0 = _time.perf_counter()
            b = sessions.get((bar.interval, bar.symbol))
            if b is None:
                continue
            fb = b.books[bar.symbol]
            ns = bar_start_ns(bar)
            if fb.ts_ns and ns <= fb.ts_ns[-1]:
                continue  # already in the book (warm-up overlap)
            if b.pending_restore:
                assert b.resume_key is not None
                if _key(ns, bar.symbol, b.order) <= b.resume_key:
                    fb.append(bar)  # catching up: into the book, not traded again
                    continue
                # restore with the books exactly as they were after the checkpointed bar
                reconciliation[b.plan.name] = _restore(b, run_recorder, log, settings)
            i = fb.append(bar)
            b.engine.step(fb, i)
            bars += 1
            if timed is not None:
                latencies.append(_time.perf_counter() - t0)
                commits.append(timed.take())
        if shutdown.requested:
            stopped = True
        for b in all_books:
            if b.pending_restore:
                reconciliation[b.plan.name] = _restore(b, run_recorder, log, settings)
        if stopped:
            status, message = RunStatus.INTERRUPTED, "stopped by " + str(getattr(shutdown, "signal_name", None)
                                                                          or "request")
            for b in all_books:
                _stop_book(b, settings, square_off_fills, log)
    except BaseException as exc:
        # Whatever broke (or a Ctrl-C without the signal handlers) may have left a bar half
        # done: nothing more is written, exactly like a crash, and the run stays resumable.
        status = RunStatus.FAILED
        message = f"{type(exc).__name__}: {exc}"
        log(f"session stopped by {message}; resume with --resume {run_id}")
        raise
    finally:
        results = []
        if status != RunStatus.FAILED:
            for b in all_books:
                results.append(_finish_book(b))
        last = [fb.ts_ns[-1] for b in all_books for fb in b.books.values() if fb.ts_ns]
        ended = (datetime.fromtimestamp(max(last) / 1e9, tz=timezone.utc) if last else datetime.now(timezone.utc))
        if status != RunStatus.FAILED:
            run_recorder.record(RunCompleted(
                status=status, bars_processed=sum(r.bars_processed for r in results),
                final_equity_paise=sum(r.final_equity_paise for r in results), message=message), ended)
            store.finish_run(run_id, status, datetime.now(timezone.utc))
    telemetry_counts = {b.plan.name: b.engine.telemetry_counts() for b in all_books}
    for name, counts in telemetry_counts.items():
        log(f"telemetry {name}: emitted {counts['emitted']}, skipped {counts['skipped']}, failed {counts['failed']}")
    return SessionResult(run_id=run_id, resumed=resume, status=status, books=results, bars=bars,
                         telemetry=telemetry_counts,
                         duplicate_fills_ignored=sum(b.engine.duplicate_fills_ignored for b in all_books),
                         reconciliation=reconciliation, latencies_s=latencies, commit_s=commits)


_DONE = object()


def _interruptible(bars: Iterator[Bar], shutdown: StopSignal, poll_seconds: float) -> Iterator[Bar]:
    """Yield ``bars`` (produced on a daemon thread) but return as soon as a stop is requested.

    Exceptions of the producer are re-raised here, in the trading thread.
    """
    import queue
    import threading

    handoff: queue.Queue[Any] = queue.Queue(maxsize=64)
    stop = threading.Event()

    def produce() -> None:
        try:
            for bar in bars:
                while not stop.is_set():
                    try:
                        handoff.put(bar, timeout=poll_seconds)
                        break
                    except queue.Full:
                        continue
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
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


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


def _restore(b: _Book, run_recorder: EventRecorder, log: Callable[[str], None],
             settings: SessionSettings) -> dict[str, Any]:
    """Restore engine and venue from the folded state, then reconcile with the broker."""
    state = b.state
    assert state is not None and state.checkpoint is not None
    b.pending_restore = False
    engine = b.engine
    engine.restore(state, b.books)
    restore = getattr(b.broker, "restore", None)
    if callable(restore):
        last_bars = {}
        for symbol, start in state.checkpoint.venue_bars.items():
            bar = engine.venue_bar(b.books[symbol], datetime_to_ns(datetime.fromisoformat(start)))
            if bar is not None:
                last_bars[symbol] = bar
        orders = [(o.request, o.reason, o.parent_id) for o in state.venue_orders.values()]
        restore(orders, dict(state.venue_positions), last_bars, orders_created=_orders_created(state))
    return reconcile(b.plan.name, engine, b.broker, run_recorder, state.checkpoint.bar_start, log,
                     compare_bracket_legs=settings.compare_bracket_legs)


def _orders_created(state: EngineState) -> int:
    """Continue the venue's ``SIM-<n>`` ids past any used before (an entry creates at most two legs)."""
    return 3 * state.order_seq


def reconcile(name: str, engine: TradingEngine, broker: Broker, recorder: EventRecorder,
              resumed_after: datetime | None, log: Callable[[str], None], *,
              compare_bracket_legs: bool = True) -> dict[str, Any]:
    """Compare the engine's positions and working orders with the broker's; refuse on any difference."""
    at = datetime.now(timezone.utc) if resumed_after is None else resumed_after
    log_positions = {s: p.quantity for s, p in engine.portfolio.positions.items() if p.quantity}
    venue_positions = {s: q for s, q in broker.positions().items() if q}
    mismatches: list[str] = []
    for symbol in sorted(set(log_positions) | set(venue_positions)):
        mine, theirs = log_positions.get(symbol, 0), venue_positions.get(symbol, 0)
        if mine != theirs:
            text = f"{symbol}: log holds {mine} shares, broker holds {theirs}"
            mismatches.append(text)
            recorder.record(PositionReconciled(symbol=symbol, strategy=engine.strategy.name, log_quantity=mine,
                                               broker_quantity=theirs,
                                               action="refused to trade: correct the position by hand or "
                                                      "square it off at the broker, then resume"), at)
    def keep(cid: str) -> bool:
        return compare_bracket_legs or not cid.endswith(("-SL", "-TP"))

    log_orders = sorted(i for ids in engine.working_orders.values() for i in ids if keep(i))
    venue_orders = sorted(i for i in broker.open_order_ids() if keep(i))
    if log_orders != venue_orders:
        mismatches.append(f"open orders differ: log {log_orders}, broker {venue_orders}")
    recorder.record(ReconciliationCompleted(strategy=engine.strategy.name, ok=not mismatches,
                                            positions=venue_positions, open_order_ids=venue_orders,
                                            mismatches=mismatches, resumed_after=resumed_after), at)
    recorder.flush()
    log(f"reconciliation {name}: {'ok' if not mismatches else 'FAILED'} "
        f"(positions {venue_positions or 'flat'}, {len(venue_orders)} open orders)")
    if mismatches:
        raise ReconciliationError(f"book {name}: broker and event log disagree ({'; '.join(mismatches)}); "
                                  "no order was sent. Fix the broker side (or the log) and resume again.")
    return {"ok": True, "positions": venue_positions, "open_order_ids": venue_orders}


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
    return engine.finish()


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


__all__ = ["SessionResult", "SessionSettings", "StopSignal", "flat_bar_after", "iter_merge",
           "paper_square_off_fills", "reconcile", "run_session"]
