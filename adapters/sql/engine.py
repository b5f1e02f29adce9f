"""Engines for the event store: SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite: WAL journal, a 30 s busy timeout, and writers take the write lock up front with
``BEGIN IMMEDIATE``. pysqlite's own transaction handling would begin lazily (deferred)
and could fail with "database is locked" at the first write, after reads in the same
transaction, without waiting; so, following SQLAlchemy's documented recipe for
pysqlite, the driver's transaction handling is switched off (``isolation_level=None``)
and SQLAlchemy's ``begin`` event emits ``BEGIN`` itself — ``BEGIN IMMEDIATE`` for a
connection carrying the execution option ``sqlite_begin="IMMEDIATE"``.

``durable`` selects the commit guarantee: SQLite ``synchronous=FULL`` (fsync of the WAL
at every commit) vs ``NORMAL`` (consistent after a crash, may lose the last commits on
power loss); PostgreSQL ``synchronous_commit`` on (the server default) vs off (same
trade-off: never inconsistent, may lose the last commits if the server crashes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
import tenacity
from sqlalchemy.engine import make_url

from core.errors import ConfigError

BUSY_TIMEOUT_MS = 30_000
# Checkpoint the WAL every ~40 MB instead of SQLite's 4 MB: checkpoints fsync, and an
# append-heavy log pays for them on every few hundred commits otherwise.
WAL_AUTOCHECKPOINT_PAGES = 10_000

# Option on a Connection asking the SQLite ``begin`` hook for ``BEGIN IMMEDIATE``.
SQLITE_BEGIN = "sqlite_begin"


def safe_url(url: str | sa.URL) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a message helper must not fail
        return "<unparseable URL>"


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other backends, in-memory and ``file:`` URIs."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def create_engine(url: str, *, durable: bool = False) -> sa.Engine:
    """An engine configured for the event store (see module docstring)."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(
            f"database URL {url!r} is not valid ({exc}); use sqlite:///path/to/file.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, durable=durable)
    if backend == "postgresql":
        if parsed.get_driver_name() in ("psycopg2", "pg8000", "asyncpg"):
            raise ConfigError(f"database URL {safe_url(url)}: use the psycopg 3 driver, "
                              "postgresql+psycopg://...")
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return _postgres_engine(parsed, durable=durable)
    raise ConfigError(f"database URL {safe_url(url)}: unsupported backend {backend!r}; "
                      "use sqlite:///path.db or postgresql+psycopg://...")


def _sqlite_engine(url: sa.URL, *, durable: bool) -> sa.Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    engine = sa.create_engine(url, connect_args=connect_args)
    synchronous = "FULL" if durable else "NORMAL"

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing its own BEGIN; SQLAlchemy's begin hook below does it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if database not in ("", ":memory:"):
                _use_wal(cursor)
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _is_locked(exc: BaseException) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


@tenacity.retry(retry=tenacity.retry_if_exception(_is_locked), reraise=True,
                stop=tenacity.stop_after_delay(BUSY_TIMEOUT_MS / 1000),
                wait=tenacity.wait_random_exponential(multiplier=0.005, max=0.25))
def _use_wal(cursor: Any) -> None:
    """Put the file in WAL mode (persistent: later connections find it set and skip this).

    Switching a fresh file to WAL needs an exclusive lock and SQLite answers "database is
    locked" at once, without the busy handler, while another connection opening the same
    new file holds any lock; so the switch is retried (jittered) for up to the busy timeout.
    """
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode = WAL")


def _postgres_engine(url: sa.URL, *, durable: bool) -> sa.Engine:
    engine = sa.create_engine(url, pool_recycle=3600)
    # Explicit either way, so that a server configured otherwise cannot weaken durable mode.
    setting = "on" if durable else "off"

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET synchronous_commit TO {setting}")
        dbapi_connection.commit()

    return engine
