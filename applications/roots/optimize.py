"""Composition root of ``sensequant optimize``: the event store, Optuna's storage on the same
database, and the Dask cluster the trials run on.

Optuna's RDB storage is opened on the event store's URL, after the event store (which creates
or checks its schema first). Both use alembic and Optuna stamps the default ``alembic_version``
table too, which already holds the event store's revision: so Optuna's schema check is
skipped (``skip_compatibility_check``) and its tables are created next to ours. Heartbeats let a
resumed study (or another driver) see a dead driver's trials as stale; they are failed and
retried once.

Cluster: ``applications.wiring.cluster`` (a local cluster, one worker per core, or
``--scheduler``), shared with ``backtest --workers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from applications.wiring.cluster import check_store_for_cluster, dask_client, resolve_db_url
from applications.wiring.store import open_store

def optuna_storage(db_url: str) -> Any:
    import warnings

    import optuna

    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if db_url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 60}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            db_url, engine_kwargs=engine_kwargs, skip_compatibility_check=True, heartbeat_interval=10,
            grace_period=30, heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
    if db_url.startswith("sqlite"):
        _immediate_sqlite_transactions(storage.engine)
    return storage


def _immediate_sqlite_transactions(engine: Any) -> None:
    """Optuna's transactions on SQLite take the write lock up front, as the event store's do.

    Worker processes append events to the same file; a deferred transaction that read before
    a worker's commit and writes after it fails at once with "database is locked" (WAL
    snapshot), whatever the busy timeout.
    """
    import sqlalchemy as sa

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's begin hook below issues BEGIN
        dbapi_connection.execute("PRAGMA busy_timeout = 60000")
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")  # WAL (set by the event store): still crash-safe

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while Optuna created its tables lack the hooks


@contextmanager
def optimization_resources(db_url: str | None, *, workers: int | None = None, scheduler: str | None = None,
                           client: Any = None) -> Iterator[tuple[str, Any, Any, Any]]:
    """(db url, event store, Optuna storage, Dask client) for one optimisation command."""
    url = resolve_db_url(db_url)
    check_store_for_cluster(url, scheduler)
    store = open_store(url)   # creates or checks the event-store schema before Optuna touches the database
    try:
        storage = optuna_storage(url)
        if client is not None:
            yield url, store, storage, client
        else:
            with dask_client(workers, scheduler) as own:
                yield url, store, storage, own
    finally:
        store.close()


def optimize(request: Any, *, db_url: str | None, workers: int | None = None, scheduler: str | None = None,
             progress: Any = None, client: Any = None) -> Any:
    """Run the optimisation ``request`` (``OptimizeRequest``) on the configured cluster and store."""
    from applications.services.optimization.run import optimize as optimize_service

    with optimization_resources(db_url, workers=workers, scheduler=scheduler, client=client) as (url, store, storage, c):
        try:
            return optimize_service(request, db_url=url, store=store, storage=storage, client=c, progress=progress)
        finally:
            storage.engine.dispose()
