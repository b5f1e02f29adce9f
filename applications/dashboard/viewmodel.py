"""The dashboard's view-model: pure functions from the event log to what each panel shows.

Nothing here touches a store, a clock or a widget. ``RunModel`` folds the events of one
run (in ``seq`` order, as ``EventStore.read_all`` pages them) into the analytics
projections incrementally: each call of ``ingest`` projects only the new events and
appends them to the frames it already holds. The panel functions below take a
``RunData`` (possibly cut at a replay point with ``as_of`` and narrowed with
``filter_run``) and return small frames, dicts and dataclasses that the Panel layer
draws.

Every metric comes from ``applications.analytics`` (classification and trade metrics,
rolling vs all-time, degradation rules, drawdown curve, portfolio metrics, live
detection). What the analytics package does not have and is defined here, as small
pure functions: the replay cut (``as_of``), the portfolio at a replay point from
``PositionChanged`` (``portfolio_at``), the write-time LIVE rule of the badge
(``live_badge``), and a linear join of closed trades to their opening decision that
feeds ``projections.trades_frame`` one trace and one entry per trade (``RunModel._trades``).
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timezone
from typing import Any

import attrs
import numpy as np
import pandas as pd

from applications.analytics.exports import initial_cash_by_book, portfolio_metrics
from applications.analytics.metrics import (
    DIRECTIONS,
    AccuracyMetrics,
    DegradationThresholds,
    compute_metrics,
    detect_degradation,
    detect_live,
    drawdown_curve,
    json_safe,
    rolling_vs_alltime,
)
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

SHARPE_ALERT_THRESHOLD = 0.5
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
    trace_exit = (t["timestamp"] + pd.to_timedelta(t["holding_period_minutes"], unit="m")) if len(t) else None
    p = run.portfolio
    snap_at = pd.Series([_session_close(d) for d in p["session_date"]], index=p.index) if len(p) else None
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
    """The run narrowed to one strategy (``intraday``/``swing``/``both``) and a session range."""
    traces = filter_traces(run.traces, strategy=strategy, start=start, end=end)

    def narrow(df: pd.DataFrame, day: pd.Series | None) -> pd.DataFrame:
        if not len(df):
            return df
        mask = np.ones(len(df), dtype=bool)
        if strategy not in (None, "both", "all") and "strategy" in df:
            mask &= (df["strategy"] == strategy).to_numpy()
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


# --------------------------------------------------------------------- cards


@attrs.frozen(kw_only=True)
class StrategyCard:
    """All-time and rolling figures of one strategy; ``delta`` = rolling minus all-time."""

    strategy: str
    label: str
    trades: int
    window: int
    alltime: dict[str, float]
    rolling: dict[str, float]
    delta: dict[str, float]
    book: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(attrs.asdict(self))


CARD_FIELDS = ("precision", "recall", "f1", "win_rate", "sharpe")


def _card_values(m, label: str) -> dict[str, float]:
    return {"precision": m.precision.get(label, 0.0), "recall": m.recall.get(label, 0.0),
            "f1": m.f1_score.get(label, 0.0), "win_rate": m.win_rate, "sharpe": m.sharpe_ratio}


def strategy_metrics(run: RunData, *, window: int = 100, strategies: Sequence[str] = STRATEGIES
                     ) -> dict[str, tuple[AccuracyMetrics, AccuracyMetrics]]:
    """``analytics.rolling_vs_alltime`` of each strategy's traces: (rolling, all-time).
    Computed once per render and shared by the cards, the alerts and the confusion matrices."""
    return {name: rolling_vs_alltime(run.traces[run.traces["strategy"] == name], window) for name in strategies}


def strategy_cards(run: RunData, *, label: str = "LONG", window: int = 100,
                   strategies: Sequence[str] = STRATEGIES,
                   metrics: dict[str, tuple[AccuracyMetrics, AccuracyMetrics]] | None = None
                   ) -> dict[str, StrategyCard]:
    """Overview card of each strategy: precision/recall/F1 of ``label``, win rate and Sharpe
    (analytics' trade-level definitions), all-time vs the last ``window`` trades, plus the
    book's daily-equity figures (``analytics.exports.portfolio_metrics``)."""
    cards = {}
    initial = _initial_cash(run)
    metrics = metrics or strategy_metrics(run, window=window, strategies=strategies)
    for name in strategies:
        roll, alltime = metrics[name]
        a, r = _card_values(alltime, label), _card_values(roll, label)
        cards[name] = StrategyCard(strategy=name, label=label, trades=alltime.total_trades, window=window,
                                   alltime=a, rolling=r, delta={k: r[k] - a[k] for k in CARD_FIELDS},
                                   book=_book_figures(run, name, initial))
    return cards


def _initial_cash(run: RunData) -> dict[str, int]:
    out: dict[str, int] = {}
    for run_id in run.run_ids:
        out.update(initial_cash_by_book(run, run_id))
    return out


def _book_figures(run: RunData, strategy: str, initial: dict[str, int]) -> dict[str, Any]:
    p = run.portfolio[run.portfolio["strategy"] == strategy]
    books = sorted(p["book"].unique())
    if not books:
        return {}
    book = books[0]
    eq = p.loc[p["book"] == book, "equity_paise"].to_list()
    trades = run.trades[run.trades["book"] == book]
    m = portfolio_metrics(eq, initial.get(book, eq[0] if eq else 0), trades)
    return {"book": book, "sessions": len(eq), "total_return": m["total_return"], "sharpe_daily": m["sharpe_ratio"],
            "max_drawdown": m["max_drawdown"], "final_value": m["final_value"], "net_pnl": m["net_pnl"]}


# ---------------------------------------------------------------- equity curves


def equity_curves(run: RunData) -> pd.DataFrame:
    """Daily equity of each book: cumulative return and drawdown (percent), by date and by
    session number (the books may cover different periods, so both x axes are offered)."""
    cols = ["strategy", "book", "session_date", "session", "equity", "cum_return_pct", "drawdown_pct"]
    if not len(run.portfolio):
        return pd.DataFrame({c: [] for c in cols})
    initial = _initial_cash(run)
    parts = []
    for book, group in run.portfolio.groupby("book", sort=True):
        eq = group["equity_paise"].to_numpy(dtype=float)
        start = float(initial.get(book) or eq[0])
        parts.append(pd.DataFrame({
            "strategy": group["strategy"].to_numpy(), "book": book,
            "session_date": pd.to_datetime(group["session_date"].astype(str)),
            "session": np.arange(1, len(eq) + 1), "equity": eq / 100.0,
            "cum_return_pct": (eq / start - 1.0) * 100.0 if start else 0.0,
            "drawdown_pct": drawdown_curve(eq, start=start) * 100.0,
        }))
    return pd.concat(parts, ignore_index=True)[cols]


# ----------------------------------------------------------- confusion matrices


def confusion_frames(run: RunData, strategies: Sequence[str] = STRATEGIES, *,
                     metrics: dict[str, tuple[AccuracyMetrics, AccuracyMetrics]] | None = None
                     ) -> dict[str, pd.DataFrame]:
    """Long-form confusion matrix of each strategy (rows: actual, columns: predicted),
    all-time (``metrics``: the ``strategy_metrics`` of this render, if at hand)."""
    out = {}
    for name in strategies:
        if metrics and name in metrics:
            cm = metrics[name][1].confusion_matrix
        else:
            cm = compute_metrics(run.traces[run.traces["strategy"] == name]).confusion_matrix
        out[name] = pd.DataFrame([{"actual": a, "predicted": p, "count": int(cm[i][j])}
                                  for i, a in enumerate(DIRECTIONS) for j, p in enumerate(DIRECTIONS)])
    return out


# ------------------------------------------------------------------------ alerts


@attrs.frozen(kw_only=True)
class DashboardAlert:
    severity: str
    rule: str
    strategy: str
    message: str
    at: datetime | None = None


def alerts(run: RunData, cards: dict[str, StrategyCard], *, precision_threshold: float = 0.55,
           sharpe_threshold: float = SHARPE_ALERT_THRESHOLD, window: int = 100,
           thresholds: DegradationThresholds | None = None,
           raised: Iterable[tuple[RecordedEvent, AlertRaised]] = (),
           breaker_books: dict[int, str] | None = None,
           metrics: dict[str, tuple[AccuracyMetrics, AccuracyMetrics]] | None = None) -> list[DashboardAlert]:
    """Every alert rule of the dashboard, worst first.

    - rolling precision of the card's label below ``precision_threshold``;
    - rolling Sharpe below ``sharpe_threshold``;
    - the analytics package's degradation rules (rolling vs all-time drops);
    - circuit-breaker trips (``breaker_books``: seq -> book that tripped, from the model)
      and ``AlertRaised`` events in the log.
    Strategies without a trace raise nothing.
    """
    out: list[DashboardAlert] = []
    for name, card in cards.items():
        if card.trades == 0:
            continue
        label = card.label
        if card.rolling["precision"] < precision_threshold:
            out.append(DashboardAlert(
                severity="warning", rule="precision", strategy=name,
                message=f"{name}: {label} precision {card.rolling['precision']:.1%} over the last "
                        f"{min(card.window, card.trades)} trades is below {precision_threshold:.0%} "
                        f"(all-time {card.alltime['precision']:.1%})"))
        if card.rolling["sharpe"] < sharpe_threshold:
            out.append(DashboardAlert(
                severity="warning", rule="sharpe", strategy=name,
                message=f"{name}: Sharpe {card.rolling['sharpe']:.2f} over the last "
                        f"{min(card.window, card.trades)} trades is below {sharpe_threshold:.2f} "
                        f"(all-time {card.alltime['sharpe']:.2f})"))
        if metrics and name in metrics and window == card.window:
            roll, alltime = metrics[name]
        else:
            roll, alltime = rolling_vs_alltime(run.traces[run.traces["strategy"] == name], window)
        for d in detect_degradation(roll, alltime, thresholds or DegradationThresholds(precision_label=label)):
            out.append(DashboardAlert(severity="warning", rule=f"degradation:{d.metric}", strategy=name,
                                      message=f"{name}: {d.message}"))
    b = run.breakers
    for row in b.itertuples(index=False) if len(b) else []:
        strategy = (breaker_books or {}).get(row.seq, "")
        out.append(DashboardAlert(
            severity="critical", rule="circuit_breaker", strategy=strategy,
            message=f"circuit breaker tripped on {row.session_date}: daily P&L ₹{row.daily_pnl_paise / 100:,.2f} "
                    f"past the limit ₹{row.limit_paise / 100:,.2f}", at=row.occurred_at.to_pydatetime()))
    for rec, ev in raised:
        out.append(DashboardAlert(severity=ev.severity, rule=f"raised:{ev.source}", strategy="",
                                  message=ev.message, at=rec.occurred_at))
    order = {"critical": 0, "error": 0, "warning": 1, "info": 2}
    return sorted(out, key=lambda a: order.get(a.severity, 3))


def alerts_frame(items: Sequence[DashboardAlert]) -> pd.DataFrame:
    cols = ["severity", "rule", "strategy", "message", "at"]
    return pd.DataFrame([attrs.asdict(a) for a in items], columns=cols) if items else \
        pd.DataFrame({c: [] for c in cols})


# ------------------------------------------------------------- symbol drill-down


def symbols(run: RunData) -> list[str]:
    """Every symbol the run traded, signalled or priced, sorted."""
    seen: set[str] = set()
    for frame in (run.trades, run.signals, run.fills):
        if len(frame):
            seen.update(frame["symbol"].unique())
    for prices in run.portfolio["prices"] if len(run.portfolio) else []:
        seen.update(prices)
    return sorted(str(s) for s in seen)


def symbol_prices(run: RunData, symbol: str) -> pd.DataFrame:
    """Observed prices of ``symbol`` from the log alone: session closes in the book
    snapshots, fill prices, and signal bars that carry a close/price feature."""
    rows: list[tuple[pd.Timestamp, float, str]] = []
    p = run.portfolio
    for day, prices in zip(p["session_date"], p["prices"]) if len(p) else []:
        if symbol in prices:
            rows.append((_session_close(day), float(prices[symbol]), "session close"))
    f = run.fills[run.fills["symbol"] == symbol] if len(run.fills) else run.fills
    for at, px in zip(f["occurred_at"], f["price_paise"]) if len(f) else []:
        rows.append((at, px / 100.0, "fill"))
    s = run.signals[run.signals["symbol"] == symbol] if len(run.signals) else run.signals
    for at, feats in zip(s["bar_start"], s["features"]) if len(s) else []:
        for key in ("close", "price", "last_price"):
            if isinstance(feats, dict) and isinstance(feats.get(key), (int, float)):
                rows.append((at, float(feats[key]), "signal"))
                break
    df = pd.DataFrame(rows, columns=["time", "price", "source"])
    if len(df):
        df["time"] = pd.to_datetime(df["time"], utc=True)
        df = df.drop_duplicates(["time", "source"]).sort_values("time", kind="stable").reset_index(drop=True)
    return df


def symbol_markers(run: RunData, symbol: str) -> pd.DataFrame:
    """Entry and exit points of every trade in ``symbol`` (price in rupees)."""
    t = run.trades[run.trades["symbol"] == symbol] if len(run.trades) else run.trades
    cols = ["time", "price", "kind", "strategy", "direction", "trade_id", "pnl"]
    if not len(t):
        return pd.DataFrame({c: [] for c in cols})
    entries = pd.DataFrame({"time": t["entry_time"], "price": t["entry_price"], "kind": "entry",
                            "strategy": t["strategy"], "direction": t["direction"], "trade_id": t["trade_id"],
                            "pnl": t["pnl"]})
    exits = entries.assign(time=t["exit_time"].to_numpy(), price=t["exit_price"].to_numpy(), kind="exit")
    return pd.concat([entries, exits], ignore_index=True)[cols]


TRADE_TABLE_COLUMNS = ["trade_id", "strategy", "symbol", "direction", "quantity", "entry_time", "exit_time",
                       "entry_price", "exit_price", "pnl", "pnl_pct", "exit_reason", "confidence", "reason",
                       "signals", "context"]


def _compact(value: Any) -> str:
    if not isinstance(value, dict) or not value:
        return ""
    return json.dumps(json_safe(value), sort_keys=True, separators=(", ", ": "))


def symbol_trades(run: RunData, symbol: str | None) -> pd.DataFrame:
    """Trades of ``symbol`` (all symbols when None), newest first, with the signals and the
    context of the decision that opened each one as compact JSON text."""
    t = run.trades if not symbol else run.trades[run.trades["symbol"] == symbol]
    if not len(t):
        return pd.DataFrame({c: [] for c in TRADE_TABLE_COLUMNS})
    out = t[TRADE_TABLE_COLUMNS].copy()
    out["signals"] = [_compact(v) for v in t["signals"]]
    out["context"] = [_compact(v) for v in t["context"]]
    for col in ("entry_time", "exit_time"):
        out[col] = out[col].dt.tz_convert(IST).dt.strftime("%Y-%m-%d %H:%M")
    out["pnl_pct"] = out["pnl_pct"].round(3)
    out["confidence"] = out["confidence"].round(3)
    return out.iloc[::-1].reset_index(drop=True)


# ------------------------------------------------------- portfolio at a point


@attrs.frozen(kw_only=True)
class BookState:
    """One book at a replay point: cash and open positions after the last fill before it,
    and the last end-of-session valuation before it."""

    book: str
    cash_paise: int
    realized_pnl_paise: int
    positions: dict[str, dict[str, int]]
    last_fill_at: datetime | None
    session_date: date | None
    equity_paise: int | None
    positions_value_paise: int | None


def portfolio_at(model: RunModel, view: RunData, *, seq: int | None = None,
                 until: datetime | None = None) -> list[BookState]:
    """Every book's cash and positions as of the replay point (``PositionChanged``, the
    engine's own record after each fill) next to its last snapshot before that point
    (``view`` is the run already cut with ``as_of``)."""
    pc = model.position_changes
    if len(pc):
        mask = np.ones(len(pc), dtype=bool)
        if seq is not None:
            mask &= (pc["seq"] <= seq).to_numpy()
        if until is not None:
            mask &= (pc["occurred_at"] <= pd.Timestamp(until).tz_convert("UTC")).to_numpy()
        pc = pc.loc[mask]
    initial = _initial_cash(view) if len(view.portfolio) else {}
    started = model.data.started.get(model.run_id or "")
    if started is not None and isinstance(started.config, dict):
        initial = {**{str(k): int(v) for k, v in started.config.get("initial_cash_paise_by_book", {}).items()},
                   **initial}
    snaps = view.portfolio
    books = sorted(set(initial) | set(pc["book"]) | (set(snaps["book"]) if len(snaps) else set()))
    out = []
    for book in books:
        mine = pc[pc["book"] == book]
        last = mine.drop_duplicates("symbol", keep="last")
        positions = {str(r.symbol): {"quantity": int(r.quantity), "average_price_paise": int(r.average_price_paise)}
                     for r in last.itertuples(index=False) if r.quantity != 0}
        snap = snaps[snaps["book"] == book].tail(1) if len(snaps) else snaps
        s0 = snap.iloc[0] if len(snap) else None
        out.append(BookState(
            book=book, cash_paise=int(mine["cash_paise"].iloc[-1]) if len(mine) else int(initial.get(book, 0)),
            realized_pnl_paise=int(mine["realized_pnl_paise"].iloc[-1]) if len(mine) else 0,
            positions=positions,
            last_fill_at=mine["occurred_at"].iloc[-1].to_pydatetime() if len(mine) else None,
            session_date=s0["session_date"] if s0 is not None else None,
            equity_paise=int(s0["equity_paise"]) if s0 is not None else None,
            positions_value_paise=int(s0["positions_value_paise"]) if s0 is not None else None))
    return out


# -------------------------------------------------------------- live badge


@attrs.frozen(kw_only=True)
class Badge:
    status: str  # LIVE or HISTORICAL
    last_event_at: datetime | None
    last_recorded_at: datetime | None
    reason: str


def live_badge(model: RunModel, now: datetime, *, quiet_seconds: float = 120.0,
               trace_threshold_minutes: float = 30.0) -> Badge:
    """LIVE while the run is still being written (no ``RunCompleted`` and an event recorded
    within ``quiet_seconds`` of ``now``) or when its latest prediction trace is recent in
    market time (``analytics.detect_live``: a paper/live session); else HISTORICAL."""
    if model.run is None:
        return Badge(status="HISTORICAL", last_event_at=None, last_recorded_at=None, reason="no run yet")
    writing = (model.completed is None and model.last_recorded_at is not None
               and (now - model.last_recorded_at).total_seconds() < quiet_seconds)
    market = detect_live(model.data.traces, now, trace_threshold_minutes).is_live if model.completed is None \
        else False
    if writing or market:
        reason = "run is being written" if writing else "latest trace is recent"
        return Badge(status="LIVE", last_event_at=model.last_event_at, last_recorded_at=model.last_recorded_at,
                     reason=reason)
    reason = f"run {model.status}" if model.completed is not None else "no new events"
    return Badge(status="HISTORICAL", last_event_at=model.last_event_at, last_recorded_at=model.last_recorded_at,
                 reason=reason)


# ------------------------------------------------------------------- export


def metrics_document(model: RunModel, view: RunData, *, cards: dict[str, StrategyCard],
                     alert_list: Sequence[DashboardAlert], filters: dict[str, Any], as_of_seq: int | None,
                     as_of_time: datetime | None, generated_at: datetime,
                     portfolio: Sequence[BookState] = ()) -> dict[str, Any]:
    """The JSON export: what the dashboard shows now (filters, replay point, cards, alerts,
    portfolio figures), strict JSON (no NaN/inf)."""
    curves = equity_curves(view)
    books = {}
    for book, group in curves.groupby("book") if len(curves) else []:
        books[str(book)] = {"sessions": int(len(group)), "final_equity": float(group["equity"].iloc[-1]),
                            "cum_return_pct": float(group["cum_return_pct"].iloc[-1]),
                            "max_drawdown_pct": float(group["drawdown_pct"].min())}
    doc = {
        "run_id": model.run_id, "mode": model.run.mode if model.run else None, "status": model.status,
        "generated_at": generated_at, "events_folded": model.events, "last_seq": model.last_seq,
        "as_of": {"seq": as_of_seq, "time": as_of_time},
        "filters": filters,
        "strategies": {name: card.to_dict() for name, card in cards.items()},
        "books": books,
        "portfolio": [{**attrs.asdict(b), "session_date": b.session_date.isoformat() if b.session_date else None}
                      for b in portfolio],
        "trades": int(len(view.trades)), "traces": int(len(view.traces)),
        "alerts": [attrs.asdict(a) for a in alert_list],
    }
    return json_safe(doc)


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x * 100:.{digits}f} %"
