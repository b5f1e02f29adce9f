"""Hyperparameter tuning of the LightGBM teacher with Optuna (spec §16.2, "Hyperparameter Tuning").

The same machinery as strategy optimisation: an Optuna study with a seeded TPE sampler
(never a hand-written search), whose first trial is the default parameter set (the baseline
every tuned set must beat). Each trial is scored by purged time-series cross-validation on the
training rows only: ``sklearn.model_selection.TimeSeriesSplit`` cuts them chronologically, and
every training row whose label exit reaches its validation fold's first bar is dropped, as
``LabeledDataset.chronological_split`` does for the held-out test set. The score is the mean
multiclass log-loss over the folds (lower is better). The held-out test rows are never seen.

Deterministic: the sampler is seeded, LightGBM runs single-threaded with fixed seeds, and
trials run one after another, so the same rows and seed give the same best parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
from sklearn.metrics import log_loss
from sklearn.model_selection import TimeSeriesSplit

from adapters.ml.models import N_CLASSES
from adapters.ml.training import DEFAULT_TEACHER_PARAMS, train_teacher

#: The searched teacher parameters: (low, high, log scale) for floats, (low, high) for ints.
TEACHER_SPACE: dict[str, tuple] = {
    "learning_rate": (0.01, 0.2, True),
    "num_leaves": (4, 63),
    "min_data_in_leaf": (10, 200),
    "feature_fraction": (0.5, 1.0, False),
    "bagging_fraction": (0.5, 1.0, False),
    "lambda_l2": (1e-3, 10.0, True),
    "num_boost_round": (50, 400),
}
METRIC = "cv_multiclass_log_loss"


@attrs.frozen(kw_only=True)
class TuningResult:
    """The chosen parameters and what the search saw (stored in the teacher's metadata)."""

    best_params: dict[str, Any]
    best_score: float
    baseline_score: float
    trials: int
    folds: int
    seed: int
    history: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"metric": METRIC, "trials": self.trials, "folds": self.folds, "seed": self.seed,
                "baseline_score": round(self.baseline_score, 6), "best_score": round(self.best_score, 6),
                "improvement": round(self.baseline_score - self.best_score, 6), "best_params": self.best_params,
                "space": {k: list(v) for k, v in TEACHER_SPACE.items()}, "history": list(self.history)}


def purged_folds(start_ns: np.ndarray, exit_ns: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Chronological (train, validation) index pairs; train rows whose label exits at or after
    the validation fold's first bar are purged. Rows must be sorted by signal time."""
    out = []
    for train_idx, val_idx in TimeSeriesSplit(n_splits=folds).split(start_ns):
        first_val = int(start_ns[val_idx[0]])
        kept = train_idx[exit_ns[train_idx] < first_val]
        if len(kept) >= 10:  # TimeSeriesSplit never gives an empty validation fold
            out.append((kept, val_idx))
    return out


def tune_teacher(X: np.ndarray, y: np.ndarray, feature_names: Sequence[str], start_ns: np.ndarray,
                 exit_ns: np.ndarray, *, seed: int, trials: int, folds: int = 4,
                 progress: Any = None) -> TuningResult:
    """Search the teacher's LightGBM parameters; ``progress(done, total)`` after each trial."""
    import optuna

    if trials < 1:
        raise ValueError(f"tuning needs at least 1 trial, got {trials}")
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if np.any(np.diff(np.asarray(start_ns)) < 0):
        raise ValueError("tuning rows must be sorted by signal time (LabeledDataset.sorted_by_time)")
    splits = purged_folds(np.asarray(start_ns), np.asarray(exit_ns), folds)
    if len(splits) < 2:
        raise ValueError(f"only {len(splits)} usable cross-validation folds in {len(y)} rows; "
                         "use fewer --cv-folds or more data")
    labels = list(range(N_CLASSES))

    def score(params: dict[str, Any]) -> float:
        losses = []
        for train_idx, val_idx in splits:
            model = train_teacher(X[train_idx], y[train_idx], feature_names, seed=seed, params=params)
            losses.append(log_loss(y[val_idx], model.predict_proba(X[val_idx]), labels=labels))
        return float(np.mean(losses))

    def objective(trial: "optuna.Trial") -> float:
        params: dict[str, Any] = {}
        for name, bounds in TEACHER_SPACE.items():
            if len(bounds) == 3:
                params[name] = trial.suggest_float(name, bounds[0], bounds[1], log=bounds[2])
            else:
                params[name] = trial.suggest_int(name, bounds[0], bounds[1])
        value = score(params)
        if progress is not None:
            progress(trial.number + 1, trials)
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({k: DEFAULT_TEACHER_PARAMS[k] for k in TEACHER_SPACE})  # trial 0: the defaults
    study.optimize(objective, n_trials=trials)
    finished = [t for t in study.trials if t.value is not None and math.isfinite(t.value)]
    best = min(finished, key=lambda t: (t.value, t.number))
    history = tuple({"trial": t.number, "score": round(float(t.value), 6), "params": dict(t.params)}
                    for t in finished)
    return TuningResult(best_params=dict(best.params), best_score=float(best.value),
                        baseline_score=float(finished[0].value), trials=len(finished), folds=len(splits),
                        seed=seed, history=history)


def feature_importance(model: Any) -> dict[str, float]:
    """Each feature's share of the booster's total split gain (sums to 1; empty for a linear model).
    Unordered: the registry stores metadata with sorted keys; readers rank by value."""
    booster = getattr(model, "booster", None)
    if booster is None:
        return {}
    gain = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
    total = float(gain.sum())
    names = list(model.feature_names)
    if total <= 0:
        return {name: 0.0 for name in names}
    return {name: round(float(g) / total, 6) for name, g in zip(names, gain)}


__all__ = ["METRIC", "TEACHER_SPACE", "TuningResult", "feature_importance", "purged_folds", "tune_teacher"]
