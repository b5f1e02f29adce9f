"""`sensequant validate CANDIDATE`: backtest a candidate model against the champion and decide."""

from __future__ import annotations

from pathlib import Path

import click

from applications.cli.output import console, print_json, print_table
from applications.wiring import open_store


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


@click.command("validate")
@click.argument("candidate_id")
@click.option("--champion", "champion_id", help="Compare with this model (default: the production champion; "
                                                "without one, the strategy without a model).")
@click.option("--registry", "registry_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
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
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the promotion checklist as Markdown to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (no progress bar).")
@click.pass_obj
def validate(obj: dict, candidate_id: str, champion_id: str | None, registry_dir: Path | None, folds: int,
             start: str | None, end: str | None, model_weight: float, veto_below: float,
             min_precision_uplift: float, min_hit_ratio_uplift: float, min_sharpe_uplift: float,
             any_criterion: bool, data_dir: str, markdown_path: Path | None, as_json: bool) -> None:
    """Walk-forward backtests of CANDIDATE vs the champion on the same bars; PROMOTE or REJECT.

    Both run the swing book with the model blended into entry confidence. Precision, hit
    ratio and Sharpe come from the runs' events; the decision is recorded as an event.
    Promote afterwards with `sensequant models promote ID`.
    """
    from adapters.ml.registry import ModelRegistry
    from applications.learning import default_registry_dir
    from applications.validation import ValidationConfig, validate_models
    from core.learning.gate import PromotionThresholds

    config = ValidationConfig(folds=folds, start=start, end=end, model_weight=model_weight, veto_below=veto_below,
                              data_dir=data_dir,
                              thresholds=PromotionThresholds(min_precision_uplift=min_precision_uplift,
                                                             min_hit_ratio_uplift=min_hit_ratio_uplift,
                                                             min_sharpe_uplift=min_sharpe_uplift,
                                                             require_all=not any_criterion))
    registry = ModelRegistry(registry_dir or default_registry_dir())
    store = open_store(obj.get("db_url"))
    try:
        if as_json:
            outcome = validate_models(candidate_id, store=store, registry=registry, champion_id=champion_id,
                                      config=config)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            with Progress(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as bar:
                task = bar.add_task("backtesting", total=1)

                def progress(label: str, done: int, total: int) -> None:
                    bar.update(task, description=label[:40], completed=done, total=total)

                outcome = validate_models(candidate_id, store=store, registry=registry, champion_id=champion_id,
                                          config=config, progress=progress)
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
    console.print(f"[bold]{decision.verdict}[/]: {decision.reason}")


COMMANDS = [validate]
