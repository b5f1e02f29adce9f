"""Table definitions used to build queries. The schema itself is created only by the
alembic revisions in ``migrations/``; these must match the head revision (a test checks)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()


def _timestamp() -> sa.types.TypeEngine:
    # timestamptz on PostgreSQL; fixed-width ISO-8601 UTC text on SQLite (the store converts).
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def _uuid() -> sa.types.TypeEngine:
    # Native uuid on PostgreSQL; the 16 raw bytes on SQLite (the store converts).
    return sa.Uuid(as_uuid=True).with_variant(sa.LargeBinary(16), "sqlite")


events = sa.Table(
    "events", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("event_id", _uuid(), nullable=False, unique=True),
    sa.Column("stream_id", sa.Text(), nullable=False),
    sa.Column("stream_version", sa.Integer(), nullable=False),
    sa.Column("run_id", sa.Text(), nullable=False),
    sa.Column("type", sa.Text(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("occurred_at", _timestamp(), nullable=False),
    sa.Column("recorded_at", _timestamp(), nullable=False),
    sa.Column("correlation_id", _uuid(), nullable=True),
    sa.Column("causation_id", _uuid(), nullable=True),
    sa.Column("payload", sa.Text(), nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.Text(), primary_key=True),
    sa.Column("mode", sa.Text(), nullable=False),
    sa.Column("config_hash", sa.Text(), nullable=False),
    sa.Column("code_version", sa.Text(), nullable=False),
    sa.Column("data_fingerprint", sa.Text(), nullable=False),
    sa.Column("started_at", _timestamp(), nullable=False),
    sa.Column("ended_at", _timestamp(), nullable=True),
    sa.Column("status", sa.Text(), nullable=False),
    sa.Column("label", sa.Text(), nullable=False),
    # Tamper evidence (revision 0005_integrity, adapters.sql.integrity).
    sa.Column("chain_head", sa.Text(), nullable=True),
    sa.Column("chain_events", sa.Integer(), nullable=True),
    sa.Column("row_hash", sa.Text(), nullable=True),
)

event_hashes = sa.Table(
    "event_hashes", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("run_id", sa.Text(), nullable=False),
    sa.Column("chain_hash", sa.Text(), nullable=False),
)

run_leases = sa.Table(
    "run_leases", metadata,
    sa.Column("run_id", sa.Text(), primary_key=True),
    sa.Column("holder", sa.Text(), nullable=False),
    sa.Column("acquired_at_ms", sa.BigInteger(), nullable=False),
    sa.Column("heartbeat_at_ms", sa.BigInteger(), nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
)
