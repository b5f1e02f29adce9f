"""Composition root for backtests: CSV feed + simulated broker + the core engine + a store.

``run_backtest(config, store=..., feed=...)`` takes every adapter as a keyword argument
with a real default, so tests build the same object graph with their own store or feed.
One run may hold several strategy books (intraday on minute bars, swing on daily bars,
or the reference SMA crossover); each book has its own capital, portfolio and event
stream ``<run_id>:<book>``; the run's own stream ``<run_id>:run`` holds RunStarted and
RunCompleted.
"""

from __future__ import annotations

import gc
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import attrs

from applications.services.books import (
    BacktestConfig,
    BookPlan,
    data_fingerprint,
    plan_books,
    book_portfolio,
    run_namespace,
    describe_feed,
)
from applications.wiring.adapters import default_broker_factory, default_feed, default_sentiment, uncovered_halts_note
from applications.wiring.config import config_hash
from applications.wiring.store import code_version
from core.engine.engine import BookResult, EngineSettings, TradingEngine, merge_order
from core.engine.recorder import EventRecorder
from core.events.base import RecordedEvent, RunInfo, RunStatus
from core.events.catalog import RunCompleted, RunStarted
from core.events.codec import converter
from core.features.book import FeatureBook
from core.risk import AccountRisk, RiskManager
from core.sizing import PositionSizer
from core.venue import VenueRules
from ports.event_store import EventStore
from ports.halts import MarketHalts
from ports.market_data import MarketDataFeed
from ports.predictor import Predictor
from ports.sentiment import SentimentProvider


@attrs.frozen(kw_only=True)
class BacktestResult:
    run_id: str
    books: list[BookResult]
    bars: int
    events: int
    seconds_loading: float
    seconds_running: float
    # Time spent keeping the read models (folding the committed events, writing the rows and
    # reading the summary back): set by the composition root that wires them.
    seconds_read_models: float = 0.0
    seconds_read_models_at_end: float = 0.0  # of which after the last bar (final flush, summary)


def run_backtest(config: BacktestConfig, *, store: EventStore, feed: MarketDataFeed | None = None,
                 sentiment: SentimentProvider | None | str = "default", predictor: Predictor | None = None,
                 broker_factory: Callable[[BookPlan], Any] = default_broker_factory,
                 run_id: str | None = None, progress: Callable[[str, int, int], None] | None = None,
                 mode: str = "backtest", label: str = "", venue: VenueRules | None = None,
                 on_committed: Callable[[list[RecordedEvent]], None] | None = None,
                 shared_account: bool = False, halts: MarketHalts | None = None,
                 log: Callable[[str], None] = lambda _m: None) -> BacktestResult:
    """Run a backtest and record it in ``store``. Returns ids and counts; metrics live in the log.

    ``venue``: apply a venue's rules (``core.venue``) as paper and live do; None (the
    default) trades without them and records nothing about them.
    ``on_committed`` receives every batch of events once committed, in stream order (the
    root folds the run summary from it instead of reading the whole log back).
    ``shared_account``: the books trade one account, as ``paper --shared-account`` and
    ``live --strategy both`` do: one risk manager (``core.risk.AccountRisk``) and the books
    stepped together in the order their bars close (a daily bar after that day's minutes).
    ``halts``: market-wide halts pause the books as in paper and live (None: none); ``log``
    hears when their index bars do not cover the traded dates.
    """
    import time as _time

    t0 = _time.perf_counter()
    feed = feed if feed is not None else default_feed(config)
    plans = plan_books(config, feed)
    provider = default_sentiment(config) if sentiment == "default" else sentiment
    all_series = [s for p in plans for s in p.series]
    note = None if halts is None else uncovered_halts_note(halts, all_series)
    if note is not None:
        log(note)
    fingerprint = data_fingerprint(all_series)
    run_id = run_id or uuid.uuid4().hex
    namespace = run_namespace(run_id)
    config_dict = converter.unstructure(config)
    config_dict["initial_cash_paise_by_book"] = {p.name: p.initial_cash_paise for p in plans}
    config_dict["data"] = {"feed": describe_feed(feed), "fingerprint": fingerprint}
    config_dict["sentiment_provider"] = getattr(provider, "name", None)
    config_dict["predictor"] = getattr(predictor, "model_id", None)
    if venue is not None:
        config_dict["venue_rules"] = venue.name
    if shared_account:
        config_dict["shared_account"] = True
    if halts is not None:
        config_dict["market_halts"] = getattr(halts, "symbol", type(halts).__name__)
    first_ts = min(int(s.start_ns[0]) for s in all_series)
    started_at = datetime.fromtimestamp(first_ts / 1e9, tz=timezone.utc)
    run_info = RunInfo(run_id=run_id, mode=mode, config_hash=config_hash(config), code_version=code_version(),
                       data_fingerprint=fingerprint, started_at=datetime.now(timezone.utc), label=label)
    store.start_run(run_info)
    run_stream = EventRecorder(store, stream_id=f"{run_id}:run", run_id=run_id, namespace=namespace,
                               batch_size=1, expected_version=0, on_committed=on_committed)
    run_stream.record(RunStarted(
        mode=mode, config=json.loads(json.dumps(config_dict, default=str)), config_hash=run_info.config_hash,
        code_version=run_info.code_version, data_fingerprint=fingerprint,
        symbols=sorted({s.symbol for s in all_series}), strategies=[p.name for p in plans],
        initial_cash_paise=sum(p.initial_cash_paise for p in plans), seed=config.seed), started_at)
    t1 = _time.perf_counter()
    results: list[BookResult] = []
    status, message = RunStatus.FAILED, ""
    try:
        if shared_account:
            results.extend(_run_books_on_one_account(plans, config, store, run_id, namespace, provider, predictor,
                                                     broker_factory, progress, venue, on_committed, halts))
        else:
            for plan in plans:
                results.append(_run_book(plan, config, store, run_id, namespace, provider, predictor,
                                         broker_factory, progress, venue, on_committed, halts))
        status = RunStatus.COMPLETED
    except KeyboardInterrupt:
        status, message = RunStatus.INTERRUPTED, "interrupted by the user"
        raise
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        last_ts = max(int(s.start_ns[-1]) for s in all_series)
        run_stream.record(RunCompleted(
            status=status, bars_processed=sum(r.bars_processed for r in results),
            final_equity_paise=sum(r.final_equity_paise for r in results), message=message),
            datetime.fromtimestamp(last_ts / 1e9, tz=timezone.utc))
        store.finish_run(run_id, status, datetime.now(timezone.utc))
    t2 = _time.perf_counter()
    return BacktestResult(run_id=run_id, books=results, bars=sum(r.bars_processed for r in results),
                          events=sum(r.events_appended for r in results) + 2,
                          seconds_loading=t1 - t0, seconds_running=t2 - t1)


def _book_engine(plan: BookPlan, config: BacktestConfig, store: EventStore, run_id: str, namespace: uuid.UUID,
                 provider: SentimentProvider | None, predictor: Predictor | None,
                 broker_factory: Callable[[BookPlan], Any], venue: VenueRules | None,
                 on_committed: Callable[[list[RecordedEvent]], None] | None,
                 account: AccountRisk | None = None, halts: MarketHalts | None = None
                 ) -> tuple[TradingEngine, dict[str, FeatureBook]]:
    """One book's engine (its own risk manager, or its view of the account's) and feature books."""
    wanted = plan.strategy.feature_spec()
    specs = list(wanted.values()) if isinstance(wanted, dict) else list(wanted)
    books = {s.symbol: FeatureBook.from_series(s, specs) for s in plan.series}
    recorder = EventRecorder(store, stream_id=f"{run_id}:{plan.name}", run_id=run_id, namespace=namespace,
                             batch_size=config.event_batch_size, expected_version=0,
                             on_committed=on_committed)
    portfolio = book_portfolio(plan)
    engine = TradingEngine(
        strategy=plan.strategy, portfolio=portfolio,
        risk=account.attach(plan.name, portfolio) if account is not None else RiskManager(plan.risk),
        sizer=PositionSizer(plan.sizing), broker=broker_factory(plan), recorder=recorder,
        telemetry=config.telemetry, settings=EngineSettings(product=plan.product,
                                                            record_signals=config.record_signals,
                                                            venue=venue),
        sentiment=provider if plan.name != "sma_cross" else None, predictor=predictor, halts=halts)
    return engine, books


def _settle_and_finish(engine: TradingEngine, books: dict[str, FeatureBook], config: BacktestConfig) -> BookResult:
    settle = getattr(engine.broker, "fill_at_last_close", None)
    if config.close_at_end and settle is not None:
        # What is still open when the data ends is closed at the last close (spec 002 §14.14.2),
        # so the run's P&L is realised and every trade is in the trade list.
        for fill in settle(engine.exits_at_end(books, "backtest_end"), "backtest_end"):
            engine.on_fills(books[fill.symbol], [fill])
    return engine.finish()


def _run_books_on_one_account(plans: list[BookPlan], config: BacktestConfig, store: EventStore, run_id: str,
                              namespace: uuid.UUID, provider: SentimentProvider | None,
                              predictor: Predictor | None, broker_factory: Callable[[BookPlan], Any],
                              progress: Callable[[str, int, int], None] | None, venue: VenueRules | None,
                              on_committed: Callable[[list[RecordedEvent]], None] | None,
                              halts: MarketHalts | None = None) -> list[BookResult]:
    """The books of one account stepped together bar by bar, in the order the bars close
    (ties: book order, then symbol order), exactly as a paper session merges them."""
    account = AccountRisk(config.risk)
    built = [_book_engine(plan, config, store, run_id, namespace, provider, predictor, broker_factory, venue,
                          on_committed, account, halts) for plan in plans]
    feature_books = [book for _, books in built for book in books.values()]
    steps = [engine.step for engine, books in built for _ in books]
    which, index = merge_order(dict(enumerate(feature_books)))
    total = len(which)
    label = "+".join(p.name for p in plans)
    gc.freeze()
    try:
        if progress is not None:
            progress(label, 0, total)
        for done, (k, i) in enumerate(zip(which.tolist(), index.tolist()), start=1):
            steps[k](feature_books[k], i)
            if progress is not None and done % 50_000 == 0:
                progress(label, 50_000, total)
        return [_settle_and_finish(engine, books, config) for engine, books in built]
    finally:
        gc.unfreeze()


def _run_book(plan: BookPlan, config: BacktestConfig, store: EventStore, run_id: str, namespace: uuid.UUID,
              provider: SentimentProvider | None, predictor: Predictor | None,
              broker_factory: Callable[[BookPlan], Any],
              progress: Callable[[str, int, int], None] | None, venue: VenueRules | None = None,
              on_committed: Callable[[list[RecordedEvent]], None] | None = None,
              halts: MarketHalts | None = None) -> BookResult:
    engine, books = _book_engine(plan, config, store, run_id, namespace, provider, predictor, broker_factory,
                                 venue, on_committed, halts=halts)
    total = sum(len(b) for b in books.values())
    # The books and the loaded series are millions of long-lived objects (per-bar session
    # and minute lists); every full pass of the cycle collector, triggered by the events
    # the run allocates, would walk them all. Frozen, the collector skips them for the
    # run; refcounting still frees them, and they are handed back to it afterwards.
    gc.freeze()
    try:
        if progress is not None:
            progress(plan.name, 0, total)
            engine.run_bars(books, progress=lambda n: progress(plan.name, n, total))
        else:
            engine.run_bars(books)
        return _settle_and_finish(engine, books, config)
    finally:
        gc.unfreeze()
