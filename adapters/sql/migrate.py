"""Schema migrations, driven programmatically through alembic.

The schema exists only through the revisions in the top-level ``migrations`` package.
``ensure_schema`` is what the store runs when it opens: a brand-new empty database is
brought to head; any other database must already be at head, else
``SchemaOutOfDateError`` names the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import attrs

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError as AlembicResolutionError
from alembic.util.exc import CommandError

import migrations
from adapters.sql.engine import SQLITE_BEGIN, create_engine, safe_url
from core.errors import ConfigError, DestructiveActionRefusedError, SchemaOutOfDateError, StoreUnavailableError

# Arbitrary constant: the PostgreSQL advisory lock key serialising migrations.
_PG_MIGRATION_LOCK = 7_361_552_001

VERSION_TABLE = "alembic_version"


def _config() -> Config:
    folder = Path(migrations.__file__).resolve().parent
    cfg = Config(str(folder / "alembic.ini"))
    # Doubled '%': alembic's options go through configparser interpolation.
    cfg.set_main_option("script_location", str(folder).replace("%", "%%"))
    cfg.set_main_option("version_locations", str(folder / "versions").replace("%", "%%"))
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest schema revision this code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations package has no revisions"
    return head


@lru_cache(maxsize=1)
def _known_revisions() -> frozenset[str]:
    return frozenset(s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions())


def _current(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """Turn driver and alembic failures into typed errors that name the database."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        raise StoreUnavailableError(
            f"cannot use the event store at {safe_url(url)}: {exc.orig}; check the URL, that the "
            "server is running and reachable, and that the file's folder is writable") from None
    except sa.exc.DBAPIError as exc:
        raise StoreUnavailableError(
            f"the event store at {safe_url(url)} refused the schema check or migration: {exc.orig}; "
            "check that the user may create tables there (PostgreSQL: that the schema in search_path "
            "exists)") from None
    except (CommandError, AlembicResolutionError) as exc:
        raise ConfigError(f"{exc}; `sensequant db current --db {safe_url(url)}` shows the revisions") from None


T = TypeVar("T")


def _with_engine(url: str, action: Callable[[sa.Engine], T]) -> T:
    with _translated(url):
        engine = create_engine(url)
        try:
            return action(engine)
        finally:
            engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (``None``: no schema yet)."""

    def read(engine: sa.Engine) -> str | None:
        with engine.connect() as conn:
            return _current(conn)

    return _with_engine(url, read)


def _locked_migration(engine: sa.Engine, action: str, revision: str) -> None:
    """Run alembic ``action`` in one transaction that first takes the migration lock.

    Two processes opening the same fresh database at once both try to create the
    schema; the lock makes the second wait and then find the schema at head.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            cfg = _config()
            cfg.attributes["connection"] = conn
            if action == "upgrade":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (default: head)."""
    _with_engine(url, lambda engine: _locked_migration(engine, "upgrade", revision))


@attrs.frozen
class DowngradePlan:
    """What ``downgrade(url, revision)`` would undo, and the data it would delete."""

    current: str | None
    target: str | None
    undone: tuple[str, ...]
    destructive: tuple[str, ...]  # the undone revisions whose downgrade drops stored data
    events: int
    runs: int

    @property
    def deletes_data(self) -> bool:
        return bool(self.destructive)


def plan_downgrade(url: str, revision: str) -> DowngradePlan:
    """Resolve ``revision`` (an id, ``-N`` or ``base``) against the database's current one.

    A revision module declares ``destroys_data = True`` when its downgrade drops tables
    holding events or runs; such a plan must be confirmed and backed up by the caller.
    """

    def plan(engine: sa.Engine) -> DowngradePlan:
        with engine.connect() as conn:
            current = _current(conn)
            tables = set(sa.inspect(conn).get_table_names())
            events = conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one() if "events" in tables else 0
            runs = conn.exec_driver_sql("SELECT count(*) FROM runs").scalar_one() if "runs" in tables else 0
        if current is None:
            raise ConfigError(f"the event store at {safe_url(url)} has no schema; there is nothing to "
                              f"downgrade to {revision!r}")
        script = ScriptDirectory.from_config(_config())
        try:
            undone = [s for s in script.iterate_revisions(current, revision) if s.revision != revision]
        except (CommandError, AlembicResolutionError) as exc:
            raise ConfigError(f"cannot downgrade to {revision!r}: {exc}") from None
        target = undone[-1].down_revision if undone else current
        destructive = tuple(s.revision for s in undone if getattr(s.module, "destroys_data", False))
        return DowngradePlan(current=current, target=target if isinstance(target, str) else None,
                             undone=tuple(s.revision for s in undone), destructive=destructive,
                             events=int(events), runs=int(runs))

    return _with_engine(url, plan)


def downgrade(url: str, revision: str, *, allow_data_loss: bool = False) -> None:
    """Migrate the database at ``url`` down to ``revision``.

    A downgrade that drops stored events or runs (``base``) raises
    ``DestructiveActionRefusedError`` unless ``allow_data_loss`` (the caller backs up first).
    """
    plan = plan_downgrade(url, revision)
    if plan.deletes_data and not allow_data_loss:
        raise DestructiveActionRefusedError(
            f"downgrading {safe_url(url)} to {revision} drops the events and runs tables "
            f"({plan.events:,} events, {plan.runs:,} runs); refused without confirmation")
    _with_engine(url, lambda engine: _locked_migration(engine, "downgrade", revision))


def ensure_schema(engine: sa.Engine, url: str) -> None:
    """Create the schema in an empty database; refuse an out-of-date one."""
    with _translated(url):
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            current = _current(conn) if VERSION_TABLE in tables else None
        if not tables:
            _locked_migration(engine, "upgrade", "head")
            return
    head = head_revision()
    if current == head:
        return
    where = safe_url(url)
    if current is not None and current not in _known_revisions():
        raise SchemaOutOfDateError(
            f"the event store at {where} has schema revision {current}, newer than this SenseQuant "
            f"(head {head}); upgrade SenseQuant to use it"
        )
    state = f"is at revision {current}" if current else "has no SenseQuant schema version"
    raise SchemaOutOfDateError(
        f"the event store at {where} {state}, but this code needs revision {head}; "
        f"run `sensequant db upgrade --db {where}` (back up the database first)"
    )
