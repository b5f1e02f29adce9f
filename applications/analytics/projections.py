"""Projections: the events of one or several runs -> plain pandas DataFrames.

Everything the analytics, the report, the exports, the dashboard and the notebook show
is computed from these frames; the frames are computed only from the event log (never
from files a run may have left behind). Readers page through ``EventStore.read_all``
filtered by run id, so a projection sees events in ``seq`` order.

Frames (one row per ...):

- ``traces``    — ``PredictionTraced`` (one per closed, sampled trade). Columns follow the
  telemetry schema (spec 000) plus ``run_id``, ``mode``, ``seq``, ``traced_at``.
- ``trades``    — ``TradeClosed`` (every round trip), money in paise and rupees, with the
  ``signals``/``context``/``features``/``confidence`` of the decision that opened it.
- ``portfolio`` — ``PortfolioSnapshotted`` (one per session per strategy book; the book is
  the suffix of the stream id ``<run_id>:<strategy>``).
- ``signals``   — ``SignalGenerated`` (entries, exits, suppressed entries).
- ``orders``    — ``OrderSubmitted`` (with the ``decision_price_paise`` of v2 and the ``book``);
- ``fills``     — ``OrderFilled``; ``rejections`` — ``EntryRejected``;
  ``breakers`` — ``CircuitBreakerTripped``; ``sentiment`` — ``SentimentScored``.
"""

from __future__ import annotations

import bisect
import uuid

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import attrs
import numpy as np
import pandas as pd

from core.errors import RunNotFoundError
from core.events.base import RecordedEvent, RunInfo
from core.events.codec import decode_payload, parse_json
from core.events.catalog import (
    CircuitBreakerTripped,
    EntryRejected,
    OrderFilled,
    OrderSubmitted,
    PortfolioSnapshotted,
    PredictionTraced,
    RunCompleted,
    RunStarted,
    SentimentScored,
    SignalGenerated,
    TradeClosed,
)
from ports.event_store import EventStore

STRATEGIES = ("intraday", "swing")
IST = timezone(timedelta(hours=5, minutes=30))  # NSE session dates are IST dates
DIRECTIONS = ("LONG", "SHORT", "NOOP")

TRACE_COLUMNS = [
    "timestamp", "symbol", "strategy", "predicted_direction", "actual_direction",
    "predicted_confidence", "entry_price", "exit_price", "holding_period_minutes",
    "realized_return_pct", "features", "metadata",
]
"""The prediction-trace schema of the telemetry spec, in its column order."""

TRACE_EXTRA_COLUMNS = ["signals", "context"]
"""Added by the trades spec (004); CSV exports write them after the spec columns."""

_TRACE_FRAME_COLUMNS = ["run_id", "mode", "seq", "traced_at", *TRACE_COLUMNS, *TRACE_EXTRA_COLUMNS]

_TRADE_COLUMNS = [
    "run_id", "seq", "trade_id", "strategy", "book", "symbol", "direction", "quantity", "entry_time",
    "exit_time", "duration", "holding_minutes", "entry_price", "exit_price", "entry_price_paise",
    "exit_price_paise", "gross_pnl_paise", "fees_paise", "net_pnl_paise", "pnl", "pnl_pct",
    "exit_reason", "cash_before_paise", "cash_after_paise", "equity_before_paise",
    "equity_after_paise", "confidence", "reason", "features", "signals", "context",
]

_PORTFOLIO_COLUMNS = [
    "run_id", "seq", "strategy", "book", "session_date", "cash_paise", "positions_value_paise", "equity_paise",
    "realized_pnl_paise", "unrealized_pnl_paise", "fees_paid_paise", "positions", "prices",
]

_SIGNAL_COLUMNS = [
    "run_id", "seq", "occurred_at", "symbol", "strategy", "book", "bar_start", "direction", "action",
    "confidence", "reason", "features", "signals", "context",
]


def read_run_events(store: EventStore, run_id: str, *, page_size: int = 5000) -> list[RecordedEvent]:
    """Every event of one run in ``seq`` order (a unique prefix of the run id is accepted)."""
    run_id = store.get_run(run_id).run_id
    out: list[RecordedEvent] = []
    after = 0
    while True:
        page = store.read_all(after_seq=after, limit=page_size, run_id=run_id)
        if not page:
            return out
        out.extend(page)
        after = page[-1].seq
        if len(page) < page_size:
            return out


def latest_run_id(store: EventStore, mode: str | None = None) -> str:
    """The id of the newest run (optionally of one mode); ``RunNotFoundError`` if none."""
    runs = store.list_runs(mode=mode, limit=1)
    if not runs:
        raise RunNotFoundError("the event store holds no runs yet; run `sensequant backtest` first")
    return runs[0].run_id


def _book_of(stream_id: str, run_id: str) -> str:
    if stream_id.startswith(run_id + ":"):
        return stream_id[len(run_id) + 1:]
    return stream_id.rsplit(":", 1)[-1] if ":" in stream_id else "portfolio"


def book_kinds(events: Iterable[RecordedEvent]) -> dict[str, str]:
    """Stream id -> strategy kind (``intraday``/``swing``) of every book stream.

    The kind is what the book's prediction traces say; a book without traces whose name
    is a kind keeps its name; other books map to their name.
    """
    kinds: dict[str, str] = {}
    for rec in events:
        if isinstance(rec.event, PredictionTraced):
            kinds.setdefault(rec.stream_id, rec.event.strategy)
        elif isinstance(rec.event, (TradeClosed, SignalGenerated, PortfolioSnapshotted)):
            if rec.stream_id not in kinds:
                name = _book_of(rec.stream_id, rec.run_id)
                if name in STRATEGIES:
                    kinds[rec.stream_id] = name
    return kinds


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame({c: [] for c in columns})


def traces_frame(events: Iterable[RecordedEvent], mode: str | None = None) -> pd.DataFrame:
    """``PredictionTraced`` events -> one row per trace (schema of spec 000 + extras)."""
    rows = []
    modes: dict[str, str] = {}
    for rec in events:
        ev = rec.event
        if isinstance(ev, RunStarted):
            modes[rec.run_id] = ev.mode
        elif isinstance(ev, PredictionTraced):
            rows.append({
                "run_id": rec.run_id, "mode": mode or modes.get(rec.run_id, ""), "seq": rec.seq,
                "traced_at": rec.occurred_at, "timestamp": ev.timestamp, "symbol": ev.symbol,
                "strategy": ev.strategy, "predicted_direction": ev.predicted_direction.upper(),
                "actual_direction": ev.actual_direction.upper(),
                "predicted_confidence": float(ev.predicted_confidence), "entry_price": float(ev.entry_price),
                "exit_price": float(ev.exit_price), "holding_period_minutes": int(ev.holding_period_minutes),
                "realized_return_pct": float(ev.realized_return_pct), "features": dict(ev.features),
                "metadata": dict(ev.metadata), "signals": dict(ev.signals), "context": dict(ev.context),
            })
    return normalise_traces(_frame(rows, _TRACE_FRAME_COLUMNS))


def normalise_traces(df: pd.DataFrame) -> pd.DataFrame:
    """Give a traces frame its canonical dtypes (UTC timestamps, float returns, int minutes)."""
    df = df.copy()
    for col in ("timestamp", "traced_at"):
        if col in df:
            df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601") if len(df) else \
                pd.Series([], dtype="datetime64[ns, UTC]")
    for col in ("predicted_confidence", "entry_price", "exit_price", "realized_return_pct"):
        if col in df:
            df[col] = df[col].astype("float64")
    if "holding_period_minutes" in df:
        df["holding_period_minutes"] = df["holding_period_minutes"].astype("int64")
    for col in ("symbol", "strategy", "predicted_direction", "actual_direction", "run_id", "mode"):
        if col in df:
            df[col] = df[col].astype(object)
    if len(df) and "timestamp" in df:
        order = ["timestamp", "seq"] if "seq" in df else ["timestamp"]
        df = df.sort_values(order, kind="stable").reset_index(drop=True)
    return df


def signals_frame(events: Iterable[RecordedEvent]) -> pd.DataFrame:
    """``SignalGenerated`` events -> one row per decision."""
    events = list(events)
    kinds = book_kinds(events)
    rows = [{
        "run_id": rec.run_id, "seq": rec.seq, "occurred_at": rec.occurred_at, "symbol": ev.symbol,
        "strategy": kinds.get(rec.stream_id, ev.strategy), "book": ev.strategy, "bar_start": ev.bar_start,
        "direction": ev.direction.upper(),
        "action": ev.action, "confidence": float(ev.confidence), "reason": ev.reason,
        "features": dict(ev.features), "signals": dict(ev.signals), "context": dict(ev.context),
    } for rec in events if isinstance(ev := rec.event, SignalGenerated)]
    df = _frame(rows, _SIGNAL_COLUMNS)
    for col in ("occurred_at", "bar_start"):
        df[col] = pd.to_datetime(df[col], utc=True) if len(df) else pd.Series([], dtype="datetime64[ns, UTC]")
    return df


def trades_frame(events: Sequence[RecordedEvent]) -> pd.DataFrame:
    """``TradeClosed`` events -> one row per round trip, joined to the decision that opened it.

    The opening decision is the ``PredictionTraced`` of the same run, strategy, symbol and
    entry time when there is one (it carries the signals at entry); otherwise the latest
    ``SignalGenerated`` entry of that strategy and symbol at or before the entry time.
    """
    traces: dict[tuple[str, str, datetime], PredictionTraced] = {}
    entries: dict[tuple[str, str], list[tuple[datetime, SignalGenerated]]] = {}
    closed: list[tuple[RecordedEvent, TradeClosed]] = []
    kinds = book_kinds(events)
    for rec in events:
        ev = rec.event
        if isinstance(ev, PredictionTraced):
            traces.setdefault((rec.stream_id, ev.symbol, ev.timestamp), ev)
        elif isinstance(ev, SignalGenerated) and ev.action == "enter":
            entries.setdefault((rec.stream_id, ev.symbol), []).append((rec.occurred_at, ev))
        elif isinstance(ev, TradeClosed):
            closed.append((rec, ev))
    # Per (book, symbol): entry decisions sorted by time, searched by bisection (a run with
    # many trades must not rescan every earlier entry for each trade).
    entry_times = {}
    for key, found in entries.items():
        found.sort(key=lambda pair: pair[0])
        entry_times[key] = [at for at, _ in found]
    rows = []
    for rec, ev in closed:
        trace = traces.get((rec.stream_id, ev.symbol, ev.entry_time))
        confidence, reason, features, sigs, ctx = np.nan, "", {}, {}, {}
        if trace is not None:
            confidence, features, sigs, ctx = trace.predicted_confidence, trace.features, trace.signals, trace.context
            reason = str(trace.metadata.get("reason", ""))
        opener = None
        key = (rec.stream_id, ev.symbol)
        if key in entries:
            k = bisect.bisect_right(entry_times[key], ev.entry_time) - 1
            if k >= 0:
                opener = entries[key][k][1]
        if opener is not None:
            reason = reason or opener.reason
            if trace is None:
                confidence, features, sigs, ctx = opener.confidence, opener.features, opener.signals, opener.context
        notional = ev.entry_price_paise * ev.quantity
        duration = ev.exit_time - ev.entry_time
        rows.append({
            "run_id": rec.run_id, "seq": rec.seq, "trade_id": ev.trade_id,
            "strategy": kinds.get(rec.stream_id, ev.strategy), "book": ev.strategy,
            "symbol": ev.symbol, "direction": ev.direction.upper(), "quantity": ev.quantity,
            "entry_time": ev.entry_time, "exit_time": ev.exit_time, "duration": duration,
            "holding_minutes": duration.total_seconds() / 60.0,
            "entry_price": ev.entry_price_paise / 100.0, "exit_price": ev.exit_price_paise / 100.0,
            "entry_price_paise": ev.entry_price_paise, "exit_price_paise": ev.exit_price_paise,
            "gross_pnl_paise": ev.gross_pnl_paise, "fees_paise": ev.fees_paise, "net_pnl_paise": ev.net_pnl_paise,
            "pnl": ev.net_pnl_paise / 100.0,
            "pnl_pct": (100.0 * ev.net_pnl_paise / notional) if notional else 0.0,
            "exit_reason": ev.exit_reason, "cash_before_paise": ev.cash_before_paise,
            "cash_after_paise": ev.cash_after_paise, "equity_before_paise": ev.equity_before_paise,
            "equity_after_paise": ev.equity_after_paise, "confidence": float(confidence), "reason": reason,
            "features": dict(features), "signals": dict(sigs), "context": dict(ctx),
        })
    return _typed_trades(_frame(rows, _TRADE_COLUMNS))


def _typed_trades(df: pd.DataFrame) -> pd.DataFrame:
    """A trades frame with its canonical dtypes and order (exit time, then seq)."""
    for col in ("entry_time", "exit_time"):
        df[col] = pd.to_datetime(df[col], utc=True) if len(df) else pd.Series([], dtype="datetime64[ns, UTC]")
    df["duration"] = pd.to_timedelta(df["duration"]) if len(df) else pd.Series([], dtype="timedelta64[ns]")
    for col in ("quantity", "entry_price_paise", "exit_price_paise", "gross_pnl_paise", "fees_paise",
                "net_pnl_paise", "cash_before_paise", "cash_after_paise", "equity_before_paise",
                "equity_after_paise"):
        df[col] = df[col].astype("int64")
    for col in ("holding_minutes", "entry_price", "exit_price", "pnl", "pnl_pct", "confidence"):
        df[col] = df[col].astype("float64")
    if len(df):
        df = df.sort_values(["exit_time", "seq"], kind="stable").reset_index(drop=True)
    return df


def portfolio_frame(events: Iterable[RecordedEvent]) -> pd.DataFrame:
    """``PortfolioSnapshotted`` events -> one row per session per strategy book."""
    events = list(events)
    kinds = book_kinds(events)
    rows = [{
        "run_id": rec.run_id, "seq": rec.seq, "book": _book_of(rec.stream_id, rec.run_id),
        "strategy": kinds.get(rec.stream_id, _book_of(rec.stream_id, rec.run_id)),
        "session_date": ev.session_date, "cash_paise": ev.cash_paise,
        "positions_value_paise": ev.positions_value_paise, "equity_paise": ev.equity_paise,
        "realized_pnl_paise": ev.realized_pnl_paise, "unrealized_pnl_paise": ev.unrealized_pnl_paise,
        "fees_paid_paise": ev.fees_paid_paise, "positions": {k: dict(v) for k, v in ev.positions.items()},
        "prices": dict(ev.prices),
    } for rec in events if isinstance(ev := rec.event, PortfolioSnapshotted)]
    return _typed_portfolio(_frame(rows, _PORTFOLIO_COLUMNS))


def _typed_portfolio(df: pd.DataFrame) -> pd.DataFrame:
    """A portfolio frame with its canonical dtypes and order (run, book, session, seq)."""
    for col in ("cash_paise", "positions_value_paise", "equity_paise", "realized_pnl_paise",
                "unrealized_pnl_paise", "fees_paid_paise"):
        df[col] = df[col].astype("int64")
    if len(df):
        df = df.sort_values(["run_id", "book", "session_date", "seq"], kind="stable").reset_index(drop=True)
    return df


def _simple_frame(events: Iterable[RecordedEvent], cls: type) -> pd.DataFrame:
    rows = []
    for rec in events:
        if isinstance(rec.event, cls):
            row = attrs.asdict(rec.event, recurse=False)
            rows.append({"run_id": rec.run_id, "seq": rec.seq, "occurred_at": rec.occurred_at, **row})
    cols = ["run_id", "seq", "occurred_at", *(a.name for a in attrs.fields(cls))]
    df = _frame(rows, cols)
    df["occurred_at"] = pd.to_datetime(df["occurred_at"], utc=True) if len(df) else \
        pd.Series([], dtype="datetime64[ns, UTC]")
    return df


def _orders_frame(events: Iterable[RecordedEvent]) -> pd.DataFrame:
    events = list(events)
    df = _simple_frame(events, OrderSubmitted)
    books = [_book_of(rec.stream_id, rec.run_id) for rec in events if isinstance(rec.event, OrderSubmitted)]
    df["book"] = pd.Series(books, index=df.index, dtype=object)
    return df


@attrs.define(kw_only=True)
class RunData:
    """Everything the analytics know about one or several runs, as DataFrames."""

    run_ids: list[str]
    runs: list[RunInfo]
    started: dict[str, RunStarted]
    completed: dict[str, RunCompleted]
    traces: pd.DataFrame
    trades: pd.DataFrame
    portfolio: pd.DataFrame
    signals: pd.DataFrame
    fills: pd.DataFrame
    rejections: pd.DataFrame
    breakers: pd.DataFrame
    sentiment: pd.DataFrame
    orders: pd.DataFrame = attrs.Factory(lambda: _orders_frame(()))
    # Frames this RunData was built without (read from the read models, which do not hold
    # signals, rejections, breakers or sentiment); ``require`` refuses to work on them.
    missing_frames: tuple[str, ...] = ()

    def require(self, *frames: str) -> None:
        """Raise if any of ``frames`` was not loaded (rather than compute on an empty frame)."""
        lacking = [f for f in frames if f in self.missing_frames]
        if lacking:
            raise ValueError(f"this run was loaded from its read models, which do not hold {', '.join(lacking)}; "
                             "load it from the event log (applications.analytics.load_run) for this")

    @property
    def run_id(self) -> str:
        """The single run id (raises if this holds several runs)."""
        if len(self.run_ids) != 1:
            raise ValueError(f"this RunData holds {len(self.run_ids)} runs; use run_ids")
        return self.run_ids[0]

    @property
    def mode(self) -> str:
        modes = {r.mode for r in self.runs}
        return modes.pop() if len(modes) == 1 else "mixed"

    @property
    def strategies(self) -> list[str]:
        """Strategies present in the run(s): configured ones first, then any seen in events."""
        seen: list[str] = []
        for st in self.started.values():
            seen.extend(s for s in st.strategies if s not in seen)
        for frame in (self.traces, self.trades, self.portfolio):
            seen.extend(s for s in frame["strategy"].unique() if s not in seen)
        return seen


def project_events(events: Sequence[RecordedEvent], runs: Sequence[RunInfo] = ()) -> RunData:
    """Project already-read events (of one or several runs) into a ``RunData``."""
    run_ids: list[str] = []
    started: dict[str, RunStarted] = {}
    completed: dict[str, RunCompleted] = {}
    for rec in events:
        if rec.run_id not in run_ids:
            run_ids.append(rec.run_id)
        if isinstance(rec.event, RunStarted):
            started[rec.run_id] = rec.event
        elif isinstance(rec.event, RunCompleted):
            completed[rec.run_id] = rec.event
    for info in runs:
        if info.run_id not in run_ids:
            run_ids.append(info.run_id)
    modes = {info.run_id: info.mode for info in runs}
    traces = traces_frame(events)
    if len(traces):
        traces["mode"] = pd.Series([modes.get(r) or m for r, m in zip(traces["run_id"], traces["mode"])],
                                   index=traces.index, dtype=object)
    return RunData(
        run_ids=run_ids, runs=list(runs), started=started, completed=completed, traces=traces,
        trades=trades_frame(events), portfolio=portfolio_frame(events), signals=signals_frame(events),
        fills=_simple_frame(events, OrderFilled), rejections=_simple_frame(events, EntryRejected),
        breakers=_simple_frame(events, CircuitBreakerTripped), sentiment=_simple_frame(events, SentimentScored),
        orders=_orders_frame(events),
    )


def load_runs(store: EventStore, run_ids: Sequence[str] | str | None = None) -> RunData:
    """Read and project one or several runs from ``store`` (default: the latest run)."""
    if run_ids is None:
        run_ids = [latest_run_id(store)]
    elif isinstance(run_ids, str):
        run_ids = [run_ids]
    infos = [store.get_run(r) for r in run_ids]
    events: list[RecordedEvent] = []
    for info in infos:
        events.extend(read_run_events(store, info.run_id))
    events.sort(key=lambda r: r.seq)
    return project_events(events, infos)


def load_run(store: EventStore, run_id: str | None = None) -> RunData:
    """Read and project one run (a unique id prefix works; ``None`` means the latest run)."""
    return load_runs(store, None if run_id is None else [run_id])


def filter_traces(traces: pd.DataFrame, *, strategy: str | None = "both", symbol: str | Sequence[str] | None = None,
                  start: date | datetime | str | None = None, end: date | datetime | str | None = None,
                  mode: str | None = None) -> pd.DataFrame:
    """Traces of one strategy (``intraday``, ``swing`` or ``both``/``None``), symbol(s),
    entry-date range (inclusive; dates are NSE session dates, IST) and run mode."""
    return _filter(traces, "timestamp", strategy, symbol, start, end, mode)


def filter_trades(trades: pd.DataFrame, *, strategy: str | None = "both", symbol: str | Sequence[str] | None = None,
                  start: date | datetime | str | None = None, end: date | datetime | str | None = None
                  ) -> pd.DataFrame:
    """Closed trades filtered like ``filter_traces`` (by entry date)."""
    return _filter(trades, "entry_time", strategy, symbol, start, end, None)


def _filter(df: pd.DataFrame, time_col: str, strategy: str | None, symbol: str | Sequence[str] | None,
            start: date | datetime | str | None, end: date | datetime | str | None, mode: str | None) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    if strategy not in (None, "both", "all"):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be intraday, swing or both, got {strategy!r}")
        mask &= (df["strategy"] == strategy).to_numpy()
    if symbol:
        wanted = [symbol] if isinstance(symbol, str) else list(symbol)
        mask &= df["symbol"].isin(wanted).to_numpy()
    if mode and "mode" in df:
        mask &= (df["mode"] == mode).to_numpy()
    if (start is not None or end is not None) and len(df):
        days = df[time_col].dt.tz_convert(IST).dt.date
        if start is not None:
            mask &= (days >= _as_date(start)).to_numpy()
        if end is not None:
            mask &= (days <= _as_date(end)).to_numpy()
    return df.loc[mask].reset_index(drop=True)


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# ------------------------------------------------------------------ read models

READ_MODEL_FRAMES = ("traces", "trades", "portfolio", "orders", "fills")
"""The frames a ``RunData`` read from the read models holds (the others need the log)."""


def _parse(text: str | None) -> Any:
    return {} if text is None else parse_json(text)


def run_data_from_read_models(runs: Sequence[RunInfo], rows: dict[str, dict[str, list[dict[str, Any]]]],
                              started: dict[str, RunStarted], completed: dict[str, RunCompleted]) -> RunData:
    """A ``RunData`` whose traces, trades, portfolio, orders and fills come from the runs'
    read-model rows (``rows[run_id][table]``), equal to what ``project_events`` folds from the
    log for those frames (a test checks it); the other frames are empty and named in
    ``missing_frames``."""
    traces, trades, portfolio = [], [], []
    for info in runs:
        tables = rows.get(info.run_id, {})
        kinds = {r["book"]: r["kind"] for r in tables.get("rm_books", []) if r["kind"] is not None}
        for r in tables.get("rm_traces", []):
            traces.append({
                "run_id": info.run_id, "mode": info.mode, "seq": r["seq"], "traced_at": r["traced_at"],
                "timestamp": r["timestamp"], "symbol": r["symbol"], "strategy": r["strategy"],
                "predicted_direction": r["predicted_direction"], "actual_direction": r["actual_direction"],
                "predicted_confidence": r["predicted_confidence"], "entry_price": r["entry_price"],
                "exit_price": r["exit_price"], "holding_period_minutes": r["holding_period_minutes"],
                "realized_return_pct": r["realized_return_pct"], "features": _parse(r["features"]),
                "metadata": _parse(r["metadata"]), "signals": _parse(r["signals"]), "context": _parse(r["context"])})
        for r in tables.get("rm_trades", []):
            entry, exit_ = datetime.fromisoformat(r["entry_time"]), datetime.fromisoformat(r["exit_time"])
            notional = r["entry_price_paise"] * r["quantity"]
            duration = exit_ - entry
            confidence = r["confidence"]
            trades.append({
                "run_id": info.run_id, "seq": r["seq"], "trade_id": r["trade_id"],
                "strategy": kinds.get(r["book"], r["strategy"]), "book": r["strategy"], "symbol": r["symbol"],
                "direction": r["direction"], "quantity": r["quantity"], "entry_time": entry, "exit_time": exit_,
                "duration": duration, "holding_minutes": duration.total_seconds() / 60.0,
                "entry_price": r["entry_price_paise"] / 100.0, "exit_price": r["exit_price_paise"] / 100.0,
                "entry_price_paise": r["entry_price_paise"], "exit_price_paise": r["exit_price_paise"],
                "gross_pnl_paise": r["gross_pnl_paise"], "fees_paise": r["fees_paise"],
                "net_pnl_paise": r["net_pnl_paise"], "pnl": r["net_pnl_paise"] / 100.0,
                "pnl_pct": (100.0 * r["net_pnl_paise"] / notional) if notional else 0.0,
                "exit_reason": r["exit_reason"], "cash_before_paise": r["cash_before_paise"],
                "cash_after_paise": r["cash_after_paise"], "equity_before_paise": r["equity_before_paise"],
                "equity_after_paise": r["equity_after_paise"],
                "confidence": np.nan if confidence is None else float(confidence), "reason": r["reason"],
                "features": _parse(r["features"]), "signals": _parse(r["signals"]), "context": _parse(r["context"])})
        for r in tables.get("rm_portfolio", []):
            portfolio.append({
                "run_id": info.run_id, "seq": r["seq"], "book": r["book"], "strategy": kinds.get(r["book"], r["book"]),
                "session_date": date.fromisoformat(r["session_date"]), "cash_paise": r["cash_paise"],
                "positions_value_paise": r["positions_value_paise"], "equity_paise": r["equity_paise"],
                "realized_pnl_paise": r["realized_pnl_paise"], "unrealized_pnl_paise": r["unrealized_pnl_paise"],
                "fees_paid_paise": r["fees_paid_paise"], "positions": _parse(r["positions"]),
                "prices": _parse(r["prices"])})
    recorded = _recorded_rows(runs, rows, "rm_orders", OrderSubmitted) + _recorded_rows(runs, rows, "rm_fills",
                                                                                          OrderFilled)
    recorded.sort(key=lambda r: r.seq)
    trace_frame = normalise_traces(_frame(traces, _TRACE_FRAME_COLUMNS))
    trade_frame = _typed_trades(_frame(trades, _TRADE_COLUMNS))
    portfolio_frame_ = _typed_portfolio(_frame(portfolio, _PORTFOLIO_COLUMNS))
    missing = ("signals", "rejections", "breakers", "sentiment")
    return RunData(
        run_ids=[r.run_id for r in runs], runs=list(runs), started=dict(started), completed=dict(completed),
        traces=trace_frame, trades=trade_frame, portfolio=portfolio_frame_, signals=signals_frame(()),
        fills=_simple_frame(recorded, OrderFilled), rejections=_simple_frame((), EntryRejected),
        breakers=_simple_frame((), CircuitBreakerTripped), sentiment=_simple_frame((), SentimentScored),
        orders=_orders_frame(recorded), missing_frames=missing)


def _recorded_rows(runs: Sequence[RunInfo], rows: dict[str, dict[str, list[dict[str, Any]]]], table: str,
                   cls: type) -> list[RecordedEvent]:
    """The events a payload read model holds, as recorded events (what the frames are built from)."""
    out = []
    for info in runs:
        for r in rows.get(info.run_id, {}).get(table, []):
            at = datetime.fromisoformat(r["occurred_at"])
            out.append(RecordedEvent(seq=r["seq"], event_id=_NO_ID, stream_id=r["stream_id"], stream_version=0,
                                     run_id=info.run_id, occurred_at=at, recorded_at=at, correlation_id=None,
                                     causation_id=None, event=decode_payload(cls.TYPE, r["version"], r["payload"])))
    return out


_NO_ID = uuid.UUID(int=0)  # rows of a read model carry no event id (frames do not use it)
