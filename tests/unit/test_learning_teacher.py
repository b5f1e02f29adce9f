"""Teacher labels: prediction traces from the event log joined with the bars."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from core.events.catalog import PredictionTraced
from core.learning.labels import LabelClass, LabelConfig
from core.learning.teacher import strategy_kind_by_name, teacher_labels
from core.model import BarSeries, Interval, StrategyKind

IST = timezone(timedelta(hours=5, minutes=30))
DAY0 = datetime(2024, 3, 1, 9, 15, tzinfo=IST)


def bars(close: list[float], symbol: str = "RELIANCE") -> BarSeries:
    c = np.array(close, dtype=np.float64)
    start = np.array([int((DAY0 + timedelta(days=k)).timestamp()) * 10**9 for k in range(len(c))], dtype=np.int64)
    return BarSeries(symbol=symbol, interval=Interval.DAY_1, start_ns=start, open=c, high=c, low=c, close=c,
                     volume=np.full(c.shape, 1e5))


def trace(ts: datetime, *, symbol: str = "RELIANCE", strategy: str = "swing_rsi", predicted: str = "LONG",
          features: dict | None = None, context: dict | None = None) -> PredictionTraced:
    return PredictionTraced(timestamp=ts, symbol=symbol, strategy=strategy, predicted_direction=predicted,
                            actual_direction="NOOP", predicted_confidence=0.7, entry_price=100.0, exit_price=100.0,
                            holding_period_minutes=0, realized_return_pct=0.0,
                            features=features if features is not None else {"rsi_14": 30.0, "ret_5": -0.01},
                            metadata={}, signals={}, context=context or {})


CLOSES = [100, 101, 102, 103, 104, 110, 99, 98, 97, 96, 95]


def test_trace_is_labelled_from_its_signal_bar_with_the_strategy_threshold():
    series = bars(CLOSES)
    # Entry at the open of day 1 (fill after the signal on day 0's close): signal bar = day 0.
    t = trace(DAY0 + timedelta(days=1))
    out = teacher_labels([t], {"RELIANCE": series}, {StrategyKind.SWING: LabelConfig.swing(horizon=5)})
    (ex,) = out.examples
    assert ex.signal_bar_start_ns == series.start_ns[0]
    assert ex.exit_bar_start_ns == series.start_ns[5]
    assert ex.forward_return == pytest.approx(0.10)
    assert ex.label is LabelClass.LONG and ex.prediction_correct
    assert ex.features == {"rsi_14": 30.0, "ret_5": -0.01}


def test_context_bar_start_pins_the_signal_bar():
    series = bars(CLOSES)
    t = trace(DAY0 + timedelta(days=9), predicted="LONG",
              context={"bar_start": (DAY0 + timedelta(days=5)).isoformat()})
    (ex,) = teacher_labels([t], {"RELIANCE": series}, {StrategyKind.SWING: LabelConfig.swing(horizon=5)}).examples
    assert ex.signal_bar_start_ns == series.start_ns[5]
    assert ex.label is LabelClass.SHORT and not ex.prediction_correct  # 95/110 - 1


def test_untrainable_traces_are_counted_not_dropped_silently():
    series = bars(CLOSES)
    traces = [
        trace(DAY0 + timedelta(days=1)),
        trace(DAY0 + timedelta(days=1), strategy="mystery"),
        trace(DAY0 + timedelta(days=1), symbol="TCS"),
        trace(DAY0 - timedelta(days=3)),
        trace(DAY0 + timedelta(days=9)),
    ]
    out = teacher_labels(traces, {"RELIANCE": series}, {StrategyKind.SWING: LabelConfig.swing(horizon=5)})
    assert len(out.examples) == 1
    assert out.skipped == {"unknown_strategy": 1, "no_bars": 1, "before_data": 1, "horizon_beyond_data": 1}
    assert out.agreement() == 1.0


def test_intraday_traces_use_the_intraday_threshold():
    assert strategy_kind_by_name("Intraday_Momentum") is StrategyKind.INTRADAY
    assert strategy_kind_by_name("swing") is StrategyKind.SWING
    series = bars([100, 100.4, 100.4])  # +0.4%: LONG at 0.3%, NOOP at 0.5%
    cfg = {StrategyKind.INTRADAY: LabelConfig.intraday(horizon=1), StrategyKind.SWING: LabelConfig.swing(horizon=1)}
    t_i = trace(DAY0 + timedelta(hours=1), strategy="intraday")
    t_s = trace(DAY0 + timedelta(hours=1), strategy="swing")
    # daily bars: intraday horizon must end in the same session, so only swing labels here
    out = teacher_labels([t_i, t_s], {"RELIANCE": series}, cfg)
    assert [e.label for e in out.examples] == [LabelClass.NOOP]
    assert out.skipped == {"horizon_beyond_data": 1}


def test_to_dataset_uses_common_features_and_skips_incomplete_rows():
    series = bars(CLOSES)
    traces = [trace(DAY0 + timedelta(days=k), features={"a": float(k), "b": 1.0}) for k in range(1, 5)]
    traces.append(trace(DAY0 + timedelta(days=2), features={"a": float("nan"), "b": 1.0}))
    out = teacher_labels(traces, {"RELIANCE": series}, {StrategyKind.SWING: LabelConfig.swing(horizon=5)})
    ds = out.to_dataset()
    assert ds.feature_names == ("a", "b")
    assert len(ds) == 4  # the NaN row is left out
    assert ds.X[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert ds.y.tolist() == [0, 1, 1, 1]  # LONG, then SHORT (e.g. 99/101 - 1)
