"""The per-run export bundle of spec 003: build, validate, write and read its five files."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from applications.analytics.errors import ExportValidationError
from applications.analytics.exports.traces import IST, _ensure_dir
from applications.analytics.metrics import (
    PERIODS_PER_YEAR,
    json_safe,
    sharpe_ratio,
)
from applications.analytics.projections import (
    RunData,
)
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


_COMPONENTS = ("technical", "sentiment", "model")


def signal_contributions(signals: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The technical, sentiment and model components of a decision's ``signals``.

    A component given as a number becomes ``{"score": x}``; a dict is kept (its
    ``score``/``weight``/``confidence`` keys are what the strategies write). The model
    component also carries ``model_id`` and the top feature contributions when present.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in _COMPONENTS:
        value = signals.get(name)
        if isinstance(value, dict):
            comp = dict(value)
        else:
            comp = {"score": value if isinstance(value, (int, float)) and not isinstance(value, bool) else None}
        for key in (f"{name}_weight", f"{name}_confidence"):
            if key in signals:
                comp[key.split("_", 1)[1]] = signals[key]
        out[name] = comp
    if "model_id" in signals:
        out["model"]["model_id"] = signals["model_id"]
    contrib = signals.get("model_contributions")
    if isinstance(contrib, dict) and contrib:
        top = sorted(((k, v) for k, v in contrib.items() if k not in _BIAS_KEYS and _num(v)),
                     key=lambda kv: -abs(float(kv[1])))[:5]
        out["model"]["top_contributions"] = {k: float(v) for k, v in top}
    return out


def _final_scores(signals: dict[str, Any], direction: str, confidence: float | None) -> dict[str, Any]:
    for key in ("probabilities", "final_probabilities", "model_probabilities", "scores"):
        if isinstance(signals.get(key), dict):
            return {str(k): v for k, v in signals[key].items()}
    numeric = {k: signals[k] for k in ("combined", "score", "final_score") if _num(signals.get(k))}
    return {"direction": direction, "confidence": confidence, **numeric}


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def build_bundle(run: RunData, run_id: str | None = None) -> dict[str, Any]:
    """The five documents of the per-run bundle (spec 003), as JSON-ready Python objects.

    Money is in rupees (2 decimals) as the spec shows it; ``*_paise`` twins keep the
    exact integers. Raises ``ExportValidationError`` when a trading day is missing.
    """
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

    config = {
        "backtest_id": run_id, "run_id": run_id, "mode": info.mode if info else (started.mode if started else ""),
        "start_date": days[0].isoformat(), "end_date": days[-1].isoformat(),
        "initial_capital": _r(initial_total), "initial_capital_paise": initial_total,
        "initial_capital_by_strategy": {b: _r(v) for b, v in initial.items()},
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
        portfolio_daily.append({
            "date": row["date"].isoformat(), "total_value": _r(total), "cash": _r(row["cash"]),
            "positions_value": _r(row["positions_value"]),
            "daily_return": (total - prev) / prev if prev else 0.0,
            "cumulative_return": (total - initial_total) / initial_total if initial_total else 0.0,
            "num_positions": len(row["positions"]), "realized_pnl": _r(row["realized"]),
            "unrealized_pnl": _r(row["unrealized"]), "fees_paid": _r(row["fees"]),
            "total_value_paise": total, "cash_paise": row["cash"], "positions_value_paise": row["positions_value"],
            "by_strategy": {b: {"total_value": _r(v["equity"]), "cash": _r(v["cash"]),
                                "positions_value": _r(v["positions_value"])} for b, v in row["books"].items()},
        })
        prev = total

    tickers_daily = _tickers_daily(daily, signals, trades, symbols)
    trades_doc = _trades_doc(trades)
    results = _results(run_id, daily, trades, initial_total, initial, symbols)
    return json_safe({"config.json": config, "portfolio_daily.json": portfolio_daily,
                      "tickers_daily.json": tickers_daily, "trades.json": trades_doc, "results.json": results})


def _tickers_daily(daily: list[dict[str, Any]], signals: pd.DataFrame, trades: pd.DataFrame,
                   symbols: list[str]) -> dict[str, list[dict[str, Any]]]:
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
            entry: dict[str, Any] = {
                "date": day.isoformat(), "price": price,
                "decision": main["decision"] if main else "HOLD",
                "overall_confidence": float(main["confidence"]) if main else None,
                "signal_contributions": signal_contributions(main["signals"]) if main else {},
                "final_probabilities": _final_scores(main["signals"], main["direction"], float(main["confidence"]))
                if main else None,
                "reasoning": (main["reason"] or "") if main else "no actionable signal",
                "position": position,
                "decisions": [{"strategy": d["strategy"], "action": d["action"], "direction": d["direction"],
                               "decision": d["decision"], "time": pd.Timestamp(d["occurred_at"]).isoformat(),
                               "confidence": float(d["confidence"]), "reason": d["reason"]} for d in decisions],
            }
            series.append(entry)
        out[sym] = series
    return out


def _trades_doc(trades: pd.DataFrame) -> list[dict[str, Any]]:
    docs = []
    for t in trades.sort_values(["entry_time", "seq"]).to_dict("records"):
        value = t["entry_price_paise"] * t["quantity"]
        docs.append({
            "trade_id": t["trade_id"], "date": _ist_date(t["entry_time"]).isoformat(),
            "exit_date": _ist_date(t["exit_time"]).isoformat(), "ticker": t["symbol"], "strategy": t["strategy"],
            "action": "BUY" if t["direction"] == "LONG" else "SELL", "direction": t["direction"],
            "quantity": int(t["quantity"]), "price": t["entry_price"], "exit_price": t["exit_price"],
            "value": _r(value), "transaction_cost": _r(t["fees_paise"]), "gross_pnl": _r(t["gross_pnl_paise"]),
            "pnl": _r(t["net_pnl_paise"]), "pnl_pct": t["pnl_pct"], "net_pnl_paise": int(t["net_pnl_paise"]),
            "entry_time": pd.Timestamp(t["entry_time"]).isoformat(),
            "exit_time": pd.Timestamp(t["exit_time"]).isoformat(), "holding_minutes": t["holding_minutes"],
            "exit_reason": t["exit_reason"],
            "overall_confidence": None if pd.isna(t["confidence"]) else float(t["confidence"]),
            "signal_contributions": signal_contributions(t["signals"]), "reasoning": t["reason"],
            "success": bool(t["net_pnl_paise"] > 0),
            "portfolio_before": {"total_value": _r(t["equity_before_paise"]), "cash": _r(t["cash_before_paise"]),
                                 "positions_value": _r(t["equity_before_paise"] - t["cash_before_paise"])},
            "portfolio_after": {"total_value": _r(t["equity_after_paise"]), "cash": _r(t["cash_after_paise"]),
                                "positions_value": _r(t["equity_after_paise"] - t["cash_after_paise"])},
            "book": t["book"],
        })
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


def _results(run_id: str, daily: list[dict[str, Any]], trades: pd.DataFrame, initial_total: int,
             initial: dict[str, int], symbols: list[str]) -> dict[str, Any]:
    equity = [r["equity"] for r in daily]
    cash = [r["cash"] for r in daily]
    metrics = portfolio_metrics(equity, initial_total, trades, cash)
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
        cost = (t["entry_price_paise"] * t["quantity"]).to_numpy(dtype=float)
        held = last["positions"].get(sym, [])
        ticker_summary[sym] = {
            "total_return": float(net.sum() / cost.sum()) if cost.sum() else 0.0,
            "num_trades": int(len(t)), "win_rate": float(np.mean(net > 0)) if net.size else 0.0,
            "sharpe_ratio": sharpe_ratio(rets), "avg_trade_return": float(rets.mean()) if rets.size else 0.0,
            "max_drawdown": -float(min(0.0, np.min(np.cumsum(net) - np.maximum.accumulate(
                np.concatenate([[0.0], np.cumsum(net)]))[1:])) / initial_total) if net.size and initial_total else 0.0,
            "net_pnl": _r(net.sum()), "fees_paid": _r(t["fees_paise"].sum()) if net.size else 0.0,
            "final_value": _r(sum(int(p.get("market_value_paise", 0)) for _, p in held)),
            "contribution_to_portfolio": float(net.sum() / initial_total) if initial_total else 0.0,
            "by_strategy": {str(s): {"num_trades": int(len(g)), "net_pnl": _r(g["net_pnl_paise"].sum())}
                            for s, g in t.groupby("strategy")},
        }
    return {"run_id": run_id, "portfolio_metrics": metrics, "strategy_summary": strategy_summary,
            "ticker_summary": ticker_summary}


def validate_bundle(bundle: dict[str, Any], days: Sequence[date] | None = None,
                    ticker_days: dict[str, Sequence[date]] | None = None) -> None:
    """Raise ``ExportValidationError`` unless the bundle is strict JSON (no NaN/inf), has
    every trading day (``days``) in ``portfolio_daily`` and every session of each ticker
    (``ticker_days``) in its series, in order, and cash + positions = total value on
    every day (to the paisa, for the portfolio and for each book)."""
    expected = {"config.json", "portfolio_daily.json", "tickers_daily.json", "trades.json", "results.json"}
    if set(bundle) != expected:
        raise ExportValidationError(f"bundle documents are {sorted(bundle)}, expected {sorted(expected)}")
    for name, doc in bundle.items():
        try:
            json.dumps(doc, allow_nan=False)
        except (ValueError, TypeError) as exc:
            raise ExportValidationError(f"{name} is not valid JSON: {exc}") from None
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
    if total_trades != len(bundle["trades.json"]):
        raise ExportValidationError(f"results.json counts {total_trades} trades, trades.json holds "
                                    f"{len(bundle['trades.json'])}")


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
