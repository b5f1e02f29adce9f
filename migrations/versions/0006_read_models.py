"""Read models: the projections of the log kept as rows, with their tracking positions.

Revision ID: 0006_read_models
Revises: 0005_integrity
Create Date: 2026-12-04

``rm_positions`` holds how far each run is projected; the projector writes it in the same
transaction as the rows (``adapters/sql/read_models.py``). Every ``rm_*`` table is derived
data: nothing is backfilled here (the first read of a run projects it from the log, and
``sensequant projections rebuild`` does all runs at once), and a downgrade only drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_read_models"
down_revision = "0005_integrity"
branch_labels = None
depends_on = None
destroys_data = False

# The tables as this revision creates them (a snapshot: later revisions change them there).
_TABLES = [
    ("rm_trades", ("run_id", "seq"), [("seq", "I"), ("stream_id", "T"), ("book", "T"), ("strategy", "T"), ("trade_id", "T"), ("symbol", "T"), ("direction", "T"), ("quantity", "I"), ("entry_time", "T"), ("exit_time", "T"), ("entry_price_paise", "I"), ("exit_price_paise", "I"), ("gross_pnl_paise", "I"), ("fees_paise", "I"), ("net_pnl_paise", "I"), ("exit_reason", "T"), ("cash_before_paise", "I"), ("cash_after_paise", "I"), ("equity_before_paise", "I"), ("equity_after_paise", "I"), ("confidence", "F"), ("reason", "T"), ("features", "T"), ("signals", "T"), ("context", "T"), ("traced", "I")]),  # noqa: E501
    ("rm_traces", ("run_id", "seq"), [("seq", "I"), ("stream_id", "T"), ("book", "T"), ("traced_at", "T"), ("timestamp", "T"), ("symbol", "T"), ("strategy", "T"), ("predicted_direction", "T"), ("actual_direction", "T"), ("predicted_confidence", "F"), ("entry_price", "F"), ("exit_price", "F"), ("holding_period_minutes", "I"), ("realized_return_pct", "F"), ("features", "T"), ("metadata", "T"), ("signals", "T"), ("context", "T")]),  # noqa: E501
    ("rm_entries", ("run_id", "seq"), [("seq", "I"), ("stream_id", "T"), ("symbol", "T"), ("at", "T"), ("confidence", "F"), ("reason", "T"), ("features", "T"), ("signals", "T"), ("context", "T")]),  # noqa: E501
    ("rm_orders", ("run_id", "seq"), [("seq", "I"), ("stream_id", "T"), ("occurred_at", "T"), ("version", "I"), ("payload", "T")]),  # noqa: E501
    ("rm_fills", ("run_id", "seq"), [("seq", "I"), ("stream_id", "T"), ("occurred_at", "T"), ("version", "I"), ("payload", "T")]),  # noqa: E501
    ("rm_portfolio", ("run_id", "seq"), [("seq", "I"), ("book", "T"), ("session_date", "T"), ("cash_paise", "I"), ("positions_value_paise", "I"), ("equity_paise", "I"), ("realized_pnl_paise", "I"), ("unrealized_pnl_paise", "I"), ("fees_paid_paise", "I"), ("positions", "T"), ("prices", "T")]),  # noqa: E501
    ("rm_symbol_days", ("run_id", "seq", "symbol"), [("seq", "I"), ("book", "T"), ("session_date", "T"), ("symbol", "T"), ("close", "F"), ("quantity", "I"), ("average_price_paise", "I"), ("market_value_paise", "I")]),  # noqa: E501
    ("rm_alerts", ("run_id", "alert_id"), [("alert_id", "T"), ("seq", "I"), ("raised_at", "T"), ("rule", "T"), ("alert_key", "T"), ("severity", "T"), ("message", "T"), ("subject_run_id", "T"), ("state", "T"), ("acknowledged_by", "T"), ("cleared_seq", "I"), ("cleared_reason", "T"), ("deliveries", "I"), ("delivery_failures", "I")]),  # noqa: E501
    ("rm_books", ("run_id", "book"), [("book", "T"), ("kind", "T"), ("initial_cash_paise", "I"), ("signals", "I"), ("traces", "I"), ("circuit_breaker_trips", "I"), ("closed_at_end", "I")]),  # noqa: E501
    ("rm_book_summaries", ("run_id", "book"), [("book", "T"), ("summary", "T")]),
    ("rm_accuracy", ("run_id", "strategy"), [("strategy", "T"), ("confusion", "T"), ("figures", "T")]),
    ("rm_runs", ("run_id",), [("status", "T"), ("completed", "I"), ("bars_processed", "I"), ("strategies", "T")]),
]


def _kind(code: str) -> sa.types.TypeEngine:
    if code == "I":
        return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    return sa.Float() if code == "F" else sa.Text()


def upgrade() -> None:
    op.create_table(
        "rm_positions",
        sa.Column("run_id", sa.Text(), primary_key=True),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("events", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    )
    for name, key, columns in _TABLES:
        op.create_table(
            name, sa.Column("run_id", sa.Text(), nullable=False),
            *[sa.Column(col, _kind(code), nullable=col not in key) for col, code in columns],
            sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"))


def downgrade() -> None:
    for name, _key, _columns in reversed(_TABLES):
        op.drop_table(name)
    op.drop_table("rm_positions")
