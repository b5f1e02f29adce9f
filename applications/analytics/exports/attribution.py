"""Why trades went wrong: model contributions (LightGBM pred_contrib) grouped over the worst trades."""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import pandas as pd

from applications.analytics.metrics import (
    json_safe,
)
from applications.analytics.projections import (
    RunData,
)
from applications.analytics.exports.bundle import _BIAS_KEYS, _num
from applications.analytics.exports.trades import trades_table, worst_trades

class TradeAnalysis:
    """Trade-level analysis of one run (spec 004's ``TradeAnalysis``)."""

    def __init__(self, run_or_trades: RunData | pd.DataFrame) -> None:
        self.trades = trades_table(run_or_trades)

    def worst_trades(self, n: int = 10) -> pd.DataFrame:
        return worst_trades(self.trades, n)

    def best_trades(self, n: int = 10) -> pd.DataFrame:
        return self.trades.sort_values("pnl", ascending=False, kind="stable").head(n).reset_index(drop=True)

    def attribute(self, n: int = 10) -> list["ErrorPattern"]:
        return attribute_worst_trades(self.trades, n)


@attrs.frozen(kw_only=True)
class ErrorPattern:
    """Worst trades sharing the feature that contributed most to their model score."""

    feature: str | None
    sign: int
    n_trades: int
    trade_ids: list[str]
    total_pnl: float
    avg_pnl_pct: float
    mean_contribution: float
    mean_share: float
    mean_feature_value: float | None
    model_ids: list[str]
    description: str

    def to_dict(self) -> dict[str, Any]:
        return json_safe(attrs.asdict(self))


def dominant_feature(contributions: dict[str, Any]) -> tuple[str, float, float] | None:
    """(feature, contribution, share of the total |contribution|) of the largest
    absolute per-feature contribution, bias terms excluded; ``None`` when empty."""
    items = [(k, float(v)) for k, v in contributions.items() if k not in _BIAS_KEYS and _num(v)]
    if not items:
        return None
    name, value = max(items, key=lambda kv: (abs(kv[1]), kv[0]))
    total = sum(abs(v) for _, v in items)
    return name, value, (abs(value) / total if total else 0.0)


def explain_trades(trades: pd.DataFrame, predictor: Any, *, key: str = "model_contributions",
                   overwrite: bool = False) -> tuple[pd.DataFrame, int]:
    """Add per-feature contributions to trades whose entry signals carry none.

    ``predictor`` is anything with ``predict(features) -> prediction`` whose result has
    ``model_id`` and ``contributions`` (the ``Predictor`` port; a LightGBM predictor gives
    its ``pred_contrib`` SHAP values of the predicted class). The trade's entry
    ``features`` are the model's inputs. Returns the new frame (the input is not changed)
    and how many trades were explained; a trade whose features the model cannot use
    (missing or non-finite) keeps its signals as they were.
    """
    out = trades.copy()
    signals = []
    explained = 0
    for sig, feats in zip(out["signals"], out["features"]):
        sig = dict(sig) if isinstance(sig, dict) else {}
        if overwrite or not isinstance(sig.get(key), dict) or not sig.get(key):
            try:
                pred = predictor.predict(feats if isinstance(feats, dict) else {})
                contrib = {str(k): float(v) for k, v in dict(pred.contributions).items()}
            except (KeyError, ValueError, TypeError):
                contrib = {}
            if contrib and all(math.isfinite(v) for v in contrib.values()):
                sig[key] = contrib
                sig.setdefault("model_id", pred.model_id)
                sig["explained_by"] = pred.model_id
                explained += 1
        signals.append(sig)
    out["signals"] = signals
    return out, explained


def attribute_worst_trades(trades: pd.DataFrame, n: int = 10,
                           contributions_key: str = "model_contributions") -> list[ErrorPattern]:
    """Group the ``n`` worst trades by their dominant contributing feature (and its sign).

    Contributions come from ``signals[contributions_key]`` at entry — for a LightGBM
    model, its ``pred_contrib`` SHAP values of the predicted class. Trades without any
    fall in one group with ``feature=None``. Groups are ordered by size, then by loss.
    """
    table = trades if "signals" in trades and "pnl" in trades else trades_table(trades)
    worst = worst_trades(table, n)
    groups: dict[tuple[str | None, int], list[dict[str, Any]]] = {}
    for rec in worst.to_dict("records"):
        sig = rec.get("signals") or {}
        contrib = sig.get(contributions_key) if isinstance(sig, dict) else None
        dom = dominant_feature(contrib) if isinstance(contrib, dict) else None
        if dom is None:
            key: tuple[str | None, int] = (None, 0)
            rec["_dom"] = (None, 0.0, 0.0)
        else:
            key = (dom[0], 1 if dom[1] >= 0 else -1)
            rec["_dom"] = dom
        groups.setdefault(key, []).append(rec)
    patterns = []
    for (feature, sign), recs in groups.items():
        pnl = float(sum(r["pnl"] for r in recs))
        avg_pct = float(np.mean([r["pnl_pct"] for r in recs]))
        models = sorted({str(r["signals"].get("model_id")) for r in recs
                         if isinstance(r.get("signals"), dict) and r["signals"].get("model_id")})
        if feature is None:
            patterns.append(ErrorPattern(
                feature=None, sign=0, n_trades=len(recs), trade_ids=[r["trade_id"] for r in recs], total_pnl=pnl,
                avg_pnl_pct=avg_pct, mean_contribution=0.0, mean_share=0.0, mean_feature_value=None, model_ids=[],
                description=(f"{len(recs)} of the {len(worst)} worst trades carry no model contributions "
                             f"(rule-based entries); net P&L ₹{pnl:+,.2f}, {avg_pct:+.2f}% on average")))
            continue
        contribs = [r["_dom"][1] for r in recs]
        shares = [r["_dom"][2] for r in recs]
        values = [float(r["features"][feature]) for r in recs
                  if isinstance(r.get("features"), dict) and _num(r["features"].get(feature))]
        mean_value = float(np.mean(values)) if values else None
        directions = sorted({str(r["direction"]).upper() for r in recs})
        push = "supporting" if sign > 0 else "opposing"
        value_text = f", mean value {mean_value:.3g}" if mean_value is not None else ""
        patterns.append(ErrorPattern(
            feature=feature, sign=sign, n_trades=len(recs), trade_ids=[r["trade_id"] for r in recs], total_pnl=pnl,
            avg_pnl_pct=avg_pct, mean_contribution=float(np.mean(contribs)), mean_share=float(np.mean(shares)),
            mean_feature_value=mean_value, model_ids=models,
            description=(f"{len(recs)} of the {len(worst)} worst trades ({'/'.join(directions)}) were driven mainly by "
                         f"{feature} ({push} the predicted class, mean contribution {np.mean(contribs):+.3g}, "
                         f"{np.mean(shares):.0%} of the total{value_text}); net P&L ₹{pnl:+,.2f}, "
                         f"{avg_pct:+.2f}% on average")))
    patterns.sort(key=lambda p: (-p.n_trades, p.total_pnl))
    return patterns
