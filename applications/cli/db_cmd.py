"""`sensequant db ...`: create, upgrade, downgrade and inspect the event store schema."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click
from rich.markup import escape

from applications.cli.output import console, print_json
from applications.cli.options import OutputFolder
from applications.wiring.store import default_db_url

_DB_HELP = ("Event store URL (overrides the global --db): sqlite:///path.db or "
            "postgresql+psycopg://user@host:5432/dbname. Default: the embedded SQLite under data/runs/.")


def _url(obj: dict | None, db: str | None) -> str:
    url = db or (obj or {}).get("db_url") or default_db_url()
    if url.startswith("memory://"):
        raise click.UsageError("memory:// has no schema to migrate; give a sqlite:/// or postgresql+psycopg:// URL")
    return url


def _state(url: str) -> dict:
    from adapters.sql import current_revision, head_revision, safe_url
    current, head = current_revision(url), head_revision()
    status = "up to date" if current == head else ("empty" if current is None else "out of date")
    return {"url": safe_url(url), "current": current, "head": head, "status": status}


def _say(text: str) -> None:
    console.print(text, markup=False)  # URLs and paths are shown as written


@click.group("db")
def db() -> None:
    """Create, upgrade and inspect the event store schema (alembic migrations).

    A brand-new empty database is created at the current schema automatically; an
    existing one is only ever changed by these commands. Back up the database before
    upgrading or downgrading it.
    """


def _revision(_ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("give a revision id, head, base or -N", param=param)
    return value.strip()


@db.command("upgrade")
@click.argument("revision", default="head", callback=_revision)
@click.option("--db", "db", metavar="URL", help=_DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def upgrade_cmd(obj: dict, revision: str, db: str | None, as_json: bool) -> None:
    """Migrate the schema up to REVISION (default: head, the newest)."""
    from adapters.sql import current_revision, upgrade
    url = _url(obj, db)
    before = current_revision(url)
    upgrade(url, revision)
    state = _state(url) | {"previous": before}
    if as_json:
        print_json(state)
    elif before == state["current"]:
        _say(f"{state['url']}: already at revision {state['current']} ({state['status']})")
    else:
        _say(f"{state['url']}: upgraded {before or 'empty'} -> {state['current']} ({state['status']})")


CONFIRM_FLAG = "--yes-i-understand-this-deletes-events"


# ignore_unknown_options: `db downgrade -1` (one step down) is a revision, not an option.
@db.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision", callback=_revision)
@click.option("--db", "db", metavar="URL", help=_DB_HELP)
@click.option(CONFIRM_FLAG, "confirmed", is_flag=True,
              help="Needed when the downgrade drops the events and runs tables (e.g. to base).")
@click.option("--backup-dir", type=OutputFolder(file_okay=False, path_type=Path), default=None,
              help="Where the backup taken before a data-dropping downgrade goes. Default: next to the "
                   "SQLite file; data/runs/backups for PostgreSQL.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def downgrade_cmd(obj: dict, revision: str, db: str | None, confirmed: bool, backup_dir: Path | None,
                  as_json: bool) -> None:
    """Migrate the schema down to REVISION: a revision id, -1 for one step, or base.

    `base` removes every SenseQuant table and the events in them: it is refused unless
    --yes-i-understand-this-deletes-events is given, and a backup is written first
    (a copy of the SQLite file, or a JSON Lines export of events and runs on PostgreSQL)
    whose path is printed. `sensequant db upgrade` recreates empty tables; it does not
    bring deleted events back — only the backup does.
    """
    from adapters.sql import backup_database, current_revision, downgrade, plan_downgrade, safe_url
    from applications.wiring.store import runs_dir
    from core.errors import DestructiveActionRefusedError
    if revision.startswith("-") and not revision[1:].isdigit():
        raise click.UsageError(f"revision {revision!r}: give a revision id, -N (N steps down) or base")
    url = _url(obj, db)
    plan = plan_downgrade(url, revision)
    backup = None
    if plan.deletes_data:
        lost = (f"downgrading {safe_url(url)} from {plan.current} to {plan.target or 'base'} DELETES the events "
                f"and runs tables: {plan.events:,} events of {plan.runs:,} runs are lost")
        if not confirmed:
            raise DestructiveActionRefusedError(
                f"{lost}; nothing was changed. Repeat with {CONFIRM_FLAG} to do it (a backup is written first)")
        if backup_dir is None and not url.startswith("sqlite"):
            backup_dir = runs_dir() / "backups"
        backup = backup_database(url, backup_dir, now=datetime.now(timezone.utc))
        if not as_json:
            console.print(f"{escape(lost)}; backup written to {escape(str(backup))}")
    before = current_revision(url)
    downgrade(url, revision, allow_data_loss=plan.deletes_data)
    state = _state(url) | {"previous": before, "backup": None if backup is None else str(backup),
                           "deleted_events": plan.events if plan.deletes_data else 0}
    if as_json:
        print_json(state)
        return
    _say(f"{state['url']}: downgraded {before or 'empty'} -> {state['current'] or 'base'} "
                  f"(head is {state['head']})")
    if plan.deletes_data:
        console.print("`sensequant db upgrade` recreates EMPTY tables; the deleted events are only in the "
                      f"backup {escape(str(backup))}")
    else:
        console.print("no stored events were deleted; `sensequant db upgrade` goes back")


@db.command("current")
@click.option("--db", "db", metavar="URL", help=_DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def current_cmd(obj: dict, db: str | None, as_json: bool) -> None:
    """Show the schema revision of the database and whether it is up to date."""
    state = _state(_url(obj, db))
    if as_json:
        print_json(state)
        return
    _say(f"{state['url']}: revision {state['current'] or '(none)'}, head {state['head']} "
                  f"- {state['status']}")
    if state["status"] == "out of date":
        _say(f"run `sensequant db upgrade --db {state['url']}`")


COMMANDS = [db]
