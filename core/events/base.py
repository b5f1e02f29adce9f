"""Event base class, the type registry and the envelopes events travel in.

An event is a frozen attrs value object named in the past tense. Its class carries a
stable ``TYPE`` string and an integer ``VERSION``; both are stored next to the payload
so that old payloads can be upcast one version at a time (see ``codec``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Callable, ClassVar, TypeVar

import attrs

from core.errors import UnknownEventTypeError


class Event:
    """Marker base of every domain event. Subclasses are registered with ``@event_type``."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]


E = TypeVar("E", bound=type[Event])

_REGISTRY: dict[str, type[Event]] = {}


def event_type(type_name: str, version: int) -> Callable[[E], E]:
    """Register an event class under a stable type name and its current version.

    The type name never changes once released; a schema change bumps ``version`` and
    adds an upcaster from the previous version in ``core.events.codec``.
    """

    def register(cls: E) -> E:
        if not attrs.has(cls):
            raise TypeError(f"{cls.__name__} must be an attrs class")
        existing = _REGISTRY.get(type_name)
        if existing is not None and existing is not cls:
            raise ValueError(f"event type {type_name!r} is already registered by {existing.__name__}")
        cls.TYPE = type_name
        cls.VERSION = version
        _REGISTRY[type_name] = cls
        return cls

    return register


def event_class(type_name: str) -> type[Event]:
    """The class registered for ``type_name``."""
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise UnknownEventTypeError(
            f"unknown event type {type_name!r}; this build knows {len(_REGISTRY)} types — "
            "upgrade SenseQuant to read events written by a newer version"
        ) from None


def registered_event_types() -> dict[str, type[Event]]:
    """A copy of the registry: type name -> class."""
    return dict(_REGISTRY)


def _aware(instance: object, attribute: attrs.Attribute, value: datetime) -> None:
    tz = value.tzinfo
    if tz is None or (tz is not timezone.utc and value.utcoffset() is None):
        raise ValueError(f"{attribute.name} must be timezone-aware, got {value!r}")


@attrs.frozen(kw_only=True)
class NewEvent:
    """An event about to be appended, with the envelope fields its author decides.

    ``event_id`` makes retries idempotent: appending the same ids again is a no-op.
    ``occurred_at`` is market or simulated time, never the wall clock of the writer.
    """

    event: Event
    occurred_at: datetime = attrs.field(validator=_aware)
    event_id: uuid.UUID = attrs.field(factory=uuid.uuid4)
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None


@attrs.frozen(kw_only=True)
class RecordedEvent:
    """An event as the store holds it. ``seq`` is the global order and orders replay."""

    seq: int
    event_id: uuid.UUID
    stream_id: str
    stream_version: int
    run_id: str
    occurred_at: datetime
    recorded_at: datetime
    correlation_id: uuid.UUID | None
    causation_id: uuid.UUID | None
    event: Event

    @property
    def type(self) -> str:
        return self.event.TYPE


class RunStatus:
    """Status values of a run row."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    # Its writer stopped heartbeating without finishing the run (kill -9, power loss, a
    # crash): sealed so by the next process that opens the store. It may be resumed.
    CRASHED = "crashed"
    # A live session of a run that outlives it (an account carried from day to day) ended
    # at the market close; the next session continues it with --resume.
    SESSION_CLOSED = "session_closed"
    ALL = (RUNNING, COMPLETED, FAILED, INTERRUPTED, CRASHED, SESSION_CLOSED)


@attrs.frozen(kw_only=True)
class RunInfo:
    """One row of the runs table: what ran, with what, on which data, and how it ended."""

    run_id: str
    mode: str
    config_hash: str
    code_version: str
    data_fingerprint: str
    started_at: datetime = attrs.field(validator=_aware)
    ended_at: datetime | None = None
    status: str = RunStatus.RUNNING
    label: str = ""
