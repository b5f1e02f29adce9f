"""The append-only event log every mode writes and every projection reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from core.events.base import NewEvent, RecordedEvent, RunInfo
from core.events.integrity import IntegrityReport


@runtime_checkable
class EventStore(Protocol):
    """Append-only, totally ordered event log with optimistic concurrency per stream.

    Streams are identified by string ids; versions start at 1 and are contiguous.
    ``seq`` is the global order assigned by the store; replay orders by it, never by
    timestamps. A reader that has seen ``seq = n`` never later sees an event with
    ``seq <= n`` appear (no gaps are filled in behind a tailing reader).
    """

    def append(self, stream_id: str, expected_version: int, events: Sequence[NewEvent], *,
               run_id: str) -> list[RecordedEvent]:
        """Append ``events`` atomically after ``expected_version`` (0 for a new stream).

        Returns the recorded events with their ``seq`` and ``stream_version``.
        Raises ``ConcurrencyError`` if the stream is not at ``expected_version``;
        nothing is written then. Re-appending exactly the same event ids and content at
        the same position is a no-op that returns the stored events; the same ids with
        different content raise ``IdempotencyError``.
        """
        ...

    def stream_version(self, stream_id: str) -> int:
        """Current version of a stream (0 if it does not exist)."""
        ...

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        """Events of one stream in version order, starting at ``from_version``."""
        ...

    def read_all(self, after_seq: int = 0, limit: int = 1000, *,
                 run_id: str | None = None) -> list[RecordedEvent]:
        """A page of the global log: events with ``seq > after_seq``, at most ``limit``.

        Poll with the last ``seq`` seen to tail the log.
        """
        ...

    def last_seq(self) -> int:
        """The highest committed ``seq`` visible to readers (0 when empty)."""
        ...

    def start_run(self, run: RunInfo) -> None:
        """Insert a runs-table row."""
        ...

    def finish_run(self, run_id: str, status: str, ended_at: datetime) -> None:
        """Mark a run ended with ``status``."""
        ...

    def claim_run(self, run_id: str) -> RunInfo:
        """Become the one writer of an existing run (to resume it) and mark it running.

        ``LeaseHeldError`` names the holder while another live process writes the run.
        """
        ...

    def claim_account(self, account: str, run_id: str) -> None:
        """Become the one process trading broker ``account`` (for run ``run_id``) until
        ``close``; ``LeaseHeldError`` names the holder while another live process trades it.
        Losing the lease later (this process stopped heartbeating and another took over)
        refuses further appends of ``run_id``."""
        ...

    def seal_crashed_runs(self) -> list[str]:
        """Mark ``crashed`` the runs still ``running`` whose writer is gone; their ids."""
        ...

    def verify(self, run_id: str | None = None) -> IntegrityReport:
        """Recompute the tamper-evident hash chain of one run, or of every run (None)."""
        ...

    def get_run(self, run_id: str) -> RunInfo:
        """One run; ``RunNotFoundError`` if absent. A unique prefix of the id is accepted."""
        ...

    def list_runs(self, mode: str | None = None, limit: int = 100) -> list[RunInfo]:
        """Runs, newest first."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
