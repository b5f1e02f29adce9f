"""Walk-forward re-optimisation: optimise on each in-sample window, then backtest the chosen
parameters (and the baseline) on the following out-of-sample window.

Windows are rolling: ``train_months`` in sample, the next ``test_months`` out of sample, moved
by ``test_months`` (back-to-back out-of-sample periods). Each in-sample study is its own Optuna
study (``<study>-wf<k>``) with its own trials in the event log; the out-of-sample backtests
are runs labelled ``oos=best`` / ``oos=baseline``. The gap is in-sample minus out-of-sample
per metric; "overall" pools every out-of-sample session of all windows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import attrs
import numpy as np

from applications.services.optimization.objective import Objective
from applications.services.optimization.space import SearchSpace
from applications.services.optimization.study import (
    StudyOutcome,
    StudySettings,
    TrialFunction,
    run_study,
)
from applications.services.optimization.trials import (
    TrialTask,
    daily_returns,
    execute_trial,
)
from core.errors import ConfigError

# Calendar days of bars before an out-of-sample window that only warm the indicators up
# (about 140 sessions: more than the longest look-back of the shipped search spaces).
WARMUP_DAYS = 200
GAP_METRICS = ("composite", "sharpe", "precision", "hit_ratio", "win_rate", "total_return_pct")


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, d))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def parse_walk_forward(text: str) -> tuple[int, int]:
    """``"24:6"`` -> (24 months in sample, 6 months out of sample)."""
    try:
        train, test = (int(p) for p in text.split(":"))
    except ValueError:
        raise ConfigError(f"--walk-forward {text!r} must be TRAIN_MONTHS:TEST_MONTHS, e.g. 24:6") from None
    if train < 1 or test < 1:
        raise ConfigError("--walk-forward months must be >= 1")
    return train, test


def plan_windows(first: date, last: date, train_months: int, test_months: int) -> list[tuple[date, date, date, date]]:
    """(train start, train end, test start, test end) windows that fit in ``first..last``."""
    out = []
    start = first
    while True:
        test_start = add_months(start, train_months)
        test_end = add_months(test_start, test_months) - timedelta(days=1)
        if test_end > last:
            break
        out.append((start, test_start - timedelta(days=1), test_start, test_end))
        start = add_months(start, test_months)
    if not out:
        raise ConfigError(f"the data ({first} to {last}) is too short for {train_months}-month in-sample and "
                          f"{test_months}-month out-of-sample windows")
    return out


@attrs.frozen(kw_only=True)
class WindowOutcome:
    window: int
    train: tuple[str, str]
    test: tuple[str, str]
    study: StudyOutcome
    best_params: dict[str, Any]
    in_sample: dict[str, Any]
    out_of_sample: dict[str, Any]
    baseline_out_of_sample: dict[str, Any]
    oos_run_id: str
    baseline_run_id: str
    oos_returns: dict[str, float]
    baseline_returns: dict[str, float]

    def gap(self) -> dict[str, float | None]:
        return {m: _diff(self.in_sample.get(m), self.out_of_sample.get(m)) for m in GAP_METRICS}


def _diff(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else float(a) - float(b)


def _annual_sharpe(returns: list[float]) -> float:
    r = np.asarray(returns, dtype=float)
    if r.size < 2 or r.std(ddof=1) == 0:
        return 0.0
    return float(r.mean() / r.std(ddof=1) * math.sqrt(252))


def _compound(returns: list[float]) -> float:
    return float(np.prod(1.0 + np.asarray(returns, dtype=float)) - 1.0) * 100 if returns else 0.0


def walk_forward_optimize(settings: StudySettings, space: SearchSpace, objective: Objective, *, span: tuple[date, date],
                          train_months: int, test_months: int, storage: Any, client: Any, store: Any,
                          baseline_params: dict[str, Any], resume: bool = False,
                          progress: Callable[[str, int, int, float | None], None] | None = None,
                          trial_function: TrialFunction = execute_trial) -> dict[str, Any]:
    windows = plan_windows(span[0], span[1], train_months, test_months)
    results: list[WindowOutcome] = []
    for k, (a, b, c, d) in enumerate(windows, 1):
        ws = attrs.evolve(settings, name=f"{settings.name}-wf{k}", window=k, start=a.isoformat(), end=b.isoformat())
        label = f"window {k}/{len(windows)}"
        outcome = run_study(ws, space, objective, storage=storage, client=client, store=store,
                            baseline_params=baseline_params, resume=resume, trial_function=trial_function,
                            progress=(lambda done, total, best, _l=label: progress(_l, done, total, best))
                            if progress else None)
        best = outcome.best_trial
        if best is None:
            raise ConfigError(f"walk-forward window {k}: no trial completed in sample")
        tasks = [TrialTask(study=f"{ws.name} oos={which}", trial=best.number if which == "best" else 0,
                           book=settings.book, layers=settings.layers, params=params, db_url=settings.db_url,
                           weights=objective.weights, window=k, start=(c - timedelta(days=WARMUP_DAYS)).isoformat(),
                           end=d.isoformat(), score_from=c.isoformat())
                 for which, params in (("best", best.params), ("baseline", baseline_params))]
        oos, base = client.gather(client.map(trial_function, tasks, pure=False, retries=settings.retries))
        if oos.state != "complete" or base.state != "complete":
            raise ConfigError(f"walk-forward window {k}: the out-of-sample backtest failed: "
                              f"{oos.message or base.message}")
        results.append(WindowOutcome(
            window=k, train=(a.isoformat(), b.isoformat()), test=(c.isoformat(), d.isoformat()), study=outcome,
            best_params=best.params, in_sample=best.metrics, out_of_sample=oos.metrics,
            baseline_out_of_sample=base.metrics, oos_run_id=oos.run_id, baseline_run_id=base.run_id,
            oos_returns={k2.isoformat(): v for k2, v in daily_returns(oos.daily_equity).items()},
            baseline_returns={k2.isoformat(): v for k2, v in daily_returns(base.daily_equity).items()}))
    return summarize_walk_forward(results)


def summarize_walk_forward(results: list[WindowOutcome]) -> dict[str, Any]:
    rows = []
    for r in results:
        rows.append({"window": r.window, "oos_trades": r.out_of_sample.get("trades"),
                     "baseline_oos_trades": r.baseline_out_of_sample.get("trades"), "train": list(r.train), "test": list(r.test), "best_trial": r.study.best[0],
                     "params": r.best_params, "in_sample": {m: r.in_sample.get(m) for m in GAP_METRICS},
                     "out_of_sample": {m: r.out_of_sample.get(m) for m in GAP_METRICS},
                     "baseline_out_of_sample": {m: r.baseline_out_of_sample.get(m) for m in GAP_METRICS},
                     "gap": r.gap(), "oos_run_id": r.oos_run_id, "baseline_run_id": r.baseline_run_id,
                     "deflated_sharpe": r.study.deflated_sharpe, "pbo": r.study.pbo})
    pooled = [v for r in results for v in r.oos_returns.values()]
    pooled_base = [v for r in results for v in r.baseline_returns.values()]

    def mean(key: str, side: str) -> float | None:
        values = [row[side][key] for row in rows if row[side].get(key) is not None]
        return float(np.mean(values)) if values else None

    out_of_sample = {m: mean(m, "out_of_sample") for m in GAP_METRICS}
    out_of_sample.update({"pooled_sharpe": _annual_sharpe(pooled), "pooled_return_pct": _compound(pooled),
                          "max_drawdown_pct": min((r.out_of_sample.get("max_drawdown_pct", 0.0) for r in results),
                                                  default=0.0)})
    baseline = {m: mean(m, "baseline_out_of_sample") for m in GAP_METRICS}
    baseline.update({"pooled_sharpe": _annual_sharpe(pooled_base), "pooled_return_pct": _compound(pooled_base)})
    overall_gap = {m: mean(m, "in_sample") - out_of_sample[m]
                   if mean(m, "in_sample") is not None and out_of_sample[m] is not None else None for m in GAP_METRICS}
    beats = out_of_sample["pooled_return_pct"] > baseline["pooled_return_pct"]
    summary = {"windows": rows, "out_of_sample": out_of_sample, "baseline_out_of_sample": baseline,
               "gap": overall_gap, "best_beats_baseline_out_of_sample": beats}
    summary["markdown"] = _markdown(summary)
    return summary


def _f(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def _verdict(ours: float, baseline: float) -> str:
    if ours <= baseline:
        return "does not beat"
    return "beats" if ours > 0 else "loses less than"


def _markdown(s: dict[str, Any]) -> str:
    lines = ["| window | in sample | out of sample | best trial | IS composite | OOS composite | gap | "
             "OOS Sharpe | baseline OOS Sharpe | OOS trades (baseline) | DSR | PBO |", "|" + "---|" * 12]
    for r in s["windows"]:
        lines.append(f"| {r['window']} | {r['train'][0]}..{r['train'][1]} | {r['test'][0]}..{r['test'][1]} | "
                     f"{r['best_trial']} | {_f(r['in_sample']['composite'])} | {_f(r['out_of_sample']['composite'])} | "
                     f"{_f(r['gap']['composite'])} | {_f(r['out_of_sample']['sharpe'])} | "
                     f"{_f(r['baseline_out_of_sample']['sharpe'])} | {r['oos_trades']} ({r['baseline_oos_trades']}) | "
                     f"{_f(r['deflated_sharpe'])} | {_f(r['pbo'])} |")
    o, b = s["out_of_sample"], s["baseline_out_of_sample"]
    lines += ["", f"Overall composite gap (in sample - out of sample): {_f(s['gap']['composite'])}. "
              f"Pooled out of sample: re-optimised {_f(o['pooled_return_pct'])} % (Sharpe {_f(o['pooled_sharpe'])}) "
              f"vs baseline {_f(b['pooled_return_pct'])} % (Sharpe {_f(b['pooled_sharpe'])}), after costs: the "
              f"re-optimised configuration {'beats' if s['best_beats_baseline_out_of_sample'] else 'does not beat'} "
              "the current default."]
    return "\n".join(lines)
