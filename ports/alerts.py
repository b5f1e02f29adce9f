"""Alert channels (log, file, webhook...)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from core.events.catalog import AlertRaised


@runtime_checkable
class AlertSink(Protocol):
    """Delivers an alert to humans. Must not raise: a failed alert never stops trading."""

    def send(self, alert: AlertRaised) -> None:
        ...
