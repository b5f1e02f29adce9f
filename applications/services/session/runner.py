"""run_session: open or resume the run, step every book on each closing bar, checkpoint and flush, stop cleanly."""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any


from applications.services.books import BacktestConfig, BookPlan, book_portfolio, run_namespace
from applications.wiring.config import config_hash
from applications.wiring.store import code_version
from core.engine.engine import EngineSettings, TradingEngine
from core.engine.recorder import EventRecorder
from core.engine.state import EngineState
from core.errors import IntegrityViolationError, ResumeError
from core.events.base import Event, RunInfo, RunStatus
from core.events.catalog import (
    PredictionTraced,
    RunCompleted,
    RunStarted,
)
from core.events.codec import converter
from core.features.book import FeatureBook, bar_start_ns
from core.model import Bar, Interval
from core.risk import AccountRisk, RiskManager
from core.sizing import PositionSizer
from core.venue import VenueRules
from core.telemetry import TelemetryConfig
from ports.broker import Broker
from ports.event_store import EventStore
from ports.halts import MarketHalts
from ports.market_data import MarketDataFeed
from ports.predictor import Predictor
from ports.sentiment import SentimentProvider
from applications.services.session.settings import SessionResult, SessionSettings, SquareOffFills, StopSignal, _NeverStop
from applications.services.session.book import _Book, _TimedStore, _finish_book, _stop_book, _symbols
from applications.services.session.bars import _interruptible, _key
from applications.services.session.recovery import _check_reaches_checkpoint, _restore, account_of, reconcile_account
from applications.services.session.watch import HealthInbox, SessionWatch, WatchSettings

BrokerFactory = Callable[[BookPlan], Broker]


def _check_same_venue(run_id: str, recorded: str | None, venue: VenueRules | None) -> None:
    """A resumed run keeps the venue rules it started with (else its decisions would change mid-run)."""
    wanted = None if venue is None else venue.name
    if recorded != wanted:
        raise ResumeError(f"run {run_id} was started with venue rules {recorded or 'none'}; it cannot be resumed "
                          f"with {wanted or 'none'} (pass the same --ignore-venue-rules choice as at the start)")


def run_session(config: BacktestConfig, plans: Sequence[BookPlan], *, store: EventStore, mode: str,
                stream: Callable[[datetime | None], Iterator[Bar]], broker_factory: BrokerFactory,
                telemetry: TelemetryConfig, run_id: str, resume: bool = False,
                warmup_feed: MarketDataFeed | None = None, warmup_start: datetime | None = None,
                sentiment: SentimentProvider | None = None, predictor: Predictor | None = None,
                shutdown: StopSignal | None = None, settings: SessionSettings = SessionSettings(),
                square_off_fills: SquareOffFills | None = None, data_fingerprint: str = "",
                describe: dict[str, Any] | None = None, trace_sink: Callable[[PredictionTraced], None] | None = None,
                log: Callable[[str], None] = lambda _m: None, label: str = "",
                watch: WatchSettings = WatchSettings(), health: HealthInbox | None = None,
                venue: VenueRules | None = None, start_events: Sequence[Event] = (),
                halts: MarketHalts | None = None, venue_watch: Callable[[], None] | None = None,
                on_reconciled: Callable[[str], Sequence[Event]] | None = None) -> SessionResult:
    """Run (or resume) a paper/live session; see the module docstring.

    ``stream(resume_from)`` yields closed bars in merge order (time, then the plan's
    symbol order), starting at ``resume_from`` (bar start, inclusive) or at the
    beginning when None. ``warmup_feed`` (optional) supplies the bars before that.
    ``watch``/``health``: heartbeats, latency rollups and feed health (``session.watch``).
    ``venue``: the rules every entry is checked against before it is sent (None: none).
    ``start_events`` (e.g. ``SessionModelSelected``) go on the run stream when the session
    (or its resumption) starts, before any bar.
    ``venue_watch`` runs while no bar arrives and once when the stream ends (a live daily
    book polls the broker there, so protective legs go out as soon as an entry fills).

    A resumed book is reconciled with its broker before it trades again: on its first new bar
    (a replay), or at the start when ``settings.reconcile_at_start`` (live: the warm-up
    history holds the checkpointed bars). Fills the broker made that the log has not applied
    yet count on the log's side (``ports.broker.CarriedAccountBroker``). ``on_reconciled(book)``
    then runs once per reconciled account (live: lapsed protective orders go out again); the
    events it returns go on the run stream.
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
            if isinstance(rec.event, RunStarted):
                _check_same_venue(run_id, rec.event.config.get("venue_rules"), venue)
                started_shared = bool(rec.event.config.get("shared_account", False))
                if started_shared != settings.shared_account:
                    raise ResumeError(f"run {run_id} was started {'with' if started_shared else 'without'} "
                                      "--shared-account; resume it with the same choice")
        # Resume only a log that is what was written (hash chain), then become its one writer:
        # a second --resume (or live) while the first process still heartbeats is refused.
        report = store.verify(run_id)
        if not report.ok:
            raise IntegrityViolationError(f"refusing to resume: {report.first_break()}; "
                                          f"`sensequant events verify {run_id}` shows every break")
        info = store.claim_run(run_id)
        run_recorder = EventRecorder(store, stream_id=run_stream_id, run_id=run_id, namespace=namespace,
                                     batch_size=1)
    else:
        config_dict = converter.unstructure(config)
        config_dict["initial_cash_paise_by_book"] = {p.name: p.initial_cash_paise for p in plans}
        config_dict["data"] = describe or {}
        config_dict["telemetry_live"] = converter.unstructure(telemetry)
        config_dict["venue_rules"] = None if venue is None else venue.name
        config_dict["predictor"] = getattr(predictor, "model_id", None)
        config_dict["shared_account"] = settings.shared_account
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

    for event in start_events:
        run_recorder.record(event, datetime.now(timezone.utc))

    account = AccountRisk(config.risk) if settings.shared_account else None
    sessions: dict[tuple[Interval, str], _Book] = {}
    reconciliation: dict[str, dict[str, Any]] = {}
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
            strategy=plan.strategy, portfolio=portfolio,
            risk=account.attach(plan.name, portfolio) if account is not None else RiskManager(plan.risk),
            sizer=PositionSizer(plan.sizing), broker=broker, recorder=recorder, telemetry=telemetry,
            settings=EngineSettings(product=plan.product, record_signals=config.record_signals,
                                    checkpoint_bars=True, venue=venue),
            sentiment=sentiment if plan.name != "sma_cross" else None, predictor=predictor, trace_sink=trace_sink,
            halts=halts)
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

    def reconciled(name: str) -> None:
        if on_reconciled is not None:
            for event in on_reconciled(name):
                run_recorder.record(event, datetime.now(timezone.utc))

    accounts: dict[int, list[_Book]] = {}
    for b in all_books:
        accounts.setdefault(id(account_of(b.broker)), []).append(b)
    if settings.reconcile_at_start and not resume:
        for group in accounts.values():
            outcome = reconcile_account(group, run_recorder, log, settings, resumed=False)
            for b in group:
                reconciliation[b.plan.name] = outcome

    # Warm-up: bars before the earliest resume point (and, live, recent history) go into
    # the books without being traded.
    resume_from: datetime | None = None
    keys = [b.resume_key for b in all_books if b.resume_key is not None]
    if resume and keys and len(keys) == len(all_books):
        first_ns = min(k[0] for k in keys)
        resume_from = datetime.fromtimestamp(first_ns // 1_000_000_000, tz=timezone.utc).replace(
            microsecond=(first_ns % 1_000_000_000) // 1000)
    # Live: the warm-up is the venue's history, which holds the checkpointed bars too, so a
    # resumed book is restored and reconciled before the first bar (the account is checked
    # before anything can be sent, even on a day that brings no new bar).
    restore_at_start = settings.reconcile_at_start and resume_from is not None and warmup_feed is not None
    if warmup_feed is not None and not (settings.warmup_is_replay and resume_from is None):
        for b in all_books:
            warm_to = resume_from
            if restore_at_start and b.resume_key is not None:
                warm_to = datetime.fromtimestamp(b.resume_key[0] / 1e9 + 1e-3, tz=timezone.utc)
            for symbol, fb in b.books.items():
                for bar in warmup_feed.history(symbol, fb.interval, warmup_start, warm_to):
                    if b.resume_key is None or _key(bar_start_ns(bar), symbol, b.order) <= b.resume_key:
                        fb.append(bar)
    if restore_at_start:
        for group in accounts.values():
            pending = [b for b in group if b.pending_restore]
            if not pending:
                continue
            for b in pending:
                _check_reaches_checkpoint(b)
            outcome = reconcile_account(pending, run_recorder, log, settings, resumed=True)
            for b in pending:
                reconciliation[b.plan.name] = outcome
            reconciled("+".join(b.plan.name for b in pending))

    watcher = SessionWatch(EventRecorder(store, stream_id=f"{run_id}:health", run_id=run_id, namespace=namespace,
                                         batch_size=1), all_books, mode=mode, settings=watch, inbox=health)
    latencies: list[float] = []
    commits: list[float] = []
    status, message, stopped = RunStatus.COMPLETED, "", False
    bars = 0
    try:
        bars_in = stream(resume_from)
        if settings.interruptible_stream:
            on_idle = watcher.idle
            if venue_watch is not None:
                def on_idle() -> None:
                    watcher.idle()
                    venue_watch()
            bars_in = _interruptible(bars_in, shutdown, settings.stop_poll_seconds, on_idle=on_idle,
                                     lockstep=settings.lockstep_stream)
        watcher.heartbeat()
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
                reconciled(b.plan.name)
            i = fb.append(bar)
            b.engine.step(fb, i)
            bars += 1
            watcher.bar_done(bar.start, _time.perf_counter() - t0)
            if timed is not None:
                latencies.append(_time.perf_counter() - t0)
                commits.append(timed.take())
        if shutdown.requested:
            stopped = True
        if venue_watch is not None and not stopped:
            venue_watch()
        watcher.close()
        for b in all_books:
            if b.pending_restore:
                reconciliation[b.plan.name] = _restore(b, run_recorder, log, settings)
                reconciled(b.plan.name)
        if stopped:
            status, message = RunStatus.INTERRUPTED, "stopped by " + str(getattr(shutdown, "signal_name", None)
                                                                          or "request")
            for b in all_books:
                _stop_book(b, settings, square_off_fills, log)
        elif settings.continues_next_session:
            status = RunStatus.SESSION_CLOSED
            message = (f"session closed at the close; the run continues next session: --resume {run_id} "
                       "(positions, protective orders and holding periods are carried)")
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

