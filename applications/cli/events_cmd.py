"""`sensequant events tail`: follow the global log."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo
from collections import deque

import click

from applications.cli.options import count, finite, non_empty

from rich.markup import escape

from applications.cli.output import console, err_console, print_json
from applications.wiring.store import open_store
from core.events.codec import to_payload

IST = ZoneInfo("Asia/Kolkata")


@click.group("events")
def events() -> None:
    """Read the raw event log."""


@events.command("tail")
@click.option("--run", "run_id", callback=non_empty, help="Only events of this run (id or unique prefix).")
@click.option("--after", "after_seq", default=None, type=count(0),
              help="Start after this global sequence number (default: show the last --last events).")
@click.option("--last", default=20, show_default=True, type=count(0, 1_000_000), help="How many recent events to show first.")
@click.option("--follow/--no-follow", "-f", default=False, help="Keep polling for new events (Ctrl-C stops).")
@click.option("--interval", default=1.0, show_default=True, type=finite(0.01, 3600), help="Polling interval in seconds with --follow.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def tail(obj: dict, run_id: str | None, after_seq: int | None, last: int, follow: bool, interval: float,
         as_json: bool) -> None:
    """Print events in global order, optionally following new ones as they commit."""
    store = open_store(obj.get("db_url"), must_exist=True)
    try:
        if run_id:
            run_id = store.get_run(run_id).run_id
        if after_seq is None:
            # The last `--last` events (of the run, if given): page through, keep the tail.
            recent: deque = deque(maxlen=max(last, 0))
            cursor = 0 if run_id else max(store.last_seq() - last, 0)
            while page := store.read_all(cursor, 5000, run_id=run_id):
                recent.extend(page)
                cursor = page[-1].seq
            for rec in recent:
                _print(rec, as_json)
        else:
            cursor = after_seq
        while True:
            page = store.read_all(cursor, 1000, run_id=run_id)
            for rec in page:
                _print(rec, as_json)
            if page:
                cursor = page[-1].seq
                continue
            if not follow:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()


@events.command("verify")
@click.argument("run_id", required=False, metavar="[RUN]")
@click.option("--all", "check_all", is_flag=True, help="Verify every run in the store (and find orphaned events).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def verify(obj: dict, run_id: str | None, check_all: bool, as_json: bool) -> None:
    """Recompute the tamper-evident hash chain of RUN (or of every run with --all).

    Each event is chained to the previous event of its run by SHA-256 over its canonical
    stored bytes, and the runs row is hashed too; the first bad seq is named. Exit code 0:
    intact; 1: a break was found.
    """
    if (run_id is None) == (not check_all):
        raise click.UsageError("give a RUN id (or unique prefix), or --all, but not both")
    if run_id is not None and not run_id.strip():
        raise click.UsageError("the RUN id is empty; `sensequant runs list` shows the runs")
    store = open_store(obj.get("db_url"), must_exist=True)
    try:
        report = store.verify(None if check_all else run_id)
    finally:
        store.close()
    if as_json:
        print_json({"ok": report.ok, "chained": report.chained, "runs_checked": report.runs_checked,
                    "events_checked": report.events_checked,
                    "problems": [{"run_id": p.run_id, "seq": p.seq, "reason": p.reason} for p in report.problems]})
    elif not report.chained:
        console.print("this store (in-memory) keeps no hash chain: nothing outside this process can edit it")
    elif report.ok:
        console.print(f"intact: {report.runs_checked:,} run(s), {report.events_checked:,} events verified")
    else:
        for problem in report.problems:
            err_console.print(f"[bold red]BROKEN[/] {escape(problem.describe())}", soft_wrap=True)
        err_console.print(f"{len(report.problems)} break(s) in {report.runs_checked:,} run(s)")
    if not report.ok:
        raise click.exceptions.Exit(1)


def _print(rec, as_json: bool) -> None:
    if as_json:
        import json
        print(json.dumps({"seq": rec.seq, "type": rec.type, "stream_id": rec.stream_id,
                          "stream_version": rec.stream_version, "run_id": rec.run_id,
                          "occurred_at": rec.occurred_at.isoformat(), "event_id": str(rec.event_id),
                          "payload": to_payload(rec.event)}, ensure_ascii=False, default=str))
    else:
        console.print(f"[dim]{rec.seq:>8}[/] {rec.occurred_at.astimezone(IST):%Y-%m-%d %H:%M} [bold]{rec.type:<28}[/] "
                      f"{escape(rec.stream_id)}  {escape(_summary(rec.event))}")


def _summary(event) -> str:
    payload = to_payload(event)
    keys = [k for k in ("symbol", "side", "quantity", "direction", "action", "price_paise", "net_pnl_paise",
                        "equity_paise", "status", "message", "reason") if k in payload]
    return " ".join(f"{k}={payload[k]}" for k in keys)


COMMANDS = [events]
