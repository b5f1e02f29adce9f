"""What a model sees: scale-free features derived from a strategy's own feature columns.

The trading engine hands a ``Predictor`` exactly ``FeatureBook.features_at(i)`` — the
strategy's indicator columns at the bar that just closed, rounded to 6 decimals. A model
therefore must be defined over those columns, and it must work across symbols whose
prices differ a hundredfold. A ``FeatureRecipe`` turns the raw columns into model
inputs: oscillators and returns pass through; price levels (SMA, EMA, VWAP) become their
distance from a reference level (the slowest moving average); ATR becomes a share of it.

The same recipe runs vectorised over a whole book (training) and on one dict (live and
backtest scoring), on the same rounded values, so training and scoring see the same
numbers. Recipes serialise to JSON and are stored with the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from core.features import ATR, EMA, RSI, SMA, VWAP, FeatureBook, IndicatorSpec, RollingReturn, RollingVolatility

IDENTITY = "identity"
RELATIVE = "relative"  # numerator / denominator - 1
RATIO = "ratio"  # numerator / denominator
_OPS = (IDENTITY, RELATIVE, RATIO)

#: Decimals the engine keeps in ``FeatureBook.features_at`` (training rounds the same way).
ROUND_DECIMALS = 6


@attrs.frozen(kw_only=True)
class DerivedFeature:
    """One model input: ``op`` applied to raw column ``source`` (and ``reference``)."""

    name: str
    op: str = attrs.field(validator=attrs.validators.in_(_OPS))
    source: str
    reference: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.op != IDENTITY and self.reference is None:
            raise ValueError(f"derived feature {self.name!r} ({self.op}) needs a reference column")

    def apply(self, source: Any, reference: Any) -> Any:
        if self.op == IDENTITY:
            return source
        if self.op == RELATIVE:
            return source / reference - 1.0
        return source / reference


@attrs.frozen(kw_only=True)
class FeatureRecipe:
    """Raw columns (by name) -> model inputs. ``feature_names`` is the model's column order."""

    derived: tuple[DerivedFeature, ...]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.derived)

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """Raw book columns the recipe reads."""
        out: list[str] = []
        for d in self.derived:
            for col in (d.source, d.reference):
                if col is not None and col not in out:
                    out.append(col)
        return tuple(out)

    def columns(self, raw: Mapping[str, Sequence[float] | np.ndarray]) -> dict[str, np.ndarray]:
        """Model columns from raw columns (rounded like the engine rounds them)."""
        missing = [c for c in self.raw_columns if c not in raw]
        if missing:
            raise KeyError(f"feature columns {missing} are missing; the book has {sorted(raw)}")
        values = {c: np.round(np.asarray(raw[c], dtype=np.float64), ROUND_DECIMALS) for c in self.raw_columns}
        out = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for d in self.derived:
                out[d.name] = d.apply(values[d.source], values[d.reference] if d.reference else None)
        return out

    def book_columns(self, book: FeatureBook) -> dict[str, np.ndarray]:
        """Model columns of a whole ``FeatureBook`` (value at ``i`` from bars ``<= i``)."""
        return self.columns(book.features)

    def row(self, raw: Mapping[str, float]) -> dict[str, float]:
        """Model inputs from one ``features_at(i)`` dict; NaN where a raw value is absent."""
        out: dict[str, float] = {}
        nan = float("nan")
        for d in self.derived:
            src = raw.get(d.source, nan)
            ref = raw.get(d.reference, nan) if d.reference else None
            try:
                out[d.name] = float(d.apply(float(src), None if ref is None else float(ref)))
            except ZeroDivisionError:
                out[d.name] = nan
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"derived": [attrs.asdict(d) for d in self.derived]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FeatureRecipe":
        return cls(derived=tuple(DerivedFeature(**x) for x in d["derived"]))


def _level_window(spec: IndicatorSpec) -> int | None:
    if isinstance(spec, SMA):
        return spec.window
    if isinstance(spec, EMA):
        return spec.span
    return None


def recipe_from_specs(specs: Sequence[IndicatorSpec] | Mapping[str, IndicatorSpec]) -> FeatureRecipe:
    """The default recipe over a strategy's indicator specs.

    The reference level is the moving average with the longest window; every other
    price level becomes ``level/reference - 1`` and ATR ``atr/reference``. RSI, rolling
    returns and volatility pass through. Without a moving average, price levels and ATR
    are left out (they are not comparable across symbols).
    """
    spec_list = list(specs.values()) if isinstance(specs, Mapping) else list(specs)
    levels = [(w, s) for s in spec_list if (w := _level_window(s)) is not None]
    reference = max(levels, key=lambda ws: ws[0])[1].name if levels else None
    derived: list[DerivedFeature] = []
    for spec in spec_list:
        name = spec.name
        if isinstance(spec, (RSI, RollingReturn, RollingVolatility)):
            derived.append(DerivedFeature(name=name, op=IDENTITY, source=name))
        elif isinstance(spec, (SMA, EMA, VWAP)) and reference is not None and name != reference:
            derived.append(DerivedFeature(name=f"{name}_vs_{reference}", op=RELATIVE, source=name,
                                          reference=reference))
        elif isinstance(spec, ATR) and reference is not None:
            derived.append(DerivedFeature(name=f"{name}_over_{reference}", op=RATIO, source=name,
                                          reference=reference))
    if not derived:
        raise ValueError(f"none of the specs {[s.name for s in spec_list]} gives a scale-free model feature")
    return FeatureRecipe(derived=tuple(derived))


#: Indicators a stand-alone model sees by default (any interval).
DEFAULT_MODEL_SPECS: tuple[IndicatorSpec, ...] = (
    SMA(5), SMA(20), SMA(50), EMA(10), VWAP(), RSI(14), ATR(14),
    RollingReturn(1), RollingReturn(5), RollingReturn(20), RollingVolatility(20),
)
