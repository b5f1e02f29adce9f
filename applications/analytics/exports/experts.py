"""The strategies' three experts (technical, sentiment, model) in the shape of spec 003.

Spec 003 describes a mixture of experts: each expert gives a weight, a confidence,
``[buy, hold, sell]`` probabilities and a reasoning text, and the aggregate gives the
final ``[buy, hold, sell]`` probabilities. SenseQuant's strategies record, on every
decision (``SignalGenerated.signals``), the signed technical score, the sentiment score
and, when a model is wired, the model's class probabilities. This module maps those
recorded numbers onto the spec's shape, with these definitions (nothing is invented):

- a signed score ``s`` in [-1, 1] becomes ``[max(s, 0), 1 - |s|, max(-s, 0)]``: the
  score's strength goes to its side, the rest to HOLD; its confidence is ``|s|``;
- the model's probabilities are its own ``LONG``/``NOOP``/``SHORT`` probabilities when
  the decision recorded them (``model_probabilities``), otherwise the probability of the
  decision's direction that every decision records (the remainder to HOLD);
- weights are those the strategy really applies: the technical rule decides (weight 1)
  unless the model blend is enabled (``model.weight`` of the run's config, the technical
  rule keeping ``1 - weight``); sentiment is a gate (it suppresses or boosts entries but
  is not averaged in), so its weight is 0 and its reasoning says what the gate did;
- the final probabilities are the weight-averaged expert probabilities, except that a
  suppressed entry's final probabilities are HOLD = 1 (the gate refused it).
"""

from __future__ import annotations

import math
from typing import Any

EXPERTS = ("technical", "sentiment", "model")
HOLD_ONLY = [0.0, 1.0, 0.0]


def _finite(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        return None
    return float(v)


def score_probabilities(score: float | None) -> list[float]:
    """``[buy, hold, sell]`` of a signed score in [-1, 1] (``None``: all HOLD)."""
    if score is None:
        return list(HOLD_ONLY)
    s = max(-1.0, min(1.0, score))
    return [round(max(s, 0.0), 6), round(1.0 - abs(s), 6), round(max(-s, 0.0), 6)]


def blend_weights(strategy_config: dict[str, Any] | None) -> dict[str, float]:
    """Weights the strategy applies to its experts (see the module docstring)."""
    model = (strategy_config or {}).get("model") or {}
    w = float(model.get("weight", 0.0)) if model.get("enabled") else 0.0
    return {"technical": round(1.0 - w, 6), "sentiment": 0.0, "model": round(w, 6)}


def _model_probabilities(signals: dict[str, Any], direction: str) -> list[float] | None:
    probs = signals.get("model_probabilities")
    if isinstance(probs, dict):
        buy, hold, sell = (_finite(probs.get(k)) or 0.0 for k in ("LONG", "NOOP", "SHORT"))
        return [round(buy, 6), round(hold, 6), round(sell, 6)]
    p = _finite(signals.get("model"))
    if p is None:
        return None
    key = direction if direction in ("LONG", "SHORT") else signals.get("model_direction")
    if key == "LONG":
        return [round(p, 6), round(1.0 - p, 6), 0.0]
    if key == "SHORT":
        return [0.0, round(1.0 - p, 6), round(p, 6)]
    return [0.0, round(p, 6), round(1.0 - p, 6)] if key == "NOOP" else None


def expert_contributions(signals: dict[str, Any], *, direction: str, action: str, reason: str,
                         weights: dict[str, float], gate: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The spec-003 ``expert_contributions`` of one recorded decision."""
    gate = gate or {}
    out: dict[str, dict[str, Any]] = {}
    technical = _finite(signals.get("technical"))
    tech_probs = score_probabilities(technical)
    out["technical"] = {
        "weight": weights["technical"], "confidence": round(abs(technical), 6) if technical is not None else 0.0,
        "probabilities": tech_probs,
        "reasoning": (reason or "") if action in ("enter", "suppressed") else
        f"exit rule: {reason}" if action == "exit" else (reason or "no technical setup"),
    }
    sentiment = _finite(signals.get("sentiment"))
    if sentiment is None:
        why = "no sentiment score in the lookback window (gate inactive)"
    elif action == "suppressed" and "sentiment" in (reason or ""):
        why = f"sentiment {sentiment:+.3f} suppressed the entry ({reason})"
    elif gate and sentiment > float(gate.get("boost_above", 1.0)) and direction == "LONG" and action == "enter":
        why = f"sentiment {sentiment:+.3f} > {float(gate['boost_above']):+.3f}: long confidence boosted"
    else:
        lo = gate.get("suppress_long_below")
        why = f"sentiment {sentiment:+.3f}" + (f" within the gate (longs suppressed below {float(lo):+.3f})"
                                              if lo is not None else "")
    out["sentiment"] = {"weight": weights["sentiment"],
                        "confidence": round(abs(sentiment), 6) if sentiment is not None else 0.0,
                        "probabilities": score_probabilities(sentiment), "reasoning": why}
    model_probs = _model_probabilities(signals, direction)
    if model_probs is None:
        out["model"] = {"weight": weights["model"], "confidence": 0.0, "probabilities": list(HOLD_ONLY),
                        "reasoning": "no model wired for this run"}
    else:
        model_id = signals.get("model_id") or "model"
        out["model"] = {"weight": weights["model"], "confidence": round(max(model_probs), 6),
                        "probabilities": model_probs,
                        "reasoning": f"{model_id} predicts {signals.get('model_direction') or direction}"
                        + ("" if weights["model"] else " (recorded, not blended)")}
    return out


def final_probabilities(contributions: dict[str, dict[str, Any]], action: str) -> list[float]:
    """Weight-averaged ``[buy, hold, sell]``; HOLD = 1 for a suppressed entry."""
    if action == "suppressed":
        return list(HOLD_ONLY)
    total = sum(c["weight"] for c in contributions.values())
    if total <= 0:
        return list(HOLD_ONLY)
    agg = [sum(c["weight"] * c["probabilities"][k] for c in contributions.values()) / total for k in range(3)]
    return [round(x, 6) for x in agg]
