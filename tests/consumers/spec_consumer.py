"""A stand-alone consumer of SenseQuant's exports that knows only the specs.

It reads the per-run bundle exactly as spec 003 documents it (five JSON files, the
field names, types and units of its examples, the rules of its "Data Validation"
section) and the trades table exactly as spec 004's data contract documents it (one
row per trade with entry/exit timestamps, asset_id, prices, pnl, pnl_pct, duration,
direction, size, and the ``signals``/``context`` dicts), then does what each spec's
consumer does: a frontend summary (003) and the worst trades with their regime at
entry (004). It imports nothing from SenseQuant: only json, pandas and pyarrow.

    python tests/consumers/spec_consumer.py EXPORT_DIR   # prints a JSON summary, exit 1 on a violation
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

BUNDLE_FILES = ("config.json", "portfolio_daily.json", "tickers_daily.json", "trades.json", "results.json")


class SpecViolation(Exception):
    pass


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise SpecViolation(message)


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _strict(token: str) -> float:
    raise SpecViolation(f"{token} in a JSON file (spec 003: no NaN values)")


def read_003(folder: Path) -> dict:
    docs = {n: json.loads((folder / n).read_text(encoding="utf-8"), parse_constant=_strict) for n in BUNDLE_FILES}
    cfg = docs["config.json"]
    for key in ("backtest_id", "start_date", "end_date", "initial_capital", "position_sizing", "max_positions",
                "cash_reserve", "min_cash_reserve", "transaction_cost", "slippage", "tickers", "created_at",
                "completed_at", "total_trading_days", "status"):
        _require(key in cfg, f"config.json lacks {key}")
    days = docs["portfolio_daily.json"]
    _require(len(days) == cfg["total_trading_days"], "Date Continuity: one portfolio_daily row per trading day")
    _require([d["date"] for d in days] == sorted({d["date"] for d in days}), "portfolio_daily dates out of order")
    for d in days:
        for key in ("date", "total_value", "cash", "positions_value", "daily_return", "cumulative_return",
                    "num_positions", "cash_reserve", "available_capital"):
            _require(key in d and (key == "date" or _number(d[key])), f"portfolio_daily {d.get('date')}: {key}")
        _require(abs(d["cash"] + d["positions_value"] - d["total_value"]) <= 0.011,
                 f"Consistency: cash + positions != total on {d['date']}")
        _require(abs(d["cash"] - d["cash_reserve"] - d["available_capital"]) <= 0.011,
                 f"available capital is not cash minus reserve on {d['date']}")
    decisions = {"BUY": 0, "HOLD": 0, "SELL": 0}
    expert_names: set[str] = set()
    for ticker, series in docs["tickers_daily.json"].items():
        _require(ticker in cfg["tickers"], f"tickers_daily has unknown ticker {ticker}")
        for e in series:
            decisions[e["decision"]] += 1
            total_weight = 0.0
            for name, ex in e["expert_contributions"].items():
                expert_names.add(name)
                _require(0 <= ex["weight"] <= 1 and 0 <= ex["confidence"] <= 1, f"{ticker} {e['date']} {name}")
                buy, hold, sell = ex["probabilities"]  # [buy, hold, sell]
                _require(abs(buy + hold + sell - 1) < 1e-4, f"{ticker} {e['date']} {name} probabilities")
                _require(isinstance(ex["reasoning"], str), f"{ticker} {e['date']} {name} reasoning")
                total_weight += ex["weight"]
            if e["expert_contributions"]:
                _require(abs(total_weight - 1) < 1e-6, f"expert weights of {ticker} {e['date']} sum to {total_weight}")
            if e["final_probabilities"] is not None:
                _require(len(e["final_probabilities"]) == 3 and abs(sum(e["final_probabilities"]) - 1) < 1e-4,
                         f"final_probabilities of {ticker} {e['date']}")
            if e["position"] is not None:
                _require(e["position"]["status"] in ("OPEN", "CLOSED"), "position status")
    spent = received = 0.0
    for t in docs["trades.json"]:
        _require(t["action"] in ("BUY", "SELL") and t["quantity"] > 0, f"trade {t['trade_id']}")
        _require(abs(t["value"] - t["quantity"] * t["price"]) <= 0.01 * t["quantity"], f"value of {t['trade_id']}")
        slippage = t["slippage"] or 0.0
        _require(abs(t["total_cost"] - (t["value"] + t["transaction_cost"] + slippage)) <= 0.011,
                 f"total_cost of {t['trade_id']}")
        before, after = t["portfolio_before"], t["portfolio_after"]
        if t["action"] == "BUY":
            _require(abs((before["cash"] - after["cash"]) - t["total_cost"]) <= 0.021,
                     f"Trade records must match portfolio changes: {t['trade_id']}")
            spent += t["total_cost"]
        else:
            received += after["cash"] - before["cash"]
    res = docs["results.json"]
    pm = res["portfolio_metrics"]
    for key in ("total_return", "annualized_return", "sharpe_ratio", "sortino_ratio", "calmar_ratio",
                "max_drawdown", "drawdown_duration", "volatility", "win_rate", "profit_factor", "total_trades",
                "avg_trade_return", "best_trade", "worst_trade", "avg_hold_time", "cash_drag",
                "diversification_score", "final_value"):
        _require(key in pm, f"results.json portfolio_metrics lacks {key}")
    _require(abs(pm["final_value"] - days[-1]["total_value"]) <= 0.011, "final_value is not the last total_value")
    _require(0 <= pm["max_drawdown"] <= 1 and 0 <= pm["diversification_score"] <= 1, "drawdown/diversification")
    for ticker, ts in res["ticker_summary"].items():
        for key in ("total_return", "annualized_return", "sharpe_ratio", "max_drawdown", "volatility", "num_trades",
                    "final_value", "contribution_to_portfolio"):
            _require(key in ts, f"ticker_summary[{ticker}] lacks {key}")
    return {"trading_days": len(days), "decisions": decisions, "experts": sorted(expert_names),
            "executed_trades": len(docs["trades.json"]), "cash_spent_on_buys": round(spent, 2),
            "cash_received_from_sells": round(received, 2), "final_value": pm["final_value"],
            "max_drawdown": pm["max_drawdown"], "diversification_score": pm["diversification_score"]}


def read_004(path: Path) -> dict:
    """The spec-004 trades DataFrame; dict columns are stored as JSON text (the file says which)."""
    meta = pq.read_schema(path).metadata or {}
    json_columns = meta.get(b"sensequant.json_columns", b"").decode().split(",")
    trades = pd.read_parquet(path)
    for col in json_columns:
        if col:
            trades[col] = [json.loads(v) if v else {} for v in trades[col]]
    for col in ("entry_timestamp", "exit_timestamp", "asset_id", "entry_price", "exit_price", "pnl", "pnl_pct",
                "duration", "direction", "size", "signals", "context"):
        _require(col in trades.columns, f"trades table lacks {col}")
    _require(set(trades["direction"]) <= {"long", "short"}, "direction must be 'long' or 'short'")
    _require(pd.api.types.is_datetime64_any_dtype(trades["entry_timestamp"]), "entry_timestamp is not a datetime")
    _require(pd.api.types.is_timedelta64_dtype(trades["duration"]), "duration is not a timedelta")
    _require(((trades["exit_timestamp"] - trades["entry_timestamp"]) == trades["duration"]).all(), "duration")
    _require(all(isinstance(s, dict) for s in trades["signals"]) and all(isinstance(c, dict) for c in trades["context"]),
             "signals/context must be dicts")
    worst = trades.nsmallest(10, "pnl")  # spec 004: "worst_trades = results.trades.nsmallest(10, 'pnl')"
    with_regime = [c for c in trades["context"] if "nifty50_close" in c]
    high_vol = [c for c in with_regime if c.get("nifty50_realized_vol_20d", 0) > 0.25]
    return {"trades": len(trades), "worst_pnl": [round(float(p), 2) for p in worst["pnl"]],
            "with_market_context": len(with_regime), "high_vol_entries": len(high_vol),
            "context_keys": sorted({k for c in with_regime for k in c if k.startswith("nifty50_")})}


def main(argv: list[str]) -> int:
    folder = Path(argv[1])
    try:
        out = {"003": read_003(folder), "004": read_004(folder / "trades.parquet")}
    except (SpecViolation, KeyError, TypeError, ValueError) as exc:
        print(f"spec violation: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
