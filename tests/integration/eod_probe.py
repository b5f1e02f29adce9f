"""A stand-in EOD job for the scheduler tests: referenced by import path from the job store.

Each call appends one ``AlertRaised`` to the ``probe`` stream of the event store at ``db_url``,
so a test counts how often the scheduler ran the job.
"""

from __future__ import annotations

from datetime import datetime, timezone

from applications.wiring.store import open_store
from core.events.base import NewEvent
from core.events.catalog import AlertRaised

PROBE_STREAM = "probe"


def record_run(*, db_url: str, **_kwargs: object) -> None:
    store = open_store(db_url)
    try:
        event = AlertRaised(severity="info", source="probe", message="probe job ran")
        store.append(PROBE_STREAM, store.stream_version(PROBE_STREAM),
                     [NewEvent(event=event, occurred_at=datetime.now(timezone.utc))], run_id="probe")
    finally:
        store.close()


def runs(db_url: str) -> int:
    store = open_store(db_url)
    try:
        return len(store.read_stream(PROBE_STREAM))
    finally:
        store.close()
