"""One trial, as a Dask worker runs it: build the config, backtest it into the shared event
log (mode ``optimization``), score the run from its events.

Everything a worker can share between trials is cached per worker process, keyed by what it
depends on: the CSV feed (which itself caches the parsed, validated bars per symbol), the
headline sentiment provider and the event-store connection. Bars are therefore read and
validated once per worker, not once per trial; indicators still depend on the trial's
parameters and are computed per trial.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import attrs

from applications.analytics.metrics import compute_metrics
from applications.analytics.projections import IST, read_run_events, traces_frame
from applications.services.backtest import run_backtest
from applications.services.books import BacktestConfig
from applications.services.optimization.objective import (
    CompositeWeights,
    composite_score,
)
from applications.services.optimization.space import apply_params
from applications.services.run_summary import summarize_books
from applications.wiring.adapters import default_sentiment, worker_feed
from applications.wiring.config import build_config
from applications.wiring.store import worker_store
from core.errors import ConfigError
from core.events.catalog import PortfolioSnapshotted, RunStarted

_SENTIMENT: dict[tuple[Any, ...], Any] = {}


@attrs.frozen(kw_only=True)
class TrialTask:
    """Everything a worker needs for one trial (plain data: it travels to the worker)."""

    study: str
    trial: int
    book: str
    layers: list[dict[str, Any]]       # config layers (file, environment, flags), lowest first
    params: dict[str, Any]             # dotted config paths -> sampled values
    db_url: str
    weights: CompositeWeights = attrs.Factory(CompositeWeights)
    window: int = 0
    start: str | None = None           # walk-forward windows narrow the period
    end: str | None = None
    score_from: str | None = None      # score only sessions from this date (earlier bars warm indicators up)
    mode: str = "optimization"         # batch backtests reuse this path with mode "backtest"
    label: str | None = None           # default: study=NAME trial=N [window=K]


@attrs.frozen(kw_only=True)
class TrialOutcome:
    state: str                         # complete | pruned
    run_id: str
    metrics: dict[str, Any]
    daily_equity: list[tuple[str, int]]  # (session ISO date, equity paise), for DSR/PBO
    message: str
    seconds: float


def trial_config(task: TrialTask) -> BacktestConfig:
    """The trial's config: the study's layers with the sampled parameters on top."""
    period = {k: v for k, v in (("start", task.start), ("end", task.end)) if v is not None}
    top = apply_params({"strategy": task.book, **period}, task.params)
    return build_config(BacktestConfig, *task.layers, top, source=f"trial {task.trial} configuration")


def _feed(config: BacktestConfig):
    return worker_feed(config.data_dir, config.data_timezone)


def _sentiment(config: BacktestConfig):
    key = (config.sentiment.enabled, config.sentiment.news_dir, config.sentiment.lookback_days)
    if key not in _SENTIMENT:
        _SENTIMENT[key] = default_sentiment(config)
    return _SENTIMENT[key]


def execute_trial(task: TrialTask) -> TrialOutcome:
    """Run the trial's backtest into the shared log and score it. An invalid parameter
    combination (the config rejects it) comes back ``pruned``; anything else raises."""
    t0 = time.perf_counter()
    try:
        config = trial_config(task)
    except ConfigError as exc:
        return TrialOutcome(state="pruned", run_id="", metrics={}, daily_equity=[], message=_reason(exc),
                            seconds=time.perf_counter() - t0)
    store = worker_store(task.db_url)
    run_id = uuid.uuid4().hex
    label = task.label if task.label is not None else (
        f"study={task.study} trial={task.trial}" + (f" window={task.window}" if task.window else ""))
    run_backtest(config, store=store, feed=_feed(config), sentiment=_sentiment(config), run_id=run_id,
                 mode=task.mode, label=label)
    since = date.fromisoformat(task.score_from) if task.score_from else None
    metrics, daily = score_run(store, run_id, task.book, task.weights, since=since)
    return TrialOutcome(state="complete", run_id=run_id, metrics=metrics, daily_equity=daily, message="",
                        seconds=time.perf_counter() - t0)


def _reason(exc: ConfigError) -> str:
    """The config's own words (e.g. "sma_fast (60) must be shorter than sma_slow (50)"): the
    structuring error keeps them in the exception group behind the summary message."""

    def leaves(e: BaseException | None) -> list[str]:
        if e is None:
            return []
        if isinstance(e, BaseExceptionGroup):
            return [m for sub in e.exceptions for m in leaves(sub)]
        return [str(e)]

    details = leaves(exc.__context__)
    return f"{exc}: {'; '.join(details)}" if details else str(exc)


def score_run(store, run_id: str, book: str, weights: CompositeWeights | None = None, *, since: date | None = None
              ) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """Every metric of one book of a run, from its events, and its daily equity curve.

    ``since``: only what happened from that session on (market time) counts: the equity curve
    starts at that session's close, trades count when they close then or later. The bars
    before it only warm the indicators up (an out-of-sample window must not lose its first
    ``sma_slow`` sessions to warm-up, which would favour short look-backs)."""
    events = read_run_events(store, run_id)
    if since is not None:
        cutoff = datetime.combine(since, datetime.min.time(), tzinfo=IST)
        events = [e for e in events if not isinstance(e.event, RunStarted)
                  and (e.event.session_date >= since if isinstance(e.event, PortfolioSnapshotted)
                       else e.occurred_at >= cutoff)]
    books, _ = summarize_books(events)
    summary = next((b for b in books if b.strategy == book), None)
    traces = traces_frame(events)
    accuracy = compute_metrics(traces[traces["strategy"] == book]) if len(traces) else None
    daily = [(e.event.session_date.isoformat(), int(e.event.equity_paise)) for e in events
             if isinstance(e.event, PortfolioSnapshotted) and e.stream_id.endswith(f":{book}")]
    metrics: dict[str, Any] = {
        "trades": summary.trades if summary else 0,
        "sharpe": summary.sharpe if summary else 0.0,
        "sortino": summary.sortino if summary else 0.0,
        "calmar": summary.calmar if summary else 0.0,
        "total_return_pct": summary.total_return_pct if summary else 0.0,
        "max_drawdown_pct": summary.max_drawdown_pct if summary else 0.0,
        "win_rate": summary.win_rate_pct / 100.0 if summary else 0.0,
        "profit_factor": summary.profit_factor if summary else None,
        "net_pnl_paise": summary.net_pnl_paise if summary else 0,
        "costs_paid_paise": summary.costs_paid_paise if summary else 0,
        "precision": accuracy.precision.get("LONG", 0.0) if accuracy else 0.0,
        "hit_ratio": accuracy.hit_ratio if accuracy else 0.0,
        "first_session": summary.first_session.isoformat() if summary and summary.first_session else None,
        "last_session": summary.last_session.isoformat() if summary and summary.last_session else None,
    }
    metrics["composite"] = composite_score(metrics, weights or CompositeWeights())
    return metrics, daily


def daily_returns(daily: list[tuple[str, int]], initial_paise: int | None = None) -> dict[date, float]:
    """Session -> return of a daily equity curve (the first session against ``initial_paise``)."""
    out: dict[date, float] = {}
    previous = initial_paise
    for day, equity in daily:
        if previous:
            out[date.fromisoformat(day)] = equity / previous - 1.0
        previous = equity
    return out


def clean_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe copy (no NaN/inf)."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out
