"""`sensequant eod run|schedule`: the 16:00 IST learning chain (train -> validate -> gate -> promote)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from applications.cli.output import console, print_json
from applications.wiring import open_store

log = logging.getLogger("sensequant.eod")


def _config(at: str, auto_promote: bool, retrain_every_days: int, symbols: str | None, data_dir: str,
            auto_rollback: bool = False):
    from applications.eod import EodConfig
    from applications.learning import LearningConfig
    from applications.validation import ValidationConfig

    learning = {"data_dir": data_dir}
    if symbols:
        learning["symbols"] = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    return EodConfig(at=at, auto_promote=auto_promote, retrain_every_days=retrain_every_days,
                     auto_rollback=auto_rollback,
                     learning=LearningConfig(**learning), validation=ValidationConfig(data_dir=data_dir))


def _registry(registry_dir: Path | None):
    from adapters.ml.registry import ModelRegistry
    from applications.learning import default_registry_dir
    return ModelRegistry(registry_dir or default_registry_dir())


def _outcome_dict(outcome) -> dict:
    out = {"status": outcome.status, "message": outcome.message, "promoted": outcome.promoted,
           "rolled_back_to": outcome.rolled_back_to}
    if outcome.training is not None:
        out["candidate"] = outcome.training.student.record.model_id
        out["teacher"] = outcome.training.teacher.record.model_id
        out["training_run"] = outcome.training.run_id
    if outcome.validation is not None:
        out["checklist"] = outcome.validation.decision.checklist()
    return out


_common = [
    click.option("--registry", "registry_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
                 envvar="SENSEQUANT_MODEL_REGISTRY", help="Model registry folder (default: data/runs/models)."),
    click.option("--auto-promote", is_flag=True,
                 help="Promote the new student when the gate says PROMOTE (default: wait for a human)."),
    click.option("--auto-rollback", is_flag=True,
                 help="Restore the previous champion when the current one validates with Sharpe < 0.3 or "
                      "hit ratio < 45% (spec rollback rule)."),
    click.option("--retrain-every-days", default=7, show_default=True,
                 help="Skip training while the last training is younger than this."),
    click.option("--symbols", help="Comma-separated symbols (default: the shipped daily symbols)."),
    click.option("--data-dir", default="data/market", show_default=True, help="Market data folder."),
]


def common(fn):
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


@click.group("eod")
def eod() -> None:
    """End-of-day learning: retrain teacher and student, validate against the champion, gate, promote."""


@eod.command("run-now")
@common
@click.option("--force", is_flag=True, help="Retrain even inside the retrain interval.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable outcome.")
@click.pass_obj
def run_once(obj: dict, registry_dir: Path | None, auto_promote: bool, auto_rollback: bool,
             retrain_every_days: int, symbols: str | None, data_dir: str, force: bool, as_json: bool) -> None:
    """Run the EOD chain once, now."""
    from applications.eod import run_eod

    config = _config("16:00", auto_promote, retrain_every_days, symbols, data_dir, auto_rollback)
    store = open_store(obj.get("db_url"))
    try:
        outcome = run_eod(config, store=store, registry=_registry(registry_dir), force=force)
    finally:
        store.close()
    if as_json:
        print_json(_outcome_dict(outcome))
        return
    console.print(f"[bold]{outcome.status}[/]: {outcome.message}")
    if outcome.rolled_back_to:
        console.print(f"Rollback rule fired: production champion is {outcome.rolled_back_to} again")


@eod.command("schedule")
@common
@click.option("--at", default="16:00", show_default=True, help="Time of day (IST, HH:MM).")
@click.pass_obj
def schedule(obj: dict, registry_dir: Path | None, auto_promote: bool, auto_rollback: bool,
             retrain_every_days: int, symbols: str | None, data_dir: str, at: str) -> None:
    """Run the EOD chain every trading weekday at --at IST until interrupted (Ctrl-C)."""
    from applications.eod import build_scheduler, run_eod

    config = _config(at, auto_promote, retrain_every_days, symbols, data_dir, auto_rollback)
    registry = _registry(registry_dir)

    def job() -> None:
        store = open_store(obj.get("db_url"))
        try:
            outcome = run_eod(config, store=store, registry=registry)
            log.warning("EOD learning: %s: %s", outcome.status, outcome.message)
        except Exception:  # keep the scheduler alive; the failed run is recorded in the store
            log.exception("EOD learning failed")
        finally:
            store.close()

    scheduler = build_scheduler(config, job)
    console.print(f"EOD learning scheduled at {at} IST ({config.days}); Ctrl-C stops.")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


COMMANDS = [eod]


# `eod run` is the short name of `eod run-now`.
eod.add_command(run_once, name="run")
