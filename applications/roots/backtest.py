"""Composition root of a backtest: the configured store, the CSV feed and sentiment of the
config, the registered model if one is named, the backtest service and the run summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from applications.services.backtest import BacktestResult, run_backtest
from applications.services.books import BacktestConfig
from applications.services.run_summary import RunSummary, summarize_run
from applications.services.books import book_intervals, book_symbols
from applications.wiring.adapters import default_feed, load_model
from applications.wiring.feeds import select_feed
from applications.wiring.store import open_store
from core.venue import venue_rules as rules_named


def backtest(config: BacktestConfig, *, db_url: str | None, model_id: str | None = None,
             registry_dir: Path | None = None, label: str = "",
             progress: Callable[[str, int, int], None] | None = None,
             venue_rules: str | None = None, data_source: str = "csv", cache_dir: Path | None = None,
             log: Callable[[str], None] = lambda _m: None) -> tuple[BacktestResult, RunSummary]:
    """Run one backtest into the store at ``db_url`` and return its result and summary.

    ``data_source``: csv (default), hybrid (the bar cache, Breeze for gaps) or breeze.
    """
    predictor = load_model(model_id, registry_dir) if model_id else None
    venue = None if venue_rules is None else rules_named(venue_rules)
    feed = None
    if data_source != "csv":
        feed, described = select_feed(data_source, csv_feed=lambda: default_feed(config),
                                      symbols=book_symbols(config), intervals=book_intervals(config),
                                      cache_dir=cache_dir)
        log(described)
    store = open_store(db_url)
    try:
        result = run_backtest(config, store=store, label=label, predictor=predictor, progress=progress,
                              venue=venue, feed=feed)
        return result, summarize_run(store, result.run_id)
    finally:
        store.close()
