"""Events of parameter optimisation studies (``sensequant optimize``)."""

from __future__ import annotations

from typing import Any

import attrs

from core.events.base import Event, event_type


@event_type("optimization.trial_completed", 1)
@attrs.frozen(kw_only=True)
class TrialCompleted(Event):
    """One trial of an optimisation study ended.

    ``run_id`` is the trial's backtest run (mode ``optimization``; empty when the trial failed
    before its run started); ``state`` is ``complete``, ``pruned`` (an invalid parameter
    combination) or ``failed`` (the backtest raised, or its worker died on every attempt).
    ``params`` are the sampled parameters (dotted config paths), ``values`` the objective
    values in ``objectives`` order, ``metrics`` every figure the objective is built from, and
    ``feasible`` whether the study's constraints (minimum trades, maximum drawdown) held.
    ``baseline`` marks trial 0: the configuration as it is without any sampled change.
    ``window`` is the walk-forward window number (0 outside walk-forward).
    """

    study: str
    trial: int
    run_id: str
    state: str
    params: dict[str, Any]
    objectives: list[str]
    values: list[float]
    metrics: dict[str, Any]
    feasible: bool
    baseline: bool
    window: int
    message: str
    seconds: float
