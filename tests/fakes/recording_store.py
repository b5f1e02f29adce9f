"""An EventStore that forwards to a real one and records every ``read_all`` call (after_seq,
limit, run_id) in a public list, so tests can check that a reader only asks for new events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.events.base import NewEvent, RecordedEvent, RunInfo
from ports.event_store import EventStore


class RecordingEventStore:
    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.reads: list[tuple[int, int, str | None]] = []

    def append(self, stream_id: str, expected_version: int, events: Sequence[NewEvent], *,
               run_id: str) -> list[RecordedEvent]:
        return self.inner.append(stream_id, expected_version, events, run_id=run_id)

    def stream_version(self, stream_id: str) -> int:
        return self.inner.stream_version(stream_id)

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        return self.inner.read_stream(stream_id, from_version)

    def read_all(self, after_seq: int = 0, limit: int = 1000, *, run_id: str | None = None) -> list[RecordedEvent]:
        self.reads.append((after_seq, limit, run_id))
        return self.inner.read_all(after_seq, limit, run_id=run_id)

    def last_seq(self) -> int:
        return self.inner.last_seq()

    def start_run(self, run: RunInfo) -> None:
        self.inner.start_run(run)

    def finish_run(self, run_id: str, status: str, ended_at: datetime) -> None:
        self.inner.finish_run(run_id, status, ended_at)

    def claim_run(self, run_id: str) -> RunInfo:
        return self.inner.claim_run(run_id)

    def claim_account(self, account: str, run_id: str) -> None:
        self.inner.claim_account(account, run_id)

    def seal_crashed_runs(self) -> list[str]:
        return self.inner.seal_crashed_runs()

    def verify(self, run_id: str | None = None):
        return self.inner.verify(run_id)

    def get_run(self, run_id: str) -> RunInfo:
        return self.inner.get_run(run_id)

    def list_runs(self, mode: str | None = None, limit: int = 100) -> list[RunInfo]:
        return self.inner.list_runs(mode, limit)

    def close(self) -> None:
        self.inner.close()
