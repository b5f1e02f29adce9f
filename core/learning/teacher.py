"""Teacher labels from the event log: prediction traces joined with the bars.

Each ``PredictionTraced`` event records what a strategy predicted at entry, with the
feature values it saw then. The teacher re-labels every trace from the bars with the
strategy's own threshold and horizon (``LabelConfig``), independent of how the trade
happened to exit, so a stop-loss that cut a trade which later moved as predicted does
not teach the student the wrong lesson. The trace's ``features`` are used as recorded:
they are, by construction, the values at signal time.

The signal bar is the bar named in ``context["bar_start"]`` when the trace carries it,
otherwise the last bar that *started strictly before* the trace timestamp (traces are
stamped with the entry time, which is the close of the signal bar or the open of the
bar after it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import attrs
import numpy as np

from core.events.catalog import PredictionTraced
from core.learning.dataset import LabeledDataset
from core.learning.features import FeatureRecipe
from core.learning.labels import CLASS_ORDER, LabelClass, LabelConfig, classify_return, exit_indices
from core.model import BarSeries, StrategyKind, datetime_to_ns


def strategy_kind_by_name(strategy: str) -> StrategyKind | None:
    """Default mapping of a strategy name to its kind: names containing 'intraday' or 'swing'."""
    name = strategy.lower()
    if "intraday" in name:
        return StrategyKind.INTRADAY
    if "swing" in name:
        return StrategyKind.SWING
    return None


@attrs.frozen(kw_only=True)
class TeacherExample:
    """One trace with its hindsight label."""

    symbol: str
    strategy: str
    signal_time: datetime
    signal_bar_start_ns: int
    exit_bar_start_ns: int
    features: Mapping[str, float]
    predicted_direction: str
    label: LabelClass
    forward_return: float
    trace_actual_direction: str
    trace_return_pct: float

    @property
    def prediction_correct(self) -> bool:
        """Did the strategy's call match the hindsight label (FLAT counts as NOOP)?"""
        predicted = "NOOP" if self.predicted_direction in ("FLAT", "NOOP") else self.predicted_direction
        return predicted == self.label.value


@attrs.frozen(kw_only=True)
class TeacherLabels:
    """Labelled traces plus the number skipped for each reason (never silently dropped)."""

    examples: tuple[TeacherExample, ...]
    skipped: Mapping[str, int]

    def agreement(self) -> float:
        """Share of traces whose prediction matches the hindsight label (NaN if none)."""
        if not self.examples:
            return float("nan")
        return sum(e.prediction_correct for e in self.examples) / len(self.examples)

    def to_dataset(self, feature_names: Sequence[str] | None = None,
                   recipe: FeatureRecipe | None = None) -> LabeledDataset:
        """A training set from the examples' recorded features.

        With ``recipe``, the recorded raw columns become the recipe's model inputs (the
        same transformation a predictor applies). Otherwise ``feature_names`` default to
        the names present in every example (sorted). Examples missing a feature, or
        holding a non-finite value, are left out.
        """
        if recipe is not None:
            names = recipe.feature_names
        elif feature_names is None:
            common: set[str] | None = None
            for e in self.examples:
                keys = set(e.features)
                common = keys if common is None else common & keys
            names = tuple(sorted(common or ()))
        else:
            names = tuple(feature_names)
        rows, y, fwd, start, exit_, sym = [], [], [], [], [], []
        for e in self.examples:
            values = recipe.row(e.features) if recipe is not None else e.features
            try:
                row = [float(values[n]) for n in names]
            except KeyError:
                continue
            if not all(np.isfinite(row)):
                continue
            rows.append(row)
            y.append(CLASS_ORDER.index(e.label.value))
            fwd.append(e.forward_return)
            start.append(e.signal_bar_start_ns)
            exit_.append(e.exit_bar_start_ns)
            sym.append(e.symbol)
        return LabeledDataset(
            feature_names=names, X=np.array(rows, dtype=np.float64).reshape(len(rows), len(names)),
            y=np.array(y, dtype=np.int64), forward_return=np.array(fwd, dtype=np.float64),
            start_ns=np.array(start, dtype=np.int64), exit_ns=np.array(exit_, dtype=np.int64),
            symbols=np.array(sym, dtype=object))


def _signal_index(series: BarSeries, trace: PredictionTraced) -> int:
    raw = trace.context.get("bar_start") if isinstance(trace.context, Mapping) else None
    if isinstance(raw, str):
        try:
            target = datetime_to_ns(datetime.fromisoformat(raw))
        except ValueError:
            target = None
        if target is not None:
            i = int(np.searchsorted(series.start_ns, target, side="left"))
            return i if i < len(series) and int(series.start_ns[i]) == target else -1
    ts = datetime_to_ns(trace.timestamp)
    return int(np.searchsorted(series.start_ns, ts, side="left")) - 1


def teacher_labels(traces: Iterable[PredictionTraced], bars: Mapping[str, BarSeries],
                   configs: Mapping[StrategyKind, LabelConfig] | None = None,
                   kind_of: Callable[[str], StrategyKind | None] = strategy_kind_by_name) -> TeacherLabels:
    """Label every trace by what the bars did after its signal bar.

    Parameters
    ----------
    traces
        ``PredictionTraced`` events (any order).
    bars
        Symbol -> bars covering the traces and their horizons.
    configs
        Label configuration per strategy kind (default: intraday 0.3 %, swing 0.5 %).
    kind_of
        Maps a trace's strategy name to its kind; ``None`` skips the trace.

    Skip reasons: ``unknown_strategy``, ``no_bars`` (symbol absent), ``before_data``
    (signal bar not found), ``horizon_beyond_data`` (the exit bar is not in the data yet),
    ``move_beyond_cap`` (the move exceeds ``max_abs_return``, e.g. a split).
    """
    configs = dict(configs) if configs is not None else {
        StrategyKind.INTRADAY: LabelConfig.intraday(), StrategyKind.SWING: LabelConfig.swing()}
    exits_cache: dict[tuple[str, StrategyKind], np.ndarray] = {}
    examples: list[TeacherExample] = []
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    for trace in traces:
        kind = kind_of(trace.strategy)
        if kind is None or kind not in configs:
            skip("unknown_strategy")
            continue
        series = bars.get(trace.symbol)
        if series is None or len(series) == 0:
            skip("no_bars")
            continue
        i = _signal_index(series, trace)
        if i < 0:
            skip("before_data")
            continue
        config = configs[kind]
        key = (trace.symbol, kind)
        if key not in exits_cache:
            exits_cache[key] = exit_indices(series.start_ns, config)
        j = int(exits_cache[key][i])
        if j < 0:
            skip("horizon_beyond_data")
            continue
        fwd = float(series.close[j] / series.close[i] - 1.0)
        if config.max_abs_return is not None and abs(fwd) > config.max_abs_return:
            skip("move_beyond_cap")
            continue
        examples.append(TeacherExample(
            symbol=trace.symbol, strategy=trace.strategy, signal_time=trace.timestamp,
            signal_bar_start_ns=int(series.start_ns[i]), exit_bar_start_ns=int(series.start_ns[j]),
            features=dict(trace.features), predicted_direction=trace.predicted_direction,
            label=classify_return(fwd, config.threshold), forward_return=fwd,
            trace_actual_direction=trace.actual_direction, trace_return_pct=trace.realized_return_pct))
    return TeacherLabels(examples=tuple(examples), skipped=skipped)
