"""`sensequant runs ...`: the runs table."""

from __future__ import annotations

import attrs
import click

from applications.cli.options import count, non_empty

from rich.markup import escape

from applications.cli.output import err_console, print_json, print_table
from applications.wiring.store import open_store, read_models_for, require_intact


@click.group("runs")
def runs() -> None:
    """List and inspect runs recorded in the event store."""


@runs.command("list")
@click.option("--mode", help="Only runs of this mode (backtest, paper, live, validation, eod).")
@click.option("--limit", default=50, show_default=True, type=count(1, 1_000_000), help="At most this many runs, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_runs(obj: dict, mode: str | None, limit: int, as_json: bool) -> None:
    """Runs, newest first."""
    store = open_store(obj.get("db_url"), must_exist=True)
    try:
        found = store.list_runs(mode=mode, limit=limit)
    finally:
        store.close()
    if as_json:
        print_json([attrs.asdict(r) for r in found])
        return
    print_table("Runs", ["run id", "mode", "status", "started", "ended", "config", "code", "data"],
                [(r.run_id, r.mode, r.status, r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                  r.ended_at.strftime("%Y-%m-%d %H:%M:%S") if r.ended_at else "",
                  r.config_hash, r.code_version, r.data_fingerprint[:12]) for r in found])


@runs.command("show")
@click.argument("run_id", callback=non_empty)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def show_run(obj: dict, run_id: str, as_json: bool) -> None:
    """A run's summary (returns, risk, trades, costs), from its read models.

    The read models are projections of the event log kept next to it; any events they have
    not folded yet are folded first, so the figures are those of the whole log
    (`sensequant projections rebuild` recreates them from the log alone)."""
    from applications.services.projections import run_summary
    from applications.services.run_summary import summary_rows

    store = open_store(obj.get("db_url"), must_exist=True)
    try:
        require_intact(store, store.get_run(run_id).run_id)
        summary = run_summary(store, read_models_for(store), run_id)
    finally:
        store.close()
    if as_json:
        print_json({"run": attrs.asdict(summary.run), "status": summary.status,
                    "bars_processed": summary.bars_processed, "events": summary.events,
                    "books": [attrs.asdict(b) for b in summary.books], "missing": list(summary.missing)})
        return
    for line in summary.missing:
        err_console.print(f"[bold yellow]warning:[/] {escape(line)}")
    run = summary.run
    header, rows = summary_rows(summary)
    print_table(f"Run {run.run_id} ({run.mode}, {summary.status})", header, rows)
    print_table("Provenance", ["field", "value"], [
        ("config hash", run.config_hash), ("code version", run.code_version),
        ("data fingerprint", run.data_fingerprint), ("events", f"{summary.events:,}"),
        ("bars processed", f"{summary.bars_processed:,}")])


COMMANDS = [runs]
