"""`sensequant db ...`: create, upgrade, downgrade and inspect the event store schema."""

from __future__ import annotations

import click

from applications.cli.output import console, print_json
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


@click.group("db")
def db() -> None:
    """Create, upgrade and inspect the event store schema (alembic migrations).

    A brand-new empty database is created at the current schema automatically; an
    existing one is only ever changed by these commands. Back up the database before
    upgrading or downgrading it.
    """


@db.command("upgrade")
@click.argument("revision", default="head")
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
        console.print(f"{state['url']}: already at revision {state['current']} ({state['status']})")
    else:
        console.print(f"{state['url']}: upgraded {before or 'empty'} -> {state['current']} ({state['status']})")


@db.command("downgrade")
@click.argument("revision")
@click.option("--db", "db", metavar="URL", help=_DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def downgrade_cmd(obj: dict, revision: str, db: str | None, as_json: bool) -> None:
    """Migrate the schema down to REVISION: a revision id, -1 for one step, or base.

    `base` removes every SenseQuant table and the events in them.
    """
    from adapters.sql import current_revision, downgrade
    url = _url(obj, db)
    before = current_revision(url)
    downgrade(url, revision)
    state = _state(url) | {"previous": before}
    if as_json:
        print_json(state)
    else:
        console.print(f"{state['url']}: downgraded {before or 'empty'} -> {state['current'] or 'base'} "
                      f"(head is {state['head']}; `sensequant db upgrade` goes back)")


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
    console.print(f"{state['url']}: revision {state['current'] or '(none)'}, head {state['head']} "
                  f"- {state['status']}")
    if state["status"] == "out of date":
        console.print(f"run `sensequant db upgrade --db {state['url']}`")


COMMANDS = [db]
