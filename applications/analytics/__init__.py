"""Accuracy analytics and run reports, computed from the event log.

A shared package (not a composition root): the ``report`` command, the ``runs export``
command, the dashboard and the notebook import it. Layout:

- ``projections`` — events of one or several runs -> DataFrames (traces, trades, daily
  portfolio per strategy book, signals, fills, ...) and trace filters;
- ``metrics`` — pure metric functions (classification, financial, comparative,
  rolling/degradation, live detection) over plain arrays and DataFrames;
- ``exports`` — prediction-trace CSV(.gz) with rotation and ``load_traces``, the per-run
  JSON bundle (with validation), the trades Parquet table, ``worst_trades`` and the
  attribution of the worst trades to their dominant model features;
- ``report`` — ``accuracy_metrics.json`` content and the PNG plots.
"""

from applications.analytics.metrics import (
    AccuracyMetrics,
    Comparison,
    CompositeWeights,
    DegradationThresholds,
    classification_metrics,
    compare_strategies,
    compute_metrics,
    detect_degradation,
    detect_live,
    financial_metrics,
    metrics_by_strategy,
    rolling_vs_alltime,
)
from applications.analytics.projections import (
    RunData,
    filter_trades,
    filter_traces,
    load_run,
    load_runs,
    project_events,
)

__all__ = [
    "AccuracyMetrics", "Comparison", "CompositeWeights", "DegradationThresholds", "RunData",
    "classification_metrics", "compare_strategies", "compute_metrics", "detect_degradation", "detect_live",
    "filter_trades", "filter_traces", "financial_metrics", "load_run", "load_runs", "metrics_by_strategy",
    "project_events", "rolling_vs_alltime",
]
