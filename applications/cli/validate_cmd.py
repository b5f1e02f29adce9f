"""`sensequant validate CANDIDATE`: backtest a candidate model against the champion and decide.

`sensequant validate --walk-forward`: rolling (or expanding) train/test windows; each window
trains a candidate and backtests it and the champion out of sample; the gate judges the
overall uplift (``applications.services.walkforward``).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from applications.cli.data_source import data_source_options, learning_feed
from applications.cli.output import console, print_json, print_table
from applications.cli.options import OutputFolder
from applications.wiring.store import open_store


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


@click.command("validate")
@click.argument("candidate_id", required=False)
@click.option("--champion", "champion_id", help="Compare with this model (default: the production champion; "
                                                "without one, the strategy without a model).")
@click.option("--registry", "registry_dir", type=OutputFolder(file_okay=False, path_type=Path), metavar="DIR",
              envvar="SENSEQUANT_MODEL_REGISTRY", help="Model registry folder (default: data/runs/models).")
@click.option("--folds", default=3, show_default=True, help="Walk-forward folds the window is scored in.")
@click.option("--start", help="Validation window start (YYYY-MM-DD; default: the candidate's held-out window).")
@click.option("--end", help="Validation window end (YYYY-MM-DD).")
@click.option("--model-weight", default=0.5, show_default=True, help="Blend weight of the model in entry confidence.")
@click.option("--veto-below", default=0.35, show_default=True, type=float,
              help="Refuse entries the model gives less than this probability.")
@click.option("--min-precision-uplift", default=0.02, show_default=True, type=float)
@click.option("--min-hit-ratio-uplift", default=0.02, show_default=True, type=float)
@click.option("--min-sharpe-uplift", default=0.05, show_default=True, type=float)
@click.option("--any", "any_criterion", is_flag=True, help="PROMOTE when any criterion passes (default: all).")
@click.option("--data-dir", default="data/market", show_default=True, help="Market data folder.")
@click.option("--markdown", "markdown_path", type=OutputFolder(dir_okay=False, path_type=Path),
              help="Write the promotion checklist as Markdown to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (no progress bar).")
@click.option("--walk-forward", "walk", is_flag=True,
              help="Walk-forward mode: train a candidate per window and backtest it against the champion "
                   "(no CANDIDATE_ID).")
@click.option("--train-months", default=24, show_default=True, help="Walk-forward: training window length.")
@click.option("--test-months", default=6, show_default=True, help="Walk-forward: out-of-sample test period length.")
@click.option("--step-months", type=int, help="Walk-forward: how far each window moves (default: --test-months).")
@click.option("--expanding", is_flag=True, help="Walk-forward: training windows all start at the first bar.")
@click.option("--symbols", help="Walk-forward: comma-separated symbols (default: the seven shipped daily symbols).")
@click.option("--seed", default=7, show_default=True, help="Walk-forward: training seed.")
@click.option("--gate-on", type=click.Choice(["pooled", "mean"]), default="pooled", show_default=True,
              help="Walk-forward: judge the pooled out-of-sample uplift or the mean of the windows'.")
@click.option("--out", "out_dir", type=OutputFolder(file_okay=False, path_type=Path), metavar="DIR",
              help="Walk-forward: write walk_forward.json and walk_forward.md into DIR.")
@click.option("--workers", type=click.IntRange(min=1, max=256),
              help="Walk-forward: run the windows at once on a local Dask cluster of N worker processes.")
@click.option("--scheduler", metavar="tcp://HOST:8786",
              help="Walk-forward: run the windows on an existing Dask cluster (multi-host needs "
                   "--db postgresql+psycopg://... and the same --data-dir and --registry on every host).")
@data_source_options
@click.pass_obj
def validate(obj: dict, candidate_id: str | None, champion_id: str | None, registry_dir: Path | None, folds: int,
             start: str | None, end: str | None, model_weight: float, veto_below: float,
             min_precision_uplift: float, min_hit_ratio_uplift: float, min_sharpe_uplift: float,
             any_criterion: bool, data_dir: str, markdown_path: Path | None, as_json: bool, walk: bool,
             train_months: int, test_months: int, step_months: int | None, expanding: bool, symbols: str | None,
             seed: int, gate_on: str, out_dir: Path | None, workers: int | None, scheduler: str | None,
             data_source: str, cache_dir: Path | None) -> None:
    """Backtest CANDIDATE vs the champion on the same bars; PROMOTE or REJECT.

    Both run the swing book with the model blended into entry confidence. Precision, hit
    ratio and Sharpe come from the runs' events; the decision is recorded as an event.
    Promote afterwards with `sensequant models promote ID`.

    With --walk-forward (no CANDIDATE_ID) the data is cut into rolling (or --expanding)
    windows: each trains a fresh candidate on its training months only, then backtests the
    following test months twice, with that candidate and with the champion. Metrics are
    reported per window and overall (mean and pooled); the gate judges the overall uplift
    and its decision is about the last window's candidate. --start/--end bound the data used.
    --workers N (or --scheduler) runs the windows side by side on Dask, with the same figures.
    """
    from adapters.ml.registry import ModelRegistry
    from applications.services.learning import SHIPPED_DAILY_SYMBOLS, default_registry_dir
    from applications.services.validation import ValidationConfig, validate_models

    chosen = [s.strip().upper() for s in symbols.split(",") if s.strip()] if symbols else list(SHIPPED_DAILY_SYMBOLS)
    feed = learning_feed(data_source, cache_dir, data_dir, chosen, quiet=as_json)
    from core.learning.gate import PromotionThresholds

    thresholds = PromotionThresholds(min_precision_uplift=min_precision_uplift,
                                     min_hit_ratio_uplift=min_hit_ratio_uplift, min_sharpe_uplift=min_sharpe_uplift,
                                     require_all=not any_criterion)
    if (workers or scheduler) and not walk:
        raise click.UsageError("--workers/--scheduler run walk-forward windows: add --walk-forward")
    if walk:
        if candidate_id:
            raise click.UsageError("--walk-forward trains its own candidates; drop CANDIDATE_ID")
        if (workers or scheduler) and data_source != "csv":
            raise click.UsageError("walk-forward on Dask workers reads the CSV files of --data-dir on each "
                                   "worker; use --data-source csv (`sensequant data fetch` can write them)")
        _walk_forward(obj, registry_dir=registry_dir, champion_id=champion_id, start=start, end=end,
                      model_weight=model_weight, veto_below=veto_below, thresholds=thresholds, data_dir=data_dir,
                      markdown_path=markdown_path, as_json=as_json, train_months=train_months,
                      test_months=test_months, step_months=step_months, expanding=expanding, symbols=symbols,
                      seed=seed, gate_on=gate_on, out_dir=out_dir, feed=feed, workers=workers,
                      scheduler=scheduler)
        return
    if not candidate_id:
        raise click.UsageError("give CANDIDATE_ID (a model id or unique prefix), or pass --walk-forward")
    config = ValidationConfig(folds=folds, start=start, end=end, model_weight=model_weight, veto_below=veto_below,
                              data_dir=data_dir, thresholds=thresholds)
    registry = ModelRegistry(registry_dir or default_registry_dir())
    store = open_store(obj.get("db_url"))
    try:
        if as_json:
            outcome = validate_models(candidate_id, store=store, registry=registry, champion_id=champion_id,
                                      config=config, feed=feed)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            with Progress(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as bar:
                task = bar.add_task("backtesting", total=1)

                def progress(label: str, done: int, total: int) -> None:
                    bar.update(task, description=label[:40], completed=done, total=total)

                outcome = validate_models(candidate_id, store=store, registry=registry, champion_id=champion_id,
                                          config=config, progress=progress, feed=feed)
    finally:
        store.close()
    decision = outcome.decision
    if markdown_path is not None:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(decision.to_markdown(), encoding="utf-8")
    if as_json:
        print_json({"window": [outcome.window[0], outcome.window[1]],
                    "candidate": {"model_id": outcome.candidate.model_id, "run_id": outcome.candidate.run_id,
                                  "overall": outcome.candidate.overall.to_dict(),
                                  "folds": [f.to_dict() for f in outcome.candidate.folds]},
                    "champion": {"model_id": outcome.champion.model_id, "run_id": outcome.champion.run_id,
                                 "overall": outcome.champion.overall.to_dict(),
                                 "folds": [f.to_dict() for f in outcome.champion.folds]},
                    "checklist": decision.checklist()})
        return
    rows = []
    for who, bt in (("candidate", outcome.candidate), ("champion", outcome.champion)):
        for k, f in enumerate(bt.folds, start=1):
            sc = f.scorecard.to_dict()
            rows.append((who, f"{k}: {f.start}..{f.end}", f.trades, _fmt(sc["precision"]), _fmt(sc["hit_ratio"]),
                         _fmt(sc["sharpe_ratio"])))
    print_table(f"Walk-forward folds, {outcome.window[0]}..{outcome.window[1]}",
                ["model", "fold", "trades", "precision", "hit ratio", "Sharpe"], rows)
    print_table("Promotion gate", ["check", "candidate", "champion", "uplift", "minimum", "result"],
                [(c.name, _fmt(c.candidate), _fmt(c.champion), _fmt(c.uplift), _fmt(c.threshold),
                  "PASS" if c.passed else "FAIL") for c in decision.checks])
    console.print(f"[bold]{escape(str(decision.verdict))}[/]: {escape(str(decision.reason))}")


def _walk_forward(obj: dict, *, registry_dir: Path | None, champion_id: str | None, start: str | None,
                  end: str | None, model_weight: float, veto_below: float, thresholds, data_dir: str,
                  markdown_path: Path | None, as_json: bool, train_months: int, test_months: int,
                  step_months: int | None, expanding: bool, symbols: str | None, seed: int, gate_on: str,
                  out_dir: Path | None, feed: Any = None, workers: int | None = None,
                  scheduler: str | None = None) -> None:
    from adapters.ml.registry import ModelRegistry
    from applications.services.learning import SHIPPED_DAILY_SYMBOLS, default_registry_dir
    from applications.services.walkforward import WalkForwardConfig

    chosen = [s.strip().upper() for s in symbols.split(",") if s.strip()] if symbols else list(SHIPPED_DAILY_SYMBOLS)
    config = WalkForwardConfig(train_months=train_months, test_months=test_months, step_months=step_months,
                               expanding=expanding, symbols=chosen, data_dir=data_dir, start=start, end=end,
                               seed=seed, model_weight=model_weight, veto_below=veto_below, gate_on=gate_on,
                               thresholds=thresholds)
    registry = ModelRegistry(registry_dir or default_registry_dir())
    cluster: dict[str, Any] = {}
    with ExitStack() as stack:
        if workers or scheduler:
            from applications.wiring.cluster import check_store_for_cluster, dask_client, resolve_db_url
            db_url = resolve_db_url(obj.get("db_url"))
            check_store_for_cluster(db_url, scheduler)
            obj = {**obj, "db_url": db_url}
            cluster = {"client": stack.enter_context(dask_client(workers, scheduler)), "db_url": db_url}
        outcome = _run_walk_forward(obj, config, registry, champion_id, feed, as_json, cluster)
    _show_walk_forward(outcome, config, out_dir=out_dir, markdown_path=markdown_path, as_json=as_json,
                       expanding=expanding, train_months=train_months, test_months=test_months, gate_on=gate_on)


def _run_walk_forward(obj: dict, config: Any, registry: Any, champion_id: str | None, feed: Any, as_json: bool,
                      cluster: dict[str, Any]) -> Any:
    from applications.services.walkforward import walk_forward

    store = open_store(obj.get("db_url"))
    try:
        if as_json:
            return walk_forward(config, store=store, registry=registry, champion_id=champion_id, feed=feed,
                                **cluster)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            with Progress(TextColumn("{task.description:<36}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as bar:
                task = bar.add_task("walk-forward windows", total=1)

                def progress(label: str, done: int, total: int) -> None:
                    bar.update(task, description=label[:36], completed=done, total=total)

                return walk_forward(config, store=store, registry=registry, champion_id=champion_id, feed=feed,
                                    progress=progress, **cluster)
    finally:
        store.close()


def _show_walk_forward(outcome: Any, config: Any, *, out_dir: Path | None, markdown_path: Path | None,
                       as_json: bool, expanding: bool, train_months: int, test_months: int, gate_on: str) -> None:
    from applications.services.walkforward import write_reports

    decision = outcome.decision
    if out_dir is not None:
        write_reports(outcome, out_dir)
    if markdown_path is not None:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(outcome.to_markdown(), encoding="utf-8")
    if as_json:
        print_json(outcome.to_dict())
        return
    rows = []
    for w in outcome.windows:
        for who, bt in (("candidate", w.candidate), ("champion", w.champion)):
            sc = bt.overall.scorecard.to_dict()
            rows.append((w.window.index if who == "candidate" else "", f"{w.window.test_start}..{w.window.test_end}"
                         if who == "candidate" else "", who, bt.overall.trades,
                         _fmt(sc["precision"]), _fmt(sc["hit_ratio"]), _fmt(sc["sharpe_ratio"])))
    champion = outcome.windows[0].champion_model_id or "none (the strategy without a model)"
    print_table(f"Walk-forward windows ({'expanding' if expanding else 'rolling'}: train {train_months} months, "
                f"test {test_months}, step {config.step}); champion {champion}",
                ["#", "test period", "model", "trades", "precision", "hit ratio", "Sharpe"], rows)
    overall = []
    for agg in (outcome.mean, outcome.pooled):
        up = agg.uplift()
        overall.append((agg.method, agg.candidate_trades, agg.champion_trades,
                        *(f"{_fmt(getattr(agg.candidate, m))} / {_fmt(getattr(agg.champion, m))} ({_fmt(up[m])})"
                          for m in ("precision", "hit_ratio", "sharpe_ratio"))))
    print_table("Overall: candidate / champion (uplift)",
                ["aggregate", "cand trades", "champ trades", "precision", "hit ratio", "Sharpe"], overall)
    print_table(f"Promotion gate ({gate_on} uplift)", ["check", "candidate", "champion", "uplift", "minimum", "result"],
                [(c.name, _fmt(c.candidate), _fmt(c.champion), _fmt(c.uplift), _fmt(c.threshold),
                  "PASS" if c.passed else "FAIL") for c in decision.checks])
    console.print(f"[bold]{escape(str(decision.verdict))}[/] {escape(str(decision.candidate_id))}: {escape(str(decision.reason))}")
    if out_dir is not None:
        console.print(f"wrote {out_dir / 'walk_forward.json'} and {out_dir / 'walk_forward.md'}")


COMMANDS = [validate]
