"""Exports of a run: prediction-trace CSV, the per-run JSON bundle and the trades table.

- **traces** (spec 000): ``predictions_YYYYMMDD_HHMMSS_####.csv[.gz]`` files with the
  telemetry columns (then ``signals`` and ``context`` from spec 004), rotated by size,
  loadable back with ``load_traces``;
- **bundle** (spec 003): ``config.json``, ``portfolio_daily.json``, ``tickers_daily.json``,
  ``trades.json``, ``results.json`` — validated before anything is written (valid JSON, no
  NaN, every trading day present, cash + positions = total value every day);
- **trades** (spec 004): a Parquet table with entry/exit timestamps, symbol, prices, P&L,
  duration, direction, size, signals and context; ``worst_trades`` and the grouping of
  the worst trades by the model feature that drove them (``attribute_worst_trades``).

Every writer writes into a temporary folder and renames it into place, so a failed
export leaves nothing half-written.
"""

from __future__ import annotations

from applications.analytics.exports.traces import (
    IST,
    DEFAULT_MAX_FILE_BYTES,
    trace_file_name,
    write_traces_csv,
    load_traces,
)
from applications.analytics.exports.bundle import (
    initial_cash_by_book,
    trading_days,
    ticker_trading_days,
    decision_experts,
    build_bundle,
    portfolio_metrics,
    validate_bundle,
    write_bundle,
    read_bundle,
)
from applications.analytics.exports.execution import (
    FEE_COMPONENTS,
    execution_table,
    execution_summary,
    write_execution,
)
from applications.analytics.exports.trades import (
    TRADES_TABLE_COLUMNS,
    trades_table,
    write_trades_parquet,
    read_trades_parquet,
    worst_trades,
    with_market_context,
)
from applications.analytics.exports.attribution import (
    TradeAnalysis,
    ErrorPattern,
    dominant_feature,
    explain_trades,
    attribute_worst_trades,
)

__all__ = [
    "IST",
    "DEFAULT_MAX_FILE_BYTES",
    "trace_file_name",
    "write_traces_csv",
    "load_traces",
    "initial_cash_by_book",
    "trading_days",
    "ticker_trading_days",
    "decision_experts",
    "build_bundle",
    "portfolio_metrics",
    "validate_bundle",
    "write_bundle",
    "read_bundle",
    "FEE_COMPONENTS",
    "execution_table",
    "execution_summary",
    "write_execution",
    "TRADES_TABLE_COLUMNS",
    "trades_table",
    "write_trades_parquet",
    "read_trades_parquet",
    "worst_trades",
    "with_market_context",
    "TradeAnalysis",
    "ErrorPattern",
    "dominant_feature",
    "explain_trades",
    "attribute_worst_trades",
]
