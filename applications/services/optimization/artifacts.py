"""The files a study leaves under ``--out``: configs, ranking, baseline, accuracy report, plots,
the best configuration as a ``backtest --config`` file, and the deployment plan.

Deployment plan (spec US-019): the thresholds a live deployment must hold are 80 % of the
out-of-sample figures (in-sample figures when no walk-forward ran, flagged as such); rollback
triggers fire when the live figures fall below them, and the rollout is phased (paper, then
a small live allocation, then the full allocation).
"""

from __future__ import annotations

import csv
import json
import math
import tomllib
from pathlib import Path
from typing import Any

from applications.services.optimization.space import apply_params
from applications.services.optimization.study import StudyOutcome, TrialRecord

REPORT_METRICS = ("composite", "sharpe", "precision", "hit_ratio", "win_rate", "total_return_pct",
                  "max_drawdown_pct", "trades")
THRESHOLD_SHARE = 0.8


def _json_default(value: Any) -> Any:
    return str(value)


def _safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe(v) for v in value]
    return value


def _trial_dict(t: TrialRecord) -> dict[str, Any]:
    return _safe({"trial": t.number, "state": t.state, "baseline": t.baseline, "feasible": t.feasible,
                  "params": t.params, "values": t.values, "metrics": t.metrics, "run_id": t.run_id,
                  "seconds": round(t.seconds, 3), "message": t.message})


def toml_text(doc: dict[str, Any]) -> str:
    """A TOML document of nested tables of scalars and lists (what a config layer holds)."""
    lines: list[str] = []

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        return json.dumps(str(v))

    def table(prefix: str, node: dict[str, Any]) -> None:
        plain = {k: v for k, v in node.items() if not isinstance(v, dict)}
        nested = {k: v for k, v in node.items() if isinstance(v, dict)}
        if prefix and plain:
            lines.append(f"\n[{prefix}]")
        for k, v in plain.items():
            if v is not None:
                lines.append(f"{k} = {scalar(v)}")
        for k, v in nested.items():
            table(f"{prefix}.{k}" if prefix else k, v)

    table("", doc)
    text = "\n".join(lines).lstrip("\n") + "\n"
    tomllib.loads(text)  # what we write must parse back
    return text


def best_config_layer(outcome: StudyOutcome, book: str, base_layer: dict[str, Any],
                      trial: TrialRecord | None = None) -> dict[str, Any]:
    chosen = trial or outcome.best_trial
    layer = apply_params({**base_layer, "strategy": book}, chosen.params if chosen else {})
    return layer


def _table(rows: list[list[str]], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def accuracy_report(outcome: StudyOutcome, top: int = 5, walk_forward: dict[str, Any] | None = None) -> str:
    base = outcome.baseline
    lines = [f"# Optimisation study `{outcome.name}`", "",
             f"Objective: {', '.join(outcome.objective.metrics)} (sampler {outcome.sampler}); "
             f"{len(outcome.completed)} complete trials of {len(outcome.trials)}; "
             f"{outcome.seconds:.1f} s.", ""]
    w = outcome.objective.weights
    lines += [f"Composite = {w.sharpe:g} x clip(Sharpe / {w.sharpe_scale:g}, -1, 1) + {w.precision:g} x precision "
              f"+ {w.hit_ratio:g} x hit ratio + {w.win_rate:g} x win rate. Constraints: at least "
              f"{outcome.objective.constraints.min_trades} trades, drawdown within "
              f"{outcome.objective.constraints.max_drawdown_pct:g} %.", ""]
    lines += ["## Baseline (trial 0: the current configuration)", ""]
    if base is not None and base.state == "complete":
        lines.append(_table([[m, _fmt(base.metrics.get(m))] for m in REPORT_METRICS], ["metric", "baseline"]))
    else:
        lines.append("The baseline did not complete.")
    lines += ["", f"## Top {top} trials", ""]
    header = ["rank", "trial", "feasible", *REPORT_METRICS, "vs baseline (composite)", "parameters"]
    rows = []
    for rank, t in enumerate(outcome.completed[:top], 1):
        delta = (t.metrics.get("composite", 0.0) - base.metrics.get("composite", 0.0)) \
            if base is not None and base.metrics else None
        rows.append([str(rank), str(t.number), "yes" if t.feasible else "no",
                     *[_fmt(t.metrics.get(m)) for m in REPORT_METRICS],
                     _fmt(delta), ", ".join(f"{k.rsplit('.', 1)[-1]}={_short(v)}" for k, v in t.params.items())])
    lines.append(_table(rows, header))
    lines += ["", "## Is the best trial luck?", "",
              f"- Deflated Sharpe Ratio of the best trial: {_fmt(outcome.deflated_sharpe)} "
              "(probability that its Sharpe beats the best of this many unskilled trials; below 0.95 "
              "the search alone could explain it)",
              f"- Probability of Backtest Overfitting (CSCV, 8 blocks): {_fmt(outcome.pbo)} "
              "(share of splits where the in-sample winner ends at or below the out-of-sample median)"]
    if walk_forward:
        lines += ["", "## Walk-forward re-optimisation", "", walk_forward.get("markdown", "")]
    return "\n".join(lines) + "\n"


def deployment_plan(outcome: StudyOutcome, out_of_sample: dict[str, Any] | None) -> dict[str, Any]:
    best = outcome.best_trial
    figures = out_of_sample or (best.metrics if best else {})
    source = "out-of-sample (walk-forward)" if out_of_sample else "in-sample (no walk-forward ran)"
    thresholds = {}
    for name in ("sharpe", "precision", "hit_ratio", "win_rate", "composite"):
        value = figures.get(name)
        if value is not None:
            thresholds[f"min_{name}"] = round(THRESHOLD_SHARE * value, 6) if value > 0 else round(value, 6)
    drawdown = figures.get("max_drawdown_pct")
    if drawdown is not None:
        # 80 % of the tolerance means: a drawdown 1.25x deeper than seen out of sample trips.
        thresholds["max_drawdown_pct"] = round(drawdown / THRESHOLD_SHARE, 4)
    return {
        "study": outcome.name, "trial": best.number if best else None, "params": best.params if best else {},
        "figures_source": source, "figures": _safe(figures), "threshold_share": THRESHOLD_SHARE,
        "thresholds": thresholds,
        "rollback_triggers": [
            "rolling 20-trade precision or hit ratio below its threshold for 3 consecutive sessions",
            "rolling 60-session Sharpe below min_sharpe",
            "drawdown deeper than max_drawdown_pct",
            "a circuit-breaker trip or a reconciliation mismatch",
        ],
        "rollback_action": "restore the baseline configuration (trial 0) and return to paper trading",
        "phases": [
            {"phase": 1, "name": "paper", "duration_sessions": 20, "allocation_pct": 0,
             "exit": "every threshold held over the phase"},
            {"phase": 2, "name": "live-small", "duration_sessions": 20, "allocation_pct": 25,
             "exit": "every threshold held; no rollback trigger fired"},
            {"phase": 3, "name": "live-full", "duration_sessions": None, "allocation_pct": 100,
             "exit": "monitor continuously; any trigger rolls back"},
        ],
        "deflated_sharpe": outcome.deflated_sharpe, "pbo": outcome.pbo,
        "caution": "PBO above 0.5 or DSR below 0.95: the best trial may be luck; stay in phase 1 longer"
        if (outcome.pbo or 0) > 0.5 or (outcome.deflated_sharpe or 0) < 0.95 else "",
    }


def _plan_markdown(plan: dict[str, Any]) -> str:
    lines = [f"# Deployment plan: study `{plan['study']}`, trial {plan['trial']}", "",
             f"Thresholds are {int(plan['threshold_share'] * 100)} % of the {plan['figures_source']} figures.", "",
             _table([[k, _fmt(v)] for k, v in plan["thresholds"].items()], ["threshold", "value"]), "",
             "## Rollback triggers", "", *[f"- {t}" for t in plan["rollback_triggers"]], "",
             f"Action: {plan['rollback_action']}.", "", "## Phased rollout", ""]
    lines.append(_table([[str(p["phase"]), p["name"], str(p["duration_sessions"] or "open"),
                          f"{p['allocation_pct']} %", p["exit"]] for p in plan["phases"]],
                        ["phase", "name", "sessions", "allocation", "exit criterion"]))
    if plan.get("caution"):
        lines += ["", f"**Caution**: {plan['caution']}."]
    return "\n".join(lines) + "\n"


def _plots(outcome: StudyOutcome, study: Any, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    complete = sorted(outcome.completed, key=lambda t: t.number)
    if complete:
        fig, ax = plt.subplots(figsize=(8, 4))
        xs = [t.number for t in complete]
        ys = [t.values[0] if t.values else float("nan") for t in complete]
        best = [max(ys[:i + 1]) for i in range(len(ys))]
        ax.scatter(xs, ys, s=12, label=outcome.objective.metrics[0])
        ax.plot(xs, best, color="tab:red", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(outcome.objective.metrics[0])
        ax.set_title(f"Optimisation history: {outcome.name}")
        ax.legend()
        path = out / "optimization_history.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    if study is not None and len(complete) >= 3 and len({k for t in complete for k in t.params}) >= 2:
        import optuna
        try:
            importances = optuna.importance.get_param_importances(
                study, target=(lambda t: t.values[0]) if outcome.objective.multi else None)
        except (RuntimeError, ValueError, ZeroDivisionError):
            importances = {}
        if importances:
            fig, ax = plt.subplots(figsize=(8, 0.4 * len(importances) + 1.5))
            names = list(importances)[::-1]
            ax.barh([n.rsplit(".", 1)[-1] for n in names], [importances[n] for n in names])
            ax.set_xlabel("importance (fANOVA)")
            ax.set_title("Parameter importance")
            path = out / "param_importances.png"
            fig.tight_layout()
            fig.savefig(path, dpi=100)
            plt.close(fig)
            written.append(path)
    return written


def write_artifacts(outcome: StudyOutcome, out: Path, *, book: str, base_layer: dict[str, Any], study: Any = None,
                    walk_forward: dict[str, Any] | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    paths["configs"] = out / "configs.json"
    paths["configs"].write_text(json.dumps([_trial_dict(t) for t in outcome.trials], indent=2,
                                           default=_json_default) + "\n")
    paths["ranked_results"] = out / "ranked_results.csv"
    param_names = sorted({k for t in outcome.trials for k in t.params})
    with paths["ranked_results"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "trial", "state", "baseline", "feasible", *outcome.objective.metrics,
                         *[m for m in REPORT_METRICS if m not in outcome.objective.metrics], *param_names, "run_id"])
        for rank, t in enumerate(outcome.trials, 1):
            writer.writerow([rank, t.number, t.state, t.baseline, t.feasible,
                             *([_fmt(v) for v in t.values] or [""] * len(outcome.objective.metrics)),
                             *[_fmt(t.metrics.get(m)) for m in REPORT_METRICS if m not in outcome.objective.metrics],
                             *[t.params.get(p, "") for p in param_names], t.run_id])
    paths["baseline_metrics"] = out / "baseline_metrics.json"
    paths["baseline_metrics"].write_text(json.dumps(_trial_dict(outcome.baseline) if outcome.baseline else {},
                                                    indent=2, default=_json_default) + "\n")
    paths["accuracy_report"] = out / "accuracy_report.md"
    paths["accuracy_report"].write_text(accuracy_report(outcome, walk_forward=walk_forward))
    paths["best_config"] = out / "best_config.toml"
    header = (f"# Best trial of study {outcome.name}: sensequant backtest --config {paths['best_config'].name}\n")
    paths["best_config"].write_text(header + toml_text(best_config_layer(outcome, book, base_layer)))
    plan = deployment_plan(outcome, (walk_forward or {}).get("out_of_sample"))
    paths["deployment_plan_json"] = out / "deployment_plan.json"
    paths["deployment_plan_json"].write_text(json.dumps(_safe(plan), indent=2, default=_json_default) + "\n")
    paths["deployment_plan_md"] = out / "deployment_plan.md"
    paths["deployment_plan_md"].write_text(_plan_markdown(plan))
    for path in _plots(outcome, study, out):
        paths[path.stem] = path
    return paths
