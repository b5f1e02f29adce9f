"""Composition root of a backtest: the configured store, the CSV feed and sentiment of the
config, the registered model if one is named, the backtest service and the run summary
(its read models folded from the committed events, not re-read from the log)."""

from __future__ import annotations

import attrs

from collections.abc import Callable
from pathlib import Path

from applications.services.backtest import BacktestResult, run_backtest
from applications.services.books import BacktestConfig
from applications.services.books import book_intervals, book_symbols, session_bounds
from applications.services.projections import CommittedProjection
from applications.services.run_summary import RunSummary
from applications.wiring.adapters import default_feed, load_model, replay_market_halts
from applications.wiring.feeds import select_feed
from applications.wiring.store import open_store, read_models_for
from core.venue import venue_rules as rules_named


def backtest(config: BacktestConfig, *, db_url: str | None, model_id: str | None = None,
             registry_dir: Path | None = None, label: str = "",
             progress: Callable[[str, int, int], None] | None = None,
             venue_rules: str | None = None, data_source: str = "csv", cache_dir: Path | None = None,
             log: Callable[[str], None] = lambda _m: None, shared_account: bool = False,
             market_halts: bool = False) -> tuple[BacktestResult, RunSummary]:
    """Run one backtest into the store at ``db_url`` and return its result and summary.

    ``data_source``: csv (default), hybrid (the bar cache, Breeze for gaps) or breeze.
    ``shared_account``: the books trade one account (one risk manager), as live does.
    ``market_halts``: pause on NSE's market-wide circuit breaker (the data's NIFTY50 minutes).
    """
    predictor = load_model(model_id, registry_dir) if model_id else None
    venue = None if venue_rules is None else rules_named(venue_rules)
    feed = None
    if data_source != "csv":
        feed, described = select_feed(data_source, csv_feed=lambda: default_feed(config),
                                      symbols=book_symbols(config), intervals=book_intervals(config),
                                      cache_dir=cache_dir)
        log(described)
    halts = None
    if market_halts:
        halts = replay_market_halts(feed if feed is not None else default_feed(config), *session_bounds(config),
                                    log=log)
    store = open_store(db_url)
    try:
        # The read models (and with them the summary `runs show` prints) are folded from the
        # events as they commit, so the run is not read back at the end.
        read_models = read_models_for(store)
        projection = CommittedProjection(store, read_models)
        try:
            result = run_backtest(config, store=store, label=label, predictor=predictor, progress=progress,
                                  venue=venue, feed=feed, on_committed=projection, shared_account=shared_account,
                                  halts=halts, log=log)
        finally:
            projection.flush()
        summary = projection.summary(store.get_run(result.run_id))
        return attrs.evolve(result, seconds_read_models=projection.seconds,
                            seconds_read_models_at_end=projection.seconds_at_end), summary
    finally:
        store.close()


def batch_backtest(config: BacktestConfig, *, db_url: str | None, workers: int | None = None,
                   scheduler: str | None = None, label: str = "") -> tuple[str, list]:
    """One run per symbol of the config's book, spread over a Dask cluster (local by default)."""
    from applications.services.optimization.batch import batch_backtest as batch_service
    from applications.wiring.cluster import check_store_for_cluster, dask_client, resolve_db_url

    url = resolve_db_url(db_url)
    check_store_for_cluster(url, scheduler)
    open_store(url).close()  # the schema exists before workers race to create it
    with dask_client(workers, scheduler) as client:
        return batch_service(config, client=client, db_url=url, label=label)
