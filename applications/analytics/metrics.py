"""Accuracy and performance metrics: pure functions over lists, arrays and DataFrames.

Definitions (every figure here is reproduced by an independent hand computation in
``tests/unit/analytics``):

Every figure is defined once in ``core.accuracy`` (pure numpy); this module applies those
definitions to trace frames. scikit-learn and scipy are test oracles only (scipy also
runs the Welch t-test).

Classification (``zero_division=0``, labels in the order LONG, SHORT, NOOP)
    ``precision``/``recall``/``f1_score``/``support`` per direction, ``accuracy``; the
    ``confusion_matrix`` has one row per *actual* direction and one column per *predicted*
    direction (``confusion_matrix[i][j]`` = traces actually ``i`` that were predicted ``j``).

Financial, over per-trade returns ``r = realized_return_pct / 100`` in entry order
    - ``hit_ratio``: share of trades where the price moved the predicted way at all
      (LONG and exit > entry, SHORT and exit < entry), from the trace's entry and exit
      prices — unlike ``accuracy`` it ignores the NOOP band, unlike ``win_rate`` it ignores
      costs; without prices, the share whose actual direction (LONG/SHORT) was predicted;
    - ``win_rate``: share of trades with ``r > 0``;
    - ``avg_return``: mean of ``realized_return_pct`` (percent);
    - ``sharpe_ratio``: ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)`` (0 when
      fewer than two trades or no dispersion); ``periods_per_year`` defaults to 252;
    - ``sortino_ratio``: ``mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(periods_per_year)``
      (target return 0; 0 when there is no losing trade);
    - ``max_drawdown``: the deepest fall of the compounded equity curve
      ``E_0 = 1, E_k = prod(1 + r_i)`` below its running peak, as a negative fraction
      (``-0.12`` = 12 % below the peak; 0 when it never fell);
    - ``profit_factor``: sum of winning returns / |sum of losing returns|; ``None`` when
      there is no losing trade (undefined, never ``inf``/``NaN``);
    - ``avg_holding_minutes``: mean holding period.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
import numpy as np
import pandas as pd

from core import accuracy

DIRECTIONS = accuracy.DIRECTIONS
PERIODS_PER_YEAR = accuracy.PERIODS_PER_YEAR


# ------------------------------------------------------------------ classification


@attrs.frozen(kw_only=True)
class ClassificationMetrics:
    """Per-direction precision/recall/F1, the 3x3 confusion matrix and accuracy."""

    precision: dict[str, float]
    recall: dict[str, float]
    f1_score: dict[str, float]
    support: dict[str, int]
    confusion_matrix: list[list[int]]
    accuracy: float
    labels: tuple[str, ...] = DIRECTIONS


def classification_metrics(predicted: Sequence[str] | np.ndarray, actual: Sequence[str] | np.ndarray,
                           labels: Sequence[str] = DIRECTIONS) -> ClassificationMetrics:
    """Classification metrics of ``predicted`` against ``actual`` directions (``core.accuracy``)."""
    c = accuracy.classify(actual, predicted, labels)
    return ClassificationMetrics(precision=c.precision, recall=c.recall, f1_score=c.f1_score, support=c.support,
                                 confusion_matrix=c.confusion_matrix, accuracy=c.accuracy, labels=c.labels)


# ----------------------------------------------------------------------- financial


# One definition of each figure, in ``core.accuracy``; these names are kept for callers.
win_rate = accuracy.win_rate
sharpe_ratio = accuracy.sharpe_ratio
sortino_ratio = accuracy.sortino_ratio
profit_factor = accuracy.profit_factor
hit_ratio = accuracy.hit_ratio


def equity_curve(returns: Sequence[float] | np.ndarray) -> np.ndarray:
    """Compounded equity after each return, starting from 1 (the start is not included)."""
    return np.cumprod(1.0 + np.asarray(returns, dtype=float))


def drawdown_curve(equity: Sequence[float] | np.ndarray, start: float | None = 1.0) -> np.ndarray:
    """Fraction below the running peak after each point (<= 0). ``start`` seeds the peak."""
    e = np.asarray(equity, dtype=float)
    if e.size == 0 or start is None:
        return accuracy.drawdown_curve(e)
    return accuracy.drawdown_curve(np.concatenate([[float(start)], e]))[1:]


def max_drawdown(returns: Sequence[float] | np.ndarray) -> float:
    """Deepest drawdown of the compounded curve of ``returns`` (negative fraction, or 0)."""
    r = np.asarray(returns, dtype=float)
    return accuracy.max_drawdown(np.concatenate([[1.0], equity_curve(r)])) if r.size else 0.0


def max_drawdown_of_values(values: Sequence[float] | np.ndarray) -> tuple[float, int]:
    """Deepest drawdown of a value series (negative fraction) and its longest duration
    under water, in points (sessions for a daily series)."""
    return accuracy.max_drawdown(values), accuracy.max_drawdown_duration(values)


@attrs.frozen(kw_only=True)
class FinancialMetrics:
    """Trade-level financial figures (see the module docstring for the definitions)."""

    total_trades: int
    hit_ratio: float
    win_rate: float
    avg_return: float
    total_return: float
    sharpe_ratio: float
    sortino_ratio: float
    max_drawdown: float
    profit_factor: float | None
    avg_holding_minutes: float
    best_return: float
    worst_return: float


def financial_metrics(returns_pct: Sequence[float] | np.ndarray, holding_minutes: Sequence[float] | np.ndarray,
                      predicted: Sequence[str] | np.ndarray | None = None,
                      actual: Sequence[str] | np.ndarray | None = None,
                      periods_per_year: float = PERIODS_PER_YEAR,
                      entry_price: Sequence[float] | np.ndarray | None = None,
                      exit_price: Sequence[float] | np.ndarray | None = None) -> FinancialMetrics:
    """Financial figures of per-trade returns given in percent (in trade order)."""
    pct = np.asarray(returns_pct, dtype=float)
    r = pct / 100.0
    hold = np.asarray(holding_minutes, dtype=float)
    n = int(pct.size)
    hit = 0.0
    if predicted is not None and entry_price is not None and exit_price is not None and n:
        hit = hit_ratio(predicted, entry_price, exit_price)
    elif predicted is not None and actual is not None and n:
        pred = np.asarray(predicted, dtype=object)
        act = np.asarray(actual, dtype=object)
        hit = float(np.mean((pred == act) & (act != "NOOP")))
    return FinancialMetrics(
        total_trades=n, hit_ratio=hit, win_rate=win_rate(r), avg_return=float(pct.mean()) if n else 0.0,
        total_return=float(equity_curve(r)[-1] - 1.0) if n else 0.0,
        sharpe_ratio=sharpe_ratio(r, periods_per_year), sortino_ratio=sortino_ratio(r, periods_per_year),
        max_drawdown=max_drawdown(r), profit_factor=profit_factor(r),
        avg_holding_minutes=float(hold.mean()) if hold.size else 0.0,
        best_return=float(pct.max()) if n else 0.0, worst_return=float(pct.min()) if n else 0.0)


# ------------------------------------------------------------------------ combined


@attrs.frozen(kw_only=True)
class AccuracyMetrics:
    """Classification + financial metrics of a set of prediction traces."""

    total_trades: int
    precision: dict[str, float]
    recall: dict[str, float]
    f1_score: dict[str, float]
    support: dict[str, int]
    confusion_matrix: list[list[int]]
    accuracy: float
    hit_ratio: float
    win_rate: float
    avg_return: float
    total_return: float
    sharpe_ratio: float
    sortino_ratio: float
    max_drawdown: float
    profit_factor: float | None
    avg_holding_minutes: float
    best_return: float
    worst_return: float
    labels: tuple[str, ...] = DIRECTIONS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no NaN, no inf)."""
        return json_safe(attrs.asdict(self))


def compute_metrics(traces: pd.DataFrame, periods_per_year: float = PERIODS_PER_YEAR) -> AccuracyMetrics:
    """All metrics of a traces frame (columns of ``projections.TRACE_COLUMNS``), in entry order."""
    if len(traces) and "timestamp" in traces and not traces["timestamp"].is_monotonic_increasing:
        traces = traces.sort_values("timestamp", kind="stable")
    pred = traces["predicted_direction"].to_numpy(dtype=object)
    act = traces["actual_direction"].to_numpy(dtype=object)
    cls = classification_metrics(pred, act)
    prices = {"entry_price": traces["entry_price"].to_numpy(dtype=float),
              "exit_price": traces["exit_price"].to_numpy(dtype=float)} \
        if "entry_price" in traces and "exit_price" in traces else {}
    fin = financial_metrics(traces["realized_return_pct"].to_numpy(dtype=float),
                            traces["holding_period_minutes"].to_numpy(dtype=float), pred, act, periods_per_year,
                            **prices)
    return AccuracyMetrics(
        total_trades=fin.total_trades, precision=cls.precision, recall=cls.recall, f1_score=cls.f1_score,
        support=cls.support, confusion_matrix=cls.confusion_matrix, accuracy=cls.accuracy,
        hit_ratio=fin.hit_ratio, win_rate=fin.win_rate, avg_return=fin.avg_return, total_return=fin.total_return,
        sharpe_ratio=fin.sharpe_ratio, sortino_ratio=fin.sortino_ratio, max_drawdown=fin.max_drawdown,
        profit_factor=fin.profit_factor, avg_holding_minutes=fin.avg_holding_minutes,
        best_return=fin.best_return, worst_return=fin.worst_return)


def metrics_by_strategy(traces: pd.DataFrame, periods_per_year: float = PERIODS_PER_YEAR
                        ) -> dict[str, AccuracyMetrics]:
    """``compute_metrics`` for each strategy present in ``traces``."""
    return {str(name): compute_metrics(group, periods_per_year)
            for name, group in traces.groupby("strategy", sort=True)}


def metrics_by_symbol(traces: pd.DataFrame, periods_per_year: float = PERIODS_PER_YEAR
                      ) -> dict[str, AccuracyMetrics]:
    """``compute_metrics`` for each symbol present in ``traces``."""
    return {str(name): compute_metrics(group, periods_per_year)
            for name, group in traces.groupby("symbol", sort=True)}


# --------------------------------------------------------------------- comparative


@attrs.frozen(kw_only=True)
class CompositeWeights:
    """Weights of the composite score; the spec's 40 % Sharpe, 30 % precision, 30 % win rate."""

    sharpe: float = 0.4
    precision: float = 0.3
    win_rate: float = 0.3
    precision_label: str = "LONG"


def composite_score(metrics: AccuracyMetrics, weights: CompositeWeights = CompositeWeights()) -> float:
    """``w_s * Sharpe + w_p * precision[label] + w_w * win_rate``."""
    return (weights.sharpe * metrics.sharpe_ratio
            + weights.precision * metrics.precision.get(weights.precision_label, 0.0)
            + weights.win_rate * metrics.win_rate)


@attrs.frozen(kw_only=True)
class WelchTest:
    """Welch's unequal-variance t-test of the two strategies' per-trade returns."""

    t_statistic: float | None
    p_value: float | None
    significant: bool
    alpha: float = 0.05


def welch_t_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, alpha: float = 0.05) -> WelchTest:
    """Welch t-test (scipy); ``None`` statistics when either side has fewer than two values
    or both have no variance."""
    from scipy import stats

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.size < 2 or y.size < 2 or (np.var(x) == 0 and np.var(y) == 0):
        return WelchTest(t_statistic=None, p_value=None, significant=False, alpha=alpha)
    res = stats.ttest_ind(x, y, equal_var=False)
    t, p = float(res.statistic), float(res.pvalue)
    if not (math.isfinite(t) and math.isfinite(p)):
        return WelchTest(t_statistic=None, p_value=None, significant=False, alpha=alpha)
    return WelchTest(t_statistic=t, p_value=p, significant=p < alpha, alpha=alpha)


@attrs.frozen(kw_only=True)
class Comparison:
    """Intraday vs swing: each side's metrics, deltas (intraday minus swing), composite
    scores, the verdict and the t-test."""

    intraday: AccuracyMetrics | None
    swing: AccuracyMetrics | None
    intraday_trades: int
    swing_trades: int
    deltas: dict[str, float]
    intraday_score: float | None
    swing_score: float | None
    better_strategy: str | None
    t_test: WelchTest
    weights: CompositeWeights

    def to_dict(self) -> dict[str, Any]:
        comparison = {
            **{f"{k}_delta": v for k, v in self.deltas.items()},
            "intraday_score": self.intraday_score, "swing_score": self.swing_score,
            "better_strategy": self.better_strategy, "intraday_trades": self.intraday_trades,
            "swing_trades": self.swing_trades, "t_statistic": self.t_test.t_statistic,
            "p_value": self.t_test.p_value, "statistical_significance": self.t_test.significant,
            "alpha": self.t_test.alpha, "weights": attrs.asdict(self.weights),
        }
        return json_safe({
            "intraday": self.intraday.to_dict() if self.intraday else None,
            "swing": self.swing.to_dict() if self.swing else None,
            "comparison": comparison,
        })


_DELTA_FIELDS = ("sharpe_ratio", "win_rate", "avg_return", "hit_ratio", "accuracy", "max_drawdown",
                 "sortino_ratio", "avg_holding_minutes")


def compare_strategies(traces: pd.DataFrame, weights: CompositeWeights = CompositeWeights(),
                       alpha: float = 0.05, periods_per_year: float = PERIODS_PER_YEAR,
                       tie_tolerance: float = 1e-12) -> Comparison:
    """Compare the intraday and swing traces in ``traces``.

    ``better_strategy`` is the one with the higher composite score, ``"tie"`` when equal,
    the only one present when one side has no trace, ``None`` when neither has.
    """
    sides: dict[str, AccuracyMetrics | None] = {}
    returns: dict[str, np.ndarray] = {}
    for name in ("intraday", "swing"):
        group = traces[traces["strategy"] == name]
        sides[name] = compute_metrics(group, periods_per_year) if len(group) else None
        returns[name] = group["realized_return_pct"].to_numpy(dtype=float)
    intra, swing = sides["intraday"], sides["swing"]
    deltas: dict[str, float] = {}
    if intra and swing:
        label = weights.precision_label
        deltas["precision"] = intra.precision.get(label, 0.0) - swing.precision.get(label, 0.0)
        deltas["recall"] = intra.recall.get(label, 0.0) - swing.recall.get(label, 0.0)
        deltas["f1"] = intra.f1_score.get(label, 0.0) - swing.f1_score.get(label, 0.0)
        for field in _DELTA_FIELDS:
            key = field.replace("_ratio", "") if field in ("sharpe_ratio", "sortino_ratio") else field
            deltas[key] = getattr(intra, field) - getattr(swing, field)
    i_score = composite_score(intra, weights) if intra else None
    s_score = composite_score(swing, weights) if swing else None
    if i_score is None and s_score is None:
        better = None
    elif s_score is None:
        better = "intraday"
    elif i_score is None:
        better = "swing"
    elif abs(i_score - s_score) <= tie_tolerance:
        better = "tie"
    else:
        better = "intraday" if i_score > s_score else "swing"
    return Comparison(intraday=intra, swing=swing, intraday_trades=intra.total_trades if intra else 0,
                      swing_trades=swing.total_trades if swing else 0, deltas=deltas,
                      intraday_score=i_score, swing_score=s_score, better_strategy=better,
                      t_test=welch_t_test(returns["intraday"], returns["swing"], alpha), weights=weights)


# ------------------------------------------------------------- rolling / degradation


def rolling_vs_alltime(traces: pd.DataFrame, window: int = 100, periods_per_year: float = PERIODS_PER_YEAR
                       ) -> tuple[AccuracyMetrics, AccuracyMetrics]:
    """Metrics of the last ``window`` traces (by entry time) and of all of them."""
    if window < 1:
        raise ValueError(f"window must be at least 1 trade, got {window}")
    ordered = traces.sort_values("timestamp", kind="stable") if len(traces) else traces
    return compute_metrics(ordered.tail(window), periods_per_year), compute_metrics(ordered, periods_per_year)


@attrs.frozen(kw_only=True)
class DegradationThresholds:
    """Drops (all-time minus rolling) beyond which an alert is raised.

    Precision and win rate are fractions (0.10 = 10 percentage points); Sharpe is in
    Sharpe units.
    """

    precision_drop: float = 0.10
    win_rate_drop: float = 0.10
    sharpe_drop: float = 0.50
    precision_label: str = "LONG"


@attrs.frozen(kw_only=True)
class DegradationAlert:
    metric: str
    rolling: float
    alltime: float
    drop: float
    threshold: float
    message: str


def detect_degradation(rolling: AccuracyMetrics, alltime: AccuracyMetrics,
                       thresholds: DegradationThresholds = DegradationThresholds()) -> list[DegradationAlert]:
    """Alerts for every metric whose rolling value fell more than its threshold below all-time."""
    label = thresholds.precision_label
    checks = [
        (f"precision_{label}", rolling.precision.get(label, 0.0), alltime.precision.get(label, 0.0),
         thresholds.precision_drop, True),
        ("win_rate", rolling.win_rate, alltime.win_rate, thresholds.win_rate_drop, True),
        ("sharpe_ratio", rolling.sharpe_ratio, alltime.sharpe_ratio, thresholds.sharpe_drop, False),
    ]
    alerts = []
    for name, now, ref, limit, is_share in checks:
        drop = ref - now
        if drop > limit + 1e-12:
            if is_share:
                msg = (f"{name} degraded: {now:.1%} over the last trades vs {ref:.1%} all-time "
                       f"(-{drop * 100:.1f} points, threshold {limit * 100:.1f})")
            else:
                msg = (f"{name} degraded: {now:.2f} over the last trades vs {ref:.2f} all-time "
                       f"(-{drop:.2f}, threshold {limit:.2f})")
            alerts.append(DegradationAlert(metric=name, rolling=now, alltime=ref, drop=drop, threshold=limit,
                                           message=msg))
    return alerts


@attrs.frozen(kw_only=True)
class LiveStatus:
    is_live: bool
    last_update: datetime | None
    age_minutes: float | None


def detect_live(traces: pd.DataFrame, now: datetime, threshold_minutes: float = 30.0) -> LiveStatus:
    """Live mode when the latest trace is younger than ``threshold_minutes`` at ``now``.

    A trace's time is when it was recorded (``traced_at``) when known, else its entry
    ``timestamp`` plus its holding period (its exit).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not len(traces):
        return LiveStatus(is_live=False, last_update=None, age_minutes=None)
    if "traced_at" in traces and traces["traced_at"].notna().any():
        stamps = pd.to_datetime(traces["traced_at"], utc=True)
    else:
        stamps = pd.to_datetime(traces["timestamp"], utc=True) + pd.to_timedelta(
            traces["holding_period_minutes"], unit="m")
    last = stamps.max().to_pydatetime()
    age = (now - last) / timedelta(minutes=1)
    return LiveStatus(is_live=0 <= age < threshold_minutes, last_update=last, age_minutes=float(age))


# ------------------------------------------------------------------------- helpers


def json_safe(value: Any) -> Any:
    """Replace NaN/inf by ``None`` and numpy scalars/tuples by JSON types, recursively."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, (timedelta, pd.Timedelta)):
        return value.total_seconds()
    return value
