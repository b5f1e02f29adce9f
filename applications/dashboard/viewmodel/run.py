"""The run a page shows: run choices, the incrementally folded RunModel, and the cuts a view takes of it (replay point, strategy, period)."""

from __future__ import annotations

import bisect
import contextlib
import gc
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timezone
from typing import Any

import attrs
import numpy as np
import pandas as pd

from applications.analytics.projections import (
    IST,
    STRATEGIES,
    RunData,
    book_kinds,
    filter_traces,
    normalise_traces,
    portfolio_frame,
    project_events,
    signals_frame,
    trades_frame,
    traces_frame,
)
from core.events.base import RecordedEvent, RunInfo, RunStatus
from core.events.catalog import (
    AlertRaised,
    CircuitBreakerTripped,
    EntryRejected,
    OrderFilled,
    PortfolioSnapshotted,
    PositionChanged,
    PredictionTraced,
    RunCompleted,
    RunStarted,
    SentimentScored,
    SignalGenerated,
    TradeClosed,
)

SESSION_CLOSE_IST = time(15, 30)

_FRAME_NAMES = ("traces", "trades", "portfolio", "signals", "fills", "rejections", "breakers", "sentiment")


# ------------------------------------------------------------------ run picker


@attrs.frozen(kw_only=True)
class RunChoice:
    """One entry of the run picker."""

    run_id: str
    mode: str
    status: str
    started_at: datetime
    label: str

    @property
    def title(self) -> str:
        when = self.started_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        extra = f" · {self.label}" if self.label else ""
        return f"{self.mode} · {when} · {self.status} · {self.run_id[:8]}{extra}"


def run_choices(runs: Sequence[RunInfo], mode: str | None = None) -> list[RunChoice]:
    """Runs for the picker, newest first, optionally of one mode only."""
    return [RunChoice(run_id=r.run_id, mode=r.mode, status=r.status, started_at=r.started_at, label=r.label)
            for r in runs if mode in (None, "", "all") or r.mode == mode]


# -------------------------------------------------------------------- folding


def _empty_run(run: RunInfo | None) -> RunData:
    return project_events([], [run] if run is not None else [])


@attrs.define(kw_only=True)
class RunModel:
    """The events of one run folded into analytics frames, kept up to date by ``ingest``.

    ``last_seq`` is the highest ``seq`` folded in; the tailer asks the store only for
    events after it. ``ingest`` ignores events of other runs and events already seen, so
    re-reading an overlapping page is harmless.
    """

    run: RunInfo | None = None
    data: RunData = attrs.field(default=None)
    last_seq: int = 0
    first_seq: int = 0
    events: int = 0
    last_event_at: datetime | None = None
    last_recorded_at: datetime | None = None
    completed: RunCompleted | None = None
    alerts_raised: list[tuple[RecordedEvent, AlertRaised]] = attrs.Factory(list)
    breaker_books: dict[int, str] = attrs.Factory(dict)
    position_changes: pd.DataFrame = attrs.field(factory=lambda: _position_frame([]))
    seqs: list[int] = attrs.Factory(list)
    occurred: list[datetime] = attrs.Factory(list)
    _traces: dict[tuple[str, str, datetime], RecordedEvent] = attrs.Factory(dict)
    _entries: dict[tuple[str, str], tuple[list[datetime], list[RecordedEvent]]] = attrs.Factory(dict)
    _kinds: dict[str, str] = attrs.Factory(dict)

    def __attrs_post_init__(self) -> None:
        if self.data is None:
            self.data = _empty_run(self.run)

    @property
    def run_id(self) -> str | None:
        return self.run.run_id if self.run is not None else None

    @property
    def status(self) -> str:
        if self.completed is not None:
            return self.completed.status
        return self.run.status if self.run is not None else RunStatus.RUNNING

    def ingest(self, records: Sequence[RecordedEvent]) -> bool:
        """Fold ``records`` (any order; only new events of this run count). True if anything changed."""
        with bulk_allocation():
            return self._ingest(records)

    def _ingest(self, records: Sequence[RecordedEvent]) -> bool:
        last, run_id = self.last_seq, self.run_id
        fresh = [r for r in records if r.seq > last and (run_id is None or r.run_id == run_id)]
        if any(fresh[i].seq > fresh[i + 1].seq for i in range(len(fresh) - 1)):
            fresh.sort(key=lambda r: r.seq)
        if not fresh:
            return False
        if self.first_seq == 0:
            self.first_seq = fresh[0].seq
        self.last_seq = fresh[-1].seq
        self.events += len(fresh)
        self.seqs.extend(r.seq for r in fresh)
        self.occurred.extend(r.occurred_at for r in fresh)
        self.last_event_at = max(self.last_event_at or fresh[0].occurred_at, max(r.occurred_at for r in fresh))
        self.last_recorded_at = max(self.last_recorded_at or fresh[0].recorded_at,
                                    max(r.recorded_at for r in fresh))
        by_type: dict[type, list[RecordedEvent]] = {}
        for rec in fresh:
            by_type.setdefault(type(rec.event), []).append(rec)
        for rec in by_type.get(RunCompleted, []):
            self.completed = rec.event
        self.alerts_raised.extend((rec, rec.event) for rec in by_type.get(AlertRaised, []))
        for rec in by_type.get(CircuitBreakerTripped, []):
            self.breaker_books[rec.seq] = rec.stream_id.rsplit(":", 1)[-1]
        if by_type.get(PositionChanged):
            chunk_positions = _position_frame(by_type[PositionChanged])
            self.position_changes = chunk_positions if not len(self.position_changes) else \
                pd.concat([self.position_changes, chunk_positions], ignore_index=True)
        for stream, kind in book_kinds([*by_type.get(PredictionTraced, []),
                                        *by_type.get(PortfolioSnapshotted, [])]).items():
            self._kinds.setdefault(stream, kind)
        runs = [self.run] if self.run is not None else []
        # Each projection sees only the event types it reads (the analytics functions scan
        # every event they are given), and the run events so that modes and ids resolve.
        heads = [*by_type.get(RunStarted, []), *by_type.get(RunCompleted, [])]
        traces = by_type.get(PredictionTraced, [])
        signals = by_type.get(SignalGenerated, [])
        snaps = by_type.get(PortfolioSnapshotted, [])
        simple = [r for cls in (OrderFilled, EntryRejected, CircuitBreakerTripped, SentimentScored)
                  for r in by_type.get(cls, [])]
        chunk = project_events(heads, runs)
        if traces:
            chunk.traces = traces_frame([*heads, *traces], mode=self.run.mode if self.run is not None else None)
        chunk.signals = signals_frame(signals) if signals else chunk.signals
        chunk.portfolio = portfolio_frame(snaps) if snaps else chunk.portfolio
        if simple:
            extra = project_events(simple, runs)
            chunk.fills, chunk.rejections = extra.fills, extra.rejections
            chunk.breakers, chunk.sentiment = extra.breakers, extra.sentiment
        self._remember_openers(traces, signals)
        closed = by_type.get(TradeClosed, [])
        if closed:
            chunk.trades = self._trades(closed)
        self.data = _merge(self.data, chunk, self._book_kinds())
        return True

    def _remember_openers(self, traces: list[RecordedEvent], signals: list[RecordedEvent]) -> None:
        for rec in traces:
            ev = rec.event
            self._traces.setdefault((rec.stream_id, ev.symbol, ev.timestamp), rec)
        for rec in signals:
            if rec.event.action == "enter":
                key = (rec.stream_id, rec.event.symbol)
                times, recs = self._entries.setdefault(key, ([], []))
                i = bisect.bisect_right(times, rec.occurred_at)
                times.insert(i, rec.occurred_at)
                recs.insert(i, rec)

    def _trades(self, closed: list[RecordedEvent]) -> pd.DataFrame:
        """``analytics.projections.trades_frame`` of ``closed``, each joined to its opening
        trace and entry signal found here by key and by bisection.

        ``trades_frame`` itself scans every earlier entry of a symbol for each trade
        (quadratic in a long run); giving it exactly the one trace and the one entry that
        belong to each trade, on a per-trade stream key, keeps the fold linear while the
        row contents stay those of the analytics projection.
        """
        batch: list[RecordedEvent] = []
        for i, rec in enumerate(closed):
            ev = rec.event
            key = f"{rec.stream_id}#{i}"
            trace = self._traces.get((rec.stream_id, ev.symbol, ev.entry_time))
            if trace is not None:
                batch.append(_Rekeyed(trace, key))
            times, recs = self._entries.get((rec.stream_id, ev.symbol), ([], []))
            j = bisect.bisect_right(times, ev.entry_time)
            if j:
                batch.append(_Rekeyed(recs[j - 1], key))
            batch.append(_Rekeyed(rec, key))
        frame = trades_frame(batch)
        if len(frame):
            kinds = self._kinds
            strategy_of = {rec.seq: kinds.get(rec.stream_id, rec.event.strategy) for rec in closed}
            frame["strategy"] = frame["seq"].map(strategy_of).astype(frame["strategy"].dtype)
        return frame

    def _book_kinds(self) -> dict[str, str]:
        run_id = self.run_id or ""
        return {stream[len(run_id) + 1:] if stream.startswith(run_id + ":") else stream: kind
                for stream, kind in self._kinds.items()}


_POSITION_COLUMNS = ["seq", "occurred_at", "book", "symbol", "quantity", "average_price_paise",
                     "realized_pnl_paise", "cash_paise"]


def _position_frame(records: Sequence[RecordedEvent]) -> pd.DataFrame:
    """``PositionChanged`` events, one row each (columnar build: a large run has many)."""
    cols: dict[str, list[Any]] = {c: [] for c in _POSITION_COLUMNS}
    for rec in records:
        ev = rec.event
        cols["seq"].append(rec.seq)
        cols["occurred_at"].append(rec.occurred_at)
        cols["book"].append(rec.stream_id.rsplit(":", 1)[-1])
        cols["symbol"].append(ev.symbol)
        cols["quantity"].append(ev.quantity)
        cols["average_price_paise"].append(ev.average_price_paise)
        cols["realized_pnl_paise"].append(ev.realized_pnl_paise)
        cols["cash_paise"].append(ev.cash_paise)
    df = pd.DataFrame(cols)
    df["occurred_at"] = pd.to_datetime(df["occurred_at"], utc=True) if len(df) else \
        pd.Series([], dtype="datetime64[ns, UTC]")
    for col in ("seq", "quantity", "average_price_paise", "realized_pnl_paise", "cash_paise"):
        df[col] = df[col].astype("int64")
    return df


class _Rekeyed:
    """A recorded event seen under another stream id (what ``trades_frame`` reads of it)."""

    __slots__ = ("seq", "run_id", "stream_id", "occurred_at", "event")

    def __init__(self, rec: RecordedEvent, stream_id: str) -> None:
        self.seq, self.run_id, self.occurred_at, self.event = rec.seq, rec.run_id, rec.occurred_at, rec.event
        self.stream_id = stream_id


@contextlib.contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while folding a large page.

    Folding allocates hundreds of thousands of short-lived, acyclic objects next to a large
    heap of long-lived events; every generation-2 collection would walk that whole heap.
    Reference counting still frees everything; the collector resumes afterwards.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _merge(old: RunData, chunk: RunData, kinds: dict[str, str]) -> RunData:
    frames: dict[str, pd.DataFrame] = {}
    for name in _FRAME_NAMES:
        a, b = getattr(old, name), getattr(chunk, name)
        if not len(b):
            frames[name] = a
            continue
        merged = b if not len(a) else pd.concat([a, b], ignore_index=True)
        if "book" in merged and "strategy" in merged and len(merged) and kinds:
            pairs = merged[["book", "strategy"]].drop_duplicates()
            if any(kinds.get(b, k) != k for b, k in zip(pairs["book"], pairs["strategy"])):
                merged["strategy"] = [kinds.get(b, k) for b, k in zip(merged["book"], merged["strategy"])]
        frames[name] = merged
    frames["traces"] = normalise_traces(frames["traces"]) if len(chunk.traces) else frames["traces"]
    if len(chunk.trades):
        frames["trades"] = frames["trades"].sort_values(["exit_time", "seq"], kind="stable").reset_index(drop=True)
    if len(chunk.portfolio):
        frames["portfolio"] = frames["portfolio"].sort_values(["run_id", "book", "session_date", "seq"],
                                                              kind="stable").reset_index(drop=True)
    run_ids = list(old.run_ids) + [r for r in chunk.run_ids if r not in old.run_ids]
    return RunData(run_ids=run_ids, runs=old.runs or chunk.runs, started={**old.started, **chunk.started},
                   completed={**old.completed, **chunk.completed}, **frames)


# ------------------------------------------------------------- replay / filters


def _session_close(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, SESSION_CLOSE_IST, tzinfo=IST)).tz_convert("UTC")


def as_of(run: RunData, *, seq: int | None = None, until: datetime | None = None) -> RunData:
    """The run as it stood after global ``seq`` (inclusive) and/or at event time ``until``.

    By ``seq`` the cut is exact: every frame row carries the ``seq`` of its event. By time
    a row counts once its event happened: a trace or trade at its exit, a snapshot at its
    session's close (15:30 IST), anything else at ``occurred_at``.
    """
    if seq is None and until is None:
        return run
    cut = pd.Timestamp(until).tz_convert("UTC") if until is not None else None

    def keep(df: pd.DataFrame, when: pd.Series | None) -> pd.DataFrame:
        if not len(df):
            return df
        mask = np.ones(len(df), dtype=bool)
        if seq is not None:
            mask &= (df["seq"] <= seq).to_numpy()
        if cut is not None and when is not None:
            mask &= (when <= cut).to_numpy()
        return df.loc[mask].reset_index(drop=True)

    t = run.traces
    p = run.portfolio
    trace_exit = snap_at = None
    if cut is not None:  # the event times are needed only for a cut by time
        if len(t):
            trace_exit = t["timestamp"] + pd.to_timedelta(t["holding_period_minutes"], unit="m")
        if len(p):
            closes = {d: _session_close(d) for d in set(p["session_date"])}
            snap_at = pd.Series([closes[d] for d in p["session_date"]], index=p.index)
    frames = {
        "traces": keep(t, trace_exit),
        "trades": keep(run.trades, run.trades["exit_time"] if len(run.trades) else None),
        "portfolio": keep(p, snap_at),
    }
    for name in ("signals", "fills", "rejections", "breakers", "sentiment"):
        df = getattr(run, name)
        frames[name] = keep(df, df["occurred_at"] if len(df) else None)
    return attrs.evolve(run, **frames)


def filter_run(run: RunData, *, strategy: str | None = "both", start: date | None = None,
               end: date | None = None) -> RunData:
    """The run narrowed to one book (by its name, e.g. ``sma_cross``, or by a strategy kind
    ``intraday``/``swing``; ``both``/``all``/None keep every book) and a session range.
    Traces carry no book: a book's traces are those of its strategy kind."""
    every = strategy in (None, "both", "all")
    books = run_books(run)
    if every:
        column, wanted, kind = None, None, None
    elif strategy in books:
        column, wanted, kind = "book", strategy, books[strategy]
    else:
        column, wanted, kind = "strategy", strategy, strategy
    traces = filter_traces(run.traces, strategy=None if every else (kind if kind in STRATEGIES else "both"),
                           start=start, end=end)
    if not every and kind not in STRATEGIES and len(traces):
        traces = traces[traces["strategy"] == kind].reset_index(drop=True)

    def narrow(df: pd.DataFrame, day: pd.Series | None) -> pd.DataFrame:
        if not len(df):
            return df
        mask = np.ones(len(df), dtype=bool)
        if column is not None and column in df:
            mask &= (df[column] == wanted).to_numpy()
        elif column is not None and "strategy" in df:
            mask &= (df["strategy"] == kind).to_numpy()
        if day is not None:
            if start is not None:
                mask &= (day >= start).to_numpy()
            if end is not None:
                mask &= (day <= end).to_numpy()
        return df.loc[mask].reset_index(drop=True)

    def days(ts: pd.Series) -> pd.Series:
        return ts.dt.tz_convert(IST).dt.date

    t, p, s = run.trades, run.portfolio, run.signals
    return attrs.evolve(
        run, traces=traces,
        trades=narrow(t, days(t["exit_time"]) if len(t) else None),
        portfolio=narrow(p, p["session_date"] if len(p) else None),
        signals=narrow(s, days(s["occurred_at"]) if len(s) else None),
        breakers=narrow(run.breakers, run.breakers["session_date"] if len(run.breakers) else None))


def run_books(run: RunData) -> dict[str, str]:
    """Book name -> strategy kind (``intraday``/``swing``) of every book the run actually
    has (snapshots or closed trades), in name order: the labels of cards and filters."""
    pairs: dict[str, str] = {}
    for frame in (run.portfolio, run.trades):
        if len(frame):
            for book, kind in frame[["book", "strategy"]].drop_duplicates().itertuples(index=False):
                pairs.setdefault(str(book), str(kind))
    return dict(sorted(pairs.items()))


def session_range(run: RunData) -> tuple[date, date] | None:
    """First and last session of the run (from snapshots, else trades), or None."""
    days: list[date] = list(run.portfolio["session_date"]) if len(run.portfolio) else []
    if len(run.trades):
        days += list(run.trades["exit_time"].dt.tz_convert(IST).dt.date)
    return (min(days), max(days)) if days else None


def books_overlap(run: RunData) -> bool:
    """Whether the books' session ranges overlap (if not, curves read better by session number)."""
    p = run.portfolio
    if not len(p):
        return True
    spans = sorted((g["session_date"].min(), g["session_date"].max()) for _, g in p.groupby("book"))
    return all(spans[i + 1][0] <= spans[i][1] for i in range(len(spans) - 1))


def replay_points(model: RunModel, by: str = "seq") -> list[tuple[int | None, datetime]]:
    """Positions of the replay slider: every event's ``(seq, occurred_at)`` in seq order
    (``by="seq"``) or every distinct event time in time order (``by="time"``, seq None)."""
    if by == "seq":
        return list(zip(model.seqs, model.occurred))
    if by == "time":
        return [(None, t) for t in sorted(set(model.occurred))]
    raise ValueError(f"replay by must be 'seq' or 'time', got {by!r}")
