"""One writer per run: a lease row (holder, heartbeat, expiry) in ``run_leases``.

The store that starts or resumes a run takes its lease inside a write transaction and a
daemon thread renews it every ``ttl / 3``. Another process asking for the same run is
refused with ``LeaseHeldError`` naming the holder while the lease is live. A lease is
dead, and may be taken over, once ``expires_at`` has passed (its holder stopped
heartbeating: killed, hung, host gone) or — without waiting — when the holder is a
process on this host that no longer exists (kill -9 then an immediate ``--resume``).

Runs still ``running`` whose lease is dead or absent are sealed ``crashed`` by
``seal_crashed_runs`` (the store runs it when it opens).

The same table holds one lease per broker account (key ``account:<account>``, taken by
``claim_account``): a live session holds it for as long as it trades, so a second live
process on the same account — a new run, not only a resume — is refused while the first
one heartbeats. Such keys never match a runs row, so crash sealing ignores them.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

import sqlalchemy as sa

from core.errors import LeaseHeldError

DEFAULT_TTL_S = 15.0
ACCOUNT_PREFIX = "account:"

_GET = sa.text("SELECT holder, heartbeat_at_ms, expires_at_ms FROM run_leases WHERE run_id = :run_id")
_DELETE = sa.text("DELETE FROM run_leases WHERE run_id = :run_id")
_INSERT = sa.text("INSERT INTO run_leases (run_id, holder, acquired_at_ms, heartbeat_at_ms, expires_at_ms) "
                  "VALUES (:run_id, :holder, :now, :now, :expires)")
_RENEW = sa.text("UPDATE run_leases SET heartbeat_at_ms = :now, expires_at_ms = :expires "
                 "WHERE run_id = :run_id AND holder = :holder")
_RELEASE = sa.text("DELETE FROM run_leases WHERE run_id = :run_id AND holder = :holder")


def new_holder() -> str:
    """``host:pid:token`` — who holds a lease, readable in the refusal message."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_gone(holder: str) -> bool:
    """True only when the holder is a process on this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # A killed child not yet reaped by its parent still answers kill(pid, 0).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def is_dead(row: Any, now_ms: int) -> bool:
    return row is None or int(row.expires_at_ms) <= now_ms or holder_is_gone(row.holder)


def lock_leases(conn: sa.Connection) -> None:
    """PostgreSQL: serialise lease changes (SQLite's BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE run_leases IN EXCLUSIVE MODE")


def account_key(account: str) -> str:
    return ACCOUNT_PREFIX + account


def acquire(conn: sa.Connection, run_id: str, holder: str, now_ms: int, ttl_ms: int) -> None:
    """Take the lease of ``run_id`` (or of an ``account_key``) for ``holder`` inside a write
    transaction, or refuse naming the live holder."""
    lock_leases(conn)
    row = conn.execute(_GET, {"run_id": run_id}).first()
    if row is not None and row.holder != holder and not is_dead(row, now_ms):
        if run_id.startswith(ACCOUNT_PREFIX):
            what = f"broker account {run_id[len(ACCOUNT_PREFIX):]} is being traded by"
            rule = "only one process may trade an account"
        else:
            what, rule = f"run {run_id} is being written by", "only one process may write a run"
        raise LeaseHeldError(
            f"{what} {row.holder} (last heartbeat "
            f"{(now_ms - int(row.heartbeat_at_ms)) / 1000:.1f} s ago, lease expires in "
            f"{(int(row.expires_at_ms) - now_ms) / 1000:.1f} s); {rule} — stop that one "
            "first, or wait for its lease to expire if it is gone")
    conn.execute(_DELETE, {"run_id": run_id})
    conn.execute(_INSERT, {"run_id": run_id, "holder": holder, "now": now_ms, "expires": now_ms + ttl_ms})


def renew(conn: sa.Connection, run_id: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
    """Extend the lease; False if ``holder`` no longer holds it (it was taken over)."""
    return conn.execute(_RENEW, {"run_id": run_id, "holder": holder, "now": now_ms,
                                 "expires": now_ms + ttl_ms}).rowcount == 1


def release(conn: sa.Connection, run_id: str, holder: str) -> None:
    conn.execute(_RELEASE, {"run_id": run_id, "holder": holder})


_RUNNING = sa.text("SELECT r.run_id, l.holder, l.expires_at_ms FROM runs r LEFT JOIN run_leases l "
                   "ON l.run_id = r.run_id WHERE r.status = 'running'")


def crashed_run_ids(conn: sa.Connection, now_ms: int) -> list[str]:
    """Runs marked running whose writer is gone (no lease, expired, or a dead local process)."""
    return [row.run_id for row in conn.execute(_RUNNING)
            if row.holder is None or is_dead(row, now_ms)]
