"""Multi-symbol batch backtests on the same Dask path as optimisation trials.

A universe of symbols is backtested one symbol per run (each its own book with its own
capital), the runs spread over the cluster's workers, which keep the bars they loaded. Runs
are mode ``backtest`` with the label ``batch=<id> symbol=<SYMBOL>``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import attrs

from applications.services.books import BacktestConfig
from applications.services.optimization.trials import TrialOutcome, TrialTask, execute_trial
from core.errors import ConfigError
from core.events.codec import converter


@attrs.frozen(kw_only=True)
class BatchRun:
    symbol: str
    outcome: TrialOutcome


def batch_backtest(config: BacktestConfig, *, client: Any, db_url: str, symbols: Sequence[str] | None = None,
                   label: str = "", retries: int = 1) -> tuple[str, list[BatchRun]]:
    """One run per symbol of the config's (single) book; returns the batch id and the runs in symbol order."""
    books = config.books()
    if len(books) != 1 or books[0] not in ("intraday", "swing"):
        raise ConfigError("a batch backtest (--workers) runs one book: pass --strategy intraday or swing")
    book = books[0]
    chosen = list(symbols or getattr(config, book).symbols)
    batch = uuid.uuid4().hex[:12]
    base = converter.unstructure(config)
    tasks = [TrialTask(study=f"batch-{batch}", trial=i, book=book, layers=[base, {book: {"symbols": [symbol]}}],
                       params={}, db_url=db_url, mode="backtest",
                       label=f"batch={batch} symbol={symbol}" + (f" {label}" if label else ""))
             for i, symbol in enumerate(chosen)]
    outcomes = client.gather(client.map(execute_trial, tasks, pure=False, retries=retries))
    for symbol, outcome in zip(chosen, outcomes):
        if outcome.state != "complete":
            raise ConfigError(f"batch backtest of {symbol}: {outcome.message}")
    return batch, [BatchRun(symbol=s, outcome=o) for s, o in zip(chosen, outcomes)]
