"""What a trial is scored on: the spec's composite objective, single metrics, and constraints.

Composite (spec US-019, weights configurable)::

    composite = 0.40 * clip(sharpe / sharpe_scale, -1, 1) + 0.30 * precision_LONG
              + 0.20 * hit_ratio + 0.10 * win_rate

``sharpe`` is the annualised Sharpe of the book's daily equity curve (after every cost),
``precision``/``hit_ratio``/``win_rate`` come from the run's prediction traces (see
``applications.analytics.metrics``). The spec normalises Sharpe to [0, 1] (``sharpe / 3``
capped); here the lower clip is -1 instead of 0 so that, on data where every configuration
loses money, a configuration that loses less still ranks higher.

Constraints make a trial *infeasible* (it is still recorded and ranked after the feasible
ones): fewer than ``min_trades`` closed trades, or a drawdown deeper than
``max_drawdown_pct``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from core.errors import ConfigError

# Metrics a study can optimise, all maximised (max_drawdown_pct is negative: deeper is lower).
METRICS = ("composite", "sharpe", "sortino", "calmar", "total_return_pct", "precision", "hit_ratio", "win_rate",
           "profit_factor", "max_drawdown_pct", "net_pnl_paise")


@attrs.frozen(kw_only=True)
class CompositeWeights:
    sharpe: float = 0.4
    precision: float = 0.3
    hit_ratio: float = 0.2
    win_rate: float = 0.1
    sharpe_scale: float = 3.0

    def __attrs_post_init__(self) -> None:
        for field in ("sharpe", "precision", "hit_ratio", "win_rate"):
            if getattr(self, field) < 0:
                raise ConfigError(f"objective.weights.{field} must be >= 0")
        if self.sharpe + self.precision + self.hit_ratio + self.win_rate <= 0:
            raise ConfigError("objective.weights must not all be zero")
        if self.sharpe_scale <= 0:
            raise ConfigError("objective.weights.sharpe_scale must be > 0")


@attrs.frozen(kw_only=True)
class Constraints:
    min_trades: int = 10
    max_drawdown_pct: float = 25.0   # a positive depth: -30 % drawdown breaks 25

    def violations(self, metrics: Mapping[str, Any]) -> list[float]:
        """Optuna's convention: each value <= 0 means the constraint holds."""
        return [float(self.min_trades - metrics.get("trades", 0)),
                float(abs(metrics.get("max_drawdown_pct", 0.0)) - self.max_drawdown_pct)]

    def feasible(self, metrics: Mapping[str, Any]) -> bool:
        return all(v <= 0 for v in self.violations(metrics))


@attrs.frozen(kw_only=True)
class Objective:
    metrics: tuple[str, ...] = ("composite",)
    weights: CompositeWeights = attrs.Factory(CompositeWeights)
    constraints: Constraints = attrs.Factory(Constraints)

    @property
    def multi(self) -> bool:
        return len(self.metrics) > 1

    def values(self, metrics: Mapping[str, Any]) -> list[float]:
        out = []
        for name in self.metrics:
            value = metrics.get(name)
            out.append(float(value) if value is not None else float("-inf") if name != "profit_factor" else 0.0)
        return out


def composite_score(metrics: Mapping[str, Any], weights: CompositeWeights = CompositeWeights()) -> float:
    sharpe = max(-1.0, min(1.0, float(metrics.get("sharpe", 0.0)) / weights.sharpe_scale))
    return (weights.sharpe * sharpe + weights.precision * float(metrics.get("precision", 0.0))
            + weights.hit_ratio * float(metrics.get("hit_ratio", 0.0))
            + weights.win_rate * float(metrics.get("win_rate", 0.0)))


def parse_objective(names: str | Sequence[str] | None, section: Mapping[str, Any],
                    constraints: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Objective:
    """The objective from ``--objective a,b`` (or the space file's ``[objective] metrics``),
    ``[objective.weights]`` and ``[constraints]``; ``overrides`` are command-line constraint values."""
    raw = names if names is not None else section.get("metrics", "composite")
    chosen = tuple(n.strip() for n in (raw.split(",") if isinstance(raw, str) else raw) if n.strip())
    for n in chosen:
        if n not in METRICS:
            raise ConfigError(f"objective {n!r} is unknown; use one or more of {', '.join(METRICS)}")
    if not chosen or len(set(chosen)) != len(chosen):
        raise ConfigError("objective needs distinct metric names, e.g. composite or sharpe,win_rate")
    unknown = set(section) - {"metrics", "weights"}
    if unknown:
        raise ConfigError(f"[objective]: unknown key(s) {', '.join(sorted(unknown))}; known: metrics, weights")
    try:
        weights = CompositeWeights(**dict(section.get("weights", {})))
    except TypeError as exc:
        raise ConfigError(f"[objective.weights]: {exc}; known: sharpe, precision, hit_ratio, win_rate, "
                          "sharpe_scale") from None
    merged = {**dict(constraints), **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        limits = Constraints(**merged)
    except TypeError as exc:
        raise ConfigError(f"[constraints]: {exc}; known: min_trades, max_drawdown_pct") from None
    return Objective(metrics=chosen, weights=weights, constraints=limits)
