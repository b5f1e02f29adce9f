"""Walk-forward validation: rolling (or expanding) train/test windows over the daily bars.

Each window trains a fresh candidate (LightGBM teacher + distilled student, through
``applications.services.learning.train_models``) on the bars of its training period only — so every
label it learns from exits before the test period starts — and registers it with role
``candidate`` and the window in its metadata. The out-of-sample test period is then
backtested twice through the same wiring as ``sensequant validate CANDIDATE``
(``applications.services.validation``: swing book, model blended into entry confidence, same bars,
costs and risk): once with the candidate, once with the current champion (the strategy
without a model when there is none). Each backtest is its own run (mode ``validation``) and
is scored from its events (LONG precision, hit ratio, Sharpe; ``validation.score_run``).

Every window is recorded as ``WalkForwardWindowScored``; the overall figures are the mean of
the windows and the pooled figures (every out-of-sample trade, LONG trace and daily return of
all windows together). The promotion gate judges the overall uplift (pooled by default) and
is recorded as ``PromotionDecided`` about the last window's candidate — the freshest model
whose training procedure the walk-forward has just tested out of sample.

The champion is the model in production when the walk-forward starts. If it was trained on
data inside a test window it has seen that period; the window rows flag this
(``champion_saw_test``), since it favours the champion.
"""

from __future__ import annotations

import calendar
import json
import math
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from adapters.ml.models import LIGHTGBM, LOGISTIC, SGD
from adapters.ml.registry import ModelRegistry
from applications.services.learning import (
    IST,
    SHIPPED_DAILY_SYMBOLS,
    ActionRun,
    LearningConfig,
    append_model_events,
    default_feed,
    load_series,
    record_decision,
    train_models,
    utc_now,
)
from applications.services.validation import (
    ModelBacktest,
    ValidationConfig,
    _backtest,
    scorecard_of,
    swing_predictor,
    window_parts,
)
from core.errors import ConfigError
from core.events.catalog import WalkForwardWindowScored
from core.learning.gate import PromotionDecision, PromotionThresholds, Scorecard, evaluate_promotion
from ports.event_store import EventStore
from ports.market_data import MarketDataFeed

Progress = Callable[[str, int, int], None]
METRICS = ("precision", "hit_ratio", "sharpe_ratio")
GATE_ON = ("pooled", "mean")


@attrs.frozen(kw_only=True)
class WalkForwardConfig:
    """Window geometry, what each window trains, how the backtests blend the model, the gate.

    ``start``/``end`` bound the bars used (YYYY-MM-DD, default: all the data of every symbol).
    ``step_months`` defaults to ``test_months`` (back-to-back test periods). ``expanding``
    keeps every training window anchored at the first bar. ``holdout_fraction`` is the tail
    of each training window the trainer holds out for its own evaluation report (the model
    still never sees the test period). With ``step_months`` shorter than ``test_months`` the
    test periods overlap, and the pooled figures count the shared sessions once per window.
    """

    train_months: int = 24
    test_months: int = 6
    step_months: int | None = None
    expanding: bool = False
    symbols: list[str] = attrs.Factory(lambda: list(SHIPPED_DAILY_SYMBOLS))
    data_dir: str = "data/market"
    start: str | None = None
    end: str | None = None
    seed: int = 7
    student: str = LIGHTGBM
    holdout_fraction: float = 0.2
    warmup_days: int = 120
    model_weight: float = 0.5
    veto_below: float | None = 0.35
    gate_on: str = "pooled"
    thresholds: PromotionThresholds = attrs.Factory(PromotionThresholds)

    def __attrs_post_init__(self) -> None:
        for name in ("train_months", "test_months"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.step_months is not None and self.step_months < 1:
            raise ConfigError(f"step-months must be at least 1, got {self.step_months}")
        if self.gate_on not in GATE_ON:
            raise ConfigError(f"gate-on {self.gate_on!r} is unknown; use {' or '.join(GATE_ON)}")
        if self.student not in (LOGISTIC, SGD, LIGHTGBM):
            raise ConfigError(f"student {self.student!r} is unknown; use {LOGISTIC}, {SGD} or {LIGHTGBM}")
        if not self.symbols:
            raise ConfigError("no symbols to walk forward on; pass --symbols")
        ValidationConfig(model_weight=self.model_weight)  # same range check as validate

    @property
    def step(self) -> int:
        return self.step_months if self.step_months is not None else self.test_months

    def to_dict(self) -> dict[str, Any]:
        d = attrs.asdict(self)
        d["step_months"] = self.step
        return d


@attrs.frozen(kw_only=True)
class Window:
    """One train/test split (IST session dates, inclusive); ``index`` counts from 1."""

    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.index, "train_start": self.train_start.isoformat(),
                "train_end": self.train_end.isoformat(), "test_start": self.test_start.isoformat(),
                "test_end": self.test_end.isoformat()}


@attrs.frozen(kw_only=True)
class WindowResult:
    window: Window
    candidate_model_id: str
    teacher_model_id: str
    champion_model_id: str | None
    train_rows: int
    train_label_end: datetime
    candidate: ModelBacktest
    champion: ModelBacktest
    champion_saw_test: bool
    training_seconds: float
    backtest_seconds: float

    def uplift(self) -> dict[str, float | None]:
        cand, champ = self.candidate.overall.scorecard, self.champion.overall.scorecard
        return {m: _clean(getattr(cand, m) - getattr(champ, m)) for m in METRICS}

    def to_dict(self) -> dict[str, Any]:
        return {**self.window.to_dict(), "train_rows": self.train_rows,
                "train_label_end": self.train_label_end.isoformat(),
                "candidate_model_id": self.candidate_model_id, "teacher_model_id": self.teacher_model_id,
                "champion_model_id": self.champion_model_id, "champion_saw_test": self.champion_saw_test,
                "candidate_run_id": self.candidate.run_id, "champion_run_id": self.champion.run_id,
                "candidate": _card(self.candidate.overall.trades, self.candidate.overall.scorecard),
                "champion": _card(self.champion.overall.trades, self.champion.overall.scorecard),
                "uplift": self.uplift(), "training_seconds": round(self.training_seconds, 3),
                "backtest_seconds": round(self.backtest_seconds, 3)}


@attrs.frozen(kw_only=True)
class Aggregate:
    """Candidate and champion figures over all windows, one way of aggregating (``mean``/``pooled``)."""

    method: str
    candidate: Scorecard
    champion: Scorecard
    candidate_trades: int
    champion_trades: int

    def uplift(self) -> dict[str, float | None]:
        return {m: _clean(getattr(self.candidate, m) - getattr(self.champion, m)) for m in METRICS}

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": _card(self.candidate_trades, self.candidate),
                "champion": _card(self.champion_trades, self.champion), "uplift": self.uplift()}


@attrs.frozen(kw_only=True)
class WalkForwardOutcome:
    run_id: str
    config: WalkForwardConfig
    windows: tuple[WindowResult, ...]
    mean: Aggregate
    pooled: Aggregate
    decision: PromotionDecision
    seconds_total: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: config, per-window rows, overall (mean and pooled), the gate checklist."""
        return json.loads(json.dumps({
            "run_id": self.run_id, "config": self.config.to_dict(),
            "windows": [w.to_dict() for w in self.windows],
            "overall": {"mean": self.mean.to_dict(), "pooled": self.pooled.to_dict(), "gate_on": self.config.gate_on},
            "verdict": self.decision.verdict, "checklist": self.decision.checklist(),
            "seconds_total": round(self.seconds_total, 3)}, default=str, allow_nan=False))

    def to_markdown(self) -> str:
        """Per-window table, overall table and the promotion checklist."""
        c = self.config
        lines = [f"# Walk-forward validation ({'expanding' if c.expanding else 'rolling'} windows)", "",
                 f"- Run: `{self.run_id}`",
                 f"- Windows: train {c.train_months} months, test {c.test_months} months, step {c.step} months",
                 f"- Symbols: {', '.join(c.symbols)}",
                 f"- Backtests: swing book, model blend weight {c.model_weight}, veto below {c.veto_below}, "
                 "no sentiment",
                 f"- Champion: `{self.windows[0].champion_model_id or 'none (the strategy without a model)'}`",
                 "", "## Windows", "",
                 "| # | Train | Test | Candidate | Trades (cand/champ) | Precision (cand/champ) "
                 "| Hit ratio (cand/champ) | Sharpe (cand/champ) |",
                 "|---:|---|---|---|---:|---:|---:|---:|"]
        for w in self.windows:
            a, b = w.candidate.overall, w.champion.overall
            flag = " ⚠ champion trained on this period" if w.champion_saw_test else ""
            lines.append(
                f"| {w.window.index} | {w.window.train_start}..{w.window.train_end} "
                f"| {w.window.test_start}..{w.window.test_end}{flag} | `{w.candidate_model_id}` "
                f"| {a.trades} / {b.trades} "
                + " ".join(f"| {_f(getattr(a.scorecard, m))} / {_f(getattr(b.scorecard, m))}" for m in METRICS)
                + " |")
        lines += ["", "## Overall", "", "| Aggregate | Model | Trades | Precision | Hit ratio | Sharpe |",
                  "|---|---|---:|---:|---:|---:|"]
        for agg in (self.mean, self.pooled):
            for who, sc, n in (("candidate", agg.candidate, agg.candidate_trades),
                               ("champion", agg.champion, agg.champion_trades)):
                lines.append(f"| {agg.method} | {who} | {n} | " + " | ".join(_f(getattr(sc, m)) for m in METRICS)
                             + " |")
            up = agg.uplift()
            lines.append(f"| {agg.method} | uplift | | " + " | ".join(_f(up[m], signed=True) for m in METRICS)
                         + " |")
        lines += ["", f"The gate judges the **{c.gate_on}** uplift.", "", "## Promotion checklist", ""]
        checklist = self.decision.to_markdown().split("\n", 1)[1]  # drop its own title
        return "\n".join(lines) + checklist


def _clean(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _card(trades: int, sc: Scorecard) -> dict[str, Any]:
    return {"trades": trades, **sc.to_dict()}


def _f(v: float | None, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:+.4f}" if signed else f"{v:.4f}"


# ------------------------------------------------------------------------------ windows


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the month's last day."""
    m = day.month - 1 + months
    year, month = day.year + m // 12, m % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def plan_windows(first: date, last: date, *, train_months: int, test_months: int, step_months: int,
                 expanding: bool = False) -> list[Window]:
    """Train/test windows over ``first..last``: each test period starts the day after its training period.

    Rolling windows slide both ends by ``step_months``; expanding windows keep ``first``.
    The last test period is cut at ``last``; a window whose test period would start after
    ``last`` is not planned.
    """
    out: list[Window] = []
    k = 0
    while True:
        shift = k * step_months
        test_start = add_months(first, train_months + shift)
        if test_start > last:
            break
        train_start = first if expanding else add_months(first, shift)
        test_end = min(add_months(first, train_months + shift + test_months) - _DAY, last)
        out.append(Window(index=k + 1, train_start=train_start, train_end=test_start - _DAY,
                          test_start=test_start, test_end=test_end))
        k += 1
    return out


_DAY = date(2000, 1, 2) - date(2000, 1, 1)


def _session(ns: int) -> date:
    return datetime.fromtimestamp(ns / 1e9, tz=IST).date()


def data_span(config: WalkForwardConfig, feed: MarketDataFeed) -> tuple[date, date]:
    """First and last session every symbol has bars for (within ``start``..``end``)."""
    series = load_series(LearningConfig(symbols=list(config.symbols), data_dir=config.data_dir, start=config.start,
                                        end=config.end), feed)
    first = max(_session(int(s.start_ns[0])) for s in series)
    last = min(_session(int(s.start_ns[-1])) for s in series)
    return first, last


# ------------------------------------------------------------------------- aggregation


def mean_aggregate(parts: Sequence[WindowResult]) -> Aggregate:
    """Each metric averaged over the windows where it is defined (NaN when it never is)."""
    def mean(cards: list[Scorecard], m: str) -> float:
        vals = [getattr(c, m) for c in cards if math.isfinite(getattr(c, m))]
        return float(np.mean(vals)) if vals else float("nan")

    cand = [w.candidate.overall.scorecard for w in parts]
    champ = [w.champion.overall.scorecard for w in parts]
    return Aggregate(method="mean", candidate=Scorecard(**{m: mean(cand, m) for m in METRICS}),
                     champion=Scorecard(**{m: mean(champ, m) for m in METRICS}),
                     candidate_trades=sum(w.candidate.overall.trades for w in parts),
                     champion_trades=sum(w.champion.overall.trades for w in parts))


def pooled_aggregate(parts: Sequence[WindowResult]) -> Aggregate:
    """Metrics over every window's out-of-sample trades, LONG traces and daily returns together."""
    def pool(backtests: list[tuple[ModelBacktest, Window]]) -> tuple[Scorecard, int]:
        pnl: list[float] = []
        longs: list[tuple[str, str]] = []
        rets: list[float] = []
        for bt, w in backtests:
            p, lg, r = window_parts(bt.data, (w.test_start, w.test_end))
            pnl += p
            longs += lg
            rets += r
        return scorecard_of(pnl, longs, rets), len(pnl)

    cand, n_cand = pool([(w.candidate, w.window) for w in parts])
    champ, n_champ = pool([(w.champion, w.window) for w in parts])
    return Aggregate(method="pooled", candidate=cand, champion=champ, candidate_trades=n_cand,
                     champion_trades=n_champ)


# ---------------------------------------------------------------------------- the run


@attrs.frozen(kw_only=True)
class WindowPlan:
    """What every window of one walk-forward shares (picklable: it travels to Dask workers)."""

    run_id: str
    total: int
    learning: LearningConfig
    validation: ValidationConfig
    config: WalkForwardConfig
    champion_id: str | None
    champion_trained: tuple[datetime, datetime] | None


def score_window(plan: WindowPlan, w: Window, *, store: EventStore, registry: ModelRegistry,
                 feed: MarketDataFeed, progress: Progress | None = None) -> WindowResult:
    """Train the window's candidate on its training months, backtest it and the champion on
    its test months, and score both (the same work in-process and on a Dask worker)."""
    step = progress or (lambda _label, _done, _total: None)
    tag, total = f"window {w.index}/{plan.total}", plan.total
    step(f"{tag}: training", w.index - 1, total)
    t0 = time.perf_counter()
    learning = attrs.evolve(plan.learning, start=w.train_start.isoformat(), end=w.train_end.isoformat())
    meta = {"walk_forward": {**w.to_dict(), "run_id": plan.run_id, "expanding": plan.config.expanding}}
    trained = train_models(learning, store=store, registry=registry, feed=feed, now=utc_now(),
                           student_role="candidate", extra=meta)
    training_seconds = time.perf_counter() - t0
    candidate = trained.student.record
    label_end = datetime.fromisoformat(candidate.extra["train_label_end"])
    if label_end.astimezone(IST).date() >= w.test_start:  # guarded by the data bounds above
        raise AssertionError(f"{tag}: a training label exits at {label_end}, inside the test period")
    t0 = time.perf_counter()
    common = dict(registry=registry, store=store, symbols=list(plan.config.symbols),
                  window=(w.test_start, w.test_end), config=plan.validation, feed=feed, folds=[])
    step(f"{tag}: backtest candidate", w.index - 1, total)
    cand = _backtest(candidate.model_id, progress=None, label=f"walk-forward {tag} candidate", **common)
    step(f"{tag}: backtest champion", w.index - 1, total)
    champ = _backtest(plan.champion_id, progress=None, label=f"walk-forward {tag} champion", **common)
    trained_on = plan.champion_trained
    saw = bool(trained_on and trained_on[0].astimezone(IST).date() <= w.test_end
               and trained_on[1].astimezone(IST).date() >= w.test_start)
    return WindowResult(window=w, candidate_model_id=candidate.model_id,
                        teacher_model_id=trained.teacher.record.model_id, champion_model_id=plan.champion_id,
                        train_rows=trained.train_rows, train_label_end=label_end, candidate=cand,
                        champion=champ, champion_saw_test=saw, training_seconds=training_seconds,
                        backtest_seconds=time.perf_counter() - t0)


def _record_window(store: EventStore, plan: WindowPlan, result: WindowResult, now: datetime) -> None:
    w, row = result.window, result.to_dict()
    append_model_events(store, [(WalkForwardWindowScored(
        walk_forward_run_id=plan.run_id, window=w.index, windows=plan.total, expanding=plan.config.expanding,
        train_start=w.train_start, train_end=w.train_end, test_start=w.test_start, test_end=w.test_end,
        train_label_end=result.train_label_end, train_rows=result.train_rows,
        candidate_model_id=result.candidate_model_id, teacher_model_id=result.teacher_model_id,
        champion_model_id=plan.champion_id, candidate_run_id=result.candidate.run_id,
        champion_run_id=result.champion.run_id, candidate=row["candidate"], champion=row["champion"],
        uplift=row["uplift"], training_seconds=row["training_seconds"],
        backtest_seconds=row["backtest_seconds"]), now)], run_id=plan.run_id)


@attrs.frozen(kw_only=True)
class WindowTask:
    """One window for a Dask worker: the plan, the window, and where the shared state lives."""

    plan: WindowPlan
    window: Window
    db_url: str
    registry_dir: str


def score_window_task(task: WindowTask) -> WindowResult:
    """Dask entry point: the worker opens the shared store and the CSV bars of ``data_dir``
    once (kept for its later windows), opens the registry, and scores the window."""
    from applications.wiring.adapters import worker_feed
    from applications.wiring.store import worker_store
    learning = task.plan.learning
    return score_window(task.plan, task.window, store=worker_store(task.db_url),
                        registry=ModelRegistry(Path(task.registry_dir)),
                        feed=worker_feed(learning.data_dir, learning.data_timezone))


def _score_windows_on_cluster(plan: WindowPlan, windows: Sequence[Window], *, client: Any, db_url: str | None,
                              registry_dir: Path, progress: Progress, retries: int = 1) -> list[WindowResult]:
    """Every window at once on the cluster (a worker that dies loses only its window, which
    is retried); results in window order, whatever order they finish in."""
    from distributed import as_completed

    if not db_url:
        raise ConfigError("walk-forward windows on a Dask cluster need the shared event store's URL")
    tasks = [WindowTask(plan=plan, window=w, db_url=db_url, registry_dir=str(Path(registry_dir).resolve()))
             for w in windows]
    futures = client.map(score_window_task, tasks, pure=False, retries=retries)
    by_index: dict[int, WindowResult] = {}
    progress(f"{len(windows)} windows on the cluster", 0, plan.total)
    for future in as_completed(futures):
        result = future.result()
        by_index[result.window.index] = result
        progress(f"window {result.window.index}/{plan.total}: scored", len(by_index), plan.total)
    return [by_index[w.index] for w in windows]


def walk_forward(config: WalkForwardConfig, *, store: EventStore, registry: ModelRegistry,
                 champion_id: str | None = None, feed: MarketDataFeed | None = None,
                 now: datetime | None = None, progress: Progress | None = None,
                 client: Any = None, db_url: str | None = None) -> WalkForwardOutcome:
    """Train, backtest candidate and champion, score every window; aggregate; decide and record.

    ``progress(label, windows_done, windows_total)`` is called as each window advances.
    The champion defaults to the production champion (none: the strategy without a model).
    With a Dask ``client`` the windows run on its workers at once (they open ``db_url``, the
    same store as ``store``, and the registry's folder; bars come from ``config.data_dir``);
    the windows' events are then recorded in window order, and every figure is the same as
    in-process.
    """
    t_start = time.perf_counter()
    now = now or utc_now()
    step = progress or (lambda _label, _done, _total: None)
    learning_template = LearningConfig(symbols=list(config.symbols), data_dir=config.data_dir, seed=config.seed,
                                       student=config.student, test_fraction=config.holdout_fraction)
    feed = feed or default_feed(learning_template)
    first, last = data_span(config, feed)
    windows = plan_windows(first, last, train_months=config.train_months, test_months=config.test_months,
                           step_months=config.step, expanding=config.expanding)
    if not windows:
        raise ConfigError(f"the data of {', '.join(config.symbols)} spans {first}..{last}, shorter than one "
                          f"{config.train_months}-month training window plus a test period; lower --train-months "
                          "or widen --start/--end")
    champion_id = champion_id or registry.champion()
    champion_id = registry.resolve(champion_id) if champion_id else None
    champion_trained = None
    if champion_id is not None:
        swing_predictor(champion_id, registry)  # refuse an unusable champion before any training
        tw = registry.get(champion_id).training_window
        champion_trained = (datetime.fromisoformat(tw["start"]), datetime.fromisoformat(tw["end"]))
    validation = ValidationConfig(folds=1, warmup_days=config.warmup_days, model_weight=config.model_weight,
                                  veto_below=config.veto_below, data_dir=config.data_dir)
    total = len(windows)
    results: list[WindowResult] = []
    run_config = {"action": "walk-forward", "champion": champion_id, "data_span": [str(first), str(last)],
                  "windows": [w.to_dict() for w in windows], "config": config.to_dict()}
    with ActionRun(store, mode="validation", config=json.loads(json.dumps(run_config, default=str)),
                   fingerprint="", at=now, symbols=list(config.symbols), seed=config.seed,
                   label="walk-forward") as run:
        plan = WindowPlan(run_id=run.run_id, total=total, learning=learning_template, validation=validation,
                          config=config, champion_id=champion_id, champion_trained=champion_trained)
        if client is None:
            for w in windows:
                results.append(score_window(plan, w, store=store, registry=registry, feed=feed, progress=step))
                _record_window(store, plan, results[-1], now)
                step(f"window {w.index}/{total}: scored", w.index, total)
        else:
            results = _score_windows_on_cluster(plan, windows, client=client, db_url=db_url,
                                                registry_dir=registry.root, progress=step)
            for result in results:
                _record_window(store, plan, result, now)
        mean, pooled = mean_aggregate(results), pooled_aggregate(results)
        gate = pooled if config.gate_on == "pooled" else mean
        decision = evaluate_promotion(
            gate.candidate, gate.champion, candidate_id=results[-1].candidate_model_id, champion_id=champion_id,
            thresholds=config.thresholds,
            context={"method": (f"walk-forward backtests ({'expanding' if config.expanding else 'rolling'} "
                                f"windows: train {config.train_months} months, test {config.test_months}, step "
                                f"{config.step}); swing book, model blend weight {config.model_weight}, veto "
                                f"below {config.veto_below}, no sentiment; {config.gate_on} uplift over "
                                f"{total} windows; champion "
                                f"{'= production model' if champion_id else '= the strategy without a model'}; "
                                "candidate = the last window's model"),
                     "walk_forward_run": run.run_id, "symbols": ",".join(config.symbols),
                     "gate_on": config.gate_on,
                     "mean_uplift": _uplift_text(mean), "pooled_uplift": _uplift_text(pooled),
                     "windows": [_context_row(r) for r in results]})
        record_decision(store, decision, run_id=run.run_id, at=now)
    return WalkForwardOutcome(run_id=run.run_id, config=config, windows=tuple(results), mean=mean, pooled=pooled,
                              decision=decision, seconds_total=time.perf_counter() - t_start)


def _uplift_text(agg: Aggregate) -> str:
    up = agg.uplift()
    return ", ".join(f"{m} {_f(up[m], signed=True)}" for m in METRICS)


def _context_row(r: WindowResult) -> dict[str, Any]:
    a, b = r.candidate.overall, r.champion.overall
    row: dict[str, Any] = {"window": r.window.index, "test": f"{r.window.test_start}..{r.window.test_end}",
                           "candidate_trades": a.trades, "champion_trades": b.trades}
    for m in METRICS:
        row[f"candidate_{m}"] = _clean(getattr(a.scorecard, m))
        row[f"champion_{m}"] = _clean(getattr(b.scorecard, m))
    return row


def write_reports(outcome: WalkForwardOutcome, out_dir: Path) -> tuple[Path, Path]:
    """``walk_forward.json`` and ``walk_forward.md`` in ``out_dir`` (written whole, then renamed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("walk_forward.json", json.dumps(outcome.to_dict(), indent=2, allow_nan=False) + "\n"),
                       ("walk_forward.md", outcome.to_markdown())):
        path = out_dir / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths[0], paths[1]
