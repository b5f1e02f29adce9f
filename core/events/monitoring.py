"""Monitoring events: what a session reports about its own health, and the alert lifecycle.

Sessions (paper/live) write ``SessionHeartbeat`` on a fixed wall-clock interval (also while no
bar arrives), ``LatencyRolledUp`` once a minute and ``SessionReduceOnlyChanged`` when a stale
feed or an expired broker session stops new entries. The monitor process
(``sensequant monitor run``) folds the log through ``core.monitoring`` rules and appends the
alert lifecycle to its own stream: ``MonitorAlertRaised`` -> (``AlertAcknowledged``) ->
``AlertCleared``, plus one ``AlertDelivered`` / ``AlertDeliveryFailed`` per delivery attempt
outcome. The older ``alert.raised`` (``AlertRaised``) stays what ad-hoc writers (the EOD
scheduler) record; the monitor forwards those too.

Heartbeat and alert times are wall-clock (UTC): they are about the process, not the market.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from core.events.base import Event, event_type

SEVERITIES = ("info", "warning", "critical")


@event_type("session.heartbeat", 1)
@attrs.frozen(kw_only=True)
class SessionHeartbeat(Event):
    """A paper/live session is alive. ``books``: book -> ``{"equity_paise", "day_pnl_paise",
    "loss_limit_paise", "breaker_tripped", "open_positions"}`` (the loss limit is the positive
    daily-loss cap in paise, 0 before the first session starts).

    ``last_bar_start`` is the market time of the last bar traded; ``seconds_since_bar`` the
    wall-clock seconds since a bar last arrived (None before the first).
    """

    mode: str
    sequence: int
    bars_processed: int
    last_bar_start: datetime | None
    seconds_since_bar: float | None
    feed_status: str
    reduce_only: bool
    books: dict[str, Any]


@event_type("session.latency_rolled_up", 1)
@attrs.frozen(kw_only=True)
class LatencyRolledUp(Event):
    """Bar-to-decision latency of one wall-clock minute: ``bucket_counts[i]`` bars took at most
    ``bucket_bounds_ms[i]`` ms (and more than the previous bound); the last count is the overflow.
    Histograms of several minutes add up, so a monitor computes a window's p95 exactly to a bucket.
    """

    minute_start: datetime
    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    bucket_bounds_ms: list[float]
    bucket_counts: list[int]


@event_type("session.reduce_only_changed", 1)
@attrs.frozen(kw_only=True)
class SessionReduceOnlyChanged(Event):
    """New entries stopped (``reduce_only`` True: exits and stops still work) or resumed."""

    reduce_only: bool
    reason: str


@event_type("monitor.started", 1)
@attrs.frozen(kw_only=True)
class MonitorStarted(Event):
    """The first monitor on this store began at log position ``from_seq``: what was recorded before
    is folded into the rules (state) but raises nothing (no alert storm from old history)."""

    from_seq: int
    rules: list[str]


@event_type("monitor.alert_raised", 1)
@attrs.frozen(kw_only=True)
class MonitorAlertRaised(Event):
    """A monitoring rule raised an alert. ``alert_id`` (also the delivery idempotency key) is
    derived from ``key`` and the log position that caused it, so a restarted monitor that
    decides the same again writes the same id. ``subject_run_id`` is the session it is about
    ("" for system-wide alerts); ``source_seq`` the last log ``seq`` the monitor had read."""

    alert_id: str
    key: str
    rule: str
    severity: str
    message: str
    subject_run_id: str
    source_seq: int
    details: dict[str, Any] = attrs.Factory(dict)


@event_type("monitor.alert_cleared", 1)
@attrs.frozen(kw_only=True)
class AlertCleared(Event):
    """The condition behind an open alert went away (``reason``), or its TTL expired."""

    alert_id: str
    key: str
    rule: str
    reason: str
    source_seq: int


@event_type("monitor.alert_acknowledged", 1)
@attrs.frozen(kw_only=True)
class AlertAcknowledged(Event):
    """An operator took an alert on: no reminders for it until ``until`` (or it clears)."""

    alert_id: str
    key: str
    acknowledged_by: str
    note: str
    until: datetime


@event_type("monitor.alert_delivered", 1)
@attrs.frozen(kw_only=True)
class AlertDelivered(Event):
    """An alert's ``kind`` notice (``raised`` or ``cleared``) reached its channels (``channels``: route
    labels, never URLs)."""

    alert_id: str
    kind: str
    channels: list[str]
    attempts: int


@event_type("monitor.alert_delivery_failed", 1)
@attrs.frozen(kw_only=True)
class AlertDeliveryFailed(Event):
    """Every retry to deliver an alert's ``kind`` notice failed; the reason has secrets scrubbed."""

    alert_id: str
    kind: str
    channels: list[str]
    attempts: int
    reason: str


__all__ = ["SEVERITIES", "MonitorStarted", "SessionHeartbeat", "LatencyRolledUp", "SessionReduceOnlyChanged", "MonitorAlertRaised",
           "AlertCleared", "AlertAcknowledged", "AlertDelivered", "AlertDeliveryFailed"]
