"""Strategy cards, equity and drawdown curves and confusion matrices of a run view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import pandas as pd

from applications.analytics.exports.bundle import initial_cash_by_book, portfolio_metrics
from applications.analytics.metrics import (
    DIRECTIONS,
    AccuracyMetrics,
    compute_metrics,
    drawdown_curve,
    json_safe,
    rolling_vs_alltime,
)
from applications.analytics.projections import (
    STRATEGIES,
    RunData,
)

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
    last = p[p["book"] == book].sort_values("seq").iloc[-1]
    ends = run.fills[run.fills["fill_reason"] == "backtest_end"]
    closed_at_end = int(ends["client_order_id"].str.startswith(f"{book}-").sum()) if len(ends) else 0
    return {"book": book, "sessions": len(eq), "total_return": m["total_return"], "sharpe_daily": m["sharpe_ratio"],
            "max_drawdown": m["max_drawdown"], "final_value": m["final_value"], "net_pnl": m["net_pnl"],
            # what the end of the data did to open positions (closed at the last close, or still open)
            "closed_at_end": closed_at_end, "open_at_end": len(last["positions"] or {})}


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
