"""Integrity: hash chain per run (event_hashes), sealed runs rows, writer leases (run_leases).

Revision ID: 0005_integrity
Revises: 0002
Create Date: 2026-12-03

See ``adapters/sql/integrity.py`` (the chain) and ``adapters/sql/leases.py`` (leases).
Events already stored are hashed here, in seq order per run, so an upgraded store
verifies; the runs rows are sealed at their current chain head. ``event_hashes`` is
append-only like ``events``; runs rows can no longer be deleted (their status and end
time are still updated by the store, which re-hashes the row).

Downgrading drops only derived data (hashes, leases): the events stay.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from adapters.sql import integrity

revision = "0005_integrity"
down_revision = "0002"
branch_labels = None
depends_on = None
destroys_data = False


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "event_hashes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("chain_hash", sa.Text(), nullable=False),
    )
    op.create_index("ix_event_hashes_run_seq", "event_hashes", ["run_id", "seq"])
    op.create_table(
        "run_leases",
        sa.Column("run_id", sa.Text(), primary_key=True),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("acquired_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("runs", recreate="never") as batch:
        batch.add_column(sa.Column("chain_head", sa.Text(), nullable=True))
        batch.add_column(sa.Column("chain_events", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.Text(), nullable=True))
    _backfill(op.get_bind())
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER event_hashes_no_{verb.lower()} BEFORE {verb} ON event_hashes "
                       f"BEGIN SELECT RAISE(ABORT, 'event hashes are append-only: {verb} is not allowed'); END")
        op.execute("CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs "
                   "BEGIN SELECT RAISE(ABORT, 'runs are kept: DELETE is not allowed'); END")
    elif dialect == "postgresql":
        op.execute("CREATE TRIGGER event_hashes_no_update_delete BEFORE UPDATE OR DELETE ON event_hashes "
                   "FOR EACH ROW EXECUTE FUNCTION events_reject_change()")
        op.execute("CREATE TRIGGER event_hashes_no_truncate BEFORE TRUNCATE ON event_hashes "
                   "FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change()")
        op.execute("CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs "
                   "FOR EACH ROW EXECUTE FUNCTION events_reject_change()")
        op.execute("CREATE TRIGGER runs_no_truncate BEFORE TRUNCATE ON runs "
                   "FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change()")
    else:
        raise NotImplementedError(f"integrity triggers are not written for {dialect}")


def _backfill(conn: sa.Connection) -> None:
    rows = conn.exec_driver_sql(
        "SELECT seq, event_id, stream_id, stream_version, run_id, type, version, occurred_at, recorded_at, "
        "correlation_id, causation_id, payload FROM events ORDER BY seq")
    heads: dict[str, tuple[str, int]] = {}
    batch: list[dict] = []
    insert = sa.text("INSERT INTO event_hashes (seq, run_id, chain_hash) VALUES (:seq, :run_id, :chain_hash)")
    for row in rows.all():
        previous, count = heads.get(row[integrity.RUN_ID], (integrity.GENESIS, 0))
        digest = integrity.event_hash(previous, row)
        heads[row[integrity.RUN_ID]] = (digest, count + 1)
        batch.append({"seq": row[integrity.SEQ], "run_id": row[integrity.RUN_ID], "chain_hash": digest})
        if len(batch) >= 5000:
            conn.execute(insert, batch)
            batch = []
    if batch:
        conn.execute(insert, batch)
    update = sa.text("UPDATE runs SET chain_head = :head, chain_events = :count, row_hash = :hash "
                     "WHERE run_id = :run_id")
    for run in conn.exec_driver_sql(
            "SELECT run_id, mode, config_hash, code_version, data_fingerprint, started_at, ended_at, status, "
            "label FROM runs").mappings().all():
        head, count = heads.get(run["run_id"], (integrity.GENESIS, 0))
        conn.execute(update, {"head": head, "count": count, "run_id": run["run_id"],
                              "hash": integrity.run_row_hash(dict(run), head, count)})


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("event_hashes_no_update", "event_hashes_no_delete", "runs_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS runs_no_truncate ON runs")
        op.execute("DROP TRIGGER IF EXISTS runs_no_delete ON runs")
    with op.batch_alter_table("runs", recreate="never") as batch:
        batch.drop_column("row_hash")
        batch.drop_column("chain_events")
        batch.drop_column("chain_head")
    op.drop_table("run_leases")
    op.drop_index("ix_event_hashes_run_seq", table_name="event_hashes")
    op.drop_table("event_hashes")
