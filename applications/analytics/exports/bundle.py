"""The per-run export bundle of spec 003: build, validate, write and read its five files."""

from __future__ import annotations

import bisect
import functools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
from jsonschema import Draft202012Validator

from applications.analytics.errors import ExportValidationError
from applications.analytics.exports.traces import IST, _ensure_dir
from applications.analytics.metrics import (
    PERIODS_PER_YEAR,
    json_safe,
    max_drawdown_of_values,
    sharpe_ratio,
)
from applications.analytics.projections import (
    RunData,
)
from applications.analytics.exports.execution import FEE_COMPONENTS, execution_table
from applications.analytics.exports.experts import blend_weights, expert_contributions, final_probabilities
from core import accuracy

# ======================================================================= bundle


def _r(paise: int | float) -> float:
    return round(float(paise) / 100.0, 2)


def _ist_date(ts: Any) -> date:
    return pd.Timestamp(ts).tz_convert(IST).date()


def initial_cash_by_book(run: RunData, run_id: str) -> dict[str, int]:
    """Starting cash of each strategy book of ``run_id``.

    ``RunStarted.config["initial_cash_paise_by_book"]`` when the run recorded it;
    otherwise ``RunStarted.initial_cash_paise`` (the run's total) split evenly.
    """
    started = run.started.get(run_id)
    books = sorted(run.portfolio.loc[run.portfolio["run_id"] == run_id, "book"].unique())
    if started is None:
        return {b: 0 for b in books}
    by_book = started.config.get("initial_cash_paise_by_book") if isinstance(started.config, dict) else None
    if isinstance(by_book, dict) and all(b in by_book for b in books):
        return {b: int(by_book[b]) for b in books}
    share = int(started.initial_cash_paise) // max(len(books), 1)
    return {b: share for b in books}


def trading_days(run: RunData, run_id: str) -> list[date]:
    """Sessions of the run: the union of the daily snapshot dates of every book."""
    p = run.portfolio[run.portfolio["run_id"] == run_id]
    return sorted(set(p["session_date"]))


def ticker_trading_days(run: RunData, run_id: str) -> dict[str, list[date]]:
    """Sessions of each symbol: the days a book snapshot priced it."""
    p = run.portfolio[run.portfolio["run_id"] == run_id]
    out: dict[str, set[date]] = {}
    for day, prices in zip(p["session_date"], p["prices"]):
        for sym in prices:
            out.setdefault(sym, set()).add(day)
    return {s: sorted(d) for s, d in out.items()}


def _combined_daily(run: RunData, run_id: str, days: list[date]) -> list[dict[str, Any]]:
    """One row per trading day summing every book.

    A book that has not started yet counts with its starting cash; a book whose last
    session is past (books may cover different periods) counts with its last snapshot.
    ``books`` holds only the books that had a session that day.
    """
    p = run.portfolio[run.portfolio["run_id"] == run_id].sort_values("seq", kind="stable")
    initial = initial_cash_by_book(run, run_id)
    by_book = {b: {r["session_date"]: r for r in g.to_dict("records")} for b, g in p.groupby("book")}
    carried: dict[str, dict[str, Any]] = {}
    out = []
    for day in days:
        row: dict[str, Any] = {"date": day, "cash": 0, "positions_value": 0, "equity": 0, "realized": 0,
                               "unrealized": 0, "fees": 0, "positions": {}, "prices": {}, "books": {}}
        for book in sorted(by_book):
            snap = by_book[book].get(day)
            if snap is not None:
                carried[book] = snap
                row["prices"].update(snap["prices"])
                row["books"][book] = {"cash": int(snap["cash_paise"]),
                                      "positions_value": int(snap["positions_value_paise"]),
                                      "equity": int(snap["equity_paise"]), "positions": snap["positions"],
                                      "kind": snap["strategy"]}
            last = carried.get(book)
            if last is None:
                row["cash"] += initial.get(book, 0)
                row["equity"] += initial.get(book, 0)
                continue
            row["cash"] += int(last["cash_paise"])
            row["positions_value"] += int(last["positions_value_paise"])
            row["equity"] += int(last["equity_paise"])
            row["realized"] += int(last["realized_pnl_paise"])
            row["unrealized"] += int(last["unrealized_pnl_paise"])
            row["fees"] += int(last["fees_paid_paise"])
            for sym, pos in last["positions"].items():
                row["positions"].setdefault(sym, []).append((book, pos))
        out.append(row)
    return out


def _check_days(run: RunData, run_id: str, days: list[date]) -> None:
    p = run.portfolio[run.portfolio["run_id"] == run_id]
    if not days:
        raise ExportValidationError(f"run {run_id} has no daily portfolio snapshots; the bundle needs one per "
                                    "session — was the run interrupted before its first session ended?")
    for book, g in p.groupby("book"):
        have = sorted(set(g["session_date"]))
        if len(g) != len(have):
            raise ExportValidationError(f"run {run_id}: strategy book {book!r} has two snapshots for one session")
        t = run.trades[(run.trades["run_id"] == run_id) & (run.trades["book"] == book)]
        for col in ("entry_time", "exit_time"):
            for ts in t[col]:
                if _ist_date(ts) not in set(have):
                    raise ExportValidationError(
                        f"run {run_id}: a {book} trade {col.split('_')[0]}s on {_ist_date(ts)}, a session without a "
                        f"snapshot of that book; every trading day must be present")


def _decision(action: str, direction: str, open_direction: str | None) -> str:
    if action == "enter":
        return "BUY" if direction == "LONG" else "SELL"
    if action == "exit":
        return "BUY" if open_direction == "SHORT" else "SELL"
    return "HOLD"


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _strategy_configs(started: Any) -> dict[str, dict[str, Any]]:
    """Book -> the strategy section of the run's config (weights and gate come from it)."""
    config = started.config if started is not None and isinstance(started.config, dict) else {}
    return {book: (config.get(book) or {}).get("strategy") or {} for book in ("intraday", "swing", "reference")}


def decision_experts(rec: dict[str, Any], strategy_config: dict[str, Any],
                     gate: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Spec-003 expert contributions of one recorded decision (see ``exports.experts``),
    with the model's id and its top feature contributions when the decision had them."""
    signals = rec["signals"] if isinstance(rec["signals"], dict) else {}
    experts = expert_contributions(signals, direction=rec["direction"], action=rec["action"],
                                   reason=rec["reason"] or "", weights=blend_weights(strategy_config), gate=gate)
    if "model_id" in signals:
        experts["model"]["model_id"] = signals["model_id"]
    contrib = signals.get("model_contributions")
    if isinstance(contrib, dict) and contrib:
        top = sorted(((k, v) for k, v in contrib.items() if k not in _BIAS_KEYS and _num(v)),
                     key=lambda kv: -abs(float(kv[1])))[:5]
        experts["model"]["top_contributions"] = {k: float(v) for k, v in top}
    return experts


def _reserve_fraction(started: Any) -> float:
    """The cash a book keeps back: what the gross-exposure limit does not let it invest."""
    config = started.config if started is not None and isinstance(started.config, dict) else {}
    risk = config.get("risk") or {}
    if not risk.get("gross_exposure_enabled", True):
        return 0.0
    return max(0.0, 1.0 - float(risk.get("max_gross_exposure", 1.0)))


def build_bundle(run: RunData, run_id: str | None = None) -> dict[str, Any]:
    """The five documents of the per-run bundle (spec 003), as JSON-ready Python objects.

    Money is in rupees (2 decimals) as the spec shows it; ``*_paise`` twins keep the
    exact integers. Raises ``ExportValidationError`` when a trading day is missing.
    """
    run.require("signals")  # the bundle lists the run's decisions
    run_id = run_id or run.run_id
    info = next((r for r in run.runs if r.run_id == run_id), None)
    started = run.started.get(run_id)
    completed = run.completed.get(run_id)
    days = trading_days(run, run_id)
    _check_days(run, run_id, days)
    initial = initial_cash_by_book(run, run_id)
    initial_total = sum(initial.values())
    daily = _combined_daily(run, run_id, days)
    trades = run.trades[run.trades["run_id"] == run_id]
    signals = run.signals[run.signals["run_id"] == run_id]
    symbols = list(started.symbols) if started else sorted(set(trades["symbol"]))
    cfg = started.config if started is not None and isinstance(started.config, dict) else {}
    executions = execution_table(run, run_id)
    reserve = _reserve_fraction(started)
    traded = float(executions["executed_value"].sum()) if len(executions) else 0.0
    books_symbols = {b: len((cfg.get(b) or {}).get("symbols") or []) for b in initial}

    config = {
        "backtest_id": run_id, "run_id": run_id, "mode": info.mode if info else (started.mode if started else ""),
        "start_date": days[0].isoformat(), "end_date": days[-1].isoformat(),
        "initial_capital": _r(initial_total), "initial_capital_paise": initial_total,
        "initial_capital_by_strategy": {b: _r(v) for b, v in initial.items()},
        # Fixed-fraction sizing: the fraction of equity one entry commits (before confidence scaling).
        "position_sizing": float((cfg.get("sizing") or {}).get("fraction", 0.0)),
        # Each book holds at most one position per symbol it trades.
        "max_positions": int(sum(books_symbols.values())) or len(symbols),
        "cash_reserve": reserve, "min_cash_reserve": reserve,
        # NSE costs are computed exactly per fill; this is what they came to per rupee traded.
        "transaction_cost": float(executions["fees_paise"].sum() / 100 / traded) if traded else 0.0,
        "transaction_cost_model": "exact NSE equity costs per fill (fees_by_component in trades.json)",
        "slippage": float((cfg.get("slippage") or {}).get("bps", 0.0)) / 1e4,
        "strategies": list(started.strategies) if started else sorted(initial), "tickers": symbols,
        "created_at": info.started_at.isoformat() if info else None,
        "completed_at": info.ended_at.isoformat() if info and info.ended_at else None,
        "total_trading_days": len(days),
        "status": completed.status if completed else (info.status if info else "unknown"),
        "config_hash": started.config_hash if started else None,
        "code_version": started.code_version if started else None,
        "data_fingerprint": started.data_fingerprint if started else None,
        "seed": started.seed if started else None, "config": started.config if started else {},
    }

    portfolio_daily = []
    prev = initial_total
    for row in daily:
        total = row["equity"]
        reserve_paise = int(round(total * reserve))
        portfolio_daily.append({
            "date": row["date"].isoformat(), "total_value": _r(total), "cash": _r(row["cash"]),
            "positions_value": _r(row["positions_value"]),
            "daily_return": (total - prev) / prev if prev else 0.0,
            "cumulative_return": (total - initial_total) / initial_total if initial_total else 0.0,
            "num_positions": len(row["positions"]), "cash_reserve": _r(reserve_paise),
            "available_capital": _r(row["cash"] - reserve_paise), "realized_pnl": _r(row["realized"]),
            "unrealized_pnl": _r(row["unrealized"]), "fees_paid": _r(row["fees"]),
            "total_value_paise": total, "cash_paise": row["cash"], "positions_value_paise": row["positions_value"],
            "cash_reserve_paise": reserve_paise, "available_capital_paise": row["cash"] - reserve_paise,
            "by_strategy": {b: {"total_value": _r(v["equity"]), "cash": _r(v["cash"]),
                                "positions_value": _r(v["positions_value"])} for b, v in row["books"].items()},
        })
        prev = total

    strategy_configs = _strategy_configs(started)
    gate = cfg.get("gate") or {}
    tickers_daily = _tickers_daily(daily, signals, symbols, strategy_configs, gate)
    trades_doc = _fills_doc(run, run_id, executions, trades, signals, initial, strategy_configs, gate)
    results = _results(run_id, daily, trades, initial_total, initial, symbols)
    results["end_of_data"] = _end_of_data(cfg, daily, trades_doc)
    return json_safe({"config.json": config, "portfolio_daily.json": portfolio_daily,
                      "tickers_daily.json": tickers_daily, "trades.json": trades_doc, "results.json": results})


def _tickers_daily(daily: list[dict[str, Any]], signals: pd.DataFrame, symbols: list[str],
                   strategy_configs: dict[str, dict[str, Any]], gate: dict[str, Any]
                   ) -> dict[str, list[dict[str, Any]]]:
    by_key: dict[tuple[str, date], list[dict[str, Any]]] = {}
    open_dir: dict[tuple[str, str], str] = {}
    for rec in signals.sort_values("seq").to_dict("records"):
        sym, strat = rec["symbol"], rec["book"]
        decision = _decision(rec["action"], rec["direction"], open_dir.get((strat, sym)))
        if rec["action"] == "enter":
            open_dir[(strat, sym)] = rec["direction"]
        elif rec["action"] == "exit":
            open_dir.pop((strat, sym), None)
        by_key.setdefault((sym, _ist_date(rec["occurred_at"])), []).append({**rec, "decision": decision})
    out: dict[str, list[dict[str, Any]]] = {}
    for sym in symbols:
        series = []
        for row in daily:
            day = row["date"]
            if sym not in row["prices"]:
                continue  # no book had a session with this symbol's bars that day
            price = float(row["prices"][sym])
            decisions = by_key.get((sym, day), [])
            actionable = [d for d in decisions if d["action"] in ("enter", "exit")]
            main = actionable[-1] if actionable else (decisions[-1] if decisions else None)
            position = None
            held = row["positions"].get(sym, [])
            if held:
                qty = sum(int(p.get("quantity", 0)) for _, p in held)
                cost = sum(int(p.get("quantity", 0)) * int(p.get("average_price_paise", 0)) for _, p in held)
                value = sum(int(p.get("market_value_paise", int(p.get("quantity", 0)) * round(price * 100)))
                            for _, p in held)
                position = {"quantity": qty, "avg_price": _r(cost / qty) if qty else 0.0,
                            "current_value": _r(value), "unrealized_pnl": _r(value - cost), "status": "OPEN",
                            "by_strategy": {b: {"quantity": int(p.get("quantity", 0)),
                                                "avg_price": _r(int(p.get("average_price_paise", 0)))}
                                            for b, p in held}}
            experts = (decision_experts(main, strategy_configs.get(main["book"], {}), gate) if main else {})
            entry: dict[str, Any] = {
                "date": day.isoformat(), "price": price,
                "decision": main["decision"] if main else "HOLD",
                "overall_confidence": float(main["confidence"]) if main else None,
                "expert_contributions": experts,
                "final_probabilities": final_probabilities(experts, main["action"]) if main else None,
                "reasoning": (main["reason"] or "") if main else "no actionable signal",
                "position": position,
                "decisions": [{"strategy": d["strategy"], "action": d["action"], "direction": d["direction"],
                               "decision": d["decision"], "time": pd.Timestamp(d["occurred_at"]).isoformat(),
                               "confidence": float(d["confidence"]), "reason": d["reason"]} for d in decisions],
            }
            series.append(entry)
        out[sym] = series
    return out


def _fills_doc(run: RunData, run_id: str, executions: pd.DataFrame, trades: pd.DataFrame, signals: pd.DataFrame,
               initial: dict[str, int], strategy_configs: dict[str, dict[str, Any]],
               gate: dict[str, Any]) -> list[dict[str, Any]]:
    """Every executed fill (spec 003 ``trades.json``), in time order, with the portfolio
    (all books together) just before and after it.

    ``price`` is the decision price (the spec's pre-slippage price) and ``slippage`` the
    adverse rupee difference to the fill, so ``total_cost = value + transaction_cost +
    slippage`` is exactly the cash a BUY paid; a SELL received ``value - slippage -
    transaction_cost`` (``cash_flow``). Positions are marked at the last fill price seen
    for their symbol. A fill whose order predates the decision price (order.submitted
    v1) has ``price`` = the fill price and ``slippage`` = ``null``.
    """
    # Round trips a fill opens or closes, and the decision that caused the order.
    opened: dict[str, dict[str, Any]] = {}
    closed: dict[str, dict[str, Any]] = {}
    for t in trades.to_dict("records"):
        opened[(t["book"], t["symbol"], pd.Timestamp(t["entry_time"]))] = t
        closed[(t["book"], t["symbol"], pd.Timestamp(t["exit_time"]))] = t
    orders = run.orders[run.orders["run_id"] == run_id]
    decision_by_order = {}
    sig_by_seq = {r["seq"]: r for r in signals.to_dict("records")}
    sig_seqs = sorted(sig_by_seq)
    for o in orders.to_dict("records"):
        # The decision is the last SignalGenerated of that book and symbol before the order.
        idx = bisect.bisect_left(sig_seqs, o["seq"]) - 1
        while idx >= 0:
            rec = sig_by_seq[sig_seqs[idx]]
            if rec["book"] == o["book"] and rec["symbol"] == o["symbol"]:
                if pd.Timestamp(rec["occurred_at"]) == pd.Timestamp(o["occurred_at"]):
                    decision_by_order[o["client_order_id"]] = rec
                break
            idx -= 1
    cash = dict(initial)
    holdings: dict[tuple[str, str], int] = {}
    last_price: dict[str, int] = {}

    def state() -> dict[str, float]:
        pos = sum(q * last_price.get(sym, 0) for (_, sym), q in holdings.items())
        c = sum(cash.values())
        return {"total_value": _r(c + pos), "cash": _r(c), "positions_value": _r(pos)}

    docs = []
    ordered = executions.assign(_t=pd.to_datetime(executions["fill_time"], utc=True)).sort_values(
        ["_t"], kind="stable") if len(executions) else executions
    for f in ordered.to_dict("records"):
        book, sym, qty, px = f["book"], f["symbol"], int(f["quantity"]), int(f["fill_price_paise"])
        buy = f["side"] == "BUY"
        before = state()
        last_price[sym] = px
        cash[book] = cash.get(book, 0) + (-1 if buy else 1) * px * qty - int(f["fees_paise"])
        held_before = holdings.get((book, sym), 0)
        holdings[(book, sym)] = held_before + (qty if buy else -qty)
        if holdings[(book, sym)] == 0:
            del holdings[(book, sym)]
        after = state()
        at = pd.Timestamp(f["fill_time"])
        closing = closed.get((book, sym, at)) if held_before and (book, sym) not in holdings else None
        opening = opened.get((book, sym, at)) if not held_before else None
        decision_paise = f["decision_price_paise"]
        known = decision_paise is not None and not (isinstance(decision_paise, float) and math.isnan(decision_paise))
        ref = int(decision_paise) if known else px
        slip = int(f["slippage_paise"]) if known else None
        parent = f["parent_order_id"]
        # A bracket exit is the broker's, not a new decision: its reasoning is the bracket.
        rec = decision_by_order.get(parent) if f["decision_price_source"] == "bar_close" else None
        experts = decision_experts(rec, strategy_configs.get(book, {}), gate) if rec is not None else {}
        fees = int(f["fees_paise"])
        cash_flow = (-1 if buy else 1) * px * qty - fees
        doc = {
            "trade_id": f["trade_id"], "date": _ist_date(at).isoformat(), "time": at.isoformat(), "ticker": sym,
            "action": "BUY" if buy else "SELL", "quantity": qty, "price": _r(ref), "value": _r(ref * qty),
            "transaction_cost": _r(fees), "slippage": _r(slip) if slip is not None else None,
            "total_cost": _r(ref * qty + fees + (slip or 0)),
            "overall_confidence": float(rec["confidence"]) if rec is not None else None,
            "expert_contributions": {k: {"weight": v["weight"], "confidence": v["confidence"]}
                                     for k, v in experts.items()},
            "reasoning": (rec["reason"] if rec is not None else None) or
            (closing["exit_reason"] if closing is not None else f["fill_reason"]),
            "success": True,
            "portfolio_before": before, "portfolio_after": after,
            "strategy": f["strategy"], "book": book, "order_id": parent, "fill_reason": f["fill_reason"],
            "decision_price": _r(ref) if known else None, "decision_price_source": f["decision_price_source"],
            "fill_price": _r(px), "slippage_bps": float(f["slippage_bps"]) if known else None,
            "fees_by_component": {c: _r(f[f"fee_{c}_paise"]) for c in FEE_COMPONENTS},
            "cash_flow": _r(cash_flow), "cash_flow_paise": cash_flow,
            "position_effect": "close" if held_before and (book, sym) not in holdings
            else "open" if not held_before else "adjust",
            "round_trip_id": (closing or opening or {}).get("trade_id"),
        }
        if closing is not None:
            doc.update({"exit_reason": closing["exit_reason"], "round_trip_pnl": _r(closing["net_pnl_paise"]),
                        "round_trip_pnl_paise": int(closing["net_pnl_paise"]),
                        "round_trip_pnl_pct": float(closing["pnl_pct"])})
        docs.append(doc)
    return docs


def portfolio_metrics(equity_paise: Sequence[int], initial_paise: int, trades: pd.DataFrame,
                      cash_paise: Sequence[int] | None = None,
                      periods_per_year: float = PERIODS_PER_YEAR) -> dict[str, Any]:
    """Portfolio-level figures from a daily equity series (paise) and the closed trades.

    Daily returns start from ``initial_paise``; ``volatility`` is their annualised sample
    standard deviation; ``max_drawdown`` is a positive fraction here (spec 003), and
    ``drawdown_duration`` the longest run of sessions below a previous peak.
    """
    eq = np.asarray(equity_paise, dtype=float)
    n = eq.size
    f = accuracy.equity_figures(eq, float(initial_paise) if initial_paise else None, periods_per_year)
    total_return = float(eq[-1] / initial_paise - 1.0) if n and initial_paise else 0.0
    annualized = accuracy.annualized_return(total_return, n, periods_per_year)
    mdd, duration = f.max_drawdown, f.max_drawdown_duration
    pnl_pct = trades["pnl_pct"].to_numpy(dtype=float) / 100.0
    net = trades["net_pnl_paise"].to_numpy(dtype=float)
    cash = np.asarray(cash_paise, dtype=float) if cash_paise is not None else None
    return {
        "total_return": total_return, "annualized_return": annualized,
        "sharpe_ratio": f.sharpe, "sortino_ratio": f.sortino,
        # spec 003's format: Calmar null without a drawdown, drawdown as a positive magnitude
        "calmar_ratio": accuracy.calmar_ratio(annualized, mdd) if mdd < 0 else None, "max_drawdown": -mdd,
        "drawdown_duration": duration, "volatility": f.volatility,
        "win_rate": accuracy.win_rate(net), "profit_factor": accuracy.profit_factor(net),
        "total_trades": int(net.size), "avg_trade_return": float(pnl_pct.mean()) if net.size else 0.0,
        "best_trade": float(pnl_pct.max()) if net.size else 0.0,
        "worst_trade": float(pnl_pct.min()) if net.size else 0.0,
        "avg_hold_time": float(trades["holding_minutes"].mean()) if net.size else 0.0,
        "avg_hold_time_unit": "minutes",
        "cash_drag": float(np.mean(cash / eq)) if cash is not None and n and np.all(eq != 0) else None,
        "final_value": _r(eq[-1]) if n else _r(initial_paise), "final_value_paise": int(eq[-1]) if n else initial_paise,
        "net_pnl": _r(net.sum()), "fees_paid": _r(trades["fees_paise"].sum()) if net.size else 0.0,
    }


def _end_of_data(cfg: dict[str, Any], daily: list[dict[str, Any]], fills: list[dict[str, Any]]) -> dict[str, Any]:
    """What happened to positions still open when the data ended (spec 002 §14.14.2):
    closed at the last close (fills with reason ``backtest_end``) or kept and listed open."""
    last = daily[-1] if daily else {"positions": {}, "prices": {}}
    open_positions = []
    for sym, held in sorted(last["positions"].items()):
        for book, p in held:
            qty, avg = int(p.get("quantity", 0)), int(p.get("average_price_paise", 0))
            value = int(p.get("market_value_paise", 0))
            open_positions.append({"ticker": sym, "strategy": book, "quantity": qty, "avg_price": _r(avg),
                                   "current_value": _r(value), "unrealized_pnl": _r(value - qty * avg),
                                   "status": "OPEN"})
    return {
        "policy": "close_at_last_close" if cfg.get("close_at_end", False) else "keep_open",
        "closed_at_end": [f["round_trip_id"] for f in fills if f.get("fill_reason") == "backtest_end"],
        "open_positions": open_positions,
    }


def diversification_score(daily: list[dict[str, Any]]) -> float:
    """How spread the invested capital was: the mean, over sessions that held positions,
    of ``1 - sum(w_i^2)`` over the symbols' shares ``w_i`` of the gross position value
    (0 = one symbol, approaching 1 = many equal positions)."""
    scores = []
    for row in daily:
        values = [sum(abs(int(p.get("market_value_paise", 0))) for _, p in held) for held in row["positions"].values()]
        gross = float(sum(values))
        if gross > 0:
            scores.append(1.0 - sum((v / gross) ** 2 for v in values))
    return float(np.mean(scores)) if scores else 0.0


def ticker_daily_returns(daily: list[dict[str, Any]], trades: pd.DataFrame, symbol: str) -> np.ndarray:
    """Daily returns of one symbol on the capital it had at work.

    The symbol's P&L to date is the net P&L of its closed round trips plus the
    unrealised P&L of its open positions at the close; a day's return is that P&L's
    change over the capital at work that day (the cost of the position held at the
    previous close, or the entry value of the round trips opened that day if larger);
    a day with no capital at work returns 0.
    """
    t = trades[trades["symbol"] == symbol]
    exit_days = [_ist_date(x) for x in t["exit_time"]]
    entry_days = [_ist_date(x) for x in t["entry_time"]]
    realized_by_day: dict[date, int] = {}
    opened_by_day: dict[date, int] = {}
    for d, net in zip(exit_days, t["net_pnl_paise"]):
        realized_by_day[d] = realized_by_day.get(d, 0) + int(net)
    for d, px, q in zip(entry_days, t["entry_price_paise"], t["quantity"]):
        opened_by_day[d] = opened_by_day.get(d, 0) + int(px) * int(q)
    rets = []
    realized = 0
    prev_pnl = 0
    prev_cost = 0
    for row in daily:
        held = row["positions"].get(symbol, [])
        realized += realized_by_day.get(row["date"], 0)
        unrealized = sum(int(p.get("market_value_paise", 0)) - int(p.get("quantity", 0)) *
                         int(p.get("average_price_paise", 0)) for _, p in held)
        pnl = realized + unrealized
        base = max(prev_cost, opened_by_day.get(row["date"], 0))
        rets.append((pnl - prev_pnl) / base if base else 0.0)
        prev_pnl = pnl
        prev_cost = sum(abs(int(p.get("quantity", 0)) * int(p.get("average_price_paise", 0))) for _, p in held)
    return np.asarray(rets, dtype=float)


def _results(run_id: str, daily: list[dict[str, Any]], trades: pd.DataFrame, initial_total: int,
             initial: dict[str, int], symbols: list[str]) -> dict[str, Any]:
    equity = [r["equity"] for r in daily]
    cash = [r["cash"] for r in daily]
    metrics = portfolio_metrics(equity, initial_total, trades, cash)
    metrics["diversification_score"] = diversification_score(daily)
    strategy_summary = {}
    for book, start in initial.items():
        eq = [r["books"][book]["equity"] for r in daily if book in r["books"]]
        book_cash = [r["books"][book]["cash"] for r in daily if book in r["books"]]
        strategy_summary[book] = portfolio_metrics(eq, start, trades[trades["book"] == book], book_cash)
    ticker_summary = {}
    last = daily[-1] if daily else {"positions": {}}
    for sym in symbols:
        t = trades[trades["symbol"] == sym]
        net = t["net_pnl_paise"].to_numpy(dtype=float)
        rets = t["pnl_pct"].to_numpy(dtype=float) / 100.0
        held = last["positions"].get(sym, [])
        daily_rets = ticker_daily_returns(daily, trades, sym)
        active = [r for r in daily if sym in r["prices"]]
        growth = np.cumprod(1.0 + daily_rets) if daily_rets.size else np.array([1.0])
        total = float(growth[-1] - 1.0)
        years = len(active) / PERIODS_PER_YEAR
        mdd, _ = max_drawdown_of_values(np.concatenate([[1.0], growth]))
        ticker_summary[sym] = {
            "total_return": total,
            "annualized_return": float((1 + total) ** (1 / years) - 1) if years > 0 and total > -1 else 0.0,
            "sharpe_ratio": sharpe_ratio(daily_rets), "max_drawdown": -mdd,
            "volatility": float(np.std(daily_rets, ddof=1) * math.sqrt(PERIODS_PER_YEAR)) if daily_rets.size > 1
            else 0.0,
            "num_trades": int(len(t)),
            "final_value": _r(sum(int(p.get("market_value_paise", 0)) for _, p in held)),
            "contribution_to_portfolio": float(net.sum() / initial_total) if initial_total else 0.0,
            "win_rate": float(np.mean(net > 0)) if net.size else 0.0,
            "avg_trade_return": float(rets.mean()) if rets.size else 0.0,
            "per_trade_sharpe_ratio": sharpe_ratio(rets),
            "net_pnl": _r(net.sum()), "fees_paid": _r(t["fees_paise"].sum()) if net.size else 0.0,
            "by_strategy": {str(s): {"num_trades": int(len(g)), "net_pnl": _r(g["net_pnl_paise"].sum())}
                            for s, g in t.groupby("strategy")},
        }
    return {"run_id": run_id, "portfolio_metrics": metrics, "strategy_summary": strategy_summary,
            "ticker_summary": ticker_summary}


SCHEMA_FILE = Path(__file__).with_name("schemas") / "bundle_003.v1.schema.json"
"""The versioned JSON Schema of the bundle (spec 003's fields, types and units)."""


@functools.lru_cache(maxsize=1)
def bundle_schema_validator() -> Draft202012Validator:
    """A validator of the schema file with its local ``$ref``s inlined: the same rules,
    about twice as fast on a multi-MB bundle (no reference resolution per instance)."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    defs = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = inline(defs[node["$ref"].rsplit("/", 1)[-1]])
                return {**target, **{k: inline(v) for k, v in node.items() if k != "$ref"}}
            return {k: inline(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [inline(x) for x in node]
        return node

    return Draft202012Validator(inline(schema))


def validate_bundle(bundle: dict[str, Any], days: Sequence[date] | None = None,
                    ticker_days: dict[str, Sequence[date]] | None = None) -> None:
    """Raise ``ExportValidationError`` unless the bundle is strict JSON (no NaN/inf),
    conforms to the versioned JSON Schema (``SCHEMA_FILE``), has every trading day
    (``days``) in ``portfolio_daily`` and every session of each ticker (``ticker_days``)
    in its series, in order, and meets the spec's consistency rules: cash + positions =
    total value every day (to the paisa, for the portfolio and for each book), expert
    weights and every ``[buy, hold, sell]`` sum to 1, and every fill moved the cash by
    exactly what its ``total_cost`` (BUY) or proceeds (SELL) say."""
    expected = {"config.json", "portfolio_daily.json", "tickers_daily.json", "trades.json", "results.json"}
    if set(bundle) != expected:
        raise ExportValidationError(f"bundle documents are {sorted(bundle)}, expected {sorted(expected)}")
    for name, doc in bundle.items():
        try:
            json.dumps(doc, allow_nan=False)
        except (ValueError, TypeError) as exc:
            raise ExportValidationError(f"{name} is not valid JSON: {exc}") from None
    error = jsonschema.exceptions.best_match(bundle_schema_validator().iter_errors(bundle))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ExportValidationError(f"bundle does not match {SCHEMA_FILE.name} at {where}: {error.message}")
    for sym, series in bundle["tickers_daily.json"].items():
        for e in series:
            _check_experts(f"tickers_daily.json[{sym!r}] {e['date']}", e["expert_contributions"],
                           e["final_probabilities"])
    for t in bundle["trades.json"]:
        weights = [c["weight"] for c in t["expert_contributions"].values()]
        if weights and abs(sum(weights) - 1.0) > 1e-6:
            raise ExportValidationError(f"trades.json {t['trade_id']}: expert weights sum to {sum(weights)}, not 1")
        moved = round((t["portfolio_after"]["cash"] - t["portfolio_before"]["cash"]) * 100)
        slip = t["slippage"] or 0.0
        want = -t["total_cost"] if t["action"] == "BUY" else t["value"] - slip - t["transaction_cost"]
        if abs(moved - round(want * 100)) > 2:
            raise ExportValidationError(f"trades.json {t['trade_id']}: cash moved {moved / 100:.2f}, the fill "
                                        f"says {want:.2f}")
    daily = bundle["portfolio_daily.json"]
    dates = [d["date"] for d in daily]
    if days is not None and dates != [d.isoformat() for d in days]:
        missing = sorted(set(d.isoformat() for d in days) - set(dates))
        raise ExportValidationError(f"portfolio_daily.json lacks trading day(s) {missing[:5]} "
                                    f"({len(missing)} missing) or is out of order")
    if dates != sorted(set(dates)):
        raise ExportValidationError("portfolio_daily.json dates are duplicated or out of order")
    for d in daily:
        if d["cash_paise"] + d["positions_value_paise"] != d["total_value_paise"]:
            raise ExportValidationError(
                f"portfolio_daily.json {d['date']}: cash {d['cash_paise']} + positions {d['positions_value_paise']} "
                f"!= total {d['total_value_paise']} paise")
        if abs(d["cash"] + d["positions_value"] - d["total_value"]) > 0.0051:
            raise ExportValidationError(f"portfolio_daily.json {d['date']}: cash + positions_value != total_value")
        for book, v in d["by_strategy"].items():
            if abs(v["cash"] + v["positions_value"] - v["total_value"]) > 0.0051:
                raise ExportValidationError(f"portfolio_daily.json {d['date']} {book}: cash + positions != total")
    all_days = set(dates)
    for sym, series in bundle["tickers_daily.json"].items():
        got = [e["date"] for e in series]
        if ticker_days is not None and sym in ticker_days and got != [d.isoformat() for d in ticker_days[sym]]:
            missing = sorted(set(d.isoformat() for d in ticker_days[sym]) - set(got))
            raise ExportValidationError(f"tickers_daily.json[{sym!r}] lacks trading day(s) {missing[:5]} "
                                        f"({len(missing)} missing) or is out of order")
        if got != sorted(set(got)) or not set(got) <= all_days:
            raise ExportValidationError(f"tickers_daily.json[{sym!r}] dates are duplicated, out of order or "
                                        "outside the run's trading days")
        for e in series:
            if not _num(e["price"]):
                raise ExportValidationError(f"tickers_daily.json[{sym!r}] {e['date']}: no valid price")
    total_trades = bundle["results.json"]["portfolio_metrics"]["total_trades"]
    closing = sum(1 for t in bundle["trades.json"] if t.get("position_effect") == "close")
    if total_trades != closing:
        raise ExportValidationError(f"results.json counts {total_trades} round trips, trades.json closes "
                                    f"{closing}")


def _check_experts(where: str, experts: dict[str, Any], final: list[float] | None) -> None:
    weights = [c["weight"] for c in experts.values()]
    if weights and abs(sum(weights) - 1.0) > 1e-6:
        raise ExportValidationError(f"{where}: expert weights sum to {sum(weights)}, not 1")
    for name, probs in [*((n, c["probabilities"]) for n, c in experts.items()), ("final", final)]:
        if probs is not None and abs(sum(probs) - 1.0) > 1e-5:
            raise ExportValidationError(f"{where}: {name} probabilities {probs} do not sum to 1")


def _stage_and_commit(files: dict[str, bytes], out_dir: Path) -> list[Path]:
    out_dir = _ensure_dir(Path(out_dir))
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        paths = []
        for name in files:
            os.replace(staging / name, out_dir / name)
            paths.append(out_dir / name)
        return paths
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_bundle(run: RunData, out_dir: Path | str, run_id: str | None = None) -> list[Path]:
    """Build, validate and write the five bundle files into ``out_dir``."""
    run_id = run_id or run.run_id
    bundle = build_bundle(run, run_id)
    validate_bundle(bundle, trading_days(run, run_id), ticker_trading_days(run, run_id))
    files = {name: (json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")
             for name, doc in bundle.items()}
    return _stage_and_commit(files, Path(out_dir))


def read_bundle(folder: Path | str) -> dict[str, Any]:
    """Load a written bundle (strict JSON: NaN/Infinity are rejected)."""
    def _reject(token: str) -> Any:
        raise ExportValidationError(f"{token} is not valid JSON")
    out = {}
    for name in ("config.json", "portfolio_daily.json", "tickers_daily.json", "trades.json", "results.json"):
        out[name] = json.loads((Path(folder) / name).read_text(encoding="utf-8"), parse_constant=_reject)
    return out


# ================================================================== attribution

_BIAS_KEYS = frozenset({"bias", "<bias>", "base_value", "expected_value", "intercept", "BIAS"})
