"""Shared wiring used by every composition root: where things live and how to open them.

Composition roots (backtest, paper, live, validation, eod jobs, dashboard) import this
module, never each other.
"""

from __future__ import annotations

import os
import subprocess
import threading
import weakref
from pathlib import Path

from ports.event_store import EventStore
from ports.read_models import ReadModelStore

ENV_DB_URL = "SENSEQUANT_DB_URL"


def project_root() -> Path:
    """The repository root (the folder holding ``data/``) or, if installed elsewhere, the CWD."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "data").is_dir() else Path.cwd()


def runs_dir() -> Path:
    """Git-ignored folder for run outputs (event database, exports, reports, models)."""
    path = Path(os.environ.get("SENSEQUANT_RUNS_DIR", project_root() / "data" / "runs"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_url() -> str:
    """The embedded SQLite event store, unless ``SENSEQUANT_DB_URL`` says otherwise."""
    return os.environ.get(ENV_DB_URL) or f"sqlite:///{runs_dir() / 'sensequant.db'}"


def code_version() -> str:
    """Git commit of the running code (with ``-dirty``), or the package version."""
    try:
        root = project_root()
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{sha}-dirty" if dirty else sha
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("sensequant")
        except PackageNotFoundError:
            return "unknown"


def open_store(url: str | None = None, *, durable: bool = False, must_exist: bool = False) -> EventStore:
    """Open the event store at ``url`` (default: the embedded SQLite).

    ``memory://`` gives an in-process store. A brand-new SQL database is created at the
    current schema; an existing one whose schema is not current raises
    ``SchemaOutOfDateError`` naming ``sensequant db upgrade``. ``durable`` makes every
    append its own synchronous commit (live trading) instead of relying on batching.
    ``must_exist`` (commands that only read): a missing SQLite file is an error and
    nothing is created.
    """
    url = url or default_db_url()
    if url.startswith("memory://"):
        from adapters.memory import InMemoryEventStore
        return InMemoryEventStore()
    from adapters.sql import open_sql_store
    return open_sql_store(url, durable=durable, must_exist=must_exist)


_MEMORY_READ_MODELS: "weakref.WeakKeyDictionary[EventStore, ReadModelStore]" = weakref.WeakKeyDictionary()


def read_models_for(store: EventStore) -> ReadModelStore:
    """The read models kept next to ``store``'s events: the ``rm_*`` tables of its database,
    or, for an in-process store, one in-memory set per store."""
    engine = getattr(store, "engine", None)
    if engine is not None:
        from adapters.sql.read_models import SqlReadModels
        return SqlReadModels(engine)
    found = _MEMORY_READ_MODELS.get(store)
    if found is None:
        from adapters.memory.read_models import InMemoryReadModels
        found = _MEMORY_READ_MODELS[store] = InMemoryReadModels()
    return found


# Dask workers (optimisation trials, walk-forward windows, batch backtests) keep one
# connection to the shared store per worker thread instead of opening one per task.
_WORKER_STORES: dict[tuple[str, int], EventStore] = {}


def worker_store(db_url: str) -> EventStore:
    """This worker thread's cached connection to the shared event store at ``db_url``."""
    key = (db_url, threading.get_ident())
    if key not in _WORKER_STORES:
        _WORKER_STORES[key] = open_store(db_url)
    return _WORKER_STORES[key]


def close_worker_stores() -> None:
    """Close this process's cached worker connections (tests and in-process runs)."""
    for store in _WORKER_STORES.values():
        store.close()
    _WORKER_STORES.clear()


def require_intact(store: EventStore, run_id: str) -> None:
    """Refuse to read a run whose hash chain or runs row does not verify (events were edited).

    ``IntegrityViolationError`` names the first bad seq and the command that lists every break.
    """
    from core.errors import IntegrityViolationError
    report = store.verify(run_id)
    if not report.ok:
        raise IntegrityViolationError(
            f"run {run_id} failed verification: {report.first_break()}; its figures cannot be trusted. "
            f"`sensequant events verify {run_id}` lists every break")
