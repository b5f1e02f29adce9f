"""Typed errors a user can cause. Every message names what is wrong and how to fix it."""

from __future__ import annotations


class SenseQuantError(Exception):
    """Base class of every error SenseQuant raises on purpose."""


class ConfigError(SenseQuantError):
    """A configuration value is missing, malformed or out of range."""


class DataError(SenseQuantError):
    """Market data failed validation.

    The message names the file, the 1-based row number (data rows, header excluded,
    as a spreadsheet shows them minus one) and the column where known.
    """

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None,
                 column: str | None = None) -> None:
        self.path = path
        self.row = row
        self.column = column
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.reason = message


class ConcurrencyError(SenseQuantError):
    """An append was made against a stream version that is no longer current."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int) -> None:
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"stream {stream_id!r} is at version {actual_version}, but the append expected "
            f"{expected_version}; re-read the stream and retry the decision"
        )


class IdempotencyError(SenseQuantError):
    """An event id was appended before with different content (a corrupted retry)."""


class SchemaOutOfDateError(SenseQuantError):
    """The event store schema is older (or newer) than this code expects."""


class UnknownEventTypeError(SenseQuantError):
    """A stored payload names an event type or version this code does not know."""


class RunNotFoundError(SenseQuantError):
    """No run with the given id exists in the event store."""


# ------------------------------------------------------------- broker and feeds (adapters)


class BrokerError(SenseQuantError):
    """The broker or market-data API refused or failed a request."""


class BrokerSessionError(BrokerError):
    """The broker session is missing, invalid or expired (Breeze session keys expire daily).

    The fix is always the same: log in again in the browser, copy the new session token into
    ``BREEZE_SESSION_TOKEN`` (environment or ``.env``) and restart.
    """


class BrokerDailyLimitError(BrokerError):
    """The broker's daily API call quota is used up; retrying today cannot succeed."""


class BrokerApiError(BrokerError):
    """The broker answered with an error that retrying will not fix (bad parameters, unknown code)."""


# ------------------------------------------------------------------ learning / model registry


class ModelRegistryError(SenseQuantError):
    """The model registry cannot do what was asked (unknown model, nothing to roll back to)."""


class ModelNotFoundError(ModelRegistryError):
    """No model with the given id (or unique prefix) is in the registry."""


class ModelIntegrityError(ModelRegistryError):
    """A stored model file does not match its SHA-256 manifest; it was not loaded."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class StoreUnavailableError(SenseQuantError):
    """The event store could not be reached or stayed locked by another writer too long."""


class ReconciliationError(BrokerError):
    """On restart the broker and the event log disagree: the session refuses to trade."""


class ResumeError(SenseQuantError):
    """A run cannot be resumed (unknown, finished, another mode, or a log that contradicts itself)."""


class SchedulerLockedError(SenseQuantError):
    """Another scheduler already runs on this job store (it holds the store's lock file)."""


class ReleaseError(SenseQuantError):
    """A release cannot be audited, deployed or rolled back as asked (the message says why)."""


class ReleaseIntegrityError(ReleaseError):
    """A file of a release bundle (or its model) differs from the SHA-256 its manifest records."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class DestructiveActionRefusedError(SenseQuantError):
    """A command would delete stored events or runs and was not explicitly confirmed."""


class LeaseHeldError(SenseQuantError):
    """Another live process holds the run's writer lease (one writer per run)."""


class IntegrityViolationError(SenseQuantError):
    """The event log's hash chain does not match what is stored: events or runs were edited."""


class NegativeEquityError(SenseQuantError):
    """A fill or mark would take a book's equity below zero: the book stops instead of misreporting."""


class ProjectionConflictError(SenseQuantError):
    """A read-model batch was built on a position that is no longer the stored one (another
    projector moved the run first); nothing was written."""

    def __init__(self, run_id: str, expected_seq: int, actual_seq: int) -> None:
        self.run_id = run_id
        self.expected_seq = expected_seq
        self.actual_seq = actual_seq
        super().__init__(
            f"the read models of run {run_id} are at seq {actual_seq}, but this batch was folded from seq "
            f"{expected_seq}; another projector is updating them: read them again (they are caught up "
            "from the stored position)")
