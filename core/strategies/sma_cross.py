"""The reference strategy: long-only fast/slow SMA crossover.

Crossing semantics are backtesting.py's ``crossover(a, b)``: ``a[-2] < b[-2] and
a[-1] > b[-1]`` (strict on both bars, so touching without crossing, or a tie on the
previous bar, is not a cross). LONG on fast-crosses-above-slow, FLAT on
fast-crosses-below-slow. No stops. ``quantity`` is the fixed order size.

Exactness: the comparison is made in integer arithmetic, never on float means. The
book carries ``psum_<n>``, the rolling sum of closes in integer paise
(``round(close*100)``, exact); ``fast_mean > slow_mean`` is decided as
``fast_sum * slow_n > slow_sum * fast_n`` on Python ints. Two SMAs that are equal on
paper therefore compare equal (a float mean can make ``10.1+10.2+10.3`` differ from
``30.6``), so ties are handled exactly and results do not depend on summation order.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
import numpy as np

from core.features.indicators import SMA, BarColumns, IndicatorSpec, RollingPaiseSum
from core.model import Direction, StrategyKind
from core.strategies.base import PositionView, Signal
from core.strategies.gate import component_scores
from core.strategies.rules import signal_context

if TYPE_CHECKING:
    from core.features.book import FeatureBook
    from ports.predictor import Prediction


@attrs.frozen
class SmaRelation:
    """Column ``smarel_<fast>_<slow>``: sign of SMA_fast - SMA_slow (-1, 0, +1), NaN in warm-up.

    Decided on the exact paise sums (``fast_sum * slow_n`` vs ``slow_sum * fast_n`` in
    integers), once per bar, so ``decide`` only compares two stored signs.
    """

    fast: int
    slow: int

    @property
    def name(self) -> str:
        return f"smarel_{self.fast}_{self.slow}"

    def batch(self, cols: BarColumns) -> np.ndarray:
        n = cols.close.shape[0]
        out = np.full(n, np.nan)
        if n < self.slow:
            return out
        paise = np.rint(cols.close * 100.0).astype(np.int64)
        csum = np.concatenate(([0], np.cumsum(paise)))
        end = np.arange(self.slow, n + 1)
        fast_sum = csum[end] - csum[end - self.fast]
        slow_sum = csum[end] - csum[end - self.slow]
        out[self.slow - 1:] = np.sign(fast_sum * self.slow - slow_sum * self.fast).astype(np.float64)
        return out

    def incremental(self) -> "_SmaRelationUpdater":
        return _SmaRelationUpdater(self)


class _SmaRelationUpdater:
    __slots__ = ("fast", "slow", "fast_sum", "slow_sum")

    def __init__(self, spec: SmaRelation) -> None:
        self.fast, self.slow = spec.fast, spec.slow
        self.fast_sum = RollingPaiseSum(spec.fast).incremental()
        self.slow_sum = RollingPaiseSum(spec.slow).incremental()

    def update(self, open: float, high: float, low: float, close: float, volume: float, session: int) -> float:
        fs = self.fast_sum.update(open, high, low, close, volume, session)
        ss = self.slow_sum.update(open, high, low, close, volume, session)
        if fs != fs or ss != ss:
            return math.nan
        lhs, rhs = int(fs) * self.slow, int(ss) * self.fast
        return float((lhs > rhs) - (lhs < rhs))


class SmaCrossStrategy:
    """Long-only SMA(fast) / SMA(slow) crossover with a fixed quantity."""

    def __init__(self, fast: int = 10, slow: int = 30, quantity: int = 100,
                 kind: StrategyKind = StrategyKind.SWING, name: str = "sma_cross") -> None:
        if not (isinstance(fast, int) and isinstance(slow, int) and 1 <= fast < slow):
            raise ValueError(f"SmaCrossStrategy needs integer windows 1 <= fast < slow, got fast={fast!r}, slow={slow!r}")
        if not (isinstance(quantity, int) and quantity > 0):
            raise ValueError(f"SmaCrossStrategy.quantity must be a positive integer, got {quantity!r}")
        self.fast = fast
        self.slow = slow
        self.quantity = quantity
        self.kind = kind
        self.name = name
        self._relation = SmaRelation(fast, slow)
        self._relation_name = self._relation.name

    def feature_spec(self) -> dict[str, IndicatorSpec]:
        # The SMAs are recorded with each decision; the decision itself reads only the
        # exact relation column.
        specs = (SMA(self.fast), SMA(self.slow), self._relation)
        return {s.name: s for s in specs}

    def relation(self, book: "FeatureBook", i: int) -> int | None:
        """Sign of ``SMA_fast - SMA_slow`` at bar ``i`` in exact arithmetic (None in warm-up)."""
        value = book.features[self._relation_name][i]
        return None if value != value else int(value)

    def decision_bars(self, book: "FeatureBook") -> np.ndarray:
        """Bars where ``decide`` can return a signal, whatever the position: the crossings.

        The same comparisons as ``decide`` (NaN compares false), over the whole column at
        once; the engine steps in Python only on these bars while nothing else is working.
        """
        relation = np.frombuffer(book.features[self._relation_name], dtype=np.float64)
        out = np.zeros(relation.shape[0], dtype=bool)
        if relation.shape[0] > 1:
            before, now = relation[:-1], relation[1:]
            out[1:] = ((before < 0) & (0 < now)) | ((before > 0) & (0 > now))
        return out

    def decide(self, book: "FeatureBook", i: int, position: PositionView, sentiment: float | None,
               prediction: "Prediction | None" = None) -> Signal | None:
        if i < 1:
            return None
        relation = book.features[self._relation_name]
        before = relation[i - 1]
        now = relation[i]
        if before < 0 < now:
            if position.direction is Direction.LONG:
                return None
            direction, reason, technical = Direction.LONG, "sma_cross_up", 1.0
        elif before > 0 > now:
            if position.is_flat:
                return None
            direction, reason, technical = Direction.FLAT, "sma_cross_down", -1.0
        else:
            return None
        return Signal(direction=direction, confidence=1.0, reason=reason, features=book.features_at(i),
                      signals=component_scores(technical, sentiment, prediction, None),
                      context=signal_context(book, i, position, quantity=self.quantity))

