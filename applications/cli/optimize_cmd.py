"""`sensequant optimize`: search a strategy's parameters with Optuna, trials on a Dask cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from applications.cli.output import console, err_console, print_json, print_table
from applications.cli.options import OutputFolder
from applications.roots.optimize import optimize as optimize_root
from applications.services.optimization.objective import METRICS, parse_objective
from applications.services.optimization.run import BOOKS, OptimizeRequest
from applications.services.optimization.space import load_space
from applications.services.optimization.study import SAMPLERS
from applications.services.optimization.walkforward import parse_walk_forward
from applications.wiring.config import environment_layer, read_toml
from applications.wiring.store import project_root, runs_dir
from core.errors import ConfigError


def _layers(config_file: Path | None, space_backtest: dict[str, Any], options: dict[str, Any], book: str
            ) -> list[dict[str, Any]]:
    """defaults < --config TOML < environment < the space file's [backtest] < flags."""
    layers: list[dict[str, Any]] = []
    if config_file is not None:
        layers.append(read_toml(config_file))
    env = environment_layer(dotenv_path=project_root() / ".env")
    layers.append(env.get("backtest", {}))
    layers.append(space_backtest)
    flags: dict[str, Any] = {k: options[k] for k in ("start", "end", "data_dir") if options.get(k)}
    if options.get("symbols"):
        flags[book] = {"symbols": options["symbols"]}
    layers.append(flags)
    return [layer for layer in layers if layer]


@click.command("optimize")
@click.option("--strategy", "book", type=click.Choice(BOOKS), required=True, help="The book whose parameters to search.")
@click.option("--space", "space_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Search space TOML ([params.NAME] tables: int/float/categorical, log, step, when); "
                   "see data/optimize/swing.toml.")
@click.option("--sampler", type=click.Choice(SAMPLERS),
              help="Optuna sampler: grid and random (the spec's grid search), tpe, nsga2 (multi-objective). "
                   "Default: the space file's, else tpe (nsga2 for several objectives).")
@click.option("--trials", type=click.IntRange(min=1), help="Trials in the study, baseline included (default 50; "
                                                            "a grid stops when exhausted).")
@click.option("--objective", help=f"Metric(s) to maximise, comma-separated for a Pareto front: {', '.join(METRICS)}. "
                                  "Default: composite.")
@click.option("--min-trades", type=int, help="Constraint: fewer closed trades make a trial infeasible (default 10).")
@click.option("--max-drawdown", type=float, help="Constraint: a deeper drawdown (percent) is infeasible (default 25).")
@click.option("--walk-forward", metavar="TRAIN:TEST", help="Also re-optimise on rolling windows: TRAIN months in "
                                                           "sample, TEST months out of sample (e.g. 24:6).")
@click.option("--workers", type=click.IntRange(min=1, max=256), help="Local Dask worker processes (default: one per core).")
@click.option("--scheduler", metavar="tcp://HOST:8786", help="Use an existing Dask cluster instead of a local one "
                                                             "(multi-host needs --db postgresql+psycopg://...).")
@click.option("--study", "study_name", help="Study name in the database (default: <strategy>-<UTC time>).")
@click.option("--resume", is_flag=True, help="Continue the named --study (up to --trials trials in total).")
@click.option("--out", "out_dir", type=OutputFolder(file_okay=False, path_type=Path),
              help="Artifact folder (default: data/runs/optimize/<study>).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Base configuration TOML (as for backtest --config); sampled parameters override it.")
@click.option("--symbols", callback=lambda _c, _p, v: [s.strip().upper() for s in v.split(",") if s.strip()]
              if v else None, help="Comma-separated symbols of the book.")
@click.option("--start", help="First session (YYYY-MM-DD).")
@click.option("--end", help="Last session (YYYY-MM-DD), inclusive.")
@click.option("--data-dir", help="Folder of bar CSVs (default: the shipped data/market).")
@click.option("--seed", type=int, default=42, show_default=True, help="Sampler seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (no progress bar).")
@click.pass_obj
def optimize(obj: dict, book: str, space_file: Path, sampler: str | None, trials: int | None, objective: str | None,
             min_trades: int | None, max_drawdown: float | None, walk_forward: str | None, workers: int | None,
             scheduler: str | None, study_name: str | None, resume: bool, out_dir: Path | None,
             config_file: Path | None, seed: int, as_json: bool, **options: Any) -> None:
    """Search the parameters of a strategy; every trial is a backtest run in the event log.

    Trial 0 is the current configuration (the baseline). Trials run on a Dask cluster (a local
    one by default), the Optuna study is stored in the event-log database, and the artifacts
    (ranked results, accuracy report, plots, best_config.toml, deployment plan) go to --out.
    """
    if resume and not study_name:
        raise ConfigError("--resume needs the --study NAME to continue")
    space = load_space(space_file, book)
    chosen = parse_objective(objective, space.objective, space.constraints,
                             {"min_trades": min_trades, "max_drawdown_pct": max_drawdown})
    name = study_name or f"{book}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out = out_dir or runs_dir() / "optimize" / name
    request = OptimizeRequest(book=book, space=space, objective=chosen,
                              layers=_layers(config_file, space.backtest, options, book), study=name,
                              sampler=sampler, trials=trials, seed=seed, resume=resume,
                              walk_forward=parse_walk_forward(walk_forward) if walk_forward else None, out=out)
    if as_json:
        result = optimize_root(request, db_url=obj.get("db_url"), workers=workers, scheduler=scheduler)
    else:
        with Progress(TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("trials  best {task.fields[best]}"), TimeElapsedColumn(), TextColumn("ETA"),
                      TimeRemainingColumn(), console=err_console) as bar:
            tasks: dict[str, Any] = {}

            def progress(label: str, done: int, total: int, best: float | None) -> None:
                shown = "n/a" if best is None else f"{best:.4f}"
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total, best=shown)
                bar.update(tasks[label], completed=done, total=total, best=shown)

            result = optimize_root(request, db_url=obj.get("db_url"), workers=workers, scheduler=scheduler,
                                   progress=progress)
    outcome = result.outcome
    best = outcome.best_trial
    doc = {
        "study": outcome.name, "sampler": outcome.sampler, "objectives": list(outcome.objective.metrics),
        "trials": len(outcome.trials), "complete": len(outcome.completed), "seconds": round(outcome.seconds, 3),
        "best": outcome.best, "best_params": best.params if best else None,
        "best_metrics": best.metrics if best else None,
        "baseline_metrics": outcome.baseline.metrics if outcome.baseline else None,
        "deflated_sharpe": outcome.deflated_sharpe, "pbo": outcome.pbo,
        "walk_forward": {k: v for k, v in result.walk_forward.items() if k != "markdown"} if result.walk_forward else None,
        "artifacts": {k: str(v) for k, v in result.artifacts.items()},
    }
    if as_json:
        print_json(doc)
        return
    metrics = ("composite", "sharpe", "precision", "hit_ratio", "win_rate", "total_return_pct", "trades")
    rows = []
    for t in outcome.completed[:10]:
        rows.append([str(t.number) + (" (baseline)" if t.baseline else ""), "yes" if t.feasible else "no",
                     *[f"{t.metrics.get(m, 0):.3f}" if isinstance(t.metrics.get(m), float) else str(t.metrics.get(m))
                       for m in metrics],
                     ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
                               for k, v in t.params.items())])
    print_table(f"Study {outcome.name}: top trials", ["trial", "feasible", *metrics, "parameters"], rows)
    console.print(f"{len(outcome.completed)} complete of {len(outcome.trials)} trials in {outcome.seconds:.1f} s; "
                  f"DSR {outcome.deflated_sharpe if outcome.deflated_sharpe is None else round(outcome.deflated_sharpe, 3)}"
                  f", PBO {outcome.pbo if outcome.pbo is None else round(outcome.pbo, 3)}")
    if result.walk_forward:
        console.print(result.walk_forward["markdown"].rsplit("\n", 1)[-1])
    if result.artifacts:
        console.print(f"artifacts: {out}   (sensequant backtest --config {result.artifacts['best_config']})")


COMMANDS = [optimize]
