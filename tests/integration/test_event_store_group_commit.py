"""Group commit of durable appends: real threads share one commit, each told only after it.

SQLite (a file) and PostgreSQL when ``SENSEQUANT_TEST_POSTGRES_URL`` is set (a fresh
schema per test). The store's group lock is held by the test while the threads queue up,
so that the grouping is certain rather than left to timing.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from adapters.sql import open_sql_store
from core.errors import ConcurrencyError, IdempotencyError
from core.events import AlertRaised, NewEvent

T0 = datetime(2024, 6, 3, 3, 45, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def alert(tag: str, i: int, event_id: uuid.UUID | None = None) -> NewEvent:
    return NewEvent(event=AlertRaised(severity="info", source=tag, message=f"{tag}:{i}"),
                    occurred_at=T0 + timedelta(seconds=i), event_id=event_id or uuid.uuid4())


def wait_for_queue(store, length: int) -> None:
    deadline = time.monotonic() + 30
    while len(store._queue) < length:  # noqa: SLF001 - the test holds the leader's lock
        assert time.monotonic() < deadline, "appenders never queued"
        time.sleep(0.001)


def test_appends_queued_behind_a_commit_share_the_next_one_and_each_gets_its_own_outcome(url):
    store = open_sql_store(url, durable=True)
    try:
        store.append("seed", 0, [alert("seed", 0)], run_id="r")
        reused = uuid.uuid4()
        store.append("owner", 0, [alert("owner", 0, reused)], run_id="r")
        commits_before = store.group_commits
        outcomes: dict[str, object] = {}

        def append(name: str, stream: str, expected: int, events: list[NewEvent]) -> None:
            try:
                outcomes[name] = store.append(stream, expected, events, run_id="r")
            except Exception as exc:  # noqa: BLE001 - the outcome is what is checked
                outcomes[name] = exc

        jobs = [(f"ok{k}", f"s{k}", 0, [alert(f"s{k}", j) for j in range(3)]) for k in range(6)]
        jobs += [("stale", "seed", 0, [alert("seed", 1)]),                 # seed is at version 1
                 ("reused", "other", 0, [alert("other", 0, reused)])]      # id stored in "owner"
        threads = [threading.Thread(target=append, args=job) for job in jobs]
        with store._group_lock:  # noqa: SLF001 - hold the leader back while every append queues
            for t in threads:
                t.start()
            wait_for_queue(store, len(jobs))
            assert not outcomes, "an append returned before its commit"
        for t in threads:
            t.join(60)
        assert store.group_commits == commits_before + 1
        assert isinstance(outcomes["stale"], ConcurrencyError)
        assert isinstance(outcomes["reused"], IdempotencyError)
        for k in range(6):
            recorded = outcomes[f"ok{k}"]
            assert [r.stream_version for r in recorded] == [1, 2, 3]
            assert [r.event.message for r in store.read_stream(f"s{k}")] == [f"s{k}:{j}" for j in range(3)]
        assert store.read_stream("other") == []
        assert [r.seq for r in store.read_all(0, 100)] == list(range(1, 2 + 18 + 1))  # no gaps
    finally:
        store.close()


def test_many_threads_of_single_durable_appends_all_land_in_order(url):
    store = open_sql_store(url, durable=True)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(40):
                store.append(f"w{k}", i, [alert(f"w{k}", i)], run_id="r")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    try:
        threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors
        assert store.group_commits <= 8 * 40
        for k in range(8):
            assert [r.event.message for r in store.read_stream(f"w{k}")] == [f"w{k}:{i}" for i in range(40)]
        assert [r.seq for r in store.read_all(0, 1000)] == list(range(1, 321))
    finally:
        store.close()
