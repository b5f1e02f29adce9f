"""Direction classification: confusion matrix, precision/recall/F1/support, accuracy.

Labels come in a fixed order (LONG, SHORT, NOOP by default). ``confusion[i][j]`` counts
observations actually ``labels[i]`` that were predicted ``labels[j]``. A value outside
``labels`` counts as a miss of the true label (it lowers recall) but appears in no row or
column of the matrix. A ratio with an empty denominator is 0 (scikit-learn's
``zero_division=0``).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

DIRECTIONS = ("LONG", "SHORT", "NOOP")


def _codes(values: Sequence[str] | np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Index of each value in ``labels``; ``len(labels)`` for a value outside them."""
    arr = np.asarray(values, dtype=object)
    codes = np.full(arr.shape[0], len(labels), dtype=np.int64)
    for i, label in enumerate(labels):
        codes[arr == label] = i
    return codes


def confusion_matrix(actual: Sequence[str] | np.ndarray, predicted: Sequence[str] | np.ndarray,
                     labels: Sequence[str] = DIRECTIONS) -> np.ndarray:
    """``len(labels)`` x ``len(labels)`` integer counts, rows actual, columns predicted."""
    k = len(labels)
    t, p = _codes(actual, labels), _codes(predicted, labels)
    if t.shape != p.shape:
        raise ValueError(f"actual ({t.shape[0]}) and predicted ({p.shape[0]}) differ in length")
    inside = (t < k) & (p < k)
    return np.bincount(t[inside] * k + p[inside], minlength=k * k).reshape(k, k).astype(np.int64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def precision_recall_f1_support(actual: Sequence[str] | np.ndarray, predicted: Sequence[str] | np.ndarray,
                                labels: Sequence[str] = DIRECTIONS
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-label precision = TP / predicted, recall = TP / actual, F1 = their harmonic mean
    (2TP / (predicted + actual)), support = actual count; arrays in ``labels`` order."""
    k = len(labels)
    t, p = _codes(actual, labels), _codes(predicted, labels)
    if t.shape != p.shape:
        raise ValueError(f"actual ({t.shape[0]}) and predicted ({p.shape[0]}) differ in length")
    tp = np.bincount(t[t == p], minlength=k + 1)[:k]
    n_pred = np.bincount(p, minlength=k + 1)[:k]
    n_true = np.bincount(t, minlength=k + 1)[:k]
    return _ratio(tp, n_pred), _ratio(tp, n_true), _ratio(2 * tp, n_pred + n_true), n_true.astype(np.int64)


def accuracy(actual: Sequence[str] | np.ndarray, predicted: Sequence[str] | np.ndarray) -> float:
    """Share of observations predicted exactly (0 for none)."""
    t, p = np.asarray(actual, dtype=object), np.asarray(predicted, dtype=object)
    if t.shape != p.shape:
        raise ValueError(f"actual ({t.shape[0]}) and predicted ({p.shape[0]}) differ in length")
    return float(np.mean(t == p)) if t.size else 0.0


@attrs.frozen(kw_only=True)
class Classification:
    """Every classification figure of one set of predictions, keyed by label."""

    precision: dict[str, float]
    recall: dict[str, float]
    f1_score: dict[str, float]
    support: dict[str, int]
    confusion_matrix: list[list[int]]
    accuracy: float
    labels: tuple[str, ...] = DIRECTIONS


def classify(actual: Sequence[str] | np.ndarray, predicted: Sequence[str] | np.ndarray,
             labels: Sequence[str] = DIRECTIONS) -> Classification:
    labels = tuple(labels)
    p, r, f, s = precision_recall_f1_support(actual, predicted, labels)
    return Classification(
        precision={k: float(v) for k, v in zip(labels, p)}, recall={k: float(v) for k, v in zip(labels, r)},
        f1_score={k: float(v) for k, v in zip(labels, f)}, support={k: int(v) for k, v in zip(labels, s)},
        confusion_matrix=[[int(x) for x in row] for row in confusion_matrix(actual, predicted, labels)],
        accuracy=accuracy(actual, predicted), labels=labels)
