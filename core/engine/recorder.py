"""Appends one stream's events to the EventStore, in batches or one by one."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime

from core.events.base import Event, NewEvent, RecordedEvent
from ports.event_store import EventStore


_MASK_128 = (1 << 128) - 1


class EventRecorder:
    """Buffers events of one stream and appends them with optimistic concurrency.

    Event ids derive from (run namespace, stream, version): deterministic for
    a run, unique across runs, and stable across a retry of the same batch — which is
    what makes a retried append idempotent. ``batch_size=1`` gives one durable append
    per event (live trading); backtests use large batches (one transaction each).

    ``on_committed`` (optional) receives every committed batch as the store returned it,
    so a caller can fold projections (the run summary) without reading the log back.
    """

    def __init__(self, store: EventStore, *, stream_id: str, run_id: str, namespace: uuid.UUID,
                 batch_size: int = 5000, expected_version: int | None = None,
                 on_committed: Callable[[list[RecordedEvent]], None] | None = None) -> None:
        self.store = store
        self._on_committed = on_committed
        self.stream_id = stream_id
        self.run_id = run_id
        # Ids are (hash of run namespace and stream) + version: deterministic, unique across
        # runs and streams, and far cheaper than a uuid5 per event.
        digest = hashlib.sha256(namespace.bytes + stream_id.encode()).digest()
        self._stream_base = int.from_bytes(digest[:16], "big") & ~0xFFFFFFFF
        self._batch_size = max(batch_size, 1)
        self._version = store.stream_version(stream_id) if expected_version is None else expected_version
        self._buffer: list[NewEvent] = []
        self.appended = 0

    @property
    def version(self) -> int:
        """Version the stream will have once the buffer is flushed."""
        return self._version + len(self._buffer)

    def record(self, event: Event, occurred_at: datetime, *, causation_id: uuid.UUID | None = None,
               correlation_id: uuid.UUID | None = None) -> uuid.UUID:
        version = self._version + len(self._buffer) + 1
        event_id = uuid.UUID(int=(self._stream_base + version) & _MASK_128)
        self._buffer.append(NewEvent(event=event, occurred_at=occurred_at, event_id=event_id,
                                     causation_id=causation_id, correlation_id=correlation_id))
        if len(self._buffer) >= self._batch_size:
            self.flush()
        return event_id

    def flush(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        try:
            committed = self.store.append(self.stream_id, self._version, batch, run_id=self.run_id)
        except Exception:
            # Keep the batch so a caller may retry the identical append (idempotent by id).
            self._buffer = batch + self._buffer
            raise
        self._version += len(batch)
        self.appended += len(batch)
        if self._on_committed is not None:
            self._on_committed(committed)
