"""Benchmark: the spec exports of the shipped backtest (both books, ~850 fills, 1,126 sessions).

Runs the shipped backtest into an in-memory store once, then times each export step:
projection of the log, the 003 bundle (build, JSON Schema + rule validation, size), the
004 trades table with the NIFTY 50 market context, and the execution-quality table and
summary. Prints figures and the headline execution numbers; no targets are enforced.

Run: .venv/bin/python benchmarks/exports_specs.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.memory import InMemoryEventStore  # noqa: E402
from applications.analytics import load_run  # noqa: E402
from applications.analytics.exports.bundle import (  # noqa: E402
    build_bundle,
    bundle_schema_validator,
    ticker_trading_days,
    trading_days,
    validate_bundle,
)
from applications.analytics.exports.execution import execution_summary, execution_table  # noqa: E402
from applications.analytics.exports.trades import trades_table  # noqa: E402
from applications.services.backtest import run_backtest  # noqa: E402
from applications.services.books import BacktestConfig, SentimentSettings  # noqa: E402
from applications.wiring.adapters import default_market_context  # noqa: E402


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label:<44} {time.perf_counter() - t0:8.3f} s")
    return out


def main() -> None:
    store = InMemoryEventStore()
    result = timed("shipped backtest (no sentiment)",
                   lambda: run_backtest(BacktestConfig(sentiment=SentimentSettings(enabled=False)), store=store))
    run = timed("projection of the log", lambda: load_run(store, result.run_id))
    bundle = timed("003 bundle: build", lambda: build_bundle(run))
    bundle_schema_validator()
    timed("003 bundle: JSON Schema + spec rules", lambda: validate_bundle(
        bundle, trading_days(run, run.run_id), ticker_trading_days(run, run.run_id)))
    size = sum(len(json.dumps(doc)) for doc in bundle.values())
    context = timed("market context: load NIFTY 50 closes", default_market_context)
    table = timed("004 trades table with market context", lambda: trades_table(run, context))
    executions = timed("execution table", lambda: execution_table(run))
    summary = timed("execution summary", lambda: execution_summary(executions))
    print(f"bundle: {len(bundle['trades.json'])} fills, {len(bundle['portfolio_daily.json'])} sessions, "
          f"{sum(len(v) for v in bundle['tickers_daily.json'].values())} ticker-days, {size / 1e6:.1f} MB of JSON")
    print(f"trades: {len(table)} round trips, {sum('nifty50_close' in c for c in table['context'])} with context")
    for name, block in summary["by_strategy"].items():
        print(f"execution {name:<8} fills {block['fills']:4d}  slippage bps mean {block['slippage_bps_mean']:6.2f} "
              f"median {block['slippage_bps_median']:6.2f} p95 {block['slippage_bps_p95']:7.2f}  "
              f"slippage Rs {block['slippage']:10,.2f}  fees Rs {block['fees']:10,.2f}")


if __name__ == "__main__":
    main()
