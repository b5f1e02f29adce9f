"""Training sets: features as they were at signal time, paired with forward labels.

Feature columns are computed causally (value at ``t`` reads bars ``<= t`` only — the
contract of ``core.features``); labels read ``t+1 .. t+h`` (``core.learning.labels``).
Rows are kept only where every feature is finite and the label exists. Splits are
chronological and purged: a training row whose label horizon ends at or after the first
test bar is dropped, so no training label peeks into the test period.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from core.features import FeatureBook, IndicatorSpec
from core.learning.features import DEFAULT_MODEL_SPECS, FeatureRecipe, recipe_from_specs
from core.learning.labels import CLASS_ORDER, UNLABELLED, LabelConfig, make_labels
from core.model import BarSeries


@attrs.frozen(kw_only=True, eq=False)
class LabeledDataset:
    """Rows of (features at signal time, label), oldest first within each symbol.

    ``X`` is float64 ``(n, k)`` with columns ``feature_names``; ``y`` holds class codes
    indexing ``CLASS_ORDER``; ``start_ns``/``exit_ns`` are the signal bar's start and the
    label's exit bar start; ``symbols`` names the instrument of each row.
    """

    feature_names: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray
    forward_return: np.ndarray
    start_ns: np.ndarray
    exit_ns: np.ndarray
    symbols: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def class_counts(self) -> dict[str, int]:
        """Rows per class."""
        return {name: int(np.count_nonzero(self.y == code)) for code, name in enumerate(CLASS_ORDER)}

    def take(self, mask_or_index: np.ndarray) -> "LabeledDataset":
        """A subset of rows (boolean mask or integer index)."""
        return LabeledDataset(feature_names=self.feature_names, X=self.X[mask_or_index], y=self.y[mask_or_index],
                              forward_return=self.forward_return[mask_or_index],
                              start_ns=self.start_ns[mask_or_index], exit_ns=self.exit_ns[mask_or_index],
                              symbols=self.symbols[mask_or_index])

    def sorted_by_time(self) -> "LabeledDataset":
        """Rows in (signal time, symbol) order — stable, so equal inputs give equal orders."""
        order = np.lexsort((self.symbols, self.start_ns))
        return self.take(order)

    def window(self) -> tuple[int, int]:
        """First and last signal-bar start (ns) in the set; ``(0, 0)`` when empty."""
        if len(self) == 0:
            return (0, 0)
        return (int(self.start_ns.min()), int(self.start_ns.max()))

    def fingerprint(self) -> str:
        """SHA-256 over feature names, values, labels, times and symbols (identifies the data)."""
        h = hashlib.sha256()
        h.update("\x1f".join(self.feature_names).encode())
        for arr in (np.ascontiguousarray(self.X, dtype=np.float64), self.y.astype(np.int64),
                    self.start_ns.astype(np.int64), self.exit_ns.astype(np.int64)):
            h.update(arr.tobytes())
        h.update("\x1f".join(str(s) for s in self.symbols).encode())
        return h.hexdigest()

    def chronological_split(self, test_fraction: float) -> tuple["LabeledDataset", "LabeledDataset"]:
        """Train on the oldest rows, test on the newest ``test_fraction`` (by signal time).

        Training rows whose label exit reaches the first test bar are purged.
        """
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
        ordered = self.sorted_by_time()
        n = len(ordered)
        if n < 2:
            raise ValueError(f"need at least 2 rows to split, have {n}")
        cut = min(max(int(round(n * (1.0 - test_fraction))), 1), n - 1)
        first_test_ns = int(ordered.start_ns[cut])
        is_test = ordered.start_ns >= first_test_ns
        is_train = (~is_test) & (ordered.exit_ns < first_test_ns)
        return ordered.take(is_train), ordered.take(is_test)

    @staticmethod
    def concat(parts: Sequence["LabeledDataset"]) -> "LabeledDataset":
        """Stack datasets with identical feature names (e.g. one per symbol)."""
        if not parts:
            raise ValueError("concat needs at least one dataset")
        names = parts[0].feature_names
        for p in parts[1:]:
            if p.feature_names != names:
                raise ValueError(f"feature names differ: {names} vs {p.feature_names}")
        return LabeledDataset(
            feature_names=names,
            X=np.vstack([p.X for p in parts]) if parts else np.empty((0, len(names))),
            y=np.concatenate([p.y for p in parts]),
            forward_return=np.concatenate([p.forward_return for p in parts]),
            start_ns=np.concatenate([p.start_ns for p in parts]),
            exit_ns=np.concatenate([p.exit_ns for p in parts]),
            symbols=np.concatenate([p.symbols for p in parts]),
        )


def build_dataset(series: BarSeries, features: Mapping[str, np.ndarray], config: LabelConfig,
                  feature_names: Sequence[str] | None = None) -> LabeledDataset:
    """Pair causal feature columns of ``series`` with forward labels.

    Parameters
    ----------
    series
        The bars the labels are computed from.
    features
        Column name -> float array aligned with ``series`` (value at ``t`` computed from
        bars ``<= t``; NaN during warm-up).
    config
        Label threshold and horizon.
    feature_names
        Column order (default: sorted names of ``features``).
    """
    names = tuple(feature_names) if feature_names is not None else tuple(sorted(features))
    n = len(series)
    if not names:
        raise ValueError("build_dataset needs at least one feature column")
    columns = []
    for name in names:
        if name not in features:
            raise KeyError(f"feature {name!r} is not among the computed columns {sorted(features)}")
        col = np.asarray(features[name], dtype=np.float64)
        if col.shape != (n,):
            raise ValueError(f"feature {name!r} has shape {col.shape}, expected ({n},) to match the bars")
        columns.append(col)
    X = np.column_stack(columns) if columns else np.empty((n, 0))
    labels = make_labels(series, config)
    keep = (labels.codes != UNLABELLED) & np.all(np.isfinite(X), axis=1)
    exit_ns = np.where(labels.exit_index >= 0, series.start_ns[np.maximum(labels.exit_index, 0)], 0)
    return LabeledDataset(
        feature_names=names, X=X[keep], y=labels.codes[keep], forward_return=labels.forward_return[keep],
        start_ns=np.asarray(series.start_ns, dtype=np.int64)[keep], exit_ns=exit_ns[keep].astype(np.int64),
        symbols=np.full(int(keep.sum()), series.symbol, dtype=object),
    )


# ------------------------------------------------------------------ features from core.features


def dataset_from_series(series: BarSeries, config: LabelConfig,
                        specs: Sequence[IndicatorSpec] | Mapping[str, IndicatorSpec] = DEFAULT_MODEL_SPECS,
                        recipe: FeatureRecipe | None = None) -> LabeledDataset:
    """Features at signal time (``core.features``, causal) plus forward labels for one symbol.

    ``recipe`` (default: ``recipe_from_specs(specs)``) turns the book's columns into the
    model's inputs exactly as a ``Predictor`` will at scoring time.
    """
    book = FeatureBook.from_series(series, specs)
    recipe = recipe if recipe is not None else recipe_from_specs(specs)
    return build_dataset(series, recipe.book_columns(book), config, feature_names=recipe.feature_names)
