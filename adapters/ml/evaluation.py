"""Classification report of a model on a labelled set (spec §16.6 shape)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score

from core.learning.labels import CLASS_ORDER


def _finite(value: float) -> float | None:
    return round(float(value), 6) if math.isfinite(value) else None


def evaluate_classifier(y_true: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Accuracy, per-class and macro precision/recall/F1, one-vs-rest macro AUC, confusion matrix.

    ``proba`` is ``(n, 3)`` over ``CLASS_ORDER``. AUC is averaged over the classes present
    in ``y_true`` with both outcomes (a class absent from the test set has no AUC); it is
    ``None`` when no class qualifies. The confusion matrix is rows = actual, columns =
    predicted, in ``CLASS_ORDER``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if y_true.shape[0] == 0:
        raise ValueError("cannot evaluate on an empty set")
    labels = list(range(len(CLASS_ORDER)))
    y_pred = proba.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                                     zero_division=0)
    aucs = {}
    for code, name in enumerate(CLASS_ORDER):
        positives = y_true == code
        if positives.any() and (~positives).any():
            aucs[name] = float(roc_auc_score(positives.astype(int), proba[:, code]))
    present = [c for c in labels if support[c] > 0]
    return {
        "n_samples": int(y_true.shape[0]),
        "accuracy": _finite(accuracy_score(y_true, y_pred)),
        "precision_macro": _finite(float(np.mean(precision[present]))) if present else None,
        "recall_macro": _finite(float(np.mean(recall[present]))) if present else None,
        "f1_macro": _finite(float(np.mean(f1[present]))) if present else None,
        "auc_macro": _finite(float(np.mean(list(aucs.values())))) if aucs else None,
        "auc_per_class": {k: _finite(v) for k, v in aucs.items()},
        "precision_per_class": {n: _finite(precision[i]) for i, n in enumerate(CLASS_ORDER)},
        "recall_per_class": {n: _finite(recall[i]) for i, n in enumerate(CLASS_ORDER)},
        "f1_per_class": {n: _finite(f1[i]) for i, n in enumerate(CLASS_ORDER)},
        "support_per_class": {n: int(support[i]) for i, n in enumerate(CLASS_ORDER)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "class_labels": list(CLASS_ORDER),
    }
