"""Run reports: the ``accuracy_metrics.json`` document and the PNG plots (matplotlib Agg).

``build_report`` gathers everything the ``report`` command, the dashboard and the
notebook show about a run: overall and per-strategy metrics, the intraday-vs-swing
comparison, rolling-vs-all-time degradation alerts, live-mode status, portfolio-level
figures and the attribution of the worst trades; optionally the comparison with a
second run. ``write_plots`` draws the confusion matrices, the return distribution, the
cumulative returns, the drawdown and the intraday-vs-swing overlay.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from applications.analytics.exports.bundle import (
    _combined_daily,
    initial_cash_by_book,
    portfolio_metrics,
    trading_days,
)
from applications.analytics.exports.attribution import attribute_worst_trades
from applications.analytics.exports.execution import execution_summary, execution_table
from applications.analytics.exports.trades import trades_table
from applications.analytics.metrics import (
    DIRECTIONS,
    PERIODS_PER_YEAR,
    CompositeWeights,
    DegradationThresholds,
    compare_strategies,
    compute_metrics,
    detect_degradation,
    detect_live,
    drawdown_curve,
    equity_curve,
    json_safe,
    rolling_vs_alltime,
    welch_t_test,
)
from applications.analytics.projections import RunData, filter_trades, filter_traces

REPORT_FILE = "accuracy_metrics.json"


def build_report(run: RunData, *, strategy: str = "both", symbol: str | None = None, start: Any = None,
                 end: Any = None, compare: RunData | None = None, window: int = 100,
                 thresholds: DegradationThresholds = DegradationThresholds(),
                 weights: CompositeWeights = CompositeWeights(), now: datetime | None = None,
                 live_threshold_minutes: float = 30.0, worst_n: int = 10,
                 periods_per_year: float = PERIODS_PER_YEAR) -> dict[str, Any]:
    """The report document of ``run`` (JSON-ready; NaN/inf become ``null``)."""
    traces = filter_traces(run.traces, strategy=strategy, symbol=symbol, start=start, end=end)
    overall = compute_metrics(traces, periods_per_year)
    by_strategy = {}
    rolling = {}
    for name in sorted(traces["strategy"].unique()):
        group = traces[traces["strategy"] == name]
        by_strategy[name] = compute_metrics(group, periods_per_year).to_dict()
        roll, alltime = rolling_vs_alltime(group, window, periods_per_year)
        rolling[name] = {
            "window": window, "rolling": roll.to_dict(), "alltime": alltime.to_dict(),
            "alerts": [a.message for a in detect_degradation(roll, alltime, thresholds)],
        }
    doc: dict[str, Any] = {
        "run_ids": list(run.run_ids), "mode": run.mode,
        "filters": {"strategy": strategy, "symbol": symbol, "start": str(start) if start else None,
                    "end": str(end) if end else None},
        "strategies": run.strategies, "total_traces": int(len(traces)),
        "overall": overall.to_dict(), "by_strategy": by_strategy, "rolling": rolling,
        "definitions": {
            "confusion_matrix": "rows = actual direction, columns = predicted direction, order LONG, SHORT, NOOP",
            "returns": "realized_return_pct of each prediction trace, as recorded (percent)",
            "portfolio": "daily book equity from PortfolioSnapshotted, net of costs",
            "sharpe_ratio": f"mean/std(ddof=1) of per-trade returns x sqrt({periods_per_year:g})",
            "max_drawdown": "PER-TRADE figure: of the equity curve that compounds every closed trade at full size "
                            "(one trade after another, all capital in each), negative fraction; it is not the "
                            "portfolio's drawdown, which is portfolio.<book>.max_drawdown (daily equity, positive "
                            "fraction) — both are side by side in drawdown_scopes",
            "execution": "per fill: slippage = adverse difference of the fill price to the decision price (the "
                         "close of the bar that decided), bps and rupees; fees by component as charged",
            "accuracy": "predicted direction == actual direction (actual is NOOP inside the threshold band)",
            "hit_ratio": "price moved the predicted way by any amount (entry vs exit price)",
            "win_rate": "realized_return_pct > 0",
        },
    }
    if strategy in (None, "both") and set(traces["strategy"]) >= {"intraday", "swing"}:
        doc["comparison"] = compare_strategies(traces, weights, periods_per_year=periods_per_year).to_dict()
    if now is not None:
        live = detect_live(traces, now, live_threshold_minutes)
        doc["live"] = {"is_live": live.is_live, "last_update": live.last_update, "age_minutes": live.age_minutes,
                       "threshold_minutes": live_threshold_minutes}
    doc["portfolio"] = _portfolio_section(run, strategy)
    doc["drawdown_scopes"] = _drawdown_scopes(by_strategy, doc["portfolio"])
    executions = execution_table(run)
    if strategy not in (None, "both"):
        executions = executions[executions["strategy"] == strategy]
    if symbol:
        executions = executions[executions["symbol"] == symbol]
    doc["execution"] = execution_summary(executions)
    trades = trades_table(filter_trades(run.trades, strategy=strategy, symbol=symbol, start=start, end=end))
    worst = trades.sort_values("pnl", kind="stable").head(worst_n)
    doc["worst_trades"] = [{"trade_id": r["trade_id"], "strategy": r["strategy"], "symbol": r["symbol"],
                            "direction": r["direction"], "entry": r["entry_timestamp"], "exit": r["exit_timestamp"],
                            "pnl": r["pnl"], "pnl_pct": r["pnl_pct"], "exit_reason": r["exit_reason"]}
                           for r in worst.to_dict("records")]
    doc["attribution"] = [p.to_dict() for p in attribute_worst_trades(trades, worst_n)]
    if compare is not None:
        doc["compare"] = compare_runs(run, compare, strategy=strategy, symbol=symbol, start=start, end=end,
                                      periods_per_year=periods_per_year)
    return json_safe(doc)


def _drawdown_scopes(by_strategy: dict[str, Any], portfolio: dict[str, Any]) -> dict[str, Any]:
    """Per book, the per-trade and the portfolio drawdown together, labelled, both as
    negative fractions, so that neither is read as the other."""
    out: dict[str, Any] = {}
    for run_id, books in portfolio.items():
        for book, m in books.items():
            per_trade = by_strategy.get(book, {}).get("max_drawdown")
            out[f"{run_id}:{book}" if len(portfolio) > 1 else book] = {
                "per_trade_compounded_max_drawdown": per_trade,
                "portfolio_daily_equity_max_drawdown": -m["max_drawdown"] if m.get("max_drawdown") is not None
                else None,
            }
    return out


def _portfolio_section(run: RunData, strategy: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for run_id in run.run_ids:
        days = trading_days(run, run_id)
        if not days:
            continue
        daily = _combined_daily(run, run_id, days)
        initial = initial_cash_by_book(run, run_id)
        trades = run.trades[run.trades["run_id"] == run_id]
        p = run.portfolio[run.portfolio["run_id"] == run_id]
        kinds = dict(zip(p["book"], p["strategy"]))
        books = [b for b in initial if strategy in (None, "both") or kinds.get(b) == strategy]
        section: dict[str, Any] = {}
        for book in books:
            eq = [r["books"][book]["equity"] for r in daily if book in r["books"]]
            cash = [r["books"][book]["cash"] for r in daily if book in r["books"]]
            section[book] = portfolio_metrics(eq, initial[book], trades[trades["book"] == book], cash)
        if strategy in (None, "both") and len(books) > 1:
            section["combined"] = portfolio_metrics([r["equity"] for r in daily], sum(initial.values()), trades,
                                                    [r["cash"] for r in daily])
        out[run_id] = section
    return out


def compare_runs(a: RunData, b: RunData, *, strategy: str = "both", symbol: str | None = None, start: Any = None,
                 end: Any = None, periods_per_year: float = PERIODS_PER_YEAR) -> dict[str, Any]:
    """Metrics of run ``b`` next to ``a``: deltas (a minus b) and a Welch t-test on returns."""
    ta = filter_traces(a.traces, strategy=strategy, symbol=symbol, start=start, end=end)
    tb = filter_traces(b.traces, strategy=strategy, symbol=symbol, start=start, end=end)
    ma, mb = compute_metrics(ta, periods_per_year), compute_metrics(tb, periods_per_year)
    fields = ["accuracy", "hit_ratio", "win_rate", "avg_return", "sharpe_ratio", "sortino_ratio", "max_drawdown",
              "avg_holding_minutes", "total_trades"]
    deltas = {f: getattr(ma, f) - getattr(mb, f) for f in fields}
    for label in DIRECTIONS:
        deltas[f"precision_{label}"] = ma.precision[label] - mb.precision[label]
    test = welch_t_test(ta["realized_return_pct"], tb["realized_return_pct"])
    return {"run_ids": list(b.run_ids), "metrics": mb.to_dict(), "deltas": deltas,
            "t_statistic": test.t_statistic, "p_value": test.p_value, "statistical_significance": test.significant}


def write_report_json(report: dict[str, Any], out_dir: Path | str) -> Path:
    """Write ``accuracy_metrics.json`` (strict JSON) atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_FILE
    tmp = out / f".{REPORT_FILE}.tmp"
    tmp.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _exit_times(traces: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(traces["timestamp"], utc=True) + pd.to_timedelta(traces["holding_period_minutes"], unit="m")


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], path: Path, title: str = "Confusion matrix",
                          labels: Sequence[str] = DIRECTIONS) -> Path:
    plt = _plt()
    cm = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 4.2), dpi=100)
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    top = cm.max() if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center",
                    color="white" if top and cm[i, j] > top / 2 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_return_distribution(traces: pd.DataFrame, path: Path, title: str = "Return distribution") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    groups = list(traces.groupby("strategy")) if len(traces) else []
    for name, group in groups:
        ax.hist(group["realized_return_pct"], bins=30, alpha=0.6, label=f"{name} (n={len(group)})")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("realized return per trade (%)")
    ax.set_ylabel("trades")
    ax.set_title(title)
    if groups:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _curves(traces: pd.DataFrame) -> list[tuple[str, pd.Series, np.ndarray]]:
    out = []
    for name, group in (traces.groupby("strategy") if len(traces) else []):
        order = group.assign(_exit=_exit_times(group)).sort_values("_exit", kind="stable")
        eq = equity_curve(order["realized_return_pct"].to_numpy(dtype=float) / 100.0)
        out.append((str(name), order["_exit"], eq))
    return out


def plot_cumulative_returns(traces: pd.DataFrame, path: Path, title: str = "Cumulative trade returns (each closed trade compounded at full size)") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for name, when, eq in _curves(traces):
        ax.plot(when.dt.tz_convert(None), (eq - 1.0) * 100.0, label=name, drawstyle="steps-post")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("compounded trade return (%)")
    ax.set_title(title)
    if len(traces):
        ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_drawdown(traces: pd.DataFrame, path: Path, title: str = "Drawdown") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    for name, when, eq in _curves(traces):
        ax.fill_between(when.dt.tz_convert(None), drawdown_curve(eq) * 100.0, 0, step="post", alpha=0.4, label=name)
    ax.set_ylabel("below peak (%)")
    ax.set_title(title)
    if len(traces):
        ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_strategy_overlay(traces: pd.DataFrame, path: Path) -> Path:
    """Intraday vs swing: cumulative returns by trade number (top; the books may have
    traded different periods) and return histograms (bottom)."""
    plt = _plt()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), dpi=100)
    colours = {"intraday": "tab:blue", "swing": "tab:orange"}
    for name, _when, eq in _curves(traces):
        top.plot(np.arange(eq.size + 1), np.concatenate([[0.0], (eq - 1.0) * 100.0]), label=name,
                 color=colours.get(name), drawstyle="steps-post")
    top.axhline(0, color="black", linewidth=0.8)
    top.set_xlabel("trades closed")
    top.set_ylabel("compounded trade return (%)")
    top.set_title("Intraday vs swing")
    top.legend()
    for name, group in traces.groupby("strategy"):
        bottom.hist(group["realized_return_pct"], bins=30, alpha=0.55, label=f"{name} (n={len(group)})",
                    color=colours.get(str(name)), density=True)
    bottom.set_xlabel("realized return per trade (%)")
    bottom.set_ylabel("density")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(traces: pd.DataFrame, out_dir: Path | str) -> list[Path]:
    """All report plots for ``traces`` into ``out_dir``; the overlay only when both
    strategies have traces. Returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [plot_confusion_matrix(compute_metrics(traces).confusion_matrix, out / "confusion_matrix.png",
                                   f"Confusion matrix (n={len(traces)})")]
    strategies = sorted(traces["strategy"].unique()) if len(traces) else []
    if len(strategies) > 1:
        for name in strategies:
            group = traces[traces["strategy"] == name]
            paths.append(plot_confusion_matrix(compute_metrics(group).confusion_matrix,
                                               out / f"confusion_matrix_{name}.png",
                                               f"Confusion matrix: {name} (n={len(group)})"))
    paths.append(plot_return_distribution(traces, out / "return_distribution.png"))
    paths.append(plot_cumulative_returns(traces, out / "cumulative_returns.png"))
    paths.append(plot_drawdown(traces, out / "drawdown.png"))
    if {"intraday", "swing"} <= set(strategies):
        paths.append(plot_strategy_overlay(traces, out / "strategy_comparison.png"))
    return paths


def write_report(run: RunData, out_dir: Path | str, **kwargs: Any) -> tuple[dict[str, Any], list[Path]]:
    """Build the report of ``run`` and write ``accuracy_metrics.json`` and the plots."""
    report = build_report(run, **kwargs)
    traces = filter_traces(run.traces, strategy=kwargs.get("strategy", "both"), symbol=kwargs.get("symbol"),
                           start=kwargs.get("start"), end=kwargs.get("end"))
    paths = [write_report_json(report, out_dir), *write_plots(traces, out_dir)]
    return report, paths


# ------------------------------------------------------------------ recommendations


def recommendations(traces: pd.DataFrame, window: int = 100,
                    thresholds: DegradationThresholds = DegradationThresholds()) -> list[str]:
    """Short, rule-based recommendations from the strategy comparison (for the notebook
    and the dashboard). Each is one sentence naming the figure it rests on."""
    out: list[str] = []
    present = sorted(traces["strategy"].unique()) if len(traces) else []
    if not present:
        return ["No prediction traces: run a backtest with telemetry on (`sensequant backtest`)."]
    if {"intraday", "swing"} <= set(present):
        c = compare_strategies(traces)
        p = c.t_test.p_value
        if c.better_strategy in ("intraday", "swing"):
            verdict = (f"{c.better_strategy.capitalize()} scores higher on the composite "
                       f"(40 % Sharpe, 30 % precision, 30 % win rate): {c.intraday_score:.2f} intraday vs "
                       f"{c.swing_score:.2f} swing.")
        else:
            verdict = "Both strategies score the same on the composite."
        out.append(verdict)
        if p is None:
            out.append("Too few trades on one side for a t-test; keep both running before reallocating capital.")
        elif c.t_test.significant:
            out.append(f"The difference in mean returns is significant at 5 % (Welch p = {p:.3f}); "
                       "weight capital towards the better strategy.")
        else:
            out.append(f"The difference in mean returns is not significant (Welch p = {p:.3f}); "
                       "gather more trades before moving capital between the strategies.")
    else:
        out.append(f"Only {present[0]} traded in this selection; no intraday-vs-swing comparison is possible.")
    for name in present:
        group = traces[traces["strategy"] == name]
        m = compute_metrics(group)
        label = thresholds.precision_label
        if m.support.get("NOOP", 0) / max(m.total_trades, 1) > 0.3:
            out.append(f"{name}: {m.support['NOOP'] / m.total_trades:.0%} of trades moved less than the "
                       "direction threshold, so costs decide them; require a larger expected move before entering.")
        predicted_long = sum(row[0] for row in m.confusion_matrix)
        if predicted_long and m.precision.get(label, 0.0) < 0.5:
            out.append(f"{name}: {label} precision is {m.precision[label]:.0%}; raise the entry confidence "
                       "threshold or add a trend filter.")
        if m.sharpe_ratio < 0 or (m.profit_factor is not None and m.profit_factor < 1):
            pf = "n/a" if m.profit_factor is None else f"{m.profit_factor:.2f}"
            out.append(f"{name}: negative edge (Sharpe {m.sharpe_ratio:.2f}, profit factor {pf}); "
                       "review stop-loss/take-profit distances and costs before trading it live.")
        if len(group) > window:
            rolling, alltime = rolling_vs_alltime(group, window)
            out.extend(f"{name}: {a.message}" for a in detect_degradation(rolling, alltime, thresholds))
    return out
