"""The symbol drill-down: prices with entries and exits, and the trades table."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from applications.analytics.metrics import (
    json_safe,
)
from applications.analytics.projections import (
    IST,
    RunData,
)
from applications.dashboard.viewmodel.run import _session_close

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


TRADE_TABLE_TITLES = {
    "trade_id": "Trade", "strategy": "Book", "symbol": "Symbol", "direction": "Direction", "quantity": "Qty",
    "entry_time": "Entry (IST)", "exit_time": "Exit (IST)", "entry_price": "Entry ₹", "exit_price": "Exit ₹",
    "pnl": "Net P&L ₹", "pnl_pct": "Net P&L %", "exit_reason": "Exit reason", "confidence": "Confidence",
    "reason": "Why it entered", "signals": "Signals at entry", "context": "Context at entry",
}
"""Column headers of the trades table (the fields stay the projection's column names)."""


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
    out["strategy"] = t["book"]  # the run's own name for the book (sma_cross is not "swing")
    out["signals"] = [_compact(v) for v in t["signals"]]
    out["context"] = [_compact(v) for v in t["context"]]
    for col in ("entry_time", "exit_time"):
        out[col] = out[col].dt.tz_convert(IST).dt.strftime("%Y-%m-%d %H:%M")
    out["pnl_pct"] = out["pnl_pct"].round(3)
    out["confidence"] = out["confidence"].round(3)
    return out.iloc[::-1].reset_index(drop=True)
