"""`sensequant eod run-now|run|schedule`: the 16:00 IST EOD job (data update -> train -> validate -> gate -> promote)."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from rich.markup import escape

from applications.cli.output import console, print_json
from applications.cli.options import OutputFolder
from applications.wiring.store import open_store

log = logging.getLogger("sensequant.eod")


def _config(at: str, auto_promote: bool, retrain_every_days: int, symbols: str | None, data_dir: str,
            auto_rollback: bool = False):
    from applications.services.eod import EodConfig
    from applications.services.learning import LearningConfig
    from applications.services.validation import ValidationConfig

    learning = {"data_dir": data_dir}
    if symbols:
        learning["symbols"] = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    return EodConfig(at=at, auto_promote=auto_promote, retrain_every_days=retrain_every_days,
                     auto_rollback=auto_rollback,
                     learning=LearningConfig(**learning), validation=ValidationConfig(data_dir=data_dir))


def _registry(registry_dir: Path | None):
    from adapters.ml.registry import ModelRegistry
    from applications.services.learning import default_registry_dir
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
    click.option("--registry", "registry_dir", type=OutputFolder(file_okay=False, path_type=Path), metavar="DIR",
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
@click.option("--trading-days-only", is_flag=True,
              help="Do nothing (info alert) when today is not an NSE session, as the scheduled job does.")
@click.option("--jobstore", "jobstore_url", metavar="URL",
              help="Job store whose folder holds the data-update state (default: the scheduler's).")
@click.option("--data-source", type=click.Choice(["auto", "csv", "hybrid", "breeze"]), default="auto",
              show_default=True, help="auto: hybrid (bar cache + Breeze history) when BREEZE_* credentials exist, "
                                      "csv otherwise; the output says which.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable outcome.")
@click.pass_obj
def run_once(obj: dict, registry_dir: Path | None, auto_promote: bool, auto_rollback: bool,
             retrain_every_days: int, symbols: str | None, data_dir: str, force: bool, trading_days_only: bool,
             jobstore_url: str | None, data_source: str, as_json: bool) -> None:
    """Run the EOD job once, now: incremental data update, then train -> validate -> gate."""
    from applications.roots.eod_scheduler import default_jobstore_url, run_eod_job, state_path

    config = _config("16:00", auto_promote, retrain_every_days, symbols, data_dir, auto_rollback)
    store = open_store(obj.get("db_url"))
    try:
        job = run_eod_job(config, store=store, registry=_registry(registry_dir), force=force,
                          state_file=state_path(jobstore_url or default_jobstore_url()),
                          check_calendar=trading_days_only, data_source=data_source)
    finally:
        store.close()
    if job.eod is None:
        if as_json:
            print_json({"status": job.status, "message": job.message, "promoted": None, "rolled_back_to": None})
        else:
            console.print(f"[bold]{escape(str(job.status))}[/]: {escape(str(job.message))}")
        return
    outcome = job.eod
    if as_json:
        out = _outcome_dict(outcome)
        if job.data is not None:
            out["data_update"] = {"feed": job.data.feed, "total_new_bars": job.data.total_new_bars,
                                  "symbols": job.data.as_dict(), "data_source": job.data.source_note}
        print_json(out)
        return
    if job.data is not None:
        counts = ", ".join(f"{s.symbol} {s.status} (+{s.new_bars})" for s in job.data.symbols)
        console.print(f"Data update ({escape(str(job.data.source_note))}): {counts}")
    console.print(f"[bold]{escape(str(outcome.status))}[/]: {escape(str(outcome.message))}")
    if outcome.rolled_back_to:
        console.print(f"Rollback rule fired: production champion is {outcome.rolled_back_to} again")


@eod.command("schedule")
@common
@click.option("--at", default="16:00", show_default=True, help="Time of day (IST, HH:MM).")
@click.option("--days", default="mon-fri", show_default=True,
              help="Days the job fires (cron day_of_week); the NSE calendar then skips holidays. Use mon-sun to "
                   "also reach weekend special sessions (Budget Saturday, weekend Muhurat).")
@click.option("--jobstore", "jobstore_url", metavar="URL",
              help="SQLAlchemy URL of the persistent job store (default: sqlite:///data/runs/scheduler/jobs.sqlite "
                   "under the runs folder).")
@click.option("--misfire-grace", "misfire_grace", default=3600, show_default=True, metavar="SECONDS",
              help="A run missed by less than this still runs once when the scheduler is back; older misses are "
                   "skipped and recorded as a warning alert.")
@click.pass_obj
def schedule(obj: dict, registry_dir: Path | None, auto_promote: bool, auto_rollback: bool,
             retrain_every_days: int, symbols: str | None, data_dir: str, at: str, days: str,
             jobstore_url: str | None, misfire_grace: int) -> None:
    """Run the EOD job at --at IST on NSE trading days, until interrupted (Ctrl-C).

    \b
    Each run: (1) checks the NSE calendar (pandas-market-calendars + data/calendar special
    sessions) and skips holidays, recording an info alert; (2) incremental data update:
    for every symbol, fetch the bars after the last fetched bar (state in
    eod_data_state.json next to the job store; the offline CSV feed reports "up to date"),
    recorded as an eod.data_updated event; (3) teacher labels + student retrain, backtest
    validation against the champion, promotion gate (promotes only with --auto-promote).

    \b
    The job lives in a persistent job store (--jobstore), stored by import path with plain
    arguments, so restarting the scheduler keeps its schedule. A run missed while the
    scheduler was down runs exactly once on restart if within --misfire-grace; older misses
    are skipped with a warning alert in the event store. Only one scheduler may use a job
    store: a second one is refused (exit 1) naming the lock file <jobstore>.lock and the
    PID holding it.
    """
    import signal

    import attrs

    from applications.roots.eod_scheduler import (
        SchedulerLock,
        build_persistent_scheduler,
        default_jobstore_url,
        lock_path,
        state_path,
    )

    base = _config(at, auto_promote, retrain_every_days, symbols, data_dir, auto_rollback)
    config = attrs.evolve(base, days=days, misfire_grace_seconds=misfire_grace)
    url = jobstore_url or default_jobstore_url()
    with SchedulerLock(lock_path(url)):
        registry = str(registry_dir) if registry_dir else None
        scheduler = build_persistent_scheduler(config, jobstore_url=url, db_url=obj.get("db_url"),
                                               registry_dir=registry)

        def stop(_signum, _frame):
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        console.print(f"EOD job scheduled at {config.at} IST ({config.days}, NSE sessions only); job store {url}; "
                      f"data state {state_path(url)}; Ctrl-C stops.")
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            pass


COMMANDS = [eod]


# `eod run` is the short name of `eod run-now`.
eod.add_command(run_once, name="run")
