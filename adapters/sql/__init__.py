"""SQL event store (SQLAlchemy Core): SQLite by default, PostgreSQL (psycopg 3) by URL."""

from __future__ import annotations

from adapters.sql.engine import create_engine, safe_url, sqlite_file
from adapters.sql.event_store import SqlEventStore
from core.errors import StoreUnavailableError
import sqlalchemy as sa

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


def open_sql_store(url: str, *, durable: bool = False, must_exist: bool = False) -> SqlEventStore:
    """Open the event store at ``url``.

    A brand-new empty database is created at the current schema; an existing one whose
    schema is not current raises ``SchemaOutOfDateError`` naming ``sensequant db upgrade``.
    ``durable=True`` makes every append a synchronous commit (live trading).
    ``must_exist=True`` (read commands): a SQLite file that does not exist is a
    ``StoreUnavailableError`` and nothing is created — no folder, no empty store.
    """
    file = sqlite_file(url) if must_exist else None
    if file is not None and not file.is_file():
        raise StoreUnavailableError(
            f"there is no event store at {file} (the file does not exist, so nothing has been recorded "
            "there); check --db / SENSEQUANT_DB_URL, or run `sensequant backtest` to create one")
    engine = create_engine(url, durable=durable)
    try:
        ensure_schema(engine, url)
    except BaseException:
        engine.dispose()
        raise
    store = SqlEventStore(engine, durable=durable)
    try:
        # Runs whose writer died (kill -9, power loss) are sealed `crashed` by whoever opens next.
        store.seal_crashed_runs()
    except Exception as exc:
        store.close()
        if isinstance(exc, sa.exc.OperationalError):
            raise StoreUnavailableError(f"the event store {safe_url(url)} failed: {exc.orig}") from None
        raise
    return store


__all__ = ["SqlEventStore", "open_sql_store", "upgrade", "downgrade", "current_revision", "head_revision",
           "safe_url", "sqlite_file", "plan_downgrade", "DowngradePlan", "backup_database"]
