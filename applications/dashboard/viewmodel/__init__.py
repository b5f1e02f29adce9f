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

from applications.dashboard.viewmodel.run import (
    SESSION_CLOSE_IST,
    RunChoice,
    run_choices,
    RunModel,
    bulk_allocation,
    as_of,
    filter_run,
    session_range,
    books_overlap,
    replay_points,
    run_books,
)
from applications.dashboard.viewmodel.cards import (
    StrategyCard,
    CARD_FIELDS,
    SUMMARY_FIELDS,
    BOOK_COLOURS,
    book_colour,
    book_summaries,
    period_baseline,
    summary_dict,
    symbol_pnl,
    monthly_returns,
    strategy_metrics,
    strategy_cards,
    equity_curves,
    confusion_frames,
)
from applications.dashboard.viewmodel.alerts import (
    SHARPE_ALERT_THRESHOLD,
    DashboardAlert,
    alerts,
    alerts_frame,
)
from applications.dashboard.viewmodel.symbols import (
    symbols,
    symbol_prices,
    symbol_markers,
    TRADE_TABLE_COLUMNS,
    TRADE_TABLE_TITLES,
    symbol_trades,
)
from applications.dashboard.viewmodel.portfolio import (
    BookState,
    portfolio_at,
    Badge,
    live_badge,
)
from applications.dashboard.viewmodel.compare import (
    RunComparison,
    compare_runs,
)
from applications.dashboard.viewmodel.document import (
    metrics_document,
    dumps,
    fmt_pct,
)

__all__ = [
    "SESSION_CLOSE_IST",
    "RunChoice",
    "run_choices",
    "RunModel",
    "bulk_allocation",
    "as_of",
    "filter_run",
    "session_range",
    "books_overlap",
    "replay_points",
    "StrategyCard",
    "CARD_FIELDS",
    "SUMMARY_FIELDS",
    "BOOK_COLOURS",
    "book_colour",
    "run_books",
    "book_summaries",
    "period_baseline",
    "summary_dict",
    "RunComparison",
    "compare_runs",
    "symbol_pnl",
    "monthly_returns",
    "strategy_metrics",
    "strategy_cards",
    "equity_curves",
    "confusion_frames",
    "SHARPE_ALERT_THRESHOLD",
    "DashboardAlert",
    "alerts",
    "alerts_frame",
    "symbols",
    "symbol_prices",
    "symbol_markers",
    "TRADE_TABLE_COLUMNS",
    "TRADE_TABLE_TITLES",
    "symbol_trades",
    "BookState",
    "portfolio_at",
    "Badge",
    "live_badge",
    "metrics_document",
    "dumps",
    "fmt_pct",
]
