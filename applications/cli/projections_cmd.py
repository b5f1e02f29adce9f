"""`sensequant projections ...`: the read models (projections of the log kept as rows)."""

from __future__ import annotations

import time

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from applications.cli.options import non_empty
from applications.cli.output import err_console, print_json, print_table
from applications.wiring.store import open_store, read_models_for, require_intact


@click.group("projections")
def projections() -> None:
    """The read models: run summaries, trades, daily portfolio and per-symbol values,
    accuracy and alerts, kept next to the event log and maintained as events commit.

    They are derived data: every one of them can be recreated from the log, and readers
    (`runs show`, the dashboard) fold whatever events they have not seen yet first.
    """


@projections.command("rebuild")
@click.argument("run_id", required=False, callback=non_empty)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (no progress bar).")
@click.pass_obj
def rebuild(obj: dict, run_id: str | None, as_json: bool) -> None:
    """Recreate the read models of RUN_ID (default: every run) from the event log.

    Each run is replaced in one transaction: a reader sees its old rows or its new ones,
    never a mix. Runs whose hash chain does not verify are refused (their events were
    edited; `sensequant db verify` says where).
    """
    from applications.services.projections import rebuild_run

    store = open_store(obj.get("db_url"), must_exist=True)
    try:
        read_models = read_models_for(store)
        runs = [store.get_run(run_id)] if run_id else list(reversed(store.list_runs(limit=1_000_000)))
        for run in runs:
            require_intact(store, run.run_id)
        done = []
        with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                      TextColumn("events"), TimeElapsedColumn(), console=err_console, disable=as_json,
                      transient=True) as bar:
            for run in runs:
                task = bar.add_task(run.run_id[:12], total=None)
                t0 = time.perf_counter()
                pos = rebuild_run(store, read_models, run.run_id,
                                  progress=lambda n, task=task: bar.advance(task, n))
                done.append({"run_id": run.run_id, "mode": run.mode, "events": pos.events, "position": pos.seq,
                             "seconds": round(time.perf_counter() - t0, 3)})
                bar.remove_task(task)
    finally:
        store.close()
    if as_json:
        print_json({"rebuilt": done})
        return
    print_table("Read models rebuilt", ["run id", "mode", "events", "position", "seconds"],
                [(d["run_id"], d["mode"], f"{d['events']:,}", str(d["position"]), f"{d['seconds']:.2f}")
                 for d in done])


@projections.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(obj: dict, as_json: bool) -> None:
    """How far each run's read models are: current, behind the log (folded at the next read)
    or not projected yet."""
    store = open_store(obj.get("db_url"), must_exist=True)
    try:
        read_models = read_models_for(store)
        stored = {p.run_id: p for p in read_models.positions()}
        out = []
        for run in store.list_runs(limit=1_000_000):
            pos = stored.get(run.run_id)
            behind = bool(store.read_all(pos.seq if pos else 0, 1, run_id=run.run_id))
            state = "not projected" if pos is None else ("behind" if behind else "current")
            if pos is None and not behind:
                state = "current"
            out.append({"run_id": run.run_id, "mode": run.mode, "state": state,
                        "position": pos.seq if pos else 0, "events": pos.events if pos else 0})
    finally:
        store.close()
    if as_json:
        print_json(out)
        return
    print_table("Read models", ["run id", "mode", "state", "position", "events folded"],
                [(o["run_id"], o["mode"], o["state"], str(o["position"]), f"{o['events']:,}") for o in out])


COMMANDS = [projections]
