"""Teacher (LightGBM) and student (logistic regression / SGD) training, deterministic.

The teacher learns forward-return labels from features at signal time. The student
learns from the teacher: it minimises the cross-entropy to the teacher's class
probabilities (soft targets), so it imitates the teacher's decision surface with a model
small enough to score in microseconds and to store as a few numbers of JSON.

Determinism: LightGBM runs with ``deterministic=True``, ``force_row_wise=True``, one
thread and every seed fixed; scikit-learn models get ``random_state=seed``. The same
data and seed give byte-identical model files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.preprocessing import StandardScaler

from adapters.ml.models import LIGHTGBM, LOGISTIC, SGD, N_CLASSES, LightGbmModel, LinearModel, lightgbm_feature_names
from core.learning.labels import CLASS_ORDER

DEFAULT_TEACHER_PARAMS: dict[str, Any] = {
    "objective": "multiclass",
    "num_class": N_CLASSES,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "max_depth": -1,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_boost_round": 150,
}

_FIXED_LGB = {"deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1}


def teacher_params(overrides: Mapping[str, Any] | None = None, *, seed: int) -> dict[str, Any]:
    """The full LightGBM parameter set used for a teacher (defaults < overrides < fixed determinism)."""
    params = {**DEFAULT_TEACHER_PARAMS, **dict(overrides or {})}
    params.update(_FIXED_LGB)
    params.update({"seed": seed, "bagging_seed": seed, "feature_fraction_seed": seed, "data_random_seed": seed,
                   "objective": "multiclass", "num_class": N_CLASSES})
    return params


def _check(X: np.ndarray, y: np.ndarray, feature_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        raise ValueError(f"X has shape {X.shape}; expected (rows, {len(feature_names)}) for {list(feature_names)}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    if X.shape[0] < 10:
        raise ValueError(f"only {X.shape[0]} labelled rows; need at least 10 to train")
    if not np.all(np.isfinite(X)):
        raise ValueError("X holds NaN or infinite values; drop warm-up rows before training")
    if y.min() < 0 or y.max() >= N_CLASSES:
        raise ValueError(f"labels must be class codes 0..{N_CLASSES - 1}, got range {y.min()}..{y.max()}")
    return X, y


def train_teacher(X: np.ndarray, y: np.ndarray, feature_names: Sequence[str], *, seed: int = 7,
                  params: Mapping[str, Any] | None = None) -> LightGbmModel:
    """Fit the LightGBM teacher on class codes ``y`` (indices into ``CLASS_ORDER``)."""
    X, y = _check(X, y, feature_names)
    full = teacher_params(params, seed=seed)
    rounds = int(full.pop("num_boost_round"))
    data = lgb.Dataset(X, label=y, feature_name=list(lightgbm_feature_names(list(feature_names))),
                       free_raw_data=True, params={"verbose": -1})
    booster = lgb.train(full, data, num_boost_round=rounds)
    return LightGbmModel(booster=booster, feature_names=tuple(feature_names))


def distill_targets(teacher_proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft targets as weighted rows: each sample once per class, weighted by the teacher's probability.

    Returns ``(row index, class code, weight)``. Minimising weighted log-loss over these
    rows is exactly the cross-entropy between the teacher's and the student's class
    distributions (knowledge distillation at temperature 1).
    """
    proba = np.asarray(teacher_proba, dtype=np.float64)
    n, k = proba.shape
    rows = np.tile(np.arange(n), k)
    classes = np.repeat(np.arange(k), n)
    weights = proba.T.reshape(-1)
    keep = weights > 1e-12
    return rows[keep], classes[keep].astype(np.int64), weights[keep]


#: A deliberately small booster for a LightGBM student.
STUDENT_LGB_PARAMS: dict[str, Any] = {"num_leaves": 7, "min_data_in_leaf": 100, "learning_rate": 0.05,
                                      "num_boost_round": 60, "feature_fraction": 1.0, "bagging_fraction": 1.0,
                                      "bagging_freq": 0}


def train_student(X: np.ndarray, teacher_proba: np.ndarray, feature_names: Sequence[str], *, seed: int = 7,
                  algorithm: str = LOGISTIC, C: float = 1.0, alpha: float = 1e-4) -> LinearModel | LightGbmModel:
    """Fit a student to the teacher's class probabilities (soft-target distillation).

    ``algorithm`` is ``logistic`` (multinomial, lbfgs, L2 strength ``1/C``), ``sgd``
    (log-loss SGD, one-vs-rest, L2 ``alpha``) or ``lightgbm`` (a small booster,
    ``STUDENT_LGB_PARAMS``). Linear students standardise their inputs; the scaler's mean
    and scale are part of the stored model.
    """
    X = np.asarray(X, dtype=np.float64)
    proba = np.asarray(teacher_proba, dtype=np.float64)
    if proba.shape != (X.shape[0], N_CLASSES):
        raise ValueError(f"teacher probabilities have shape {proba.shape}; expected ({X.shape[0]}, {N_CLASSES})")
    X, _ = _check(X, proba.argmax(axis=1), feature_names)
    rows, targets, weights = distill_targets(proba)
    if algorithm == LIGHTGBM:
        full = teacher_params(STUDENT_LGB_PARAMS, seed=seed)
        rounds = int(full.pop("num_boost_round"))
        data = lgb.Dataset(X[rows], label=targets, weight=weights,
                           feature_name=list(lightgbm_feature_names(list(feature_names))), params={"verbose": -1})
        return LightGbmModel(booster=lgb.train(full, data, num_boost_round=rounds), feature_names=tuple(feature_names))
    scaler = StandardScaler().fit(X)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    Z = ((X - scaler.mean_) / scale)[rows]
    classes = tuple(int(c) for c in np.unique(targets))
    if len(classes) == 1:
        raise ValueError(f"the teacher gives all its probability to class {CLASS_ORDER[classes[0]]}; "
                         "a student needs at least two classes")
    if algorithm == LOGISTIC:
        clf = LogisticRegression(C=C, max_iter=2000, random_state=seed)
        clf.fit(Z, targets, sample_weight=weights)
        link = "binary" if len(classes) == 2 else "softmax"
    elif algorithm == SGD:
        clf = SGDClassifier(loss="log_loss", alpha=alpha, max_iter=2000, tol=1e-5, random_state=seed)
        clf.fit(Z, targets, sample_weight=weights)
        link = "binary" if len(classes) == 2 else "ovr"
    else:
        raise ValueError(f"unknown student algorithm {algorithm!r}; use {LOGISTIC}, {SGD} or {LIGHTGBM}")
    return LinearModel(feature_names=tuple(feature_names), classes=tuple(int(c) for c in clf.classes_),
                       coef=np.asarray(clf.coef_, dtype=np.float64), intercept=np.asarray(clf.intercept_, dtype=np.float64),
                       scaler_mean=np.asarray(scaler.mean_, dtype=np.float64), scaler_scale=scale.astype(np.float64),
                       link=link, algorithm=algorithm)


__all__ = ["DEFAULT_TEACHER_PARAMS", "LIGHTGBM", "LOGISTIC", "SGD", "STUDENT_LGB_PARAMS", "distill_targets",
           "teacher_params",
           "train_student", "train_teacher"]
