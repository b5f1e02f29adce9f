"""Execution quality: what each fill cost against the price the decision was taken at.

Per fill (spec 002 §14.12.8, signal-vs-execution analysis):

- ``decision_price``: the close of the bar that triggered the order (``OrderSubmitted``
  v2 ``decision_price_paise``); for a stop-loss or take-profit child it is the bracket
  level the parent order set, since that is the price the exit was planned at;
- ``fill_price`` and the signed ``slippage``: positive = adverse (paid more on a buy,
  received less on a sell), in basis points of the decision price and in rupees
  (``slippage_paise`` = adverse price difference x quantity). In a backtest it holds
  the gap from the decision bar's close to the next bar's open plus the simulated
  slippage; live, the same figure is the implementation shortfall to reconcile;
- the fees split by component (brokerage, STT, exchange charge, SEBI fee, stamp duty,
  GST, DP charge) exactly as the fill recorded them.

Orders recorded before ``order.submitted`` v2 have no decision price: their slippage
is left empty (NaN in the table, ``null`` in JSON), never guessed.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from applications.analytics.metrics import json_safe
from applications.analytics.projections import RunData
from applications.analytics.exports.traces import _ensure_dir

FEE_COMPONENTS = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp_charge")

EXECUTION_COLUMNS = [
    "run_id", "book", "strategy", "symbol", "client_order_id", "parent_order_id", "trade_id", "side", "quantity",
    "fill_time", "fill_reason", "decision_time", "decision_price_source", "decision_price", "fill_price",
    "decision_price_paise", "fill_price_paise", "slippage_bps", "slippage_paise", "slippage", "intended_value",
    "executed_value", "fees_paise", "fees", *(f"fee_{c}_paise" for c in FEE_COMPONENTS),
]


def _parent(client_order_id: str) -> tuple[str, str | None]:
    for suffix, source in (("-SL", "stop_loss"), ("-TP", "take_profit")):
        if client_order_id.endswith(suffix):
            return client_order_id[: -len(suffix)], source
    return client_order_id, None


def execution_table(run: RunData, run_id: str | None = None) -> pd.DataFrame:
    """One row per fill of the run(s) with decision vs fill price, slippage and fees."""
    fills = run.fills if run_id is None else run.fills[run.fills["run_id"] == run_id]
    orders = run.orders if run_id is None else run.orders[run.orders["run_id"] == run_id]
    by_order = {(r["run_id"], r["client_order_id"]): r for r in orders.to_dict("records")}
    rows = []
    for f in fills.sort_values("seq", kind="stable").to_dict("records"):
        parent_id, bracket = _parent(f["client_order_id"])
        parent = by_order.get((f["run_id"], parent_id))
        decision_paise: int | None = None
        source = None
        if parent is not None:
            if bracket is None:
                decision_paise, source = _int_or_none(parent.get("decision_price_paise")), "bar_close"
            else:
                decision_paise, source = _int_or_none(parent.get(f"{bracket}_paise")), f"{bracket}_level"
        qty = int(f["quantity"])
        price = int(f["price_paise"])
        sign = 1 if f["side"] == "BUY" else -1
        slip_paise = sign * (price - decision_paise) * qty if decision_paise else None
        breakdown = f["fee_breakdown"] if isinstance(f["fee_breakdown"], dict) else {}
        rows.append({
            "run_id": f["run_id"], "book": parent["book"] if parent is not None else f["client_order_id"].split("-")[0],
            "strategy": parent["strategy"] if parent is not None else f["client_order_id"].split("-")[0],
            "symbol": f["symbol"], "client_order_id": f["client_order_id"], "parent_order_id": parent_id,
            "trade_id": f["trade_id"], "side": f["side"], "quantity": qty, "fill_time": f["occurred_at"],
            "fill_reason": f["fill_reason"],
            "decision_time": parent["occurred_at"] if parent is not None else pd.NaT,
            "decision_price_source": source,
            "decision_price": decision_paise / 100 if decision_paise else math.nan, "fill_price": price / 100,
            "decision_price_paise": decision_paise, "fill_price_paise": price,
            "slippage_bps": sign * (price - decision_paise) / decision_paise * 1e4 if decision_paise else math.nan,
            "slippage_paise": slip_paise, "slippage": slip_paise / 100 if slip_paise is not None else math.nan,
            "intended_value": decision_paise * qty / 100 if decision_paise else math.nan,
            "executed_value": price * qty / 100, "fees_paise": int(f["fees_paise"]), "fees": int(f["fees_paise"]) / 100,
            **{f"fee_{c}_paise": int(breakdown.get(c, 0)) for c in FEE_COMPONENTS},
        })
    df = pd.DataFrame(rows, columns=EXECUTION_COLUMNS)
    return df


def _int_or_none(v: Any) -> int | None:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    return int(v)


def execution_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Intended vs executed, overall and per strategy and symbol (JSON-ready).

    ``slippage_bps_mean`` is quantity-weighted over the fills with a decision price;
    ``slippage`` and the fee components are rupee totals.
    """
    def block(g: pd.DataFrame) -> dict[str, Any]:
        known = g[g["decision_price_paise"].notna()]
        weights = (known["decision_price_paise"].astype(float) * known["quantity"]).to_numpy()
        bps = known["slippage_bps"].to_numpy(dtype=float)
        fees = {c: int(g[f"fee_{c}_paise"].sum()) / 100 for c in FEE_COMPONENTS}
        return {
            "fills": int(len(g)), "fills_with_decision_price": int(len(known)),
            "intended_value": round(float(known["intended_value"].sum()), 2),
            "executed_value": round(float(known["executed_value"].sum()), 2),
            "slippage": round(float(known["slippage_paise"].sum()) / 100, 2),
            "slippage_bps_mean": float(np.average(bps, weights=weights)) if len(known) and weights.sum() else None,
            "slippage_bps_median": float(np.median(bps)) if len(known) else None,
            "slippage_bps_p95": float(np.percentile(bps, 95)) if len(known) else None,
            "adverse_fills": int((bps > 0).sum()),
            "fees": round(sum(fees.values()), 2), "fees_by_component": fees,
            "by_fill_reason": {str(k): {"fills": int(len(v)),
                                        "slippage_bps_mean": float(v["slippage_bps"].mean())
                                        if v["slippage_bps"].notna().any() else None}
                               for k, v in g.groupby("fill_reason")},
        }
    out: dict[str, Any] = {"overall": block(table), "by_strategy": {}}
    for strat, g in table.groupby("strategy"):
        out["by_strategy"][str(strat)] = {**block(g), "by_symbol": {str(s): block(h) for s, h in g.groupby("symbol")}}
    return out


def write_execution(run: RunData, out_dir: Path | str, run_id: str | None = None) -> tuple[list[Path], dict[str, Any]]:
    """Write ``execution.csv`` (one row per fill) and ``execution_summary.json``."""
    table = execution_table(run, run_id)
    summary = json_safe(execution_summary(table))
    out = _ensure_dir(Path(out_dir))
    csv_path, json_path = out / "execution.csv", out / "execution_summary.json"
    tmp_csv, tmp_json = out / ".execution.csv.tmp", out / ".execution_summary.json.tmp"
    try:
        table.to_csv(tmp_csv, index=False)
        tmp_json.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp_csv, csv_path)
        os.replace(tmp_json, json_path)
    finally:
        tmp_csv.unlink(missing_ok=True)
        tmp_json.unlink(missing_ok=True)
    return [csv_path, json_path], summary
