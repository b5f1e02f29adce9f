"""Schema migrations, driven programmatically through alembic.

The schema exists only through the revisions in the top-level ``migrations`` package.
``ensure_schema`` is what the store runs when it opens: a brand-new empty database is
brought to head; any other database must already be at head, else
``SchemaOutOfDateError`` names the command that fixes it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import migrations
from adapters.sql.engine import SQLITE_BEGIN, create_engine, safe_url
from core.errors import SchemaOutOfDateError

# Arbitrary constant: the PostgreSQL advisory lock key serialising migrations.
_PG_MIGRATION_LOCK = 7_361_552_001

VERSION_TABLE = "alembic_version"


def _config() -> Config:
    folder = Path(migrations.__file__).resolve().parent
    cfg = Config(str(folder / "alembic.ini"))
    cfg.set_main_option("script_location", str(folder))
    cfg.set_main_option("version_locations", str(folder / "versions"))
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


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (``None``: no schema yet)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return _current(conn)
    finally:
        engine.dispose()


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
    engine = create_engine(url)
    try:
        _locked_migration(engine, "upgrade", revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` drops everything)."""
    engine = create_engine(url)
    try:
        _locked_migration(engine, "downgrade", revision)
    finally:
        engine.dispose()


def ensure_schema(engine: sa.Engine, url: str) -> None:
    """Create the schema in an empty database; refuse an out-of-date one."""
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        current = _current(conn) if VERSION_TABLE in tables else None
    head = head_revision()
    if not tables:
        _locked_migration(engine, "upgrade", "head")
        return
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
