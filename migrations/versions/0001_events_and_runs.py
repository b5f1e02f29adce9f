"""Events and runs tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

``seq`` is the global order. The writer assigns it explicitly (max + 1) while holding
the table's write lock, so it is gap-free and commit order equals seq order. Payloads
are canonical JSON text (not JSON/JSONB) so that the stored bytes are exactly what the
codec produced and retries can be compared byte for byte. Timestamps are ``timestamptz``
on PostgreSQL and fixed-width ISO-8601 UTC text on SQLite (sortable as text); event,
correlation and causation ids are ``uuid`` on PostgreSQL and 16-byte blobs on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
# Its downgrade drops the events and runs tables: `sensequant db downgrade` refuses it
# without confirmation and backs the database up first.
destroys_data = True


def _timestamp() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def _uuid() -> sa.types.TypeEngine:
    # Native uuid on PostgreSQL; the 16 raw bytes on SQLite (half the index size of text).
    return sa.Uuid(as_uuid=True).with_variant(sa.LargeBinary(16), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("event_id", _uuid(), nullable=False),
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
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sa.UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
        sa.CheckConstraint("stream_version >= 1", name="ck_events_stream_version_positive"),
        sa.CheckConstraint("seq >= 1", name="ck_events_seq_positive"),
    )
    op.create_index("ix_events_run_seq", "events", ["run_id", "seq"])
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text(), primary_key=True),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("config_hash", sa.Text(), nullable=False),
        sa.Column("code_version", sa.Text(), nullable=False),
        sa.Column("data_fingerprint", sa.Text(), nullable=False),
        sa.Column("started_at", _timestamp(), nullable=False),
        sa.Column("ended_at", _timestamp(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_runs_mode_started", "runs", ["mode", "started_at"])
    op.create_index("ix_runs_started", "runs", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_started", table_name="runs")
    op.drop_index("ix_runs_mode_started", table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_events_run_seq", table_name="events")
    op.drop_table("events")
