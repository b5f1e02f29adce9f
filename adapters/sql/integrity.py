"""Tamper evidence for the SQL event store: a SHA-256 hash chain per run, and a hash of each runs row.

Why per run: a run is what is read, reported, resumed and deployed, and one writer holds
a run at a time (see ``leases``), so its chain is extended without contention; runs can
be verified (and exported) independently of each other.

* Every event gets ``chain_hash = sha256(previous chain_hash of its run | canonical row)``
  where the canonical row holds every stored column — seq, event id (hex), stream, stream
  version, run, type, version, occurred/recorded (ISO-8601 UTC, microseconds),
  correlation/causation ids and the payload text exactly as the codec encoded it
  (``core.events.codec.encode_payload``) — see ``event_hash``. The first event of a run chains on
  ``GENESIS``. Hashes live in ``event_hashes`` (append-only like ``events``), written in
  the append's own transaction.
* The runs row carries ``chain_head``/``chain_events`` (the chain's last hash and length
  when the row was last written by the store) and ``row_hash`` over all of its columns.
  A finished run's chain must end exactly at its head; an edited status, label, config
  hash or a truncated tail of events is caught.

What it catches: any change made outside SenseQuant — editing or deleting an event with
the append-only trigger dropped (SQLite) or bypassed (PostgreSQL superuser,
``session_replication_role = replica``, ``ALTER TABLE ... DISABLE TRIGGER``), inserting
events without hashes, editing a runs row, deleting a runs row whose events remain.
What it cannot catch: someone who knows this scheme and rewrites events, hashes and runs
rows consistently (the chain has no secret key); nor a deletion of a whole run (events,
hashes and row). Against that, keep the head hash printed at the end of a run (``events
verify`` shows it) somewhere the database user cannot write.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from core.events.integrity import IntegrityProblem, IntegrityReport

GENESIS = "0" * 64

# Column order of the tuples the store's insert path builds (adapters.sql.tables.events).
SEQ, EVENT_ID, STREAM_ID, STREAM_VERSION, RUN_ID, TYPE, VERSION, OCCURRED, RECORDED, CORRELATION, CAUSATION, \
    PAYLOAD = range(12)


def canonical_id(value: Any) -> str | None:
    """A uuid as 32 hex digits, whatever the driver gave (bytes on SQLite, UUID on PostgreSQL)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.hex()  # the 16 raw bytes: the same digits as UUID.hex
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value).hex()
    return uuid.UUID(str(value)).hex


_UTC_SUFFIX = "+00:00"


def canonical_time(value: Any) -> str:
    """A timestamp as fixed-width ISO-8601 UTC with microseconds (text on SQLite, timestamptz on PG)."""
    if isinstance(value, str):
        # The SQLite store already writes exactly this form (YYYY-MM-DDTHH:MM:SS.ffffff+00:00).
        if len(value) == 32 and value.endswith(_UTC_SUFFIX):
            return value
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def event_hash(previous: str, row: Sequence[Any]) -> str:
    """The chain hash of one stored events row (a tuple in ``tables.events`` column order).

    The canonical text is one f-string (the hot path of every append): fixed-form fields
    separated by ``|``, free-text fields (stream, run, type) length-prefixed so that no
    value can shift a boundary, and the payload last, exactly as stored.
    """
    stream, run, kind = row[STREAM_ID], row[RUN_ID], row[TYPE]
    canonical = (f"{previous}|{int(row[SEQ])}|{canonical_id(row[EVENT_ID])}|{len(stream)}:{stream}|"
                 f"{int(row[STREAM_VERSION])}|{len(run)}:{run}|{len(kind)}:{kind}|{int(row[VERSION])}|"
                 f"{canonical_time(row[OCCURRED])}|{canonical_time(row[RECORDED])}|{canonical_id(row[CORRELATION])}|"
                 f"{canonical_id(row[CAUSATION])}|{row[PAYLOAD]}")
    return hashlib.sha256(canonical.encode()).hexdigest()


def chain(previous: str, rows: Iterable[Sequence[Any]]) -> list[tuple[int, str, str]]:
    """``(seq, run_id, chain_hash)`` for consecutive rows of one run, starting after ``previous``."""
    out = []
    for row in rows:
        previous = event_hash(previous, row)
        out.append((int(row[SEQ]), row[RUN_ID], previous))
    return out


RUN_FIELDS = ("run_id", "mode", "config_hash", "code_version", "data_fingerprint", "started_at", "ended_at",
              "status", "label")


def run_row_hash(values: dict[str, Any], chain_head: str, chain_events: int) -> str:
    """Hash over every column of a runs row plus the chain head/length recorded in it."""
    fields = [None if values[name] is None else
              (canonical_time(values[name]) if name in ("started_at", "ended_at") else str(values[name]))
              for name in RUN_FIELDS]
    canonical = json.dumps([*fields, chain_head, int(chain_events)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# ------------------------------------------------------------------------ reading the chain

_HEAD = sa.text("SELECT chain_hash, seq FROM event_hashes WHERE run_id = :run_id ORDER BY seq DESC LIMIT 1")
_COUNT = sa.text("SELECT count(*) FROM event_hashes WHERE run_id = :run_id")


def chain_head(conn: sa.Connection, run_id: str) -> tuple[str, int]:
    """The run's last chain hash (``GENESIS`` if none) and its number of hashed events."""
    row = conn.execute(_HEAD, {"run_id": run_id}).first()
    if row is None:
        return GENESIS, 0
    return row[0], int(conn.execute(_COUNT, {"run_id": run_id}).scalar_one())


_EVENTS = sa.text("SELECT seq, event_id, stream_id, stream_version, run_id, type, version, occurred_at, "
                  "recorded_at, correlation_id, causation_id, payload FROM events WHERE run_id = :run_id "
                  "ORDER BY seq")
_HASHES = sa.text("SELECT seq, chain_hash FROM event_hashes WHERE run_id = :run_id ORDER BY seq")
_RUN = sa.text("SELECT run_id, mode, config_hash, code_version, data_fingerprint, started_at, ended_at, status, "
               "label, chain_head, chain_events, row_hash FROM runs WHERE run_id = :run_id")


def verify_run(conn: sa.Connection, run_id: str) -> IntegrityReport:
    """Recompute one run's chain and runs-row hash; problems name the first bad ``seq``."""
    problems: list[IntegrityProblem] = []
    run = conn.execute(_RUN, {"run_id": run_id}).mappings().first()
    hashes = dict(conn.execute(_HASHES, {"run_id": run_id}).all())
    previous, position, checked = GENESIS, 0, 0
    positions: dict[str, int] = {GENESIS: 0}
    seen: set[int] = set()
    for row in conn.execute(_EVENTS, {"run_id": run_id}):
        checked += 1
        seq = int(row[SEQ])
        seen.add(seq)
        stored = hashes.get(seq)
        if stored is None:
            problems.append(IntegrityProblem(run_id=run_id, seq=seq, reason="event has no chain hash: it was "
                                             "inserted behind the store's back"))
            break
        previous = event_hash(previous, row)
        if stored != previous:
            problems.append(IntegrityProblem(run_id=run_id, seq=seq, reason="event does not match its chain "
                                             "hash: it (or an event before it) was edited"))
            break
        position += 1
        positions[previous] = position
    if not problems:
        missing = sorted(set(hashes) - seen)
        if missing:
            problems.append(IntegrityProblem(run_id=run_id, seq=missing[0], reason=f"{len(missing)} hashed "
                                             "event(s) are missing from the log: deleted"))
    if run is None:
        if checked or hashes:
            problems.append(IntegrityProblem(run_id=run_id, seq=None, reason="the runs row is missing but its "
                                             "events remain: deleted"))
        return IntegrityReport(runs_checked=1, events_checked=checked, problems=tuple(problems))
    if run["row_hash"] is None or run["chain_head"] is None:
        problems.append(IntegrityProblem(run_id=run_id, seq=None, reason="the runs row has no hash: it was "
                                         "inserted behind the store's back"))
    elif run_row_hash(dict(run), run["chain_head"], run["chain_events"]) != run["row_hash"]:
        problems.append(IntegrityProblem(run_id=run_id, seq=None, reason="the runs row does not match its "
                                         "hash: status, times, label or provenance were edited"))
    elif not problems:
        sealed = int(run["chain_events"])
        if positions.get(run["chain_head"]) != sealed:
            problems.append(IntegrityProblem(run_id=run_id, seq=None, reason=f"the runs row seals {sealed} "
                                             "events, but the chain does not pass through its head"))
        elif run["status"] != "running" and sealed != position:
            problems.append(IntegrityProblem(run_id=run_id, seq=None, reason=f"the run ended with {sealed} "
                                             f"events, but {position} are stored"))
    return IntegrityReport(runs_checked=1, events_checked=checked, problems=tuple(problems))


def verify_all(conn: sa.Connection) -> IntegrityReport:
    """Every run in the runs table, plus run ids that have events or hashes but no runs row."""
    run_ids = [r[0] for r in conn.exec_driver_sql(
        "SELECT run_id FROM runs UNION SELECT DISTINCT run_id FROM events "
        "UNION SELECT DISTINCT run_id FROM event_hashes ORDER BY 1")]
    problems: list[IntegrityProblem] = []
    events = 0
    for run_id in run_ids:
        report = verify_run(conn, run_id)
        events += report.events_checked
        problems.extend(report.problems)
    return IntegrityReport(runs_checked=len(run_ids), events_checked=events, problems=tuple(problems))
