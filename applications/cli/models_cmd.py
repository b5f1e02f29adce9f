"""`sensequant models ...`: train, list, inspect, gate, promote and roll back models.

Every command that changes something appends its event to the store (global ``--db``):
``ModelTrained``/``ModelEvaluated`` (train), ``PromotionDecided`` (gate), ``ModelPromoted``
(promote), ``ModelRolledBack`` (rollback). Model files are verified against their SHA-256
manifest before they are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from applications.cli.data_source import data_source_options, learning_feed
from applications.cli.options import count, finite, OutputFolder
from rich.markup import escape

from applications.cli.output import console, print_json, print_table
from applications.wiring.store import open_store


def _registry(obj: dict):
    from adapters.ml.registry import ModelRegistry
    from applications.services.learning import default_registry_dir
    return ModelRegistry(obj.get("registry_dir") or default_registry_dir())


def _metric(record, *keys: str) -> Any:
    value: Any = record.metrics
    for k in keys:
        if not isinstance(value, dict) or k not in value:
            return None
        value = value[k]
    return value


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


@click.group("models")
@click.option("--registry", "registry_dir", type=OutputFolder(file_okay=False, path_type=Path), metavar="DIR",
              envvar="SENSEQUANT_MODEL_REGISTRY",
              help="Model registry folder. Default: data/runs/models (under SENSEQUANT_RUNS_DIR if set).")
@click.pass_obj
def models(obj: dict, registry_dir: Path | None) -> None:
    """Teacher/student models: train, list, show, gate, promote, rollback.

    Models are stored as LightGBM text or JSON with a SHA-256 manifest (never pickle);
    production is a pointer to one model, with an archive of previous champions.
    """
    obj["registry_dir"] = registry_dir


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_models(obj: dict, as_json: bool) -> None:
    """Every registered model, oldest first; the production champion is marked."""
    reg = _registry(obj)
    survey = reg.survey()
    champion = reg.champion()
    if as_json:
        print_json({"registry": str(reg.root), "champion": champion,
                    "models": [{**r.to_dict(), "champion": r.model_id == champion, "integrity": "verified"}
                               if r is not None else {"model_id": m, "champion": m == champion,
                                                      "integrity": f"FAILED: {err}"}
                               for m, r, err in survey]})
        return
    print_table(f"Models in {reg.root} (* = production)", ["", "model id", "training window", "test acc",
                                                          "test AUC"],
                [("*" if m == champion else "", m,
                  f"{r.training_window['start'][:10]}..{r.training_window['end'][:10]}" if r else "INTEGRITY FAILED",
                  _fmt(_metric(r, "test", "accuracy")) if r else "", _fmt(_metric(r, "test", "auc_macro")) if r else "")
                 for m, r, err in survey])
    records = [r for _, r, _ in survey]
    if not records:
        console.print("No models yet: `sensequant models train` trains a teacher and a student.")


@models.command("show")
@click.argument("model_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def show_model(obj: dict, model_id: str, as_json: bool) -> None:
    """A model's metadata, metrics and integrity (every file checked against its SHA-256)."""
    reg = _registry(obj)
    record = reg.verify(model_id)
    state = reg.production()
    status = ("champion" if state.champion == record.model_id else
              "archived" if any(a["model_id"] == record.model_id for a in state.archive) else "candidate")
    if as_json:
        print_json({**record.to_dict(), "integrity": "verified", "status": status})
        return
    test = record.metrics.get("test", {}) if isinstance(record.metrics, dict) else {}
    rows = [("model id", record.model_id), ("role", record.role), ("algorithm", record.algorithm),
            ("status", status), ("integrity", "SHA-256 verified"), ("created", record.created_at),
            ("training window", f"{record.training_window['start']} .. {record.training_window['end']}"),
            ("data fingerprint", record.data_fingerprint), ("features", ", ".join(record.feature_names)),
            ("labels", ", ".join(f"{k}={v}" for k, v in record.label_config.items())),
            ("teacher", record.teacher_model_id or "")]
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "auc_macro"):
        if key in test:
            rows.append((f"test {key}", _fmt(test[key])))
    if "teacher_agreement" in record.metrics:
        rows.append(("agreement with teacher", _fmt(record.metrics["teacher_agreement"])))
    print_table(f"Model {record.model_id}", ["field", "value"], rows)
    if "confusion_matrix" in test:
        labels = test["class_labels"]
        print_table("Confusion matrix (rows: actual, columns: predicted)", ["", *labels],
                    [(labels[i], *row) for i, row in enumerate(test["confusion_matrix"])])


@models.command("train")
@click.option("--symbols", help="Comma-separated symbols (default: the seven shipped daily symbols).")
@click.option("--kind", type=click.Choice(["swing", "intraday"]), default="swing", show_default=True,
              help="Label style: swing (0.5% over N sessions) or intraday (0.3% over N bars, same session).")
@click.option("--interval", default="1day", show_default=True, help="Bar interval to learn from.")
@click.option("--horizon", default=5, show_default=True, type=count(1, 10_000), help="Label horizon: sessions (swing) or bars.")
@click.option("--threshold", type=finite(0, 1, min_open=True), help="Label threshold as a fraction (default 0.005 swing, 0.003 intraday).")
@click.option("--start", help="First session (YYYY-MM-DD).")
@click.option("--end", help="Last session (YYYY-MM-DD).")
@click.option("--test-fraction", default=0.25, show_default=True, type=finite(0, 1, min_open=True, max_open=True), help="Newest share of rows held out for testing.")
@click.option("--student", type=click.Choice(["logistic", "sgd", "lightgbm"]), default="lightgbm", show_default=True,
              help="Student model: multinomial logistic regression, log-loss SGD, or a small LightGBM.")
@click.option("--features", type=click.Choice(["strategy", "default"]), default="strategy", show_default=True,
              help="strategy: the columns the strategy computes (usable in its backtests); default: a richer set.")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--tune", "tune_trials", default=0, show_default=True, type=click.IntRange(0, 10_000),
              help="Search the teacher's LightGBM parameters with N Optuna (TPE) trials first; trial 0 is the "
                   "defaults. Scored by purged time-series cross-validation on the training rows only.")
@click.option("--cv-folds", "tune_folds", default=4, show_default=True, type=click.IntRange(2, 20),
              help="Cross-validation folds each --tune trial is scored on.")
@click.option("--data-dir", default="data/market", show_default=True, help="Market data folder.")
@data_source_options
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (no progress bar).")
@click.pass_obj
def train(obj: dict, symbols: str | None, kind: str, interval: str, horizon: int, threshold: float | None,
          start: str | None, end: str | None, test_fraction: float, student: str, features: str, seed: int,
          tune_trials: int, tune_folds: int, data_dir: str, data_source: str, cache_dir: Path | None,
          as_json: bool) -> None:
    """Train a LightGBM teacher on forward-return labels and a distilled student; register both.

    With --tune N the teacher's parameters are searched first (Optuna TPE, seeded); the
    search, the chosen parameters and every model's feature importance (share of split
    gain) are stored in the registry metadata (`models show ID --json`).
    """
    from applications.services.learning import LearningConfig, train_models

    kwargs: dict[str, Any] = dict(kind=kind, interval=interval, horizon=horizon, threshold=threshold, start=start,
                                  end=end, test_fraction=test_fraction, student=student, features=features,
                                  seed=seed, data_dir=data_dir, tune_trials=tune_trials, tune_folds=tune_folds)
    if symbols:
        kwargs["symbols"] = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    config = LearningConfig(**kwargs)
    feed = learning_feed(data_source, cache_dir, data_dir, list(config.symbols), config.interval, quiet=as_json)
    reg = _registry(obj)
    store = open_store(obj.get("db_url"))
    try:
        if as_json:
            outcome = train_models(config, store=store, registry=reg, feed=feed)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            with Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as bar:
                task = bar.add_task("training", total=6)

                def progress(label: str, done: int, total: int) -> None:
                    bar.update(task, description=label, completed=done, total=total)

                outcome = train_models(config, store=store, registry=reg, progress=progress, feed=feed)
    finally:
        store.close()
    summary = {"run_id": outcome.run_id, "train_rows": outcome.train_rows, "test_rows": outcome.test_rows,
               "data_fingerprint": outcome.data_fingerprint, "seconds_total": round(outcome.seconds_total, 3),
               "teacher": {"model_id": outcome.teacher.record.model_id,
                           "training_seconds": round(outcome.teacher.training_seconds, 3),
                           "metrics": outcome.teacher.metrics,
                           "params": outcome.teacher.record.params,
                           "tuning": _tuning_summary(outcome.teacher.record.extra.get("tuning")),
                           "feature_importance": outcome.teacher.record.extra.get("feature_importance", {})},
               "student": {"model_id": outcome.student.record.model_id,
                           "training_seconds": round(outcome.student.training_seconds, 3),
                           "metrics": outcome.student.metrics}}
    if as_json:
        print_json(summary)
        return
    rows = []
    for role, rep in (("teacher", outcome.teacher), ("student", outcome.student)):
        t = rep.metrics["test"]
        rows.append((role, rep.record.model_id, f"{rep.training_seconds:.2f}s", _fmt(t["accuracy"]),
                     _fmt(t["f1_macro"]), _fmt(t["auc_macro"])))
    print_table(f"Trained on {outcome.train_rows} rows, tested on {outcome.test_rows} (run {outcome.run_id})",
                ["role", "model id", "fit time", "test accuracy", "macro F1", "macro AUC"], rows)
    tuning = outcome.teacher.record.extra.get("tuning")
    if tuning:
        console.print(f"Tuned the teacher: {tuning['trials']} trials, {tuning['folds']}-fold purged CV log-loss "
                      f"{tuning['baseline_score']:.4f} (defaults) -> {tuning['best_score']:.4f}; parameters: "
                      + escape(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in tuning["best_params"].items())))
    top = sorted(outcome.teacher.record.extra.get("feature_importance", {}).items(), key=lambda kv: -kv[1])[:5]
    if top:
        console.print("Teacher's top features (share of split gain): "
                      + escape(", ".join(f"{name} {share:.1%}" for name, share in top)))
    console.print(f"Next: `sensequant models gate {outcome.student.record.model_id}` then `models promote`.")


def _tuning_summary(tuning: dict | None) -> dict | None:
    """The search's outcome without its per-trial history (that stays in the registry metadata)."""
    return None if not tuning else {k: v for k, v in tuning.items() if k not in ("history", "space")}


@models.command("gate")
@click.argument("candidate_id")
@click.option("--champion", "champion_id", help="Compare with this model (default: the production champion).")
@click.option("--min-precision-uplift", default=0.02, show_default=True, type=float)
@click.option("--min-hit-ratio-uplift", default=0.02, show_default=True, type=float)
@click.option("--min-sharpe-uplift", default=0.05, show_default=True, type=float)
@click.option("--any", "any_criterion", is_flag=True, help="Promote when any criterion passes (default: all).")
@click.option("--markdown", "markdown_path", type=OutputFolder(dir_okay=False, path_type=Path),
              help="Also write the checklist as Markdown to this file.")
@click.option("--data-dir", default="data/market", show_default=True, help="Market data folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the checklist as JSON.")
@click.pass_obj
def gate(obj: dict, candidate_id: str, champion_id: str | None, min_precision_uplift: float,
         min_hit_ratio_uplift: float, min_sharpe_uplift: float, any_criterion: bool, markdown_path: Path | None,
         data_dir: str, as_json: bool) -> None:
    """Score candidate and champion on the candidate's held-out bars and decide PROMOTE or REJECT.

    Signal-level: every LONG/SHORT call is held for the label horizon, without costs.
    """
    from applications.services.learning import decide_promotion
    from core.learning.gate import PromotionThresholds

    thresholds = PromotionThresholds(min_precision_uplift=min_precision_uplift,
                                     min_hit_ratio_uplift=min_hit_ratio_uplift,
                                     min_sharpe_uplift=min_sharpe_uplift, require_all=not any_criterion)
    reg = _registry(obj)
    store = open_store(obj.get("db_url"))
    try:
        decision = decide_promotion(candidate_id, store=store, registry=reg, champion_id=champion_id,
                                    thresholds=thresholds, data_dir=data_dir)
    finally:
        store.close()
    if markdown_path is not None:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(decision.to_markdown(), encoding="utf-8")
    if as_json:
        print_json(decision.checklist())
        return
    console.print(decision.to_markdown())


@models.command("promote")
@click.argument("model_id")
@click.option("--reason", default="", help="Why (recorded in the event).")
@click.option("--force", is_flag=True, help="Promote even though the latest gate decision was REJECT.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def promote(obj: dict, model_id: str, reason: str, force: bool, as_json: bool) -> None:
    """Make MODEL_ID the production champion (hash-verified); the current one is archived."""
    from applications.services.learning import promote_model

    reg = _registry(obj)
    store = open_store(obj.get("db_url"))
    try:
        new, previous = promote_model(model_id, store=store, registry=reg, reason=reason, force=force)
    finally:
        store.close()
    if as_json:
        print_json({"champion": new, "previous": previous, "registry": str(reg.root)})
        return
    console.print(f"Production champion is now [bold]{escape(str(new))}[/]" + (f" (archived {escape(str(previous))})" if previous else ""))


@models.command("rollback")
@click.option("--reason", default="", help="Why (recorded in the event).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def rollback(obj: dict, reason: str, as_json: bool) -> None:
    """Restore the previous production champion (the most recently archived one)."""
    from applications.services.learning import rollback_model

    reg = _registry(obj)
    store = open_store(obj.get("db_url"))
    try:
        restored, replaced = rollback_model(store=store, registry=reg, reason=reason)
    finally:
        store.close()
    if as_json:
        print_json({"champion": restored, "replaced": replaced, "registry": str(reg.root)})
        return
    console.print(f"Rolled back: production champion is [bold]{escape(str(restored))}[/] again (replaced {escape(str(replaced))})")


COMMANDS = [models]
