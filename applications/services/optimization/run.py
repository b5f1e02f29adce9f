"""The optimise use case: space + objective + config layers -> study (or walk-forward) -> artifacts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs

from applications.analytics.projections import IST
from applications.services.books import BacktestConfig, plan_books
from applications.services.optimization.artifacts import write_artifacts
from applications.services.optimization.objective import Objective
from applications.services.optimization.space import SearchSpace, apply_params
from applications.services.optimization.study import (
    SAMPLERS,
    StudyOutcome,
    StudySettings,
    TrialFunction,
    run_study,
)
from applications.services.optimization.trials import execute_trial
from applications.services.optimization.walkforward import walk_forward_optimize
from applications.wiring.adapters import default_feed
from applications.wiring.config import build_config
from core.errors import ConfigError

BOOKS = ("intraday", "swing")


@attrs.frozen(kw_only=True)
class OptimizeRequest:
    book: str
    space: SearchSpace
    objective: Objective
    layers: list[dict[str, Any]]
    study: str
    sampler: str | None = None
    trials: int | None = None
    seed: int = 42
    resume: bool = False
    walk_forward: tuple[int, int] | None = None
    out: Path | None = None


@attrs.frozen(kw_only=True)
class OptimizeResult:
    outcome: StudyOutcome
    walk_forward: dict[str, Any] | None
    artifacts: dict[str, Path]
    settings: StudySettings


def baseline_config(book: str, layers: list[dict[str, Any]]) -> BacktestConfig:
    return build_config(BacktestConfig, *layers, {"strategy": book}, source="optimisation base configuration")


def book_span(config: BacktestConfig) -> tuple[date, date]:
    plans = plan_books(config, default_feed(config))
    series = [s for p in plans for s in p.series]
    first = min(int(s.start_ns[0]) for s in series)
    last = max(int(s.start_ns[-1]) for s in series)

    def session(ns: int) -> date:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC).astimezone(IST).date()

    return session(first), session(last)


def default_sampler(request: OptimizeRequest) -> str:
    chosen = request.sampler or request.space.study.get("sampler")
    if chosen is None:
        chosen = "nsga2" if request.objective.multi else "tpe"
    if chosen not in SAMPLERS:
        raise ConfigError(f"sampler {chosen!r} is unknown; use one of {', '.join(SAMPLERS)}")
    return chosen


def optimize(request: OptimizeRequest, *, db_url: str, store: Any, storage: Any, client: Any,
             progress: Callable[[str, int, int, float | None], None] | None = None,
             trial_function: TrialFunction = execute_trial) -> OptimizeResult:
    if request.book not in BOOKS:
        raise ConfigError(f"--strategy must be one of {', '.join(BOOKS)}")
    base = baseline_config(request.book, request.layers)
    baseline_params = request.space.baseline(base)
    trials = request.trials or int(request.space.study.get("trials", 50))
    if trials < 1:
        raise ConfigError("--trials must be >= 1")
    settings = StudySettings(name=request.study, book=request.book, layers=request.layers, db_url=db_url,
                             sampler=default_sampler(request), trials=trials, seed=request.seed)
    if settings.sampler == "grid":
        request.space.grid()  # conditional parameters or float steps fail here, before any trial
    walk = None
    if request.walk_forward:
        walk = walk_forward_optimize(settings, request.space, request.objective, span=book_span(base),
                                     train_months=request.walk_forward[0], test_months=request.walk_forward[1],
                                     storage=storage, client=client, store=store, baseline_params=baseline_params,
                                     resume=request.resume, progress=progress, trial_function=trial_function)
    # The whole period's study: the configuration to deploy is chosen on all the data; the
    # walk-forward above measures how well that procedure holds out of sample.
    outcome = run_study(settings, request.space, request.objective, storage=storage, client=client, store=store,
                        baseline_params=baseline_params, resume=request.resume, trial_function=trial_function,
                        progress=(lambda d, t, b: progress("study", d, t, b)) if progress else None)
    artifacts: dict[str, Path] = {}
    if request.out is not None:
        import optuna
        study = optuna.load_study(study_name=settings.name, storage=storage)
        artifacts = write_artifacts(outcome, request.out, book=request.book, base_layer=_flat_layer(request.layers),
                                    study=study, walk_forward=walk)
    return OptimizeResult(outcome=outcome, walk_forward=walk, artifacts=artifacts, settings=settings)


def _flat_layer(layers: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = apply_params(merged, dict(_dotted(layer)))
    return merged


def _dotted(layer: dict[str, Any], prefix: str = ""):
    for key, value in layer.items():
        if isinstance(value, dict):
            yield from _dotted(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
