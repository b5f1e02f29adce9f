"""Strategy cards, equity and drawdown curves and confusion matrices of a run view."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import date
from typing import Any

import attrs
import numpy as np
import pandas as pd

from applications.analytics.exports.bundle import initial_cash_by_book
from applications.analytics.metrics import (
    DIRECTIONS,
    AccuracyMetrics,
    compute_metrics,
    drawdown_curve,
    json_safe,
    rolling_vs_alltime,
)
from applications.analytics.projections import (
    RunData,
)
from applications.dashboard.viewmodel.run import run_books
from applications.services.run_summary import BookSummary, book_summary
from core import accuracy

# --------------------------------------------------------------------- books


# A book keeps its colour in every panel and view (cards, curves, filters); names not listed
# take a palette entry chosen from the name itself, so the colour never depends on which
# other books a view shows.
BOOK_COLOURS = {"intraday": "#1f77b4", "swing": "#ff7f0e", "sma_cross": "#2ca02c"}
_PALETTE = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def book_colour(book: str) -> str:
    if book in BOOK_COLOURS:
        return BOOK_COLOURS[book]
    return _PALETTE[zlib.crc32(book.encode("utf-8")) % len(_PALETTE)]


def book_summaries(run: RunData, books: Sequence[str] | None = None, *,
                   baseline: dict[str, tuple[int, int]] | None = None) -> dict[str, BookSummary]:
    """``services.run_summary.book_summary`` of each book of ``run`` (as cut and filtered):
    the very figures ``sensequant runs show`` prints for the same events.

    ``baseline`` (book -> equity and cumulative fees of the last session before a period
    filter's start, see ``period_baseline``) makes a period's figures start from where the
    book stood when the period began rather than from the run's starting cash."""
    initial = _initial_cash(run)
    kinds = run_books(run)
    p, t = run.portfolio, run.trades
    out = {}
    for book in books if books is not None else kinds:
        snaps = p[p["book"] == book] if len(p) else p
        closed = t[t["book"] == book] if len(t) else t
        if not len(snaps) and not len(closed):
            continue
        kind = kinds.get(book, book)
        start_equity, fees_before = (baseline or {}).get(book, (initial.get(book), 0))
        signals = int((run.signals["book"] == book).sum()) if len(run.signals) else 0
        traces = int((run.traces["strategy"] == kind).sum()) if len(run.traces) else 0
        # what the end of the data did to open positions: closed at the last close, or still open
        ends = run.fills[run.fills["fill_reason"] == "backtest_end"] if len(run.fills) else run.fills
        closed_at_end = int(ends["client_order_id"].str.startswith(f"{book}-").sum()) if len(ends) else 0
        open_at_end = len(snaps.sort_values("seq").iloc[-1]["positions"] or {}) if len(snaps) else 0
        out[book] = book_summary(
            book, initial_paise=start_equity, equity_paise=snaps["equity_paise"].to_list(),
            sessions=snaps["session_date"].to_list(),
            fees_paid_paise=int(snaps["fees_paid_paise"].iloc[-1]) - fees_before if len(snaps) else 0,
            trade_results_paise=closed["net_pnl_paise"].to_list(), holds_minutes=closed["holding_minutes"].to_list(),
            signals=signals, traces=traces, closed_at_end=closed_at_end, open_at_end=open_at_end)
    return out


def period_baseline(run: RunData, start: date | None) -> dict[str, tuple[int, int]]:
    """Book -> (equity, cumulative fees) of its last session before ``start`` (books that had
    no session before it start from their starting cash and are left out)."""
    p = run.portfolio
    if start is None or not len(p):
        return {}
    before = p[p["session_date"] < start]
    last = before.groupby("book", sort=True).tail(1)
    return {str(b): (int(e), int(f)) for b, e, f in zip(last["book"], last["equity_paise"], last["fees_paid_paise"])}


# --------------------------------------------------------------------- cards


@attrs.frozen(kw_only=True)
class StrategyCard:
    """One book of the run: its summary (the CLI's figures) and its prediction accuracy,
    all-time vs the last ``window`` traces (``delta`` = rolling minus all-time).

    ``strategy`` is the book's name (what the run calls it: ``sma_cross``, ``intraday``...),
    ``kind`` its strategy family, whose traces the accuracy figures read.
    """

    strategy: str
    kind: str
    colour: str
    label: str
    trades: int
    window: int
    alltime: dict[str, float]
    rolling: dict[str, float]
    delta: dict[str, float]
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(attrs.asdict(self))


CARD_FIELDS = ("precision", "recall", "f1", "hit_ratio")
"""Accuracy rows of a card (the money figures come from the book summary)."""

SUMMARY_FIELDS = ("net_pnl_paise", "total_return_pct", "annualized_return_pct", "sharpe", "sortino", "calmar",
                  "max_drawdown_pct", "trades", "win_rate_pct", "profit_factor", "average_hold_minutes",
                  "costs_paid_paise")
"""Summary rows of a card, named as in ``sensequant runs show --json``."""


def _card_values(m, label: str) -> dict[str, float]:
    # win_rate and sharpe (per trade) stay in the data for the rolling alert rules.
    return {"precision": m.precision.get(label, 0.0), "recall": m.recall.get(label, 0.0),
            "f1": m.f1_score.get(label, 0.0), "hit_ratio": m.hit_ratio, "win_rate": m.win_rate,
            "sharpe": m.sharpe_ratio}


def strategy_metrics(run: RunData, *, window: int = 100, strategies: Sequence[str] | None = None
                     ) -> dict[str, tuple[AccuracyMetrics, AccuracyMetrics]]:
    """``analytics.rolling_vs_alltime`` of each book's traces: (rolling, all-time), keyed by
    book. Computed once per render and shared by the cards, the alerts and the confusion
    matrices."""
    books = run_books(run)
    names = list(books) if strategies is None else [b for b in strategies if b in books]
    return {name: rolling_vs_alltime(run.traces[run.traces["strategy"] == books[name]], window) for name in names}


def strategy_cards(run: RunData, *, label: str = "LONG", window: int = 100,
                   strategies: Sequence[str] | None = None,
                   metrics: dict[str, tuple[AccuracyMetrics, AccuracyMetrics]] | None = None,
                   baseline: dict[str, tuple[int, int]] | None = None) -> dict[str, StrategyCard]:
    """The card of each book the run has (``strategies``: a subset of its books): the book
    summary of ``services.run_summary`` (as ``runs show``) and precision/recall/F1 of
    ``label`` and hit ratio, all-time vs the last ``window`` traces. A book the run does not
    have gets no card."""
    books = run_books(run)
    names = list(books) if strategies is None else [b for b in strategies if b in books]
    metrics = metrics or strategy_metrics(run, window=window, strategies=names)
    summaries = book_summaries(run, names, baseline=baseline)
    cards = {}
    for name in names:
        if name not in summaries:
            continue
        roll, alltime = metrics[name]
        a, r = _card_values(alltime, label), _card_values(roll, label)
        cards[name] = StrategyCard(strategy=name, kind=books[name], colour=book_colour(name), label=label,
                                   trades=alltime.total_trades, window=window, alltime=a, rolling=r,
                                   delta={k: r[k] - a[k] for k in a},
                                   summary=summary_dict(summaries[name]))
    return cards


def summary_dict(summary: BookSummary) -> dict[str, Any]:
    """A book summary as ``runs show --json`` writes it (dates as ISO text)."""
    return json_safe({k: v.isoformat() if isinstance(v, date) else v for k, v in attrs.asdict(summary).items()})


def _initial_cash(run: RunData) -> dict[str, int]:
    out: dict[str, int] = {}
    for run_id in run.run_ids:
        out.update(initial_cash_by_book(run, run_id))
    return out


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


def confusion_frames(run: RunData, strategies: Sequence[str] | None = None, *,
                     metrics: dict[str, tuple[AccuracyMetrics, AccuracyMetrics]] | None = None
                     ) -> dict[str, pd.DataFrame]:
    """Long-form confusion matrix of each strategy (rows: actual, columns: predicted),
    all-time (``metrics``: the ``strategy_metrics`` of this render, if at hand)."""
    books = run_books(run)
    out = {}
    for name in (list(books) if strategies is None else [b for b in strategies if b in books]):
        if metrics and name in metrics:
            cm = metrics[name][1].confusion_matrix
        else:
            cm = compute_metrics(run.traces[run.traces["strategy"] == books[name]]).confusion_matrix
        out[name] = pd.DataFrame([{"actual": a, "predicted": p, "count": int(cm[i][j])}
                                  for i, a in enumerate(DIRECTIONS) for j, p in enumerate(DIRECTIONS)])
    return out


# ------------------------------------------------------ per symbol and monthly


def symbol_pnl(run: RunData) -> pd.DataFrame:
    """Closed trades per book and symbol: count, net P&L, costs and win rate (``core.accuracy``),
    largest loss first."""
    cols = ["book", "symbol", "trades", "net_pnl_paise", "fees_paise", "win_rate"]
    t = run.trades
    if not len(t):
        return pd.DataFrame({c: [] for c in cols})
    rows = [{"book": book, "symbol": sym, "trades": int(len(g)), "net_pnl_paise": int(g["net_pnl_paise"].sum()),
             "fees_paise": int(g["fees_paise"].sum()), "win_rate": accuracy.win_rate(g["net_pnl_paise"])}
            for (book, sym), g in t.groupby(["book", "symbol"], sort=True)]
    return pd.DataFrame(rows, columns=cols).sort_values(["net_pnl_paise", "book", "symbol"],
                                                        kind="stable").reset_index(drop=True)


def monthly_returns(run: RunData) -> pd.DataFrame:
    """Each book's return per calendar month (percent): its last equity of the month over
    its last equity of the month before (the first month from the starting cash)."""
    cols = ["book", "year", "month", "return_pct"]
    p = run.portfolio
    if not len(p):
        return pd.DataFrame({c: [] for c in cols})
    initial = _initial_cash(run)
    rows = []
    for book, g in p.groupby("book", sort=True):
        days = pd.to_datetime(g["session_date"].astype(str))
        month_end = g.assign(_m=days.dt.to_period("M").to_numpy()).groupby("_m", sort=True)["equity_paise"].last()
        before = float(initial.get(book) or g["equity_paise"].iloc[0])
        for period, equity in month_end.items():
            rows.append({"book": book, "year": int(period.year), "month": int(period.month),
                         "return_pct": (float(equity) / before - 1.0) * 100.0 if before else 0.0})
            before = float(equity)
    return pd.DataFrame(rows, columns=cols)
