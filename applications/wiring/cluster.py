"""The Dask cluster research work runs on (optimisation trials, batch backtests).

A ``LocalCluster`` with one single-threaded worker process per core by default, or an
existing scheduler (``--scheduler tcp://host:8786``). Workers write their runs to the shared
event store, so a multi-host cluster needs PostgreSQL: a SQLite URL is refused unless the
scheduler is on this machine, and ``memory://`` (one process) always.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from applications.wiring.store import default_db_url
from core.errors import ConfigError

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}


def _is_local(address: str) -> bool:
    host = urlparse(address if "://" in address else f"tcp://{address}").hostname or ""
    if host in LOCAL_HOSTS:
        return True
    try:
        return host in {socket.gethostname(), socket.getfqdn()} or socket.gethostbyname(host).startswith("127.")
    except OSError:
        return False


def check_store_for_cluster(db_url: str, scheduler: str | None) -> None:
    if scheduler:
        check_scheduler_address(scheduler)
    if db_url.startswith("memory://"):
        raise ConfigError("work on a Dask cluster needs a database the workers share: memory:// lives in one process; "
                          "use the default SQLite or a postgresql+psycopg:// URL")
    if scheduler and db_url.startswith("sqlite") and not _is_local(scheduler):
        raise ConfigError(f"a SQLite event store ({db_url}) cannot be shared by a multi-host Dask cluster "
                          f"({scheduler}); pass --db postgresql+psycopg://host/db")


def resolve_db_url(db_url: str | None) -> str:
    url = db_url or default_db_url()
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        # Workers may run elsewhere on this machine: pin a relative SQLite path to this directory.
        url = f"sqlite:///{os.path.abspath(url[len('sqlite:///'):])}"
    return url


# tcp://host:port, tls://host:port, or host:port (Dask's own default protocol is tcp)
SCHEDULER_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|inproc)://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
# One worker process per core is the point; more than this on one machine is a typo.
MAX_LOCAL_WORKERS = 256


def check_scheduler_address(scheduler: str) -> None:
    if not SCHEDULER_ADDRESS.match(scheduler):
        raise ConfigError(f"--scheduler {scheduler!r} is not a Dask scheduler address; give "
                          "tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)")


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A client of ``scheduler``, or of a new ``LocalCluster`` with ``workers`` processes (default:
    one per core), closed on exit."""
    import logging

    from distributed import Client, LocalCluster

    # The scheduler logs every worker and client connection at INFO: noise next to the progress bar.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler:
        check_scheduler_address(scheduler)
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    if n > MAX_LOCAL_WORKERS:
        raise ConfigError(f"--workers {n} local worker processes is more than {MAX_LOCAL_WORKERS}; give at most "
                          "one per core, or --scheduler for a cluster")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=40)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
