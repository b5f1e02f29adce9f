"""The EventStore port on SQL (SQLAlchemy Core): SQLite by default, PostgreSQL by URL.

Semantics mirror ``adapters.memory.InMemoryEventStore`` exactly (one contract suite runs
over both). How the guarantees are obtained:

* An append is one transaction that first takes the table's write lock — ``BEGIN
  IMMEDIATE`` on SQLite, ``LOCK TABLE events IN EXCLUSIVE MODE`` on PostgreSQL — then
  checks the stream version and assigns ``seq = max(seq) + 1 ...`` itself. Appends are
  therefore serialised: commit order equals ``seq`` order, ``seq`` has no gaps, and a
  reader tailing ``read_all`` can never see ``seq = n`` before a lower ``seq`` commits.
  (PostgreSQL readers are not blocked: EXCLUSIVE conflicts only with writers.)
* A batch is all or nothing: any error rolls the transaction back.
* Retries are idempotent by event id: when the event at ``expected_version + 1`` has
  the batch's first id, the stored batch is compared field by field (type, version,
  canonical payload bytes, occurred_at, correlation/causation ids) and returned, or
  ``IdempotencyError`` raised. A unique index on ``event_id`` refuses an id stored
  anywhere else (it costs about a quarter of the batched-append throughput on SQLite,
  because random ids make every insert touch a different index page).
* Durable stores (``durable=True``: an fsync per commit) group-commit: appends that
  arrive from several threads while a commit is under way share the next transaction
  and its one fsync, each in its own savepoint so that one append's conflict fails
  only that append; every caller returns only after the commit holding its events.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from typing import Any, NamedTuple

import sqlalchemy as sa

from adapters.sql import engine as engine_settings
from adapters.sql import integrity, leases
from adapters.sql.tables import events as ev
from adapters.sql.tables import runs as rn
from core.errors import (
    ConcurrencyError,
    IdempotencyError,
    LeaseHeldError,
    RunNotFoundError,
    SenseQuantError,
    StoreUnavailableError,
)
from core.events.base import NewEvent, RecordedEvent, RunInfo
from core.events.codec import decode_payload, encode_payload
from core.events.integrity import IntegrityReport

UTC = timezone.utc


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _check_key(kind: str, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{kind} must be a str, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{kind} {value!r} contains a NUL character, which databases cannot store")


class _Row(NamedTuple):
    seq: int
    event_id: Any
    stream_id: str
    stream_version: int
    run_id: str
    type: str
    version: int
    occurred_at: Any
    recorded_at: Any
    correlation_id: Any
    causation_id: Any
    payload: str


class _GroupedAppend:
    """One caller's append waiting for (or done by) a group commit."""

    __slots__ = ("stream_id", "expected_version", "encoded", "run_id", "result", "error", "done")

    def __init__(self, stream_id: str, expected_version: int, encoded: list[tuple[NewEvent, str]],
                 run_id: str) -> None:
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.encoded = encoded
        self.run_id = run_id
        self.result: list[RecordedEvent] = []
        self.error: BaseException | None = None
        self.done = False


def _unavailable(exc: Exception, url: sa.URL) -> SenseQuantError:
    where = url.render_as_string(hide_password=True)
    if "locked" in str(exc).lower() or "busy" in str(exc).lower():
        return StoreUnavailableError(
            f"the event store {where} stayed locked by another writer for "
            f"{engine_settings.BUSY_TIMEOUT_MS / 1000:g} s ({exc}); stop the other SenseQuant process or retry")
    return StoreUnavailableError(f"the event store {where} failed: {exc}; check that it is reachable "
                                 "and the disk is not full")


class SqlEventStore:
    """EventStore on a SQLAlchemy engine made by ``adapters.sql.engine.create_engine``."""

    def __init__(self, engine: sa.Engine, *, durable: bool = False,
                 now: Callable[[], datetime] = _utc_now, lease_ttl_s: float = leases.DEFAULT_TTL_S) -> None:
        self._engine = engine
        # One writer per run (adapters.sql.leases): the runs this store object holds.
        self._holder = leases.new_holder()
        self._lease_ttl_ms = int(lease_ttl_s * 1000)
        self._held: set[str] = set()
        self._lost: set[str] = set()
        # account lease key -> the run trading it: losing that lease stops that run's appends.
        self._account_runs: dict[str, str] = {}
        self._leases_lock = threading.Lock()
        self._heartbeat_stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._now = now
        self.durable = durable
        self._sqlite = engine.dialect.name == "sqlite"
        if self._sqlite:
            self._ts_db: Callable[[datetime], Any] = _iso_utc
            self._ts_py: Callable[[Any], datetime] = datetime.fromisoformat
        else:
            self._ts_db = _same_value
            self._ts_py = _to_utc
        self._dbapi = engine.dialect.loaded_dbapi
        self._write_lock = threading.Lock()
        self._group_lock = threading.Lock()  # held by the leader while it commits a group
        self._queue_ready = threading.Condition()
        self._leading = False
        self._queue: list[_GroupedAppend] = []
        self.group_commits = 0  # durable commits made; appends / group_commits = appends per fsync
        self._writer: Any = None
        self._pid = os.getpid()
        if self._sqlite:
            self._id_db: Callable[[uuid.UUID], Any] = _uuid_bytes
            self._id_py: Callable[[Any], uuid.UUID] = _bytes_uuid
        else:
            self._id_db = _same_value
            self._id_py = _same_value
        columns = ", ".join(c.name for c in ev.columns)
        placeholders = ", ".join("?" for _ in ev.columns)
        sql = {
            "insert": f"INSERT INTO events ({columns}) VALUES ({placeholders})",
            "state": "SELECT (SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = ?), "
                     "(SELECT coalesce(max(seq), 0) FROM events)",
            "state_and_slot": "SELECT (SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = ?), "
                              "(SELECT coalesce(max(seq), 0) FROM events), "
                              "(SELECT event_id FROM events WHERE stream_id = ? AND stream_version = ?)",
            "find_id": "SELECT seq FROM events WHERE event_id = ?",
            "chain_head": "SELECT chain_hash FROM event_hashes WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
            "insert_hash": "INSERT INTO event_hashes (seq, run_id, chain_hash) VALUES (?, ?, ?)",
            "range": f"SELECT {columns} FROM events WHERE stream_id = ? AND stream_version > ? "
                     "AND stream_version <= ? ORDER BY stream_version",
        }
        if not self._sqlite:  # psycopg takes %s placeholders
            sql = {k: v.replace("?", "%s") for k, v in sql.items()}
        self._sql_insert = sql["insert"]
        self._sql_state = sql["state"]
        self._sql_state_and_slot = sql["state_and_slot"]
        self._sql_find_id = sql["find_id"]
        self._sql_chain_head = sql["chain_head"]
        self._sql_insert_hash = sql["insert_hash"]
        self._sql_range = sql["range"]

    def _after_fork(self) -> None:
        """In a forked child, drop (never use or close) the parent's connections."""
        if self._pid != os.getpid():
            self._writer = None
            # Leases belong to the parent process (and its heartbeat thread did not fork).
            self._held, self._lost, self._heartbeat = set(), set(), None
            self._account_runs = {}
            self._holder = leases.new_holder()
            self._engine.dispose(close=False)
            self._pid = os.getpid()

    def _connect(self) -> sa.Connection:
        self._after_fork()
        return self._engine.connect()

    def _begin(self) -> Any:
        """A write transaction: on SQLite it takes the write lock up front (``BEGIN IMMEDIATE``).

        A deferred transaction that reads and then writes (``finish_run`` resolves the id
        first) cannot wait for the lock at its first write; it fails at once with
        "database is locked", whatever the busy timeout. Every write path goes through here
        or through ``_write``.
        """
        self._after_fork()
        return self._engine.execution_options(**{engine_settings.SQLITE_BEGIN: "IMMEDIATE"}).begin()

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    # ------------------------------------------------------------------ writing
    #
    # The append path is the hot path (a backtest writes every decision, order and fill),
    # so it runs driver-level SQL on a pooled DBAPI connection: building SQLAlchemy
    # expressions per call costs more than the SQL itself. Everything else uses Core.

    @contextmanager
    def _write(self, *, pipelined: bool = True) -> Iterator[Any]:
        """A DBAPI cursor inside a transaction that holds the events write lock.

        Appends of one store object share one dedicated connection (serialised by a
        thread lock: the database serialises writers anyway), which saves a pool
        checkout and reset per append. A connection that failed is discarded.
        """
        with self._write_lock:
            self._after_fork()
            try:
                if self._writer is None:
                    self._writer = self._engine.raw_connection()
                raw = self._writer
                # PostgreSQL: pipeline mode sends LOCK with the state query, and the INSERT
                # with the COMMIT, so an append costs two round trips instead of four.
                # Errors then surface at the sync points (fetch, commit).
                # A group commit runs without it: each append's errors must surface at its
                # own statements, to roll back that append alone (to its savepoint).
                pipeline = (nullcontext() if self._sqlite or not pipelined
                            else raw.driver_connection.pipeline())
                cur = raw.cursor()
                try:
                    # Any failure: leave pipeline mode first (its exit settles the queued
                    # results), then roll back on the plain connection.
                    with pipeline:
                        if self._sqlite:
                            cur.execute("BEGIN IMMEDIATE")
                        else:
                            cur.execute("LOCK TABLE events IN EXCLUSIVE MODE")
                        yield cur
                        raw.commit()
                except BaseException:
                    raw.rollback()
                    raise
                finally:
                    cur.close()
            except self._dbapi.IntegrityError:
                raise  # rolled back; the connection is fine
            except self._dbapi.OperationalError as exc:
                self._discard_writer()
                raise _unavailable(exc, self._engine.url) from exc
            except self._dbapi.Error:
                self._discard_writer()
                raise

    def _discard_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.invalidate()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass

    def append(self, stream_id: str, expected_version: int, events: Sequence[NewEvent], *,
               run_id: str) -> list[RecordedEvent]:
        _check_key("stream_id", stream_id)
        _check_key("run_id", run_id)
        if run_id in self._lost:
            raise LeaseHeldError(f"this process lost the writer lease of run {run_id} or of the account it "
                                 "trades (it stopped heartbeating long enough for another process to take "
                                 "over); nothing more is written")
        encoded = [(new, encode_payload(new.event)) for new in events]
        if self.durable:
            return self._append_grouped(_GroupedAppend(stream_id, expected_version, encoded, run_id))
        try:
            with self._write() as cur:
                return self._append_locked(cur, stream_id, expected_version, encoded, run_id)
        except self._dbapi.IntegrityError as exc:
            # Raised by the INSERT (SQLite) or at COMMIT (PostgreSQL pipeline); rolled back.
            raise self._integrity_error(exc, stream_id) from None

    def _integrity_error(self, exc: Exception, stream_id: str) -> Exception:
        if "event_id" in str(exc).lower():
            return IdempotencyError(
                f"an event id of this batch for stream {stream_id!r} was already stored elsewhere; "
                "a retry must resend the identical batch to the same stream position")
        return exc

    # Group commit (durable stores). A durable commit costs an fsync, so appends from
    # several threads share one: each append joins a queue; one caller at a time is the
    # leader, which takes the whole queue and runs it as ONE transaction, every append in
    # its own savepoint (an append that fails — stale version, reused id — is rolled
    # back alone and its caller gets its error), then commits once and wakes the others.
    # Appends queued meanwhile go together in the next group. Each caller returns only
    # after the commit that holds its events; a failed commit fails every append of the
    # group (none of them is stored).

    def _append_grouped(self, request: "_GroupedAppend") -> list[RecordedEvent]:
        ready = self._queue_ready
        with ready:
            self._queue.append(request)
            while not request.done:
                if self._leading:
                    ready.wait()
                    continue
                self._leading = True
                ready.release()
                try:
                    with self._group_lock:
                        with ready:
                            group, self._queue = self._queue, []
                        self._commit_group(group)
                finally:
                    ready.acquire()
                    self._leading = False
                    ready.notify_all()
        if request.error is not None:
            raise request.error
        return request.result

    def _commit_group(self, group: list["_GroupedAppend"]) -> None:
        if len(group) == 1:
            self._commit_alone(group[0])
            return
        try:
            with self._write(pipelined=False) as cur:
                for request in group:
                    cur.execute("SAVEPOINT grouped_append")
                    try:
                        request.result = self._append_locked(cur, request.stream_id, request.expected_version,
                                                             request.encoded, request.run_id)
                    except (ConcurrencyError, IdempotencyError) as exc:
                        cur.execute("ROLLBACK TO SAVEPOINT grouped_append")
                        request.error = exc
                    except self._dbapi.IntegrityError as exc:
                        cur.execute("ROLLBACK TO SAVEPOINT grouped_append")
                        request.error = self._integrity_error(exc, request.stream_id)
                    cur.execute("RELEASE SAVEPOINT grouped_append")
            self.group_commits += 1
        except BaseException as exc:
            for request in group:
                request.result, request.error = [], exc
            if not isinstance(exc, Exception):
                raise
        finally:
            for request in group:
                request.done = True

    def _append_locked(self, cur: Any, stream_id: str, expected_version: int,
                       encoded: list[tuple[NewEvent, str]], run_id: str) -> list[RecordedEvent]:
        if encoded:
            cur.execute(self._sql_state_and_slot,
                        (stream_id, stream_id, expected_version + 1))
            version, last, slot_id = cur.fetchone()
        else:
            cur.execute(self._sql_state, (stream_id,))
            (version, last), slot_id = cur.fetchone(), None
        if slot_id is not None and self._id_py(slot_id) == encoded[0][0].event_id:
            return self._replay(cur, stream_id, expected_version, encoded)
        if version != expected_version:
            if encoded:
                self._refuse_reused_id(cur, encoded[0][0])
            raise ConcurrencyError(stream_id, expected_version, version)
        if not encoded:
            return []
        return self._insert_batch(cur, stream_id, expected_version, last, run_id, encoded)

    def _insert_batch(self, cur: Any, stream_id: str, expected_version: int, last_seq: int,
                      run_id: str, encoded: list[tuple[NewEvent, str]]) -> list[RecordedEvent]:
        recorded_at = self._now().astimezone(UTC)
        ts_db = self._ts_db
        id_db = self._id_db
        recorded_db = ts_db(recorded_at)
        times: dict[datetime, tuple[datetime, Any]] = {}
        rows = []
        out = []
        for offset, (new, payload) in enumerate(encoded, start=1):
            occurred_at = new.occurred_at
            converted = times.get(occurred_at)
            if converted is None:  # equal aware datetimes are the same instant: same UTC value
                utc = occurred_at.astimezone(UTC)
                converted = times[occurred_at] = (utc, ts_db(utc))
            event = new.event
            correlation_id = new.correlation_id
            causation_id = new.causation_id
            rows.append((last_seq + offset, id_db(new.event_id), stream_id, expected_version + offset, run_id,
                         event.TYPE, event.VERSION, converted[1], recorded_db,
                         None if correlation_id is None else id_db(correlation_id),
                         None if causation_id is None else id_db(causation_id), payload))
            out.append(RecordedEvent(
                seq=last_seq + offset, event_id=new.event_id, stream_id=stream_id,
                stream_version=expected_version + offset, run_id=run_id, occurred_at=converted[0],
                recorded_at=recorded_at, correlation_id=correlation_id, causation_id=causation_id,
                event=event))
        if len({r.event_id for r in out}) != len(out):
            raise IdempotencyError(f"a batch for stream {stream_id!r} repeats an event id; "
                                   "every event needs its own id")
        # --- integrity hook (adapters.sql.integrity): extend the run's hash chain in this
        # same transaction, over the exact rows inserted below. The head is read BEFORE the
        # inserts: in psycopg's pipeline mode a fetch right after an executemany on the same
        # cursor can, rarely, see the INSERT's result instead of the SELECT's ("the last
        # operation didn't produce records"); the hash table is not touched by the inserts,
        # so the head is the same either way and the round trips are as many.
        cur.execute(self._sql_chain_head, (run_id,))
        head = cur.fetchone()
        if len(rows) == 1:
            cur.execute(self._sql_insert, rows[0])
        else:
            cur.executemany(self._sql_insert, rows)
        cur.executemany(self._sql_insert_hash, integrity.chain(integrity.GENESIS if head is None else head[0], rows))
        # --- end of integrity hook
        return out

    def _refuse_reused_id(self, cur: Any, new: NewEvent) -> None:
        """Before a ConcurrencyError: a first id stored elsewhere is a corrupted retry instead."""
        cur.execute(self._sql_find_id, (self._id_db(new.event_id),))
        if cur.fetchone() is not None:
            raise IdempotencyError(
                f"event id {new.event_id} was stored before with different content or position; "
                "a retry must resend the identical batch")

    def _replay(self, cur: Any, stream_id: str, expected_version: int,
                encoded: list[tuple[NewEvent, str]]) -> list[RecordedEvent]:
        cur.execute(self._sql_range, (stream_id, expected_version, expected_version + len(encoded)))
        rows = [_Row(*values) for values in cur.fetchall()]
        stored = {row.stream_version: row for row in rows}
        for offset, (new, payload) in enumerate(encoded, start=1):
            row = stored.get(expected_version + offset)
            if row is None or not self._same(row, new, payload):
                raise IdempotencyError(
                    f"event id {new.event_id} was stored before with different content or position; "
                    "a retry must resend the identical batch")
        return [self._recorded(row) for row in rows]

    def _same(self, row: Any, new: NewEvent, payload: str) -> bool:
        return (self._id_py(row.event_id) == new.event_id and row.type == new.event.TYPE
                and row.version == new.event.VERSION and row.payload == payload
                and self._ts_py(row.occurred_at) == new.occurred_at
                and self._opt_id_py(row.correlation_id) == new.correlation_id
                and self._opt_id_py(row.causation_id) == new.causation_id)

    def _commit_alone(self, request: "_GroupedAppend") -> None:
        """A group of one: the plain (pipelined) append, no savepoint needed."""
        try:
            with self._write() as cur:
                request.result = self._append_locked(cur, request.stream_id, request.expected_version,
                                                     request.encoded, request.run_id)
            self.group_commits += 1
        except self._dbapi.IntegrityError as exc:
            request.result, request.error = [], self._integrity_error(exc, request.stream_id)
        except BaseException as exc:
            request.result, request.error = [], exc
            if not isinstance(exc, Exception):
                raise
        finally:
            request.done = True

    # ------------------------------------------------------------------ reading

    def _opt_id_py(self, value: Any) -> uuid.UUID | None:
        return None if value is None else self._id_py(value)

    def _records(self, rows: Sequence[Any]) -> list[RecordedEvent]:
        """``_recorded`` for a page of rows: times repeat (every event of a batch has one
        recorded_at, every event of a bar one occurred_at), so each distinct stored value
        is converted once per page."""
        times: dict[Any, datetime] = {}
        ts_py, id_py = self._ts_py, self._id_py
        out: list[RecordedEvent] = []
        self._decode_rows(rows, times, ts_py, id_py, out)
        return out

    @staticmethod
    def _decode_rows(rows: Sequence[Any], times: dict[Any, datetime], ts_py: Callable[[Any], datetime],
                     id_py: Callable[[Any], uuid.UUID], out: list[RecordedEvent]) -> None:
        for row in rows:
            occurred = times.get(row.occurred_at)
            if occurred is None:
                occurred = times[row.occurred_at] = ts_py(row.occurred_at)
            recorded = times.get(row.recorded_at)
            if recorded is None:
                recorded = times[row.recorded_at] = ts_py(row.recorded_at)
            correlation, causation = row.correlation_id, row.causation_id
            out.append(RecordedEvent(
                seq=row.seq, event_id=id_py(row.event_id), stream_id=row.stream_id,
                stream_version=row.stream_version, run_id=row.run_id, occurred_at=occurred,
                recorded_at=recorded, correlation_id=None if correlation is None else id_py(correlation),
                causation_id=None if causation is None else id_py(causation),
                event=decode_payload(row.type, row.version, row.payload)))

    def _recorded(self, row: Any) -> RecordedEvent:
        return RecordedEvent(
            seq=row.seq, event_id=self._id_py(row.event_id), stream_id=row.stream_id,
            stream_version=row.stream_version, run_id=row.run_id, occurred_at=self._ts_py(row.occurred_at),
            recorded_at=self._ts_py(row.recorded_at), correlation_id=self._opt_id_py(row.correlation_id),
            causation_id=self._opt_id_py(row.causation_id),
            event=decode_payload(row.type, row.version, row.payload))

    def _version(self, conn: sa.Connection, stream_id: str) -> int:
        return conn.execute(sa.select(sa.func.coalesce(sa.func.max(ev.c.stream_version), 0))
                            .where(ev.c.stream_id == stream_id)).scalar_one()

    def stream_version(self, stream_id: str) -> int:
        with self._connect() as conn:
            return self._version(conn, stream_id)

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        with _no_collector_pauses(), self._connect() as conn:
            rows = conn.execute(sa.select(ev).where(ev.c.stream_id == stream_id,
                                                    ev.c.stream_version >= max(from_version, 1))
                                .order_by(ev.c.stream_version)).all()
            return self._records(rows)

    def read_all(self, after_seq: int = 0, limit: int = 1000, *,
                 run_id: str | None = None) -> list[RecordedEvent]:
        if limit <= 0:
            return []
        query = sa.select(ev).where(ev.c.seq > after_seq)
        if run_id is not None:
            query = query.where(ev.c.run_id == run_id)
        with _no_collector_pauses(), self._connect() as conn:
            rows = conn.execute(query.order_by(ev.c.seq).limit(limit)).all()
            return self._records(rows)

    def last_seq(self) -> int:
        with self._connect() as conn:
            return conn.execute(sa.select(sa.func.coalesce(sa.func.max(ev.c.seq), 0))).scalar_one()

    # --------------------------------------------------------------------- runs

    def start_run(self, run: RunInfo) -> None:
        _check_key("run_id", run.run_id)
        values = {
            "run_id": run.run_id, "mode": run.mode, "config_hash": run.config_hash,
            "code_version": run.code_version, "data_fingerprint": run.data_fingerprint,
            "started_at": self._ts_db(run.started_at.astimezone(UTC)),
            "ended_at": None if run.ended_at is None else self._ts_db(run.ended_at.astimezone(UTC)),
            "status": run.status, "label": run.label,
        }
        values |= self._sealed(values, integrity.GENESIS, 0)
        try:
            with self._begin() as conn:
                conn.execute(rn.insert(), values)
                if run.status == "running":
                    leases.acquire(conn, run.run_id, self._holder, _now_ms(), self._lease_ttl_ms)
        except sa.exc.IntegrityError:
            raise ValueError(f"run {run.run_id} already exists") from None
        if run.status == "running":
            self._hold(run.run_id)

    def _sealed(self, values: dict[str, Any], head: str, count: int) -> dict[str, Any]:
        return {"chain_head": head, "chain_events": count, "row_hash": integrity.run_row_hash(values, head, count)}

    def _reseal(self, conn: sa.Connection, run_id: str, **changes: Any) -> None:
        """Update a runs row (status, end time) and re-hash it at the run's current chain head."""
        row = conn.execute(sa.select(*[rn.c[name] for name in integrity.RUN_FIELDS])
                           .where(rn.c.run_id == run_id)).mappings().one()
        values = dict(row) | changes
        head, count = integrity.chain_head(conn, run_id)
        conn.execute(rn.update().where(rn.c.run_id == run_id).values(**changes, **self._sealed(values, head, count)))

    def finish_run(self, run_id: str, status: str, ended_at: datetime) -> None:
        with self._begin() as conn:
            run = self._resolve(conn, run_id)
            self._reseal(conn, run.run_id, status=status, ended_at=self._ts_db(ended_at.astimezone(UTC)))
            leases.release(conn, run.run_id, self._holder)
        self._unhold(run.run_id)

    def claim_run(self, run_id: str) -> RunInfo:
        """Take the writer lease of an existing run (``--resume``) and mark it running again.

        Refused with ``LeaseHeldError`` naming the holder while another process's lease is live.
        """
        with self._begin() as conn:
            run = self._resolve(conn, run_id)
            leases.acquire(conn, run.run_id, self._holder, _now_ms(), self._lease_ttl_ms)
            if run.status != "running":
                self._reseal(conn, run.run_id, status="running", ended_at=None)
        self._hold(run.run_id)
        return self.get_run(run.run_id)

    def claim_account(self, account: str, run_id: str) -> None:
        """Take the one-trader lease of broker ``account`` for ``run_id`` until ``close``.

        Refused with ``LeaseHeldError`` naming the holder while another process's lease is live.
        """
        _check_key("account", account)
        _check_key("run_id", run_id)
        key = leases.account_key(account)
        with self._begin() as conn:
            leases.acquire(conn, key, self._holder, _now_ms(), self._lease_ttl_ms)
        with self._leases_lock:
            self._account_runs[key] = run_id
        self._hold(key)

    def seal_crashed_runs(self) -> list[str]:
        """Mark ``crashed`` every run still ``running`` whose writer is gone; returns their ids."""
        now = _now_ms()
        with self._connect() as conn:
            if not leases.crashed_run_ids(conn, now):
                return []
        with self._begin() as conn:
            leases.lock_leases(conn)
            sealed = leases.crashed_run_ids(conn, now)
            for run_id in sealed:
                last = conn.execute(sa.select(sa.func.max(ev.c.recorded_at)).where(ev.c.run_id == run_id)).scalar()
                self._reseal(conn, run_id, status="crashed", ended_at=last if last is not None else
                             self._ts_db(self._now().astimezone(UTC)))
                conn.execute(sa.text("DELETE FROM run_leases WHERE run_id = :run_id"), {"run_id": run_id})
        return sealed

    def verify(self, run_id: str | None = None) -> IntegrityReport:
        """Recompute the hash chain of one run (id or unique prefix) or, with None, of the whole store."""
        with self._connect() as conn:
            if run_id is None:
                return integrity.verify_all(conn)
            try:
                resolved = self._resolve(conn, run_id).run_id
            except RunNotFoundError:
                if conn.execute(sa.text("SELECT 1 FROM events WHERE run_id = :r LIMIT 1"), {"r": run_id}).first():
                    resolved = run_id  # events without their runs row: verify says so
                else:
                    raise
            return integrity.verify_run(conn, resolved)

    # ------------------------------------------------------------------ leases

    def _hold(self, run_id: str) -> None:
        with self._leases_lock:
            self._held.add(run_id)
            self._lost.discard(run_id)
            if self._heartbeat is None or not self._heartbeat.is_alive():
                self._heartbeat_stop.clear()
                self._heartbeat = threading.Thread(target=self._beat, name="sensequant-lease-heartbeat",
                                                   daemon=True)
                self._heartbeat.start()

    def _unhold(self, run_id: str) -> None:
        with self._leases_lock:
            self._held.discard(run_id)

    def _beat(self) -> None:
        interval = self._lease_ttl_ms / 3000
        while not self._heartbeat_stop.wait(interval):
            self._beat_once()

    def _beat_once(self) -> None:
        """Renew every held lease; one taken over meanwhile is lost (appends to it are refused)."""
        with self._leases_lock:
            held = sorted(self._held)
        for run_id in held:
            try:
                with self._begin() as conn:
                    if not leases.renew(conn, run_id, self._holder, _now_ms(), self._lease_ttl_ms):
                        self._lost.add(run_id)
                        trading = self._account_runs.get(run_id)
                        if trading is not None:  # another process trades the account now
                            self._lost.add(trading)
                        self._unhold(run_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried; expiry is the safety net
                continue

    def _release_all(self) -> None:
        self._heartbeat_stop.set()
        with self._leases_lock:
            held, self._held = sorted(self._held), set()
        if not held or self._pid != os.getpid():
            return
        try:
            with self._begin() as conn:
                for run_id in held:
                    leases.release(conn, run_id, self._holder)
        except Exception:  # noqa: BLE001 - closing must not fail; the leases then expire
            pass

    def get_run(self, run_id: str) -> RunInfo:
        with self._connect() as conn:
            return self._resolve(conn, run_id)

    def _resolve(self, conn: sa.Connection, run_id: str) -> RunInfo:
        row = conn.execute(sa.select(rn).where(rn.c.run_id == run_id)).first()
        if row is not None:
            return self._run(row)
        # substr, not LIKE: exact and case-sensitive, and no wildcard escaping needed.
        matches = conn.execute(sa.select(rn).where(sa.func.substr(rn.c.run_id, 1, len(run_id)) == run_id)
                               .limit(2)).all()
        if len(matches) == 1:
            return self._run(matches[0])
        if not matches:
            raise RunNotFoundError(f"no run {run_id!r}; `sensequant runs list` shows the runs in this store")
        count = conn.execute(sa.select(sa.func.count()).select_from(rn)
                             .where(sa.func.substr(rn.c.run_id, 1, len(run_id)) == run_id)).scalar_one()
        raise RunNotFoundError(f"run id prefix {run_id!r} is ambiguous ({count} runs); give more characters")

    def _run(self, row: Any) -> RunInfo:
        return RunInfo(run_id=row.run_id, mode=row.mode, config_hash=row.config_hash,
                       code_version=row.code_version, data_fingerprint=row.data_fingerprint,
                       started_at=self._ts_py(row.started_at),
                       ended_at=None if row.ended_at is None else self._ts_py(row.ended_at),
                       status=row.status, label=row.label)

    def list_runs(self, mode: str | None = None, limit: int = 100) -> list[RunInfo]:
        if limit <= 0:
            return []
        query = sa.select(rn)
        if mode is not None:
            query = query.where(rn.c.mode == mode)
        # Ties by run id in code-point order, as the in-memory store sorts (PostgreSQL's
        # default collation would order differently).
        run_id_order = rn.c.run_id if self._sqlite else rn.c.run_id.collate("C")
        query = query.order_by(rn.c.started_at.desc(), run_id_order).limit(limit)
        with self._connect() as conn:
            return [self._run(row) for row in conn.execute(query).all()]

    def close(self) -> None:
        self._release_all()
        with self._write_lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.close()
        self._engine.dispose()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
@contextmanager
def _no_collector_pauses() -> Iterator[None]:
    """Reading a page allocates thousands of objects without reference cycles; the cycle
    collector's passes over them (triggered by the allocations alone) cost about a third
    of the read. It is paused for the page and resumed as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _iso_utc(value: datetime) -> str:
    # Fixed width (always microseconds) so that text order is time order.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _same_value(value: Any) -> Any:
    return value


def _uuid_bytes(value: uuid.UUID) -> bytes:
    return value.bytes


def _bytes_uuid(value: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=bytes(value))


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
