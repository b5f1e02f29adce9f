"""An in-memory EventStore with the same semantics as the SQL one (contract-tested)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import attrs

from core.errors import ConcurrencyError, IdempotencyError, RunNotFoundError
from core.events.base import NewEvent, RecordedEvent, RunInfo, RunStatus
from core.events.codec import decode_payload, encode_payload
from core.events.integrity import IntegrityReport


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _check_key(kind: str, value: str) -> None:
    # Same rule as the SQL store: databases cannot hold NUL characters in text.
    if not isinstance(value, str):
        raise TypeError(f"{kind} must be a str, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{kind} {value!r} contains a NUL character, which databases cannot store")


@attrs.frozen
class _Row:
    recorded: RecordedEvent
    type_name: str
    version: int
    payload: str


class InMemoryEventStore:
    """Thread-safe, process-local event store.

    Payloads are encoded and decoded through the codec on every append/read so that
    this store catches exactly the serialisation problems the SQL store would.
    """

    def __init__(self, now: Callable[[], datetime] = _utc_now) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._rows: list[_Row] = []
        self._streams: dict[str, list[_Row]] = {}
        self._by_id: dict[str, _Row] = {}
        self._runs: dict[str, RunInfo] = {}

    def append(self, stream_id: str, expected_version: int, events: Sequence[NewEvent], *,
               run_id: str) -> list[RecordedEvent]:
        _check_key("stream_id", stream_id)
        _check_key("run_id", run_id)
        encoded = [(e, encode_payload(e.event)) for e in events]
        with self._lock:
            stream = self._streams.get(stream_id, [])
            replay = self._match_retry(stream_id, expected_version, encoded)
            if replay is not None:
                return replay
            if len(stream) != expected_version:
                raise ConcurrencyError(stream_id, expected_version, len(stream))
            if len({new.event_id for new, _ in encoded}) != len(encoded):
                raise IdempotencyError(f"a batch for stream {stream_id!r} repeats an event id; "
                                       "every event needs its own id")
            recorded_at = self._now().astimezone(timezone.utc)
            new_rows = []
            for offset, (new, payload) in enumerate(encoded, start=1):
                if str(new.event_id) in self._by_id:
                    raise IdempotencyError(
                        f"event id {new.event_id} was already stored elsewhere; a retry must resend "
                        "the identical batch to the same stream position")
                rec = RecordedEvent(
                    seq=len(self._rows) + len(new_rows) + 1, event_id=new.event_id, stream_id=stream_id,
                    stream_version=expected_version + offset, run_id=run_id,
                    occurred_at=new.occurred_at.astimezone(timezone.utc),
                    recorded_at=recorded_at, correlation_id=new.correlation_id,
                    causation_id=new.causation_id, event=decode_payload(new.event.TYPE, new.event.VERSION, payload))
                new_rows.append(_Row(rec, new.event.TYPE, new.event.VERSION, payload))
            self._rows.extend(new_rows)
            self._streams.setdefault(stream_id, []).extend(new_rows)
            for row in new_rows:
                self._by_id[str(row.recorded.event_id)] = row
            return [r.recorded for r in new_rows]

    def _match_retry(self, stream_id: str, expected_version: int,
                     encoded: list[tuple[NewEvent, str]]) -> list[RecordedEvent] | None:
        if not encoded:
            return None
        first = self._by_id.get(str(encoded[0][0].event_id))
        if first is None:
            return None
        stored = []
        for offset, (new, payload) in enumerate(encoded, start=1):
            row = self._by_id.get(str(new.event_id))
            if (row is None or row.recorded.stream_id != stream_id
                    or row.recorded.stream_version != expected_version + offset
                    or row.type_name != new.event.TYPE or row.version != new.event.VERSION
                    or row.payload != payload or row.recorded.occurred_at != new.occurred_at
                    or row.recorded.correlation_id != new.correlation_id
                    or row.recorded.causation_id != new.causation_id):
                raise IdempotencyError(
                    f"event id {new.event_id} was stored before with different content or position; "
                    "a retry must resend the identical batch")
            stored.append(row.recorded)
        return stored

    def stream_version(self, stream_id: str) -> int:
        with self._lock:
            return len(self._streams.get(stream_id, []))

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        with self._lock:
            return [r.recorded for r in self._streams.get(stream_id, [])[max(from_version, 1) - 1:]]

    def read_all(self, after_seq: int = 0, limit: int = 1000, *,
                 run_id: str | None = None) -> list[RecordedEvent]:
        if limit <= 0:
            return []
        with self._lock:
            out = []
            for row in self._rows[max(after_seq, 0):]:
                if run_id is None or row.recorded.run_id == run_id:
                    out.append(row.recorded)
                    if len(out) >= limit:
                        break
            return out

    def last_seq(self) -> int:
        with self._lock:
            return len(self._rows)

    def start_run(self, run: RunInfo) -> None:
        _check_key("run_id", run.run_id)
        run = attrs.evolve(run, started_at=run.started_at.astimezone(timezone.utc),
                           ended_at=None if run.ended_at is None else run.ended_at.astimezone(timezone.utc))
        with self._lock:
            if run.run_id in self._runs:
                raise ValueError(f"run {run.run_id} already exists")
            self._runs[run.run_id] = run

    def finish_run(self, run_id: str, status: str, ended_at: datetime) -> None:
        with self._lock:
            run = self._resolve(run_id)
            self._runs[run.run_id] = attrs.evolve(run, status=status,
                                                  ended_at=ended_at.astimezone(timezone.utc))

    def claim_run(self, run_id: str) -> RunInfo:
        # One process owns an in-memory store: the lease is always this one's.
        with self._lock:
            run = self._resolve(run_id)
            if run.status != RunStatus.RUNNING:
                run = self._runs[run.run_id] = attrs.evolve(run, status=RunStatus.RUNNING, ended_at=None)
            return run

    def claim_account(self, account: str, run_id: str) -> None:
        # One process owns an in-memory store: no other process can trade through it.
        _check_key("account", account)
        _check_key("run_id", run_id)

    def seal_crashed_runs(self) -> list[str]:
        return []  # no other process can have written it

    def verify(self, run_id: str | None = None) -> IntegrityReport:
        # Nothing outside this process can edit it: there is no chain to check.
        with self._lock:
            if run_id is not None:
                self._resolve(run_id)
            return IntegrityReport(runs_checked=1 if run_id else len(self._runs), events_checked=0, chained=False)

    def get_run(self, run_id: str) -> RunInfo:
        with self._lock:
            return self._resolve(run_id)

    def _resolve(self, run_id: str) -> RunInfo:
        if run_id in self._runs:
            return self._runs[run_id]
        matches = [r for key, r in self._runs.items() if key.startswith(run_id)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFoundError(f"no run {run_id!r}; `sensequant runs list` shows the runs in this store")
        raise RunNotFoundError(f"run id prefix {run_id!r} is ambiguous ({len(matches)} runs); give more characters")

    def list_runs(self, mode: str | None = None, limit: int = 100) -> list[RunInfo]:
        if limit <= 0:
            return []
        with self._lock:
            runs = [r for r in self._runs.values() if mode is None or r.mode == mode]
        # Newest first; equal start times by run id (the SQL store's order too).
        runs.sort(key=lambda r: r.run_id)
        return sorted(runs, key=lambda r: r.started_at, reverse=True)[:limit]

    def close(self) -> None:
        pass
