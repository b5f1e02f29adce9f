"""Backups taken before a destructive schema change (``sensequant db downgrade``).

SQLite: a consistent copy of the whole database file through SQLite's online backup API
(safe while other processes write; it includes what is still in the WAL). PostgreSQL: an
export of the ``runs`` and ``events`` tables to one JSON Lines file — a ``pg_dump``
equivalent for SenseQuant's own data that needs no server-side tools. Each line is
``{"table": ..., "row": {...}}`` with ids as text, timestamps as ISO-8601 UTC and the
payload exactly as stored (the canonical JSON text), so nothing is re-encoded.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from adapters.sql.engine import create_engine, safe_url
from core.errors import ConfigError, StoreUnavailableError

EXPORTED_TABLES = ("runs", "events")


def _stamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def backup_database(url: str, folder: Path | None, *, now: datetime) -> Path:
    """Write a backup of the store at ``url`` and return its path.

    ``folder`` defaults to the SQLite file's own folder; it is required for PostgreSQL.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _backup_sqlite(parsed, folder, now)
    if folder is None:
        raise ConfigError("a PostgreSQL backup needs a folder")
    return _export_postgres(url, folder, now)


def _writable_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the backup folder {folder}: {exc.strerror or exc}; "
                          "give a writable one with --backup-dir") from None
    return folder


def _backup_sqlite(parsed: sa.URL, folder: Path | None, now: datetime) -> Path:
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise ConfigError("an in-memory or URI SQLite database cannot be backed up to a file")
    source = Path(database).expanduser()
    target_folder = _writable_folder(folder if folder is not None else source.parent)
    target = target_folder / f"{source.stem}.backup-{_stamp(now)}{source.suffix or '.db'}"
    try:
        src = sqlite3.connect(str(source))
        try:
            dst = sqlite3.connect(str(target))
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise StoreUnavailableError(f"could not back up {source} to {target}: {exc}; nothing was changed") from None
    return target


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return value


def _export_postgres(url: str, folder: Path, now: datetime) -> Path:
    target = _writable_folder(folder) / f"{make_url(url).database or 'postgres'}.backup-{_stamp(now)}.jsonl"
    engine = create_engine(url)
    try:
        with engine.connect() as conn, target.open("w", encoding="utf-8") as out:
            present = set(sa.inspect(conn).get_table_names())
            for table in EXPORTED_TABLES:
                if table not in present:
                    continue
                order = "seq" if table == "events" else "started_at, run_id"
                result = conn.execution_options(stream_results=True, yield_per=5000).exec_driver_sql(
                    f"SELECT * FROM {table} ORDER BY {order}")
                for row in result.mappings():
                    out.write(json.dumps({"table": table, "row": {k: _jsonable(v) for k, v in row.items()}},
                                         ensure_ascii=False, separators=(",", ":")) + "\n")
    except sa.exc.DBAPIError as exc:
        target.unlink(missing_ok=True)
        raise StoreUnavailableError(f"could not export {safe_url(url)} to {target}: {exc.orig}; "
                                    "nothing was changed") from None
    finally:
        engine.dispose()
    return target
