"""SQL event store (SQLAlchemy Core): SQLite by default, PostgreSQL (psycopg 3) by URL."""

from __future__ import annotations

from adapters.sql.engine import create_engine, safe_url
from adapters.sql.event_store import SqlEventStore
from adapters.sql.backup import backup_database
from adapters.sql.migrate import (
    DowngradePlan,
    current_revision,
    downgrade,
    ensure_schema,
    head_revision,
    plan_downgrade,
    upgrade,
)


def open_sql_store(url: str, *, durable: bool = False) -> SqlEventStore:
    """Open the event store at ``url``.

    A brand-new empty database is created at the current schema; an existing one whose
    schema is not current raises ``SchemaOutOfDateError`` naming ``sensequant db upgrade``.
    ``durable=True`` makes every append a synchronous commit (live trading).
    """
    engine = create_engine(url, durable=durable)
    try:
        ensure_schema(engine, url)
    except BaseException:
        engine.dispose()
        raise
    return SqlEventStore(engine, durable=durable)


__all__ = ["SqlEventStore", "open_sql_store", "upgrade", "downgrade", "current_revision", "head_revision",
           "safe_url", "plan_downgrade", "DowngradePlan", "backup_database"]
