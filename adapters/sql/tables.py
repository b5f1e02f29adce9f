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


# ----------------------------------------------------------------- read models
# The projections of the log kept as rows (``ports.read_models.READ_MODEL_TABLES`` is the
# contract; revision 0006_read_models creates them). Times are ISO-8601 UTC text and
# nested data canonical JSON text, so a rebuild compares byte for byte with the rows it
# replaces. These tables are derived data: ``sensequant projections rebuild`` recreates
# any of them from the log.

def _int() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _read_model(name: str, key: tuple[str, ...], *columns: tuple[str, sa.types.TypeEngine]) -> sa.Table:
    cols = [sa.Column("run_id", sa.Text(), nullable=False)]
    cols += [sa.Column(col, kind, nullable=col not in key) for col, kind in columns]
    return sa.Table(name, metadata, *cols, sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"))


_I, _F, _T = _int, sa.Float, sa.Text

read_model_positions = sa.Table(
    "rm_positions", metadata,
    sa.Column("run_id", sa.Text(), primary_key=True),
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("events", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
)

read_model_tables: dict[str, sa.Table] = {t.name: t for t in (
    _read_model("rm_trades", ("run_id", "seq"), ("seq", _I()), ("stream_id", _T()), ("book", _T()),
                ("strategy", _T()), ("trade_id", _T()), ("symbol", _T()), ("direction", _T()), ("quantity", _I()),
                ("entry_time", _T()), ("exit_time", _T()), ("entry_price_paise", _I()), ("exit_price_paise", _I()),
                ("gross_pnl_paise", _I()), ("fees_paise", _I()), ("net_pnl_paise", _I()), ("exit_reason", _T()),
                ("cash_before_paise", _I()), ("cash_after_paise", _I()), ("equity_before_paise", _I()),
                ("equity_after_paise", _I()), ("confidence", _F()), ("reason", _T()), ("features", _T()),
                ("signals", _T()), ("context", _T()), ("traced", _I())),
    _read_model("rm_traces", ("run_id", "seq"), ("seq", _I()), ("stream_id", _T()), ("book", _T()),
                ("traced_at", _T()), ("timestamp", _T()), ("symbol", _T()), ("strategy", _T()),
                ("predicted_direction", _T()), ("actual_direction", _T()), ("predicted_confidence", _F()),
                ("entry_price", _F()), ("exit_price", _F()), ("holding_period_minutes", _I()),
                ("realized_return_pct", _F()), ("features", _T()), ("metadata", _T()), ("signals", _T()),
                ("context", _T())),
    _read_model("rm_entries", ("run_id", "seq"), ("seq", _I()), ("stream_id", _T()), ("symbol", _T()), ("at", _T()),
                ("confidence", _F()), ("reason", _T()), ("features", _T()), ("signals", _T()), ("context", _T())),
    _read_model("rm_orders", ("run_id", "seq"), ("seq", _I()), ("stream_id", _T()), ("occurred_at", _T()),
                ("version", _I()), ("payload", _T())),
    _read_model("rm_fills", ("run_id", "seq"), ("seq", _I()), ("stream_id", _T()), ("occurred_at", _T()),
                ("version", _I()), ("payload", _T())),
    _read_model("rm_portfolio", ("run_id", "seq"), ("seq", _I()), ("book", _T()), ("session_date", _T()),
                ("cash_paise", _I()), ("positions_value_paise", _I()), ("equity_paise", _I()),
                ("realized_pnl_paise", _I()), ("unrealized_pnl_paise", _I()), ("fees_paid_paise", _I()),
                ("positions", _T()), ("prices", _T())),
    _read_model("rm_symbol_days", ("run_id", "seq", "symbol"), ("seq", _I()), ("book", _T()),
                ("session_date", _T()), ("symbol", _T()), ("close", _F()), ("quantity", _I()),
                ("average_price_paise", _I()), ("market_value_paise", _I())),
    _read_model("rm_alerts", ("run_id", "alert_id"), ("alert_id", _T()), ("seq", _I()), ("raised_at", _T()),
                ("rule", _T()), ("alert_key", _T()), ("severity", _T()), ("message", _T()),
                ("subject_run_id", _T()), ("state", _T()), ("acknowledged_by", _T()), ("cleared_seq", _I()),
                ("cleared_reason", _T()), ("deliveries", _I()), ("delivery_failures", _I())),
    _read_model("rm_books", ("run_id", "book"), ("book", _T()), ("kind", _T()), ("initial_cash_paise", _I()),
                ("signals", _I()), ("traces", _I()), ("circuit_breaker_trips", _I()), ("closed_at_end", _I())),
    _read_model("rm_book_summaries", ("run_id", "book"), ("book", _T()), ("summary", _T())),
    _read_model("rm_accuracy", ("run_id", "strategy"), ("strategy", _T()), ("confusion", _T()), ("figures", _T())),
    _read_model("rm_runs", ("run_id",), ("status", _T()), ("completed", _I()), ("bars_processed", _I()),
                ("strategies", _T())),
)}
