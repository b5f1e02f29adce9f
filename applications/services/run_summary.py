"""The run summary (returns, risk, trade statistics) as a projection of the event log.

``sensequant backtest`` prints it when a run ends, folded from the events as its recorders
commit them; ``sensequant runs show`` rebuilds it from the stored events alone. Both go
through ``SummaryFold`` so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import attrs

from core import accuracy
from core.events.base import RecordedEvent, RunInfo
from core.events.catalog import (
    CircuitBreakerTripped,
    OrderFilled,
    PortfolioSnapshotted,
    PredictionTraced,
    RunCompleted,
    RunStarted,
    SignalGenerated,
    TradeClosed,
)
from ports.event_store import EventStore

TRADING_DAYS_PER_YEAR = accuracy.PERIODS_PER_YEAR


@attrs.frozen(kw_only=True)
class BookSummary:
    """Performance of one strategy book (all money in paise, ratios as plain floats)."""

    strategy: str
    sessions: int
    first_session: date | None
    last_session: date | None
    initial_equity_paise: int
    final_equity_paise: int
    total_return_pct: float
    annualized_return_pct: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown_pct: float
    trades: int
    win_rate_pct: float
    profit_factor: float | None
    average_hold_minutes: float
    costs_paid_paise: int
    net_pnl_paise: int
    signals: int
    traces: int
    circuit_breaker_trips: int
    # Exits filled at the last close because the data ended (fill reason backtest_end) and positions the
    # last snapshot still holds (the run kept them open: --keep-open-at-end).
    closed_at_end: int = 0
    open_at_end: int = 0


@attrs.frozen(kw_only=True)
class RunSummary:
    run: RunInfo
    books: list[BookSummary]
    status: str
    bars_processed: int
    events: int
    # What a crashed or partial run lacks (no run.completed, books without any session).
    missing: tuple[str, ...] = ()


def daily_stats(equity: Iterable[int], initial: int) -> dict[str, float]:
    """Return/risk ratios of a daily equity curve starting from ``initial`` (paise), in
    percent where the name says so (``core.accuracy`` defines every figure)."""
    f = accuracy.equity_figures(list(equity), initial, TRADING_DAYS_PER_YEAR)
    return dict(total_return_pct=f.total_return * 100, annualized_return_pct=f.annualized_return * 100,
                sharpe=f.sharpe, sortino=f.sortino, calmar=f.calmar, max_drawdown_pct=f.max_drawdown * 100)


def book_summary(strategy: str, *, initial_paise: int | None, equity_paise: Sequence[int], sessions: Sequence[date],
                 fees_paid_paise: int, trade_results_paise: Sequence[int], holds_minutes: Sequence[float],
                 signals: int = 0, traces: int = 0, circuit_breaker_trips: int = 0, closed_at_end: int = 0,
                 open_at_end: int = 0) -> BookSummary:
    """The summary of one book from its daily equity (one value per session, in order), its
    closed trades' net results and holding times. The log fold below, the read models and
    the dashboard all build a book's figures here, so they cannot disagree."""
    start = initial_paise if initial_paise is not None else (equity_paise[0] if len(equity_paise) else 0)
    final = equity_paise[-1] if len(equity_paise) else start
    return BookSummary(
        strategy=strategy, sessions=len(equity_paise), first_session=sessions[0] if len(sessions) else None,
        last_session=sessions[-1] if len(sessions) else None, initial_equity_paise=int(start),
        final_equity_paise=int(final), trades=len(trade_results_paise),
        win_rate_pct=100.0 * accuracy.win_rate(trade_results_paise),
        profit_factor=accuracy.profit_factor(trade_results_paise), average_hold_minutes=accuracy.average(holds_minutes),
        costs_paid_paise=int(fees_paid_paise), net_pnl_paise=int(final - start), signals=signals, traces=traces,
        circuit_breaker_trips=circuit_breaker_trips, closed_at_end=closed_at_end, open_at_end=open_at_end,
        **daily_stats(equity_paise, int(start)))


class SummaryFold:
    """The running fold behind ``summarize_books``: feed it events in stream order.

    ``sensequant backtest`` feeds it the events its recorders committed, as they commit,
    so the end-of-run summary needs no second pass over the log; ``runs show`` feeds it
    the stored events. Both end in ``books()``, so the two cannot disagree. It keeps only
    the snapshots and closed trades (a few per session), never the whole run.
    """

    def __init__(self) -> None:
        self._snapshots: dict[str, list[PortfolioSnapshotted]] = {}
        self._trades: dict[str, list[TradeClosed]] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._initial: dict[str, int] = {}
        self.meta: dict[str, int | str] = {"status": "running", "bars_processed": 0, "events": 0}

    def add_all(self, events: Iterable[RecordedEvent]) -> None:
        for rec in events:
            self.add(rec)

    def add(self, rec: RecordedEvent) -> None:
        meta = self.meta
        meta["events"] = int(meta["events"]) + 1
        book = rec.stream_id.rsplit(":", 1)[-1] if ":" in rec.stream_id else "run"
        ev = rec.event
        c = self._counts.setdefault(book, {"signals": 0, "traces": 0, "trips": 0})
        if isinstance(ev, PortfolioSnapshotted):
            self._snapshots.setdefault(book, []).append(ev)
        elif isinstance(ev, TradeClosed):
            self._trades.setdefault(book, []).append(ev)
        elif isinstance(ev, SignalGenerated):
            c["signals"] += 1
        elif isinstance(ev, PredictionTraced):
            c["traces"] += 1
        elif isinstance(ev, CircuitBreakerTripped):
            c["trips"] += 1
        elif isinstance(ev, OrderFilled) and ev.fill_reason == "backtest_end":
            c["closed_at_end"] = c.get("closed_at_end", 0) + 1
        elif isinstance(ev, RunStarted):
            for name, cash in ev.config.get("initial_cash_paise_by_book", {}).items():
                self._initial[name] = int(cash)
            meta["strategies"] = ",".join(ev.strategies)
        elif isinstance(ev, RunCompleted):
            meta["completed"] = 1
            meta["status"] = ev.status
            meta["bars_processed"] = ev.bars_processed

    def books(self) -> list[BookSummary]:
        books = []
        for name in sorted(set(self._snapshots) | set(self._trades)):
            snaps = self._snapshots.get(name, [])
            closed = self._trades.get(name, [])
            c = self._counts.get(name, {"signals": 0, "traces": 0, "trips": 0})
            books.append(book_summary(
                name, initial_paise=self._initial.get(name), equity_paise=[s.equity_paise for s in snaps],
                sessions=[s.session_date for s in snaps], fees_paid_paise=snaps[-1].fees_paid_paise if snaps else 0,
                trade_results_paise=[t.net_pnl_paise for t in closed],
                holds_minutes=[(t.exit_time - t.entry_time).total_seconds() / 60 for t in closed],
                signals=c["signals"], traces=c["traces"], circuit_breaker_trips=c["trips"],
                closed_at_end=c.get("closed_at_end", 0), open_at_end=len(snaps[-1].positions) if snaps else 0))
        return books

    def summary(self, run: RunInfo) -> "RunSummary":
        books = self.books()
        return RunSummary(run=run, books=books, status=str(self.meta["status"]),
                          bars_processed=int(self.meta["bars_processed"]), events=int(self.meta["events"]),
                          missing=missing_parts(run, books, self.meta))


def summarize_books(events: Iterable[RecordedEvent]) -> tuple[list[BookSummary], dict[str, int | str]]:
    """Fold the events of one run into one summary per strategy book."""
    fold = SummaryFold()
    fold.add_all(events)
    return fold.books(), fold.meta


def summarize_run(store: EventStore, run_id: str, page_size: int = 10_000) -> RunSummary:
    """Rebuild a run's summary from the event log alone."""
    run = store.get_run(run_id)

    def events() -> Iterable[RecordedEvent]:
        after = 0
        while True:
            page = store.read_all(after, page_size, run_id=run.run_id)
            if not page:
                return
            yield from page
            after = page[-1].seq

    fold = SummaryFold()
    fold.add_all(events())
    return fold.summary(run)


def missing_parts(run: RunInfo, books: list[BookSummary], meta: dict[str, int | str]) -> tuple[str, ...]:
    """Say plainly what a run that did not finish lacks, so a partial summary is not read as whole."""
    out = []
    if not meta.get("completed"):
        out.append(f"no run.completed event: the run is {run.status} and did not finish; the figures cover only "
                   "what was recorded before it stopped" + (f" (resume it with `sensequant {run.mode} --resume "
                                                             f"{run.run_id}`)" if run.mode in ("paper", "live")
                                                            else ""))
    elif run.status == "crashed":
        out.append("the runs row says crashed: its writer stopped without finishing the run")
    elif run.status == "session_closed":
        out.append(f"the session closed at the market close and the run goes on: the figures are as of that close "
                   f"(continue it with `sensequant {run.mode} --resume {run.run_id}`)")
    planned = [name for name in str(meta.get("strategies", "")).split(",") if name]
    present = {b.strategy for b in books}
    for name in planned:
        if name not in present:
            out.append(f"book {name!r} was planned but has no recorded session")
    return tuple(out)


def summary_rows(summary: RunSummary) -> tuple[list[str], list[list[str]]]:
    """A table: one row per metric, one column per book."""
    books = summary.books
    header = ["metric", *[b.strategy for b in books]]

    def rupees(p: int) -> str:
        return f"₹{p / 100:,.2f}"

    def row(label: str, fn) -> list[str]:
        return [label, *[fn(b) for b in books]]

    rows = [
        row("period", lambda b: f"{b.first_session} → {b.last_session} ({b.sessions} sessions)"),
        row("initial equity", lambda b: rupees(b.initial_equity_paise)),
        row("final equity", lambda b: rupees(b.final_equity_paise)),
        row("net P&L", lambda b: rupees(b.net_pnl_paise)),
        row("total return", lambda b: f"{b.total_return_pct:.2f} %"),
        row("annualised return", lambda b: f"{b.annualized_return_pct:.2f} %"),
        row("Sharpe", lambda b: f"{b.sharpe:.2f}"),
        row("Sortino", lambda b: f"{b.sortino:.2f}"),
        row("Calmar", lambda b: f"{b.calmar:.2f}"),
        row("max drawdown", lambda b: f"{b.max_drawdown_pct:.2f} %"),
        row("trades", lambda b: str(b.trades)),
        row("win rate", lambda b: f"{b.win_rate_pct:.1f} %"),
        row("profit factor", lambda b: "n/a" if b.profit_factor is None else f"{b.profit_factor:.2f}"),
        row("average hold", lambda b: _hold(b.average_hold_minutes)),
        row("costs paid", lambda b: rupees(b.costs_paid_paise)),
        row("signals / traces", lambda b: f"{b.signals} / {b.traces}"),
        row("circuit-breaker trips", lambda b: str(b.circuit_breaker_trips)),
        row("at the end of the data", lambda b: f"{b.closed_at_end} closed (backtest_end), {b.open_at_end} open"),
    ]
    return header, rows


def _hold(minutes: float) -> str:
    if minutes >= 60 * 24:
        return f"{minutes / (60 * 24):.1f} days"
    if minutes >= 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes:.0f} min"
