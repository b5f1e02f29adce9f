"""The trade list as a table and as Parquet, and the worst trades of a run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from applications.analytics.projections import (
    RunData,
)
from applications.analytics.exports.traces import _dumps, _ensure_dir
from ports.market_context import MarketContextProvider

# ======================================================================= trades


TRADES_TABLE_COLUMNS = [
    "entry_timestamp", "exit_timestamp", "symbol", "asset_id", "entry_price", "exit_price", "pnl", "pnl_pct",
    "duration", "direction", "size", "signals", "context", "trade_id", "run_id", "strategy", "book", "gross_pnl",
    "fees", "net_pnl_paise", "exit_reason", "confidence", "features",
]


def trades_table(run_or_trades: RunData | pd.DataFrame,
                 market_context: MarketContextProvider | None = None) -> pd.DataFrame:
    """The trades table of spec 004: one row per round trip, ``direction`` long/short,
    ``pnl`` net rupees, ``pnl_pct`` net percent of the entry value, ``duration`` a
    timedelta, ``signals``/``context``/``features`` dicts at entry.

    With ``market_context``, each trade's ``context`` also holds the market regime known
    at its entry (e.g. ``nifty50_close``, ``nifty50_return_1d``/``_5d``,
    ``nifty50_realized_vol_20d``: point in time, see the provider), and
    ``market_context_source`` names the provider."""
    t = run_or_trades.trades if isinstance(run_or_trades, RunData) else run_or_trades
    if "entry_timestamp" in t.columns:  # already a trades table
        table = t.reset_index(drop=True).copy()
    else:
        table = _table(t)
    if market_context is not None:
        table = with_market_context(table, "entry_timestamp", market_context)
    return table


def with_market_context(frame: pd.DataFrame, time_column: str, market_context: MarketContextProvider
                        ) -> pd.DataFrame:
    """``frame`` with each row's ``context`` dict extended by the market regime known at
    ``frame[time_column]`` (the entry time), and ``market_context_source`` naming the provider."""
    out = frame.copy()
    out["context"] = [{**(c if isinstance(c, dict) else {}), **market_context.context_at(pd.Timestamp(ts))}
                      for c, ts in zip(out["context"], out[time_column])]
    out["market_context_source"] = market_context.name
    return out


def _table(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "entry_timestamp": t["entry_time"], "exit_timestamp": t["exit_time"], "symbol": t["symbol"],
        "asset_id": t["symbol"], "entry_price": t["entry_price"], "exit_price": t["exit_price"], "pnl": t["pnl"],
        "pnl_pct": t["pnl_pct"], "duration": t["duration"], "direction": t["direction"].str.lower(),
        "size": t["quantity"].astype("int64"), "signals": t["signals"], "context": t["context"],
        "trade_id": t["trade_id"], "run_id": t["run_id"], "strategy": t["strategy"], "book": t["book"],
        "gross_pnl": t["gross_pnl_paise"] / 100.0, "fees": t["fees_paise"] / 100.0,
        "net_pnl_paise": t["net_pnl_paise"].astype("int64"), "exit_reason": t["exit_reason"],
        "confidence": t["confidence"], "features": t["features"],
    }, columns=TRADES_TABLE_COLUMNS).reset_index(drop=True)


def write_trades_parquet(run_or_trades: RunData | pd.DataFrame, path: Path | str) -> Path:
    """Write the trades table as Parquet (dict columns stored as JSON text)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = trades_table(run_or_trades).copy()
    for col in ("signals", "context", "features"):
        table[col] = [_dumps(v if isinstance(v, dict) else {}) for v in table[col]]
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                           b"sensequant.json_columns": b"signals,context,features"})
    path = Path(path)
    _ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(arrow, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_trades_parquet(path: Path | str) -> pd.DataFrame:
    """Read a trades table written by ``write_trades_parquet`` (dict columns decoded)."""
    df = pd.read_parquet(path)
    for col in ("signals", "context", "features"):
        if col in df:
            df[col] = [json.loads(v) if isinstance(v, str) and v else {} for v in df[col]]
    return df


def worst_trades(trades: pd.DataFrame, n: int = 10, by: str = "pnl") -> pd.DataFrame:
    """The ``n`` trades with the lowest ``by`` (net rupee P&L by default), worst first."""
    if n < 0:
        raise ValueError("n must be >= 0")
    col = by if by in trades else {"pnl": "net_pnl_paise"}.get(by, by)
    return trades.sort_values([col], kind="stable").head(n).reset_index(drop=True)
