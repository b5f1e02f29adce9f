"""Alert channels: where the monitor delivers alerts to humans (apprise URLs, a test recorder...)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs


@attrs.frozen(kw_only=True)
class AlertMessage:
    """One notification. ``alert_id`` is the idempotency key: a receiver that sees it twice may drop
    the second (delivery is at least once). ``kind`` is ``raised``, ``cleared`` or ``acknowledged``."""

    alert_id: str
    kind: str
    severity: str
    rule: str
    title: str
    body: str


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """What a delivery did: ``channels`` are routing labels (never URLs or secrets); ``reason``
    says why it failed (empty when delivered)."""

    delivered: bool
    channels: tuple[str, ...]
    attempts: int
    reason: str = ""


@runtime_checkable
class AlertSink(Protocol):
    """Delivers an alert to humans. Must not raise: a failed alert never stops the monitor."""

    def send(self, message: AlertMessage) -> DeliveryReport:
        ...
