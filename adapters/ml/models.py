"""Trained models as plain data: a LightGBM booster (text format) or a linear model (JSON).

Both expose ``predict_proba(X) -> (n, 3)`` over ``CLASS_ORDER`` (LONG, SHORT, NOOP),
whatever subset of classes the training data held, and serialise to bytes that the
registry hashes. Nothing is pickled.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
import lightgbm as lgb
import numpy as np

from core.learning.labels import CLASS_ORDER

N_CLASSES = len(CLASS_ORDER)

LIGHTGBM = "lightgbm"
LOGISTIC = "logistic"
SGD = "sgd"


def lightgbm_feature_names(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Names as LightGBM stores them (it refuses JSON punctuation; we keep [A-Za-z0-9_])."""
    return tuple(re.sub(r"[^A-Za-z0-9_]", "_", n) for n in names)


@attrs.define(kw_only=True, eq=False)
class LightGbmModel:
    """A multiclass LightGBM booster over ``CLASS_ORDER``."""

    booster: lgb.Booster
    feature_names: tuple[str, ...]
    algorithm: str = LIGHTGBM
    file_name: str = "model.txt"

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64).reshape(-1, len(self.feature_names))
        return np.asarray(self.booster.predict(X, num_threads=1), dtype=np.float64).reshape(-1, N_CLASSES)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature SHAP contributions, ``(n, classes, features + 1)`` (last column: bias)."""
        X = np.asarray(X, dtype=np.float64).reshape(-1, len(self.feature_names))
        raw = np.asarray(self.booster.predict(X, pred_contrib=True, num_threads=1), dtype=np.float64)
        return raw.reshape(X.shape[0], N_CLASSES, len(self.feature_names) + 1)

    def to_bytes(self) -> bytes:
        return self.booster.model_to_string(num_iteration=-1).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, feature_names: tuple[str, ...]) -> "LightGbmModel":
        booster = lgb.Booster(model_str=data.decode("utf-8"))
        if tuple(booster.feature_name()) != lightgbm_feature_names(feature_names):
            raise ValueError(f"booster features {booster.feature_name()} differ from metadata {list(feature_names)}")
        return cls(booster=booster, feature_names=tuple(feature_names))


@attrs.define(kw_only=True, eq=False)
class LinearModel:
    """Standardise, then a linear score per class (missing inputs count as the training mean).

    ``link`` is ``softmax`` (multinomial logistic), ``ovr`` (one-vs-rest sigmoids,
    normalised) or ``binary`` (one score for ``classes[1]`` against ``classes[0]``).
    ``classes`` are class codes into ``CLASS_ORDER``; absent classes get probability 0.
    """

    feature_names: tuple[str, ...]
    classes: tuple[int, ...]
    coef: np.ndarray
    intercept: np.ndarray
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    link: str
    algorithm: str = LOGISTIC
    file_name: str = "model.json"

    def standardise(self, X: np.ndarray) -> np.ndarray:
        """Scaled inputs; a missing (NaN) value is imputed with the training mean (0 after scaling)."""
        X = np.asarray(X, dtype=np.float64).reshape(-1, len(self.feature_names))
        Z = (X - self.scaler_mean) / self.scaler_scale
        return np.where(np.isfinite(Z), Z, 0.0)

    def decision(self, X: np.ndarray) -> np.ndarray:
        return self.standardise(X) @ self.coef.T + self.intercept

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        scores = self.decision(X)
        if self.link == "binary":
            p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            present = np.column_stack([1.0 - p1, p1])
        elif self.link == "softmax":
            shifted = scores - scores.max(axis=1, keepdims=True)
            e = np.exp(shifted)
            present = e / e.sum(axis=1, keepdims=True)
        elif self.link == "ovr":
            s = 1.0 / (1.0 + np.exp(-scores))
            total = s.sum(axis=1, keepdims=True)
            present = np.divide(s, total, out=np.full_like(s, 1.0 / s.shape[1]), where=total > 0)
        else:
            raise ValueError(f"unknown link {self.link!r}")
        out = np.zeros((present.shape[0], N_CLASSES))
        out[:, list(self.classes)] = present
        return out

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature share of each class score, ``(n, classes, features + 1)`` (last: intercept)."""
        Z = self.standardise(X)
        n, k = Z.shape
        out = np.zeros((n, N_CLASSES, k + 1))
        if self.link == "binary":
            out[:, self.classes[1], :k] = Z * self.coef[0]
            out[:, self.classes[1], k] = self.intercept[0]
            return out
        for row, cls_code in enumerate(self.classes):
            out[:, cls_code, :k] = Z * self.coef[row]
            out[:, cls_code, k] = self.intercept[row]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"format": "sensequant-linear", "format_version": 1, "algorithm": self.algorithm,
                "link": self.link, "feature_names": list(self.feature_names),
                "classes": [CLASS_ORDER[c] for c in self.classes],
                "coef": self.coef.tolist(), "intercept": self.intercept.tolist(),
                "scaler": {"mean": self.scaler_mean.tolist(), "scale": self.scaler_scale.tolist()}}

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, feature_names: tuple[str, ...]) -> "LinearModel":
        d = json.loads(data.decode("utf-8"))
        if d.get("format") != "sensequant-linear" or d.get("format_version") != 1:
            raise ValueError(f"not a sensequant linear model (format={d.get('format')!r})")
        names = tuple(d["feature_names"])
        if names != tuple(feature_names):
            raise ValueError(f"model features {list(names)} differ from metadata {list(feature_names)}")
        k = len(names)
        coef = np.asarray(d["coef"], dtype=np.float64).reshape(-1, k)
        intercept = np.asarray(d["intercept"], dtype=np.float64).reshape(-1)
        return cls(feature_names=names, classes=tuple(CLASS_ORDER.index(c) for c in d["classes"]),
                   coef=coef, intercept=intercept,
                   scaler_mean=np.asarray(d["scaler"]["mean"], dtype=np.float64).reshape(k),
                   scaler_scale=np.asarray(d["scaler"]["scale"], dtype=np.float64).reshape(k),
                   link=d["link"], algorithm=d["algorithm"])


TrainedModel = LightGbmModel | LinearModel


def model_from_bytes(algorithm: str, data: bytes, feature_names: tuple[str, ...]) -> TrainedModel:
    """Rebuild a model from its stored bytes (already hash-verified by the caller)."""
    if algorithm == LIGHTGBM:
        return LightGbmModel.from_bytes(data, feature_names)
    if algorithm in (LOGISTIC, SGD):
        return LinearModel.from_bytes(data, feature_names)
    raise ValueError(f"unknown model algorithm {algorithm!r}")
