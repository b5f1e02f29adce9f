"""The optimisation study: Optuna samples, Dask runs the trials, the event log records them.

Optuna's study lives in the same database as the event log (its RDB storage opened on the
same URL), so ``--resume`` continues an interrupted study and drivers on several machines can
join one study. The driver runs ``study.optimize`` with one thread per Dask worker thread;
each Optuna trial submits one backtest to the cluster and waits for it, so sampling, pruning
of invalid combinations and the grid's bookkeeping stay Optuna's, and the backtests run
wherever Dask places them. A task whose worker dies is re-run by the scheduler; a trial whose
every attempt failed is marked failed (Optuna state FAIL, ``TrialCompleted`` with
``state="failed"``) and the study goes on.

Trial 0 is the baseline: the configuration as it is, enqueued before any sampled trial.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import numpy as np
import optuna

from applications.services.optimization.objective import Objective
from applications.services.optimization.space import SearchSpace
from applications.services.optimization.trials import (
    TrialOutcome,
    TrialTask,
    clean_metrics,
    daily_returns,
    execute_trial,
)
from core.errors import ConfigError, SenseQuantError
from core.events.base import NewEvent
from core.events.optimization import TrialCompleted
from core.research import deflated_sharpe_ratio, probability_of_backtest_overfitting
from core.research.overfitting import sharpe_per_period
from ports.event_store import EventStore

SAMPLERS = ("grid", "random", "tpe", "nsga2")
Progress = Callable[[int, int, float | None], None]
TrialFunction = Callable[[TrialTask], TrialOutcome]


class TrialFailed(SenseQuantError):
    """Every attempt of a trial's backtest failed (recorded; the study continues)."""


@attrs.frozen(kw_only=True)
class StudySettings:
    name: str
    book: str
    layers: list[dict[str, Any]]
    db_url: str
    sampler: str = "tpe"
    trials: int = 50
    seed: int = 42
    retries: int = 1
    window: int = 0
    start: str | None = None
    end: str | None = None


@attrs.frozen(kw_only=True)
class TrialRecord:
    number: int
    state: str
    params: dict[str, Any]
    values: list[float]
    metrics: dict[str, Any]
    feasible: bool
    baseline: bool
    run_id: str
    seconds: float
    message: str = ""


@attrs.frozen(kw_only=True)
class StudyOutcome:
    name: str
    objective: Objective
    sampler: str
    trials: list[TrialRecord]          # ranked: feasible first, then by objective (best first)
    best: list[int]                    # best trial (single objective) or the Pareto front
    baseline: TrialRecord | None
    deflated_sharpe: float | None
    pbo: float | None
    seconds: float
    returns: dict[int, dict[str, float]] = attrs.Factory(dict)   # trial -> session ISO -> return

    @property
    def completed(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.state == "complete"]

    @property
    def best_trial(self) -> TrialRecord | None:
        return next((t for t in self.trials if t.number in self.best), None)


def make_sampler(name: str, space: SearchSpace, objective: Objective, seed: int) -> optuna.samplers.BaseSampler:
    """Optuna's samplers; TPE and NSGA-II read the constraints each trial sets (``set_constraint``)."""
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        with warnings.catch_warnings():  # multivariate/group are stable in practice, flagged experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ConfigError(f"sampler {name!r} is unknown; use one of {', '.join(SAMPLERS)}")


def open_study(settings: StudySettings, space: SearchSpace, objective: Objective, storage: Any, *,
               resume: bool) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress bar and events report trials
    sampler = make_sampler(settings.sampler, space, objective, settings.seed)
    directions = ["maximize"] * len(objective.metrics)
    if resume:
        try:
            study = optuna.load_study(study_name=settings.name, storage=storage, sampler=sampler)
        except KeyError:
            raise ConfigError(f"no study {settings.name!r} in this database to resume; "
                              "drop --resume to start it") from None
        if list(study.directions) != [optuna.study.StudyDirection.MAXIMIZE] * len(directions):
            raise ConfigError(f"study {settings.name!r} has {len(study.directions)} objective(s); "
                              f"resume it with the same --objective")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # a dead driver's trials: failed, then retried
        return study
    try:
        study = optuna.create_study(study_name=settings.name, storage=storage, sampler=sampler,
                                    directions=directions)
    except optuna.exceptions.DuplicatedStudyError:
        raise ConfigError(f"study {settings.name!r} already exists in this database; pass --resume to "
                          "continue it or --study NAME for a new one") from None
    study.set_user_attr("book", settings.book)
    study.set_user_attr("objectives", list(objective.metrics))
    study.set_user_attr("sampler", settings.sampler)
    return study


class _Recorder:
    """Appends TrialCompleted events; one stream per trial, so concurrent drivers never race."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._lock = threading.Lock()

    def record(self, settings: StudySettings, event: TrialCompleted) -> None:
        stream = f"optimization:{settings.name}:{event.trial}"
        event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"sensequant:{stream}")
        # A research fact, not a market fact: stamped with the time the trial ended (like model training).
        new = NewEvent(event=event, occurred_at=datetime.now(UTC), event_id=event_id)
        with self._lock:
            self.store.append(stream, 0, [new], run_id=event.run_id or f"study:{settings.name}")


def run_study(settings: StudySettings, space: SearchSpace, objective: Objective, *, storage: Any, client: Any,
              store: EventStore, baseline_params: dict[str, Any], resume: bool = False,
              progress: Progress | None = None, trial_function: TrialFunction = execute_trial,
              concurrency: int | None = None) -> StudyOutcome:
    """Run (or resume) the study until ``settings.trials`` trials are complete or pruned."""
    t0 = time.perf_counter()
    study = open_study(settings, space, objective, storage, resume=resume)
    if not study.trials:
        study.enqueue_trial(baseline_params, user_attrs={"baseline": True})
    recorder = _Recorder(store)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished))
    target = settings.trials
    if settings.sampler == "grid":
        target = min(target, space.grid_size() + 1)   # + the baseline
    remaining = max(target - done, 0)
    workers = concurrency or max(sum(client.nthreads().values()), 1)

    def objective_fn(trial: optuna.Trial) -> Any:
        baseline = bool(trial.user_attrs.get("baseline", False))
        params = space.suggest(trial)
        task = TrialTask(study=settings.name, trial=trial.number, book=settings.book, layers=settings.layers,
                         params=params, db_url=settings.db_url, weights=objective.weights,
                         window=settings.window, start=settings.start, end=settings.end)
        started = time.perf_counter()
        try:
            future = client.submit(trial_function, task, pure=False, retries=settings.retries,
                                   key=f"trial-{settings.name}-{trial.number}-{uuid.uuid4().hex[:8]}")
            outcome: TrialOutcome = future.result()
        except Exception as exc:  # the backtest raised on every attempt, or its workers died
            message = f"{type(exc).__name__}: {exc}"
            recorder.record(settings, TrialCompleted(
                study=settings.name, trial=trial.number, run_id="", state="failed", params=params,
                objectives=list(objective.metrics), values=[], metrics={}, feasible=False, baseline=baseline,
                window=settings.window, message=message[:500], seconds=time.perf_counter() - started))
            trial.set_user_attr("message", message[:500])
            raise TrialFailed(message) from exc
        if outcome.state == "pruned":
            recorder.record(settings, TrialCompleted(
                study=settings.name, trial=trial.number, run_id="", state="pruned", params=params,
                objectives=list(objective.metrics), values=[], metrics={}, feasible=False, baseline=baseline,
                window=settings.window, message=outcome.message[:500], seconds=outcome.seconds))
            trial.set_user_attr("message", outcome.message[:500])
            raise optuna.TrialPruned(outcome.message)
        values = objective.values(outcome.metrics)
        violations = objective.constraints.violations(outcome.metrics)
        feasible = all(v <= 0 for v in violations)
        # One attribute write for the whole result: each write is a database commit.
        trial.set_user_attr("result", {"run_id": outcome.run_id, "metrics": clean_metrics(outcome.metrics),
                                       "seconds": outcome.seconds, "feasible": feasible,
                                       "daily_equity": outcome.daily_equity})
        for key, violation in zip(("min_trades", "max_drawdown_pct"), violations):
            trial.set_constraint(key, violation)
        recorder.record(settings, TrialCompleted(
            study=settings.name, trial=trial.number, run_id=outcome.run_id, state="complete", params=params,
            objectives=list(objective.metrics), values=[_finite(v) for v in values],
            metrics=clean_metrics(outcome.metrics), feasible=feasible, baseline=baseline, window=settings.window,
            message="", seconds=outcome.seconds))
        return values if objective.multi else values[0]

    state = {"done": done}
    lock = threading.Lock()

    def on_trial(study_: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        with lock:
            state["done"] += 1 if _trial.state in finished else 0
            if progress is not None:
                progress(state["done"], target, _best_value(study_, objective))

    if progress is not None:
        progress(done, target, _best_value(study, objective))
    if remaining:
        _serialize_ask(study)
        study.optimize(objective_fn, n_trials=remaining, n_jobs=workers, catch=(TrialFailed,),
                       callbacks=[on_trial], gc_after_trial=False)
    return summarize_study(study, settings, objective, seconds=time.perf_counter() - t0)


def _serialize_ask(study: optuna.Study) -> None:
    """Make this driver's threads take trials one at a time.

    Popping an enqueued trial (the baseline, a retry) relies on ``SELECT ... FOR UPDATE``, which
    SQLite lacks: two threads could both take the same waiting trial and one of them then fails
    with "Cannot tell a COMPLETE trial". Drivers on other machines share PostgreSQL, where the
    row lock does this job.
    """
    ask = study.ask
    lock = threading.Lock()

    def locked_ask(*args: Any, **kwargs: Any) -> optuna.Trial:
        with lock:
            return ask(*args, **kwargs)

    study.ask = locked_ask  # type: ignore[method-assign]


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -1e308


def _best_value(study: optuna.Study, objective: Objective) -> float | None:
    complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if t.user_attrs.get("result", {}).get("feasible", True)]
    if not complete:
        return None
    return max(t.values[0] for t in complete)


def _record_of(t: optuna.trial.FrozenTrial) -> TrialRecord:
    state = {optuna.trial.TrialState.COMPLETE: "complete", optuna.trial.TrialState.PRUNED: "pruned",
             optuna.trial.TrialState.FAIL: "failed"}.get(t.state, t.state.name.lower())
    result = t.user_attrs.get("result", {})
    return TrialRecord(number=t.number, state=state, params=dict(t.params), values=list(t.values or []),
                       metrics=dict(result.get("metrics", {})), feasible=bool(result.get("feasible", False)),
                       baseline=bool(t.user_attrs.get("baseline", False)), run_id=result.get("run_id", ""),
                       seconds=float(result.get("seconds", 0.0)), message=t.user_attrs.get("message", ""))


def _pareto(records: list[TrialRecord]) -> list[int]:
    front = []
    for a in records:
        dominated = any(all(x >= y for x, y in zip(b.values, a.values)) and any(x > y for x, y in zip(b.values, a.values))
                        for b in records if b is not a)
        if not dominated:
            front.append(a.number)
    return front


def rank_trials(records: list[TrialRecord]) -> list[TrialRecord]:
    """Feasible complete trials first, best objective first; ties broken by the parameters (so the
    ranking does not depend on which worker finished first); then the rest."""
    state_order = {"complete": 0, "pruned": 1, "failed": 2}
    return sorted(records, key=lambda r: (state_order.get(r.state, 3), not r.feasible,
                                          [-v for v in r.values] if r.values else [0.0],
                                          json.dumps(r.params, sort_keys=True, default=str), r.number))


def summarize_study(study: optuna.Study, settings: StudySettings, objective: Objective, *,
                    seconds: float = 0.0) -> StudyOutcome:
    frozen = study.get_trials(deepcopy=False)
    records = rank_trials([_record_of(t) for t in frozen])
    complete = [r for r in records if r.state == "complete"]
    feasible = [r for r in complete if r.feasible] or complete
    if objective.multi:
        best = _pareto(feasible)
    else:
        best = [feasible[0].number] if feasible else []
    baseline = next((r for r in records if r.baseline), None)
    returns = {t.number: {d.isoformat(): r for d, r in
                          daily_returns(t.user_attrs.get("result", {}).get("daily_equity", [])).items()}
               for t in frozen if t.state == optuna.trial.TrialState.COMPLETE}
    dsr, pbo = overfitting_of(returns, best[0] if best else None)
    return StudyOutcome(name=settings.name, objective=objective, sampler=settings.sampler, trials=records, best=best,
                        baseline=baseline, deflated_sharpe=dsr, pbo=pbo, seconds=seconds, returns=returns)


def returns_matrix(returns: dict[int, dict[str, float]]) -> tuple[list[int], np.ndarray]:
    """Trials (columns) x sessions (rows); a session a trial did not trade counts as a 0 return."""
    trials = sorted(returns)
    sessions = sorted({s for r in returns.values() for s in r})
    matrix = np.array([[returns[t].get(s, 0.0) for t in trials] for s in sessions], dtype=float)
    return trials, matrix.reshape(len(sessions), len(trials))


def overfitting_of(returns: dict[int, dict[str, float]], best: int | None, blocks: int = 8
                   ) -> tuple[float | None, float | None]:
    """The best trial's Deflated Sharpe Ratio and the study's PBO (None where undefined)."""
    if best is None or best not in returns or len(returns) < 2:
        return None, None
    trials, matrix = returns_matrix(returns)
    if matrix.shape[0] < 2 * blocks:
        return None, None
    sharpes = [sharpe_per_period(matrix[:, j]) for j in range(matrix.shape[1])]
    dsr = deflated_sharpe_ratio(matrix[:, trials.index(best)], sharpes)
    pbo = probability_of_backtest_overfitting(matrix, blocks=blocks).pbo
    return (None if math.isnan(dsr) else dsr), pbo
