"""The event catalog: every fact SenseQuant records.

Conventions: names are past tense; money is ``int`` paise (fields end in ``_paise``);
quantities are ``int`` shares; times are tz-aware. Free-form dicts (``features``,
``signals``, ``context``, ``metadata``) hold only JSON scalars, lists and dicts.
Changing a released event means bumping its version and adding an upcaster in
``core.events.codec`` plus a golden payload under ``tests/golden``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import attrs

from core.events.base import Event, event_type

# --------------------------------------------------------------------------- runs


@event_type("run.started", 1)
@attrs.frozen(kw_only=True)
class RunStarted(Event):
    """A backtest, paper, live, validation or EOD run began with this configuration.

    The run id travels in the envelope, not the payload, so that two runs of the same
    inputs produce byte-identical payloads.
    """

    mode: str
    config: dict[str, Any]
    config_hash: str
    code_version: str
    data_fingerprint: str
    symbols: list[str]
    strategies: list[str]
    initial_cash_paise: int
    seed: int


@event_type("run.completed", 1)
@attrs.frozen(kw_only=True)
class RunCompleted(Event):
    """A run ended; ``status`` is completed, failed or interrupted."""

    status: str
    bars_processed: int
    final_equity_paise: int
    message: str = ""


# ----------------------------------------------------------------------- decisions


@event_type("sentiment.scored", 1)
@attrs.frozen(kw_only=True)
class SentimentScored(Event):
    """A sentiment score a strategy used, with the time it was valid as of."""

    symbol: str
    score: float
    as_of: datetime
    provider: str
    sample_size: int
    confidence: float = 1.0


@event_type("signal.generated", 1)
@attrs.frozen(kw_only=True)
class SignalGenerated(Event):
    """A strategy decided something actionable on a bar (an entry or an exit intent).

    ``action`` is ``enter``, ``exit`` or ``suppressed`` (an entry the sentiment gate or
    the risk manager refused; ``reason`` says which).
    """

    symbol: str
    strategy: str
    bar_start: datetime
    direction: str
    action: str
    confidence: float
    reason: str
    features: dict[str, float]
    signals: dict[str, Any]
    context: dict[str, Any]


@event_type("risk.entry_rejected", 1)
@attrs.frozen(kw_only=True)
class EntryRejected(Event):
    """The risk manager or sizer refused an entry the strategy wanted."""

    symbol: str
    strategy: str
    direction: str
    reason: str
    requested_quantity: int


@event_type("risk.circuit_breaker_tripped", 1)
@attrs.frozen(kw_only=True)
class CircuitBreakerTripped(Event):
    """Daily loss passed the cap: no new entries until the next session."""

    session_date: date
    daily_pnl_paise: int
    limit_paise: int
    equity_paise: int


# -------------------------------------------------------------------------- orders


@event_type("order.submitted", 2)
@attrs.frozen(kw_only=True)
class OrderSubmitted(Event):
    """An order left the engine for the broker. ``client_order_id`` is ours and unique.

    v2 adds ``decision_price_paise``: the price the decision was taken at (the close of
    the bar that triggered it), so execution quality (fill vs decision) can be measured
    from the log alone; ``None`` for orders recorded before v2.
    """

    client_order_id: str
    symbol: str
    side: str
    quantity: int
    order_type: str
    strategy: str
    product: str
    limit_price_paise: int | None = None
    stop_loss_paise: int | None = None
    take_profit_paise: int | None = None
    reason: str = ""
    decision_price_paise: int | None = None


@event_type("order.accepted", 1)
@attrs.frozen(kw_only=True)
class OrderAccepted(Event):
    """The broker acknowledged an order and gave it an id."""

    client_order_id: str
    broker_order_id: str


@event_type("order.rejected", 1)
@attrs.frozen(kw_only=True)
class OrderRejected(Event):
    """The broker definitively refused an order."""

    client_order_id: str
    reason: str


@event_type("order.cancelled", 1)
@attrs.frozen(kw_only=True)
class OrderCancelled(Event):
    """An order was cancelled before it filled (fully or the remainder)."""

    client_order_id: str
    reason: str


@event_type("order.filled", 1)
@attrs.frozen(kw_only=True)
class OrderFilled(Event):
    """Shares changed hands. ``trade_id`` is unique per fill and de-duplicates replays."""

    client_order_id: str
    trade_id: str
    symbol: str
    side: str
    quantity: int
    price_paise: int
    fees_paise: int
    fee_breakdown: dict[str, int]
    product: str
    fill_reason: str


# ----------------------------------------------------------------------- portfolio


@event_type("position.changed", 1)
@attrs.frozen(kw_only=True)
class PositionChanged(Event):
    """A position's size changed after a fill; cash is the account cash after it."""

    symbol: str
    strategy: str
    quantity: int
    average_price_paise: int
    realized_pnl_paise: int
    cash_paise: int


@event_type("trade.closed", 1)
@attrs.frozen(kw_only=True)
class TradeClosed(Event):
    """A round trip ended: entry and exit, gross and net P&L, why it ended."""

    trade_id: str
    symbol: str
    strategy: str
    direction: str
    quantity: int
    entry_time: datetime
    exit_time: datetime
    entry_price_paise: int
    exit_price_paise: int
    gross_pnl_paise: int
    fees_paise: int
    net_pnl_paise: int
    exit_reason: str
    cash_before_paise: int
    cash_after_paise: int
    equity_before_paise: int
    equity_after_paise: int


@event_type("portfolio.snapshotted", 1)
@attrs.frozen(kw_only=True)
class PortfolioSnapshotted(Event):
    """End-of-session portfolio: cash + positions_value == equity, to the paisa."""

    session_date: date
    cash_paise: int
    positions_value_paise: int
    equity_paise: int
    realized_pnl_paise: int
    unrealized_pnl_paise: int
    fees_paid_paise: int
    positions: dict[str, dict[str, int]]
    prices: dict[str, float]


# ---------------------------------------------------------------------- telemetry


@event_type("prediction.traced", 2)
@attrs.frozen(kw_only=True)
class PredictionTraced(Event):
    """A prediction trace for one closed trade (telemetry spec, with 004's signals/context).

    Version history: v1 had no ``signals``/``context``; v2 adds them (upcast to ``{}``).
    """

    timestamp: datetime
    symbol: str
    strategy: str
    predicted_direction: str
    actual_direction: str
    predicted_confidence: float
    entry_price: float
    exit_price: float
    holding_period_minutes: int
    realized_return_pct: float
    features: dict[str, float]
    metadata: dict[str, Any]
    signals: dict[str, Any]
    context: dict[str, Any]


# ------------------------------------------------------------------------- alerts


@event_type("alert.raised", 1)
@attrs.frozen(kw_only=True)
class AlertRaised(Event):
    """Something a human should look at."""

    severity: str
    source: str
    message: str
    details: dict[str, Any] = attrs.Factory(dict)


# ------------------------------------------------------- feeds (breeze/hybrid adapters)


@event_type("feed.health_changed", 1)
@attrs.frozen(kw_only=True)
class FeedHealthChanged(Event):
    """A market-data, broker or sentiment feed changed health.

    ``status`` is ``ok``, ``degraded`` (working with reduced data, e.g. a partial cache) or
    ``down`` (unusable until a human acts, e.g. an expired broker session).
    """

    feed: str
    status: str
    reason: str


# ---------------------------------------------------------------------------- learning


@event_type("model.trained", 1)
@attrs.frozen(kw_only=True)
class ModelTrained(Event):
    """A teacher or student model was trained and stored in the model registry.

    ``training_window_*`` bound the signal times of the training rows; ``data_fingerprint``
    is the SHA-256 of the training set; ``label_config`` the label threshold and horizon.
    A student names the teacher it learnt from in ``teacher_model_id``.
    """

    model_id: str
    role: str
    algorithm: str
    feature_names: list[str]
    training_window_start: datetime
    training_window_end: datetime
    data_fingerprint: str
    n_samples: int
    label_config: dict[str, Any]
    params: dict[str, Any]
    seed: int
    training_seconds: float
    teacher_model_id: str | None = None


@event_type("model.evaluated", 1)
@attrs.frozen(kw_only=True)
class ModelEvaluated(Event):
    """A model was scored on a held-out set; ``metrics`` follows the evaluation report shape."""

    model_id: str
    dataset: str
    data_fingerprint: str
    n_samples: int
    metrics: dict[str, Any]


@event_type("model.promotion_decided", 1)
@attrs.frozen(kw_only=True)
class PromotionDecided(Event):
    """The promotion gate compared a candidate with the champion: PROMOTE or REJECT."""

    candidate_model_id: str
    champion_model_id: str | None
    verdict: str
    reason: str
    checklist: dict[str, Any]


@event_type("model.promoted", 1)
@attrs.frozen(kw_only=True)
class ModelPromoted(Event):
    """A model became the production champion; the previous one (if any) was archived."""

    model_id: str
    previous_model_id: str | None
    registry: str
    reason: str = ""


@event_type("model.rolled_back", 1)
@attrs.frozen(kw_only=True)
class ModelRolledBack(Event):
    """Production went back from ``from_model_id`` to the previous champion ``to_model_id``."""

    from_model_id: str
    to_model_id: str
    registry: str
    reason: str = ""


# ------------------------------------------------------- paper/live sessions (engine recovery)


@event_type("engine.checkpointed", 1)
@attrs.frozen(kw_only=True)
class EngineCheckpointed(Event):
    """Paper/live: the engine finished bar ``bar_start`` of ``symbol`` (the last event of a bar's batch).

    A resumed session continues after this bar. Everything else a restart needs is folded
    from the domain events; this carries only what no domain event holds: the equity
    before each open trade's entry, the bar each open trade was entered on, and the
    last bar the venue saw of each symbol (``venue_bars``: symbol -> bar start, ISO 8601).
    """

    symbol: str
    bar_start: datetime
    bars_processed: int
    open_trades: dict[str, Any]
    venue_bars: dict[str, str]


@event_type("reconciliation.position_reconciled", 1)
@attrs.frozen(kw_only=True)
class PositionReconciled(Event):
    """On restart the broker's net position in ``symbol`` differed from the event log's."""

    symbol: str
    strategy: str
    log_quantity: int
    broker_quantity: int
    action: str


@event_type("reconciliation.completed", 1)
@attrs.frozen(kw_only=True)
class ReconciliationCompleted(Event):
    """A resumed session compared the log with the broker; ``ok`` False means trading was refused."""

    strategy: str
    ok: bool
    positions: dict[str, int]
    open_order_ids: list[str]
    mismatches: list[str]
    resumed_after: datetime | None


# ------------------------------------------------------- EOD scheduler (applications.roots.eod_scheduler)


@event_type("eod.data_updated", 1)
@attrs.frozen(kw_only=True)
class EodDataUpdated(Event):
    """The EOD job's incremental data update: bars fetched after each symbol's last fetched bar.

    ``symbols``: symbol -> ``{"status": "updated" | "up to date" | "initialised" | "failed",
    "new_bars": int, "last_bar_start": ISO 8601 or None, "error": str}``.
    """

    feed: str
    interval: str
    symbols: dict[str, Any]
    total_new_bars: int


# ------------------------------------------------- walk-forward validation (applications.services.walkforward)


@event_type("model.walk_forward_window_scored", 1)
@attrs.frozen(kw_only=True)
class WalkForwardWindowScored(Event):
    """One walk-forward window: a candidate trained on ``train_start..train_end`` and, like the
    champion (``None``: the strategy without a model), backtested out of sample on
    ``test_start..test_end`` (IST sessions, inclusive).

    ``candidate``/``champion``: ``{"trades", "precision", "hit_ratio", "sharpe_ratio"}`` (None
    where undefined); ``uplift``: candidate minus champion per metric. ``train_label_end`` is the
    last label exit bar the candidate learnt from (before ``test_start``: no look-ahead).
    """

    walk_forward_run_id: str
    window: int
    windows: int
    expanding: bool
    train_start: date
    train_end: date
    test_start: date
    test_end: date
    train_label_end: datetime
    train_rows: int
    candidate_model_id: str
    teacher_model_id: str
    champion_model_id: str | None
    candidate_run_id: str
    champion_run_id: str
    candidate: dict[str, Any]
    champion: dict[str, Any]
    uplift: dict[str, Any]
    training_seconds: float
    backtest_seconds: float
