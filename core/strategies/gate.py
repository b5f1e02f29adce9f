"""The sentiment gate and the optional model blend, shared by every strategy.

Representation of a suppressed entry
------------------------------------
A gated entry is still returned as a ``Signal`` so the decision is recorded: its
``direction`` is the direction the technical rule wanted (LONG), and
``context["suppressed"]`` names what suppressed it (``"sentiment"`` or ``"model"``);
``reason`` explains the numbers (e.g. ``"suppressed: sentiment -0.450 < -0.300"``).
The engine must check :func:`is_suppressed` before entering, and records a
``SignalGenerated(action="suppressed", reason=signal.reason)``. If the strategy holds
the opposite position, the signal still means "not that position any more", so the
engine exits it (that is what the unsuppressed reversal would have done too).

Rules (all thresholds are config fields)
----------------------------------------
- sentiment ``< suppress_long_below`` (-0.3): LONG entries are suppressed.
- sentiment ``> boost_above`` (+0.5): LONG entry confidence is multiplied by
  ``boost_factor`` (1.2), capped at 1.
- Shorts are gated symmetrically only when ``gate_shorts`` is set (off by default:
  the specification gates BUY signals only): sentiment ``> -suppress_long_below``
  suppresses SHORT entries and ``< -boost_above`` boosts them.
- Exits are never gated.
- A model prediction (probabilities of ``LONG``/``SHORT``/``NOOP``) is always recorded
  in ``signals["model"]`` (the probability of the signal's direction) and
  ``signals["model_id"]``; it changes the decision only when ``ModelBlendConfig.enabled``:
  confidence becomes ``(1-weight)*confidence + weight*p``, and when ``veto_below`` is set
  an entry whose ``p`` is below it is suppressed with ``context["suppressed"]="model"``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs

from core.model import Direction

if TYPE_CHECKING:
    from ports.predictor import Prediction

SUPPRESSED = "suppressed"


def _in_unit(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not -1.0 <= value <= 1.0:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be within [-1, 1], got {value!r}")


def _at_least_one(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if value < 1.0:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class SentimentGateConfig:
    """Thresholds of the sentiment gate (scores are in [-1, 1])."""

    suppress_long_below: float = attrs.field(default=-0.3, validator=_in_unit)
    boost_above: float = attrs.field(default=0.5, validator=_in_unit)
    boost_factor: float = attrs.field(default=1.2, validator=_at_least_one)
    gate_shorts: bool = False
    enabled: bool = True


@attrs.frozen(kw_only=True)
class ModelBlendConfig:
    """How a model prediction may change a technical entry (off by default)."""

    enabled: bool = False
    weight: float = attrs.field(default=0.5, validator=attrs.validators.and_(attrs.validators.ge(0.0),
                                                                              attrs.validators.le(1.0)))
    veto_below: float | None = None


def is_suppressed(signal: Any) -> bool:
    """True when ``signal`` is an entry that a gate refused (see module docstring)."""
    return bool(signal.context.get(SUPPRESSED))


@attrs.frozen(kw_only=True, slots=True)
class GateOutcome:
    """Result of gating one intended entry."""

    confidence: float
    suppressed_by: str | None
    reason: str | None
    signals: dict[str, Any]


def gate_entry(direction: Direction, confidence: float, technical: float, sentiment: float | None,
               prediction: "Prediction | None", gate: SentimentGateConfig,
               model: ModelBlendConfig | None = None) -> GateOutcome:
    """Apply the sentiment gate/boost and the optional model blend to an intended entry.

    Parameters
    ----------
    direction : LONG or SHORT, the entry the technical rule wants.
    confidence : technical confidence in [0, 1].
    technical : the signed technical score recorded in ``signals["technical"]``.
    """
    sentiment = _finite_or_none(sentiment)
    signals = component_scores(technical, sentiment, prediction, direction)
    conf = confidence
    suppressed_by: str | None = None
    reason: str | None = None
    if gate.enabled and sentiment is not None:
        if direction is Direction.LONG:
            if sentiment < gate.suppress_long_below:
                suppressed_by = "sentiment"
                reason = f"suppressed: sentiment {sentiment:.3f} < {gate.suppress_long_below:.3f}"
            elif sentiment > gate.boost_above:
                conf = min(1.0, conf * gate.boost_factor)
        elif direction is Direction.SHORT and gate.gate_shorts:
            if sentiment > -gate.suppress_long_below:
                suppressed_by = "sentiment"
                reason = f"suppressed: sentiment {sentiment:.3f} > {-gate.suppress_long_below:.3f}"
            elif sentiment < -gate.boost_above:
                conf = min(1.0, conf * gate.boost_factor)
    if model is not None and model.enabled and prediction is not None and suppressed_by is None:
        p = signals["model"]
        conf = (1.0 - model.weight) * conf + model.weight * p
        if model.veto_below is not None and p < model.veto_below:
            suppressed_by = "model"
            reason = (f"suppressed: model {prediction.model_id} gives {direction.value} "
                      f"p={p:.3f} < {model.veto_below:.3f}")
    conf = min(1.0, max(0.0, conf))
    return GateOutcome(confidence=conf, suppressed_by=suppressed_by, reason=reason, signals=signals)


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def component_scores(technical: float, sentiment: float | None, prediction: "Prediction | None",
                     direction: Direction | None = None) -> dict[str, Any]:
    """The ``signals`` dict every Signal carries: technical, sentiment and model scores.

    ``model`` is the predicted probability of the signal's direction (of the model's
    own top class for exits); a non-finite sentiment is recorded as ``None``.
    """
    sentiment = _finite_or_none(sentiment)
    out: dict[str, Any] = {"technical": round(float(technical), 6),
                           "sentiment": None if sentiment is None else round(float(sentiment), 6),
                           "model": None}
    if prediction is not None:
        key = direction.value if direction is not None and direction is not Direction.FLAT else prediction.direction
        out["model"] = round(float(prediction.probabilities.get(key, 0.0)), 6)
        out["model_id"] = prediction.model_id
        out["model_direction"] = prediction.direction
        # The full class probabilities, so exports can show the model as an expert (spec 003).
        out["model_probabilities"] = {k: round(float(v), 6) for k, v in sorted(prediction.probabilities.items())
                                      if math.isfinite(float(v))}
        if prediction.contributions:
            # Per-feature contributions (LightGBM pred_contrib) for trade-level attribution.
            out["model_contributions"] = {name: round(float(value), 6)
                                          for name, value in sorted(prediction.contributions.items())
                                          if math.isfinite(float(value))}
    return out
