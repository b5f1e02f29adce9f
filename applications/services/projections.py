"""The projector: folds each run's events into the read models (``ports.read_models``).

One ``RunProjector`` per run keeps what it needs to extend the rows (every book's daily
equity and closed-trade results for the summaries, the entry decisions that open trades,
the confusion counts, the alerts' delivery counts). Its state is a function of the rows
alone, so a projector restored from them (``RunProjector.restore``) continues exactly as
one that never stopped: incremental maintenance and a rebuild from the log write the same
rows, byte for byte (a test checks it on SQLite and PostgreSQL).

Who drives it:

- ``CommittedProjection``: a writer's ``on_committed`` hook (a backtest) — the events the
  run commits are folded as they commit, never read back; applied every ``flush_every``
  events and at the end.
- ``project_run``: catch a run up from its stored position, reading only the events after
  it (paper/live at the end of a session, the monitor and the dashboard while tailing,
  ``runs show`` and ``report`` before they read).
- ``rebuild_run``: drop and recreate a run's rows from the whole log in one transaction
  (``sensequant projections rebuild``).

The figures themselves are defined once elsewhere: a book's summary by
``run_summary.book_summary`` (the same function the log fold of ``runs show`` uses) and
the classification figures by ``core.accuracy``.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timezone
from typing import Any

import attrs
import numpy as np

from applications.analytics.projections import RunData, latest_run_id, run_data_from_read_models
from applications.services.run_summary import BookSummary, RunSummary, book_summary, missing_parts
from core import accuracy
from core.errors import ProjectionConflictError, RunNotFoundError
from core.events.base import RecordedEvent, RunInfo
from core.events.catalog import (
    AlertRaised,
    CircuitBreakerTripped,
    OrderFilled,
    OrderSubmitted,
    PortfolioSnapshotted,
    PredictionTraced,
    RunCompleted,
    RunStarted,
    SignalGenerated,
    TradeClosed,
)
from core.events.codec import canonical_json, encode_payload, parse_json
from core.events.monitoring import (
    AlertAcknowledged,
    AlertCleared,
    AlertDelivered,
    AlertDeliveryFailed,
    MonitorAlertRaised,
)
from ports.event_store import EventStore
from ports.read_models import ProjectionBatch, ProjectionPosition, ReadModelStore, RowUpdate

UTC = timezone.utc
STRATEGY_KINDS = ("intraday", "swing")
DIRECTIONS = accuracy.DIRECTIONS
PAGE_SIZE = 20_000


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _json(value: Any) -> str:
    return canonical_json(value)


def book_name(stream_id: str) -> str:
    """The book a stream belongs to (``<run_id>:<book>``); ``run`` for the run's own stream."""
    return stream_id.rsplit(":", 1)[-1] if ":" in stream_id else "run"


@attrs.define
class _Book:
    equity: list[int] = attrs.Factory(list)
    sessions: list[date] = attrs.Factory(list)
    fees_paid: int = 0
    open_at_end: int = 0
    results: list[int] = attrs.Factory(list)
    holds: list[float] = attrs.Factory(list)
    kind: str | None = None
    initial: int | None = None
    signals: int = 0
    traces: int = 0
    trips: int = 0
    closed_at_end: int = 0


@attrs.define
class _Batch:
    inserts: dict[str, list[dict[str, Any]]] = attrs.Factory(dict)
    updates: list[RowUpdate] = attrs.Factory(list)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.inserts.setdefault(table, []).append(row)


# The event types that change a read model (the others — position changes, heartbeats,
# health — only move the position and the event count).
_FOLDED = frozenset({PortfolioSnapshotted, TradeClosed, PredictionTraced, SignalGenerated, CircuitBreakerTripped,
                     OrderSubmitted, OrderFilled,
                     RunStarted, RunCompleted, MonitorAlertRaised, AlertRaised, AlertAcknowledged, AlertCleared,
                     AlertDelivered, AlertDeliveryFailed})


class RunProjector:
    """The read-model fold of one run. ``fold(records)`` -> the batch to apply."""

    def __init__(self, run_id: str, *, position: int = 0, events: int = 0) -> None:
        self.run_id = run_id
        self.position = position
        self.events = events
        self._books: dict[str, _Book] = {}
        self._run: dict[str, Any] = {"status": "running", "completed": 0, "bars_processed": 0, "strategies": []}
        # (stream, symbol) -> entry decisions sorted by time, and their times (for bisection).
        self._entries: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._entry_times: dict[tuple[str, str], list[datetime]] = {}
        self._confusion: dict[str, np.ndarray] = {}
        self._alerts: dict[str, dict[str, int]] = {}
        self._summaries: dict[str, str] = {}
        self._figures: dict[str, str] = {}
        # Books whose summary the events folded since the last ``tables()`` changed.
        self._dirty: set[str] = set()

    # ------------------------------------------------------------------ restore

    @classmethod
    def restore(cls, store: ReadModelStore, run_id: str) -> "RunProjector":
        """The projector as it stood when it last applied a batch of this run (its rows)."""
        pos = store.position(run_id)
        if pos is None:
            return cls(run_id)
        self = cls(run_id, position=pos.seq, events=pos.events)
        for row in store.rows("rm_runs", run_id):
            self._run = {"status": row["status"], "completed": int(row["completed"]),
                         "bars_processed": int(row["bars_processed"]), "strategies": parse_json(row["strategies"])}
        for row in store.rows("rm_books", run_id):
            self._books[row["book"]] = _Book(
                kind=row["kind"], initial=row["initial_cash_paise"], signals=int(row["signals"]),
                traces=int(row["traces"]), trips=int(row["circuit_breaker_trips"]),
                closed_at_end=int(row["closed_at_end"]))
        for row in store.rows("rm_portfolio", run_id):
            b = self._book(row["book"])
            b.equity.append(int(row["equity_paise"]))
            b.sessions.append(date.fromisoformat(row["session_date"]))
            b.fees_paid = int(row["fees_paid_paise"])
            b.open_at_end = len(parse_json(row["positions"]))
        for row in store.rows("rm_trades", run_id):
            b = self._book(row["book"])
            b.results.append(int(row["net_pnl_paise"]))
            held = datetime.fromisoformat(row["exit_time"]) - datetime.fromisoformat(row["entry_time"])
            b.holds.append(held.total_seconds() / 60)
        for row in store.rows("rm_entries", run_id):
            self._remember_entry(row)
        for row in store.rows("rm_accuracy", run_id):
            self._confusion[row["strategy"]] = np.asarray(parse_json(row["confusion"]), dtype=np.int64)
            self._figures[row["strategy"]] = row["figures"]
        for row in store.rows("rm_alerts", run_id):
            self._alerts[row["alert_id"]] = {"deliveries": int(row["deliveries"]),
                                             "delivery_failures": int(row["delivery_failures"])}
        for row in store.rows("rm_book_summaries", run_id):
            self._summaries[row["book"]] = row["summary"]
        return self

    # --------------------------------------------------------------------- fold

    def _book(self, name: str) -> _Book:
        book = self._books.get(name)
        if book is None:
            book = self._books[name] = _Book()
        return book

    @staticmethod
    def _learn_kind(book: _Book, name: str) -> None:
        """A book's kind is what its first trace says, or, if a trade, signal or snapshot of
        it comes first, its name when that is a kind (``analytics.projections.book_kinds``)."""
        if book.kind is None and name in STRATEGY_KINDS:
            book.kind = name

    def _remember_entry(self, row: dict[str, Any], at: datetime | None = None) -> None:
        at = at if at is not None else datetime.fromisoformat(row["at"])
        key = (row["stream_id"], row["symbol"])
        times = self._entry_times.setdefault(key, [])
        rows = self._entries.setdefault(key, [])
        if not times or at >= times[-1]:  # decisions arrive in time order: append
            times.append(at)
            rows.append(row)
        else:
            k = bisect.bisect_right(times, at)
            times.insert(k, at)
            rows.insert(k, row)

    def _opener(self, stream_id: str, symbol: str, entry_time: datetime) -> dict[str, Any] | None:
        """The latest entry decision of the book and symbol at or before ``entry_time``."""
        times = self._entry_times.get((stream_id, symbol))
        if not times:
            return None
        k = bisect.bisect_right(times, entry_time) - 1
        return self._entries[(stream_id, symbol)][k] if k >= 0 else None

    def fold(self, records: Iterable[RecordedEvent], *, with_tables: bool = True) -> ProjectionBatch | None:
        """Fold the run's events after the position (earlier ones and other runs' are skipped)
        into a batch (None if there were none). ``with_tables=False`` leaves the per-run
        tables out (a caller that merges many batches adds ``tables()`` once, when it applies)."""
        start = self.position
        out = _Batch()
        folded = False
        for rec in records:
            if rec.run_id != self.run_id or rec.seq <= self.position:
                continue
            folded = True
            self.position = rec.seq
            self.events += 1
            kind = type(rec.event)
            if kind in _FOLDED:
                self._fold_one(rec, out, self._dirty)
        if not folded:
            return None
        return ProjectionBatch(run_id=self.run_id, after_seq=start, to_seq=self.position, events=self.events,
                               inserts=out.inserts, updates=tuple(resolve_updates(out.inserts, out.updates)),
                               replaced=self.tables() if with_tables else {})

    def _fold_one(self, rec: RecordedEvent, out: _Batch, touched: set[str]) -> None:
        ev = rec.event
        kind = type(ev)
        if kind is OrderSubmitted or kind is OrderFilled:  # the most frequent: first
            out.add("rm_orders" if kind is OrderSubmitted else "rm_fills", {
                "seq": rec.seq, "stream_id": rec.stream_id, "occurred_at": _iso(rec.occurred_at),
                "version": ev.VERSION, "payload": encode_payload(ev)})
            if kind is OrderFilled and ev.fill_reason == "backtest_end":
                name = book_name(rec.stream_id)
                touched.add(name)
                self._book(name).closed_at_end += 1
            return
        name = book_name(rec.stream_id)
        book = self._book(name)
        if isinstance(ev, PortfolioSnapshotted):
            touched.add(name)
            self._learn_kind(book, name)
            book.equity.append(ev.equity_paise)
            book.sessions.append(ev.session_date)
            book.fees_paid = ev.fees_paid_paise
            book.open_at_end = len(ev.positions)
            day = ev.session_date.isoformat()
            out.add("rm_portfolio", {
                "seq": rec.seq, "book": name, "session_date": day, "cash_paise": ev.cash_paise,
                "positions_value_paise": ev.positions_value_paise, "equity_paise": ev.equity_paise,
                "realized_pnl_paise": ev.realized_pnl_paise, "unrealized_pnl_paise": ev.unrealized_pnl_paise,
                "fees_paid_paise": ev.fees_paid_paise, "positions": _json(ev.positions), "prices": _json(ev.prices)})
            # Held symbols only: a flat symbol's close is in the snapshot's prices.
            for symbol in sorted(ev.positions):
                held = ev.positions[symbol]
                close = ev.prices.get(symbol)
                out.add("rm_symbol_days", {
                    "seq": rec.seq, "book": name, "session_date": day, "symbol": symbol,
                    "close": None if close is None else float(close), "quantity": int(held["quantity"]),
                    "average_price_paise": held.get("average_price_paise"),
                    "market_value_paise": int(held.get("market_value_paise", 0))})
        elif isinstance(ev, TradeClosed):
            touched.add(name)
            book.results.append(ev.net_pnl_paise)
            book.holds.append((ev.exit_time - ev.entry_time).total_seconds() / 60)
            opener = self._opener(rec.stream_id, ev.symbol, ev.entry_time) or {}
            self._learn_kind(book, name)
            out.add("rm_trades", {
                "seq": rec.seq, "stream_id": rec.stream_id, "book": name, "strategy": ev.strategy,
                "trade_id": ev.trade_id,
                "symbol": ev.symbol, "direction": ev.direction.upper(), "quantity": ev.quantity,
                "entry_time": _iso(ev.entry_time), "exit_time": _iso(ev.exit_time),
                "entry_price_paise": ev.entry_price_paise, "exit_price_paise": ev.exit_price_paise,
                "gross_pnl_paise": ev.gross_pnl_paise, "fees_paise": ev.fees_paise,
                "net_pnl_paise": ev.net_pnl_paise, "exit_reason": ev.exit_reason,
                "cash_before_paise": ev.cash_before_paise, "cash_after_paise": ev.cash_after_paise,
                "equity_before_paise": ev.equity_before_paise, "equity_after_paise": ev.equity_after_paise,
                "confidence": opener.get("confidence"), "reason": opener.get("reason", ""),
                "features": opener.get("features", "{}"), "signals": opener.get("signals", "{}"),
                "context": opener.get("context", "{}"), "traced": 0})
        elif isinstance(ev, PredictionTraced):
            touched.add(name)
            book.traces += 1
            if book.kind is None:
                book.kind = ev.strategy
            features, signals, context = _json(ev.features), _json(ev.signals), _json(ev.context)
            entry_time = _iso(ev.timestamp)
            out.add("rm_traces", {
                "seq": rec.seq, "stream_id": rec.stream_id, "book": name, "traced_at": _iso(rec.occurred_at),
                "timestamp": entry_time, "symbol": ev.symbol, "strategy": ev.strategy,
                "predicted_direction": ev.predicted_direction.upper(), "actual_direction": ev.actual_direction.upper(),
                "predicted_confidence": float(ev.predicted_confidence), "entry_price": float(ev.entry_price),
                "exit_price": float(ev.exit_price), "holding_period_minutes": int(ev.holding_period_minutes),
                "realized_return_pct": float(ev.realized_return_pct), "features": features,
                "metadata": _json(ev.metadata), "signals": signals, "context": context})
            matrix = self._confusion.setdefault(ev.strategy, np.zeros((3, 3), dtype=np.int64))
            actual, predicted = ev.actual_direction.upper(), ev.predicted_direction.upper()
            if actual in DIRECTIONS and predicted in DIRECTIONS:
                matrix[DIRECTIONS.index(actual), DIRECTIONS.index(predicted)] += 1
            self._figures.pop(ev.strategy, None)
            values: dict[str, Any] = {"confidence": float(ev.predicted_confidence), "features": features,
                                      "signals": signals, "context": context, "traced": 1}
            reason = str(ev.metadata.get("reason", ""))
            if reason:
                values["reason"] = reason
            # The trade closed just before its trace (same writer): the first trace of a trade wins.
            out.updates.append(RowUpdate(
                table="rm_trades", where={"stream_id": rec.stream_id, "symbol": ev.symbol,
                                          "entry_time": entry_time},
                values=values, only_if={"traced": 0}))
        elif isinstance(ev, SignalGenerated):
            touched.add(name)
            self._learn_kind(book, name)
            book.signals += 1
            if ev.action == "enter":
                row = {"seq": rec.seq, "stream_id": rec.stream_id, "symbol": ev.symbol, "at": _iso(rec.occurred_at),
                       "confidence": float(ev.confidence), "reason": ev.reason, "features": _json(ev.features),
                       "signals": _json(ev.signals), "context": _json(ev.context)}
                out.add("rm_entries", row)
                self._remember_entry(row, rec.occurred_at)
        elif isinstance(ev, CircuitBreakerTripped):
            touched.add(name)
            book.trips += 1
        elif isinstance(ev, RunStarted):
            for booked, cash in ev.config.get("initial_cash_paise_by_book", {}).items():
                self._book(booked).initial = int(cash)
                touched.add(booked)
            self._run["strategies"] = list(ev.strategies)
        elif isinstance(ev, RunCompleted):
            self._run.update(status=ev.status, completed=1, bars_processed=ev.bars_processed)
        else:
            self._fold_alert(rec, out)

    def _fold_alert(self, rec: RecordedEvent, out: _Batch) -> None:
        ev = rec.event
        if isinstance(ev, (MonitorAlertRaised, AlertRaised)):
            alert_id = ev.alert_id if isinstance(ev, MonitorAlertRaised) else f"event:{rec.seq}"
            if alert_id in self._alerts:
                return  # a restarted monitor that decided the same again: one alert
            self._alerts[alert_id] = {"deliveries": 0, "delivery_failures": 0}
            raised = isinstance(ev, MonitorAlertRaised)
            out.add("rm_alerts", {
                "alert_id": alert_id, "seq": rec.seq, "raised_at": _iso(rec.occurred_at),
                "rule": ev.rule if raised else ev.source, "alert_key": ev.key if raised else ev.source,
                "severity": ev.severity, "message": ev.message, "subject_run_id": ev.subject_run_id if raised else "",
                "state": "open", "acknowledged_by": None, "cleared_seq": None, "cleared_reason": None,
                "deliveries": 0, "delivery_failures": 0})
        elif isinstance(ev, AlertAcknowledged):
            out.updates.append(RowUpdate(table="rm_alerts", where={"alert_id": ev.alert_id},
                                         values={"state": "acknowledged", "acknowledged_by": ev.acknowledged_by},
                                         only_if={"state": "open"}))
        elif isinstance(ev, AlertCleared):
            out.updates.append(RowUpdate(table="rm_alerts", where={"alert_id": ev.alert_id},
                                         values={"state": "cleared", "cleared_seq": rec.seq,
                                                 "cleared_reason": ev.reason}))
        elif isinstance(ev, (AlertDelivered, AlertDeliveryFailed)) and ev.alert_id in self._alerts:
            counts = self._alerts[ev.alert_id]
            field = "deliveries" if isinstance(ev, AlertDelivered) else "delivery_failures"
            counts[field] += 1
            out.updates.append(RowUpdate(table="rm_alerts", where={"alert_id": ev.alert_id},
                                         values={field: counts[field]}))

    # ------------------------------------------------------------------- output

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """The run's complete rows of the per-run tables (summaries, books, accuracy, run)."""
        for name in sorted(self._dirty):
            book = self._books[name]
            if book.equity or book.results:
                self._summaries[name] = _json(summary_payload(self._summary(name, book)))
        self._dirty.clear()
        books = [{"book": name, "kind": b.kind, "initial_cash_paise": b.initial, "signals": b.signals,
                  "traces": b.traces, "circuit_breaker_trips": b.trips, "closed_at_end": b.closed_at_end}
                 for name, b in sorted(self._books.items())]
        accuracy_rows = []
        for strategy, matrix in sorted(self._confusion.items()):
            if strategy not in self._figures:
                self._figures[strategy] = _json(classification_payload(matrix))
            accuracy_rows.append({"strategy": strategy, "confusion": _json(matrix.tolist()),
                                  "figures": self._figures[strategy]})
        return {
            "rm_books": books,
            "rm_book_summaries": [{"book": n, "summary": s} for n, s in sorted(self._summaries.items())],
            "rm_accuracy": accuracy_rows,
            "rm_runs": [{"status": self._run["status"], "completed": self._run["completed"],
                         "bars_processed": self._run["bars_processed"],
                         "strategies": _json(self._run["strategies"])}],
        }

    @staticmethod
    def _summary(name: str, b: _Book) -> BookSummary:
        return book_summary(
            name, initial_paise=b.initial, equity_paise=b.equity, sessions=b.sessions, fees_paid_paise=b.fees_paid,
            trade_results_paise=b.results, holds_minutes=b.holds, signals=b.signals, traces=b.traces,
            circuit_breaker_trips=b.trips, closed_at_end=b.closed_at_end, open_at_end=b.open_at_end)


def summary_payload(summary: BookSummary) -> dict[str, Any]:
    """A book summary as JSON-ready data (dates as ISO text)."""
    return attrs.asdict(summary, value_serializer=lambda _i, _a, v: v.isoformat() if isinstance(v, date) else v)


def summary_from_payload(data: dict[str, Any]) -> BookSummary:
    fields = dict(data)
    for key in ("first_session", "last_session"):
        if fields.get(key) is not None:
            fields[key] = date.fromisoformat(fields[key])
    return BookSummary(**fields)


def classification_payload(matrix: np.ndarray) -> dict[str, Any]:
    """Precision/recall/F1/support/accuracy of a 3x3 actual x predicted count matrix, by
    ``core.accuracy`` (the counts expanded back into the observations they count)."""
    k = len(DIRECTIONS)
    cells = np.arange(k * k)
    counts = np.asarray(matrix, dtype=np.int64).reshape(-1)
    actual = np.asarray(DIRECTIONS, dtype=object)[np.repeat(cells // k, counts)]
    predicted = np.asarray(DIRECTIONS, dtype=object)[np.repeat(cells % k, counts)]
    found = accuracy.classify(actual, predicted)
    return {"precision": found.precision, "recall": found.recall, "f1_score": found.f1_score,
            "support": found.support, "confusion_matrix": found.confusion_matrix, "accuracy": found.accuracy,
            "traces": int(counts.sum())}


def resolve_updates(inserts: dict[str, list[dict[str, Any]]], updates: Iterable[RowUpdate]) -> list[RowUpdate]:
    """Apply to the batch's own new rows the updates that match one of them (a trade and its
    trace folded together: one row written, no UPDATE); return the rest for the store.

    The same as the store applying them after the inserts because the projector's update
    keys are unique (one trade per book, symbol and entry time; one row per alert id), so
    an update that matches a new row matches no stored one."""
    indexed: dict[tuple[str, tuple], list[dict[str, Any]]] = {}
    left = []
    for update in updates:
        rows = inserts.get(update.table)
        if not rows:
            left.append(update)
            continue
        fields = tuple(sorted(update.where))
        key = (update.table, fields)
        if key not in indexed:
            index: dict[tuple, list[dict[str, Any]]] = {}
            for row in rows:
                index.setdefault(tuple(row.get(f) for f in fields), []).append(row)
            indexed[key] = index  # type: ignore[assignment]
        found = indexed[key].get(tuple(update.where[f] for f in fields), [])  # type: ignore[call-overload]
        if not found:
            left.append(update)
            continue
        for row in found:
            if all(row.get(k) == v for k, v in update.only_if.items()):
                row.update(update.values)
    return left


def merge_batches(first: ProjectionBatch | None, then: ProjectionBatch | None) -> ProjectionBatch | None:
    """One batch doing what ``first`` then ``then`` do (consecutive batches of one projector)."""
    if first is None or then is None:
        return first or then
    inserts = {name: list(rows) for name, rows in first.inserts.items()}
    updates = resolve_updates(inserts, then.updates)
    for name, rows in then.inserts.items():
        inserts.setdefault(name, []).extend(rows)
    return ProjectionBatch(run_id=first.run_id, after_seq=first.after_seq, to_seq=then.to_seq, events=then.events,
                           inserts=inserts, updates=(*first.updates, *updates), replaced=then.replaced,
                           reset=first.reset)


# --------------------------------------------------------------------- drivers


def _pages(store: EventStore, run_id: str, after: int, page_size: int) -> Iterable[list[RecordedEvent]]:
    while True:
        page = store.read_all(after, page_size, run_id=run_id)
        if not page:
            return
        yield page
        after = page[-1].seq
        if len(page) < page_size:
            return


def resolve_run_id(store: EventStore, run_id: str) -> str:
    """The full id of a recorded run (a unique prefix works); an id without a runs row (the
    monitor's own alert stream) is used as written."""
    try:
        return store.get_run(run_id).run_id
    except RunNotFoundError:
        return run_id


def project_run(store: EventStore, read_models: ReadModelStore, run_id: str, *, page_size: int = PAGE_SIZE,
                progress: Callable[[int], None] | None = None) -> ProjectionPosition:
    """Bring one run's read models up to its log, reading only the events after the stored
    position (nothing at all when they are current). Another projector racing on the same
    run makes this one start again from the position that one stored."""
    run_id = resolve_run_id(store, run_id)
    for _attempt in range(5):
        projector: RunProjector | None = None
        try:
            pos = read_models.position(run_id)
            for page in _pages(store, run_id, pos.seq if pos else 0, page_size):
                if projector is None:
                    projector = RunProjector.restore(read_models, run_id)
                batch = projector.fold(page)
                if batch is not None:
                    read_models.apply(batch)
                if progress is not None:
                    progress(len(page))
            return read_models.position(run_id) or ProjectionPosition(run_id=run_id, seq=0, events=0)
        except ProjectionConflictError:
            continue
    raise ProjectionConflictError(run_id, -1, -1)


def rebuild_run(store: EventStore, read_models: ReadModelStore, run_id: str, *, page_size: int = PAGE_SIZE,
                progress: Callable[[int], None] | None = None) -> ProjectionPosition:
    """Recreate one run's read models from its whole log, replacing the old rows in the same
    transaction (a reader sees the old rows or the new ones, never a mix)."""
    run_id = resolve_run_id(store, run_id)
    for _attempt in range(5):
        stored = read_models.position(run_id)
        projector = RunProjector(run_id)
        batch: ProjectionBatch | None = None
        for page in _pages(store, run_id, 0, page_size):
            batch = merge_batches(batch, projector.fold(page, with_tables=False))
            if progress is not None:
                progress(len(page))
        at = stored.seq if stored else 0
        if batch is None:
            read_models.drop(run_id)
            return ProjectionPosition(run_id=run_id, seq=0, events=0)
        try:
            read_models.apply(attrs.evolve(batch, after_seq=at, reset=True, replaced=projector.tables()))
        except ProjectionConflictError:
            continue
        return read_models.position(run_id) or ProjectionPosition(run_id=run_id, seq=0, events=0)
    raise ProjectionConflictError(run_id, -1, -1)


class CommittedProjection:
    """A writer's ``on_committed`` hook: folds the events as they commit (they are never read
    back) and applies the rows every ``flush_every`` events and at ``flush()``. If another
    projector moved the run meanwhile, it catches up from the stored position instead."""

    def __init__(self, store: EventStore, read_models: ReadModelStore, *, flush_every: int = 10_000) -> None:
        self._store = store
        self._read_models = read_models
        self._flush_every = flush_every
        self._projectors: dict[str, RunProjector] = {}
        self._pending: dict[str, ProjectionBatch] = {}
        self._since_flush = 0
        self.seconds = 0.0  # spent folding and applying, for the run's figures
        self.seconds_at_end = 0.0  # of which in the final flush and the summary

    def __call__(self, records: Sequence[RecordedEvent]) -> None:
        t0 = time.perf_counter()
        try:
            self._fold(records)
        finally:
            self.seconds += time.perf_counter() - t0

    def _fold(self, records: Sequence[RecordedEvent]) -> None:
        for run_id in dict.fromkeys(r.run_id for r in records):
            projector = self._projectors.get(run_id)
            if projector is None:
                projector = self._projectors[run_id] = self._first_sight(run_id, records)
            batch = projector.fold(records, with_tables=False)
            self._pending[run_id] = merge_batches(self._pending.get(run_id), batch)  # type: ignore[assignment]
        self._since_flush += len(records)
        if self._since_flush >= self._flush_every:
            self._flush()

    def _first_sight(self, run_id: str, records: Sequence[RecordedEvent]) -> RunProjector:
        first = min(r.seq for r in records if r.run_id == run_id)
        earliest = self._store.read_all(0, 1, run_id=run_id)
        if self._read_models.position(run_id) is None and earliest and earliest[0].seq == first:
            return RunProjector(run_id)  # a new run, seen from its first event
        # A resumed run (events this writer did not commit) or rows already there: catch up
        # to the log first, then continue from what is stored.
        project_run(self._store, self._read_models, run_id)
        return RunProjector.restore(self._read_models, run_id)

    def summary(self, run: RunInfo) -> RunSummary:
        """The run's summary as the rows just applied say (call after ``flush``): what
        ``run_summary`` reads back, without reading it back."""
        t0 = time.perf_counter()
        projector = self._projectors.get(run.run_id) or RunProjector(run.run_id)
        tables = projector.tables()
        summary = summary_from_rows(run, tables["rm_book_summaries"], tables["rm_runs"], projector.events)
        spent = time.perf_counter() - t0
        self.seconds += spent
        self.seconds_at_end += spent
        return summary

    def flush(self) -> None:
        """Apply what is folded (the writer calls it when the run ends)."""
        t0 = time.perf_counter()
        try:
            self._flush()
        finally:
            spent = time.perf_counter() - t0
            self.seconds += spent
            self.seconds_at_end += spent

    def _flush(self) -> None:
        self._since_flush = 0
        for run_id, batch in list(self._pending.items()):
            del self._pending[run_id]
            if batch is None:
                continue
            try:
                self._read_models.apply(attrs.evolve(batch, replaced=self._projectors[run_id].tables()))
            except ProjectionConflictError:
                self._projectors.pop(run_id, None)
                project_run(self._store, self._read_models, run_id)


class TailProjection:
    """For a process that tails the log (the monitor): ``observe`` each event it reads,
    ``step()`` after each read to bring the runs it saw (and ``always``) up to date. A
    failure is reported to ``log`` and retried at the next step, never raised: the read
    models must not stop the process that follows the log."""

    def __init__(self, store: EventStore, read_models: ReadModelStore, *, always: Sequence[str] = (),
                 log: Callable[[str], None] = lambda _m: None) -> None:
        self._store = store
        self._read_models = read_models
        self._always = tuple(always)
        self._seen: set[str] = set(self._always)
        self._log = log

    def observe(self, rec: RecordedEvent) -> None:
        self._seen.add(rec.run_id)

    def step(self) -> None:
        failed = {run_id for run_id in sorted(self._seen)
                  if not catch_up_quietly(self._store, self._read_models, run_id, self._log)}
        self._seen = set(self._always) | failed


def catch_up_quietly(store: EventStore, read_models: ReadModelStore, run_id: str,
                     log: Callable[[str], None] = lambda _m: None) -> bool:
    """``project_run``, with a failure reported to ``log`` instead of raised (a session that
    ended, or a tailing process, must not fail because of derived data). True if it worked."""
    try:
        project_run(store, read_models, run_id)
        return True
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log(f"could not update the read models of run {run_id} ({type(exc).__name__}: {exc}); "
            "they are caught up at the next read")
        return False


# ---------------------------------------------------------------------- readers


def load_run_from_read_models(store: EventStore, read_models: ReadModelStore,
                              run_ids: Sequence[str] | str | None = None) -> RunData:
    """One or several runs (default: the latest) with their traces, trades, portfolio, orders
    and fills read from the read models (caught up first) instead of folded from the whole
    log: what the report, the trace, trade and execution exports and the notebook need. Only
    the runs' own stream (``RunStarted``/``RunCompleted``) is read from the log."""
    if run_ids is None:
        run_ids = [latest_run_id(store)]
    elif isinstance(run_ids, str):
        run_ids = [run_ids]
    infos = [store.get_run(r) for r in run_ids]
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    started: dict[str, RunStarted] = {}
    completed: dict[str, RunCompleted] = {}
    for info in infos:
        project_run(store, read_models, info.run_id)
        rows[info.run_id] = {t: read_models.rows(t, info.run_id)
                             for t in ("rm_traces", "rm_trades", "rm_portfolio", "rm_books", "rm_orders", "rm_fills")}
        for rec in store.read_stream(f"{info.run_id}:run"):
            if isinstance(rec.event, RunStarted):
                started[info.run_id] = rec.event
            elif isinstance(rec.event, RunCompleted):
                completed[info.run_id] = rec.event
    return run_data_from_read_models(infos, rows, started, completed)


def run_summary(store: EventStore, read_models: ReadModelStore, run_id: str) -> RunSummary:
    """The run's summary from its read models (caught up first): what ``runs show`` prints."""
    run = store.get_run(run_id)
    pos = project_run(store, read_models, run.run_id)
    return summary_from_rows(run, read_models.rows("rm_book_summaries", run.run_id),
                             read_models.rows("rm_runs", run.run_id), pos.events)


def summary_from_rows(run: RunInfo, summaries: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]],
                      events: int) -> RunSummary:
    """A ``RunSummary`` from the run's ``rm_book_summaries`` and ``rm_runs`` rows."""
    books = [summary_from_payload(parse_json(r["summary"])) for r in summaries]
    meta: dict[str, int | str] = {"status": "running", "bars_processed": 0, "events": events}
    for row in runs:
        meta.update(status=row["status"], bars_processed=int(row["bars_processed"]),
                    strategies=",".join(parse_json(row["strategies"])))
        if row["completed"]:
            meta["completed"] = 1
    return RunSummary(run=run, books=books, status=str(meta["status"]), bars_processed=int(meta["bars_processed"]),
                      events=int(meta["events"]), missing=missing_parts(run, books, meta))

