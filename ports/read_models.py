"""Read models: the projections of the event log kept as rows, next to the log.

A projector folds a run's events into rows (one per closed trade, per daily snapshot,
per symbol and day, per alert ...) and a few per-run tables it rewrites whole (book
summaries, counts, accuracy). It hands them over as one ``ProjectionBatch`` which the
store writes in ONE transaction together with the run's new tracking position: either
the rows and the position move together or neither does, so a projector that dies and
starts again from the stored position applies every event exactly once.

``READ_MODEL_TABLES`` is the contract between the projector and the stores: every
table's columns and key. Values are plain ``int``/``float``/``str``/``None``; nested
data travels as canonical JSON text, times as ISO-8601 UTC text and dates as ISO
dates, so rows compare byte for byte across stores and rebuilds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs


@attrs.frozen(kw_only=True)
class ReadModelTable:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    # Rewritten whole for the run by every batch that names it (small per-run tables).
    replaced: bool = False


def _table(name: str, key: tuple[str, ...], *columns: str, replaced: bool = False) -> ReadModelTable:
    return ReadModelTable(name=name, columns=("run_id", *columns), key=key, replaced=replaced)


READ_MODEL_TABLES: dict[str, ReadModelTable] = {t.name: t for t in (
    # Closed round trips with what the decision that opened them saw (the trace of the trade
    # when it was sampled, else the entry signal), money in paise.
    _table("rm_trades", ("run_id", "seq"), "seq", "stream_id", "book", "strategy", "trade_id", "symbol", "direction",
           "quantity", "entry_time", "exit_time", "entry_price_paise", "exit_price_paise", "gross_pnl_paise",
           "fees_paise", "net_pnl_paise", "exit_reason", "cash_before_paise", "cash_after_paise",
           "equity_before_paise", "equity_after_paise", "confidence", "reason", "features", "signals", "context",
           "traced"),
    # Prediction traces (spec 000's telemetry schema plus signals and context), one per traced trade.
    _table("rm_traces", ("run_id", "seq"), "seq", "stream_id", "book", "traced_at", "timestamp", "symbol",
           "strategy", "predicted_direction", "actual_direction", "predicted_confidence", "entry_price",
           "exit_price", "holding_period_minutes", "realized_return_pct", "features", "metadata", "signals",
           "context"),
    # Entry decisions: the opener of a trade that has no trace (the projector's memory, kept
    # here so that a restarted projector joins exactly as one that never stopped).
    _table("rm_entries", ("run_id", "seq"), "seq", "stream_id", "symbol", "at", "confidence", "reason",
           "features", "signals", "context"),
    # Orders and fills as their events say (canonical JSON payload of the event's current
    # version): the execution-quality tables are built from them.
    _table("rm_orders", ("run_id", "seq"), "seq", "stream_id", "occurred_at", "version", "payload"),
    _table("rm_fills", ("run_id", "seq"), "seq", "stream_id", "occurred_at", "version", "payload"),
    # The daily portfolio of every book (one row per session): also the daily equity curve.
    _table("rm_portfolio", ("run_id", "seq"), "seq", "book", "session_date", "cash_paise",
           "positions_value_paise", "equity_paise", "realized_pnl_paise", "unrealized_pnl_paise",
           "fees_paid_paise", "positions", "prices"),
    # Per symbol and session: the holding and its value at the session's last close.
    _table("rm_symbol_days", ("run_id", "seq", "symbol"), "seq", "book", "session_date", "symbol", "close",
           "quantity", "average_price_paise", "market_value_paise"),
    # Monitor alerts with their lifecycle folded in (raised -> acknowledged -> cleared).
    _table("rm_alerts", ("run_id", "alert_id"), "alert_id", "seq", "raised_at", "rule", "alert_key",
           "severity", "message", "subject_run_id", "state", "acknowledged_by", "cleared_seq", "cleared_reason",
           "deliveries", "delivery_failures"),
    # Per book: its strategy kind (None: not known from its events), the cash it started with
    # and its event counts.
    _table("rm_books", ("run_id", "book"), "book", "kind", "initial_cash_paise", "signals", "traces",
           "circuit_breaker_trips", "closed_at_end", replaced=True),
    # Per book: the run summary (``applications.services.run_summary.BookSummary``) as JSON.
    _table("rm_book_summaries", ("run_id", "book"), "book", "summary", replaced=True),
    # Per strategy kind: predicted x actual direction counts of the traced trades, and the
    # classification figures of those counts as JSON.
    _table("rm_accuracy", ("run_id", "strategy"), "strategy", "confusion", "figures", replaced=True),
    # The run itself: status as its events say, bars, planned books.
    _table("rm_runs", ("run_id",), "status", "completed", "bars_processed", "strategies", replaced=True),
)}


@attrs.frozen(kw_only=True)
class RowUpdate:
    """Set ``values`` on the rows of ``table`` of the batch's run matching ``where`` (and
    ``only_if``, equality conditions that make the update apply at most once)."""

    table: str
    where: Mapping[str, Any]
    values: Mapping[str, Any]
    only_if: Mapping[str, Any] = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class ProjectionBatch:
    """What one fold step produced for one run, applied atomically with the position.

    ``after_seq`` is the position the fold started from (0: nothing projected yet); the
    store refuses the batch (``ProjectionConflictError``, nothing written) unless its stored
    position is exactly that. ``to_seq``/``events``: the new position and the number of
    the run's events folded so far. ``reset``: delete every row of the run first (a
    rebuild, in the same transaction). Inserts go in before updates, updates before the
    replaced tables are rewritten.
    """

    run_id: str
    after_seq: int
    to_seq: int
    events: int
    inserts: Mapping[str, Sequence[Mapping[str, Any]]] = attrs.Factory(dict)
    updates: Sequence[RowUpdate] = ()
    replaced: Mapping[str, Sequence[Mapping[str, Any]]] = attrs.Factory(dict)
    reset: bool = False


@attrs.frozen(kw_only=True)
class ProjectionPosition:
    run_id: str
    seq: int
    events: int


@runtime_checkable
class ReadModelStore(Protocol):
    """Where the read models live (the event store's database, or memory)."""

    def position(self, run_id: str) -> ProjectionPosition | None:
        """How far the run is projected (None: not at all)."""
        ...

    def positions(self) -> list[ProjectionPosition]:
        """Every projected run's position."""
        ...

    def apply(self, batch: ProjectionBatch) -> None:
        """Write the batch and move the run's position to ``batch.to_seq``, in one transaction."""
        ...

    def rows(self, table: str, run_id: str) -> list[dict[str, Any]]:
        """The run's rows of ``table`` in key order, every column of ``READ_MODEL_TABLES``."""
        ...

    def drop(self, run_id: str) -> None:
        """Delete the run's rows and position (the next read projects it again from the log)."""
        ...


def sort_rows(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` in the table's key order, the same in every store (databases collate text
    differently, so stores sort here rather than in SQL)."""
    key = READ_MODEL_TABLES[table].key

    def order(row: dict[str, Any]) -> tuple:
        return tuple((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)) for v in (row[k] for k in key))

    return sorted(rows, key=order)


def complete_row(table: str, run_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of ``table`` for ``row`` of run ``run_id`` (absent ones None); a column the
    table does not have is a ``ValueError`` (a projector out of step with the schema)."""
    columns = READ_MODEL_TABLES[table].columns
    unknown = set(row) - set(columns)
    if unknown:
        raise ValueError(f"columns {sorted(unknown)} are not in the read model {table} (it has {list(columns)})")
    return {c: (run_id if c == "run_id" else row.get(c)) for c in columns}
