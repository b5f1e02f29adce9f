"""The alert engine: rule decisions -> alert lifecycle events, once per key.

Per alert key (``rule:run:detail``; the rule is the part before the first colon) the engine
keeps whether an alert is open, when it was last raised, and whether it is acknowledged:

* ``Raise`` for a closed key raises (``MonitorAlertRaised``) unless the key was raised within its
  rule's ``suppress`` window (flapping); for an open key it re-raises a reminder once
  ``suppress`` has passed, unless an operator acknowledged it (until the ack expires); a
  higher severity than the open alert's (a degraded feed going down) re-raises at once;
* ``Clear`` for an open key clears it (``AlertCleared``); for a closed key it is a no-op;
* an open alert no rule confirmed for its ``ttl`` clears itself (reason ``expired``).

Times are the monitor's clock (``now``), passed in: the engine has no clock of its own. The
engine's own state is rebuilt on restart from the alert events it wrote (``restore``) and the
rules' state by folding the log again without acting on it (``warm``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from core.events.base import Event, RecordedEvent
from core.events.monitoring import AlertAcknowledged, AlertCleared, MonitorAlertRaised
from core.monitoring.rules import Clear, Decision, Raise, Rule

#: Namespace of alert ids: uuid5(ALERT_NAMESPACE, f"{key}@{source_seq}").
ALERT_NAMESPACE = uuid.UUID("6f3b0d6e-4c1a-4e0b-9a57-2d0f5f1d7c11")


@attrs.frozen(kw_only=True)
class AlertPolicy:
    """How often one key may notify (``suppress``) and how long it stays open unconfirmed (``ttl``)."""

    suppress: timedelta = timedelta(minutes=30)
    ttl: timedelta = timedelta(hours=24)


#: The spec's suppression windows (rules 1-7); everything else gets ``AlertPolicy()``.
DEFAULT_POLICIES: dict[str, AlertPolicy] = {
    "circuit_breaker_triggered": AlertPolicy(suppress=timedelta(minutes=15), ttl=timedelta(hours=12)),
    "daily_loss_high": AlertPolicy(suppress=timedelta(minutes=30), ttl=timedelta(hours=12)),
    "sentiment_failures_high": AlertPolicy(suppress=timedelta(minutes=60)),
    "stale_teacher_artifacts": AlertPolicy(suppress=timedelta(hours=6), ttl=timedelta(days=7)),
    "stale_student_model": AlertPolicy(suppress=timedelta(hours=6), ttl=timedelta(days=7)),
    "heartbeat_lapsed": AlertPolicy(suppress=timedelta(minutes=5)),
    "breeze_connectivity_lost": AlertPolicy(suppress=timedelta(minutes=10)),
    "performance_degradation_latency": AlertPolicy(suppress=timedelta(minutes=30)),
    # spec 002 §10: alert frequency of 2 hours during a release's heightened window
    "release_underperforming": AlertPolicy(suppress=timedelta(hours=2)),
}


_RANK = {"info": 0, "warning": 1, "critical": 2}


def alert_id(key: str, source_seq: int) -> str:
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{key}@{source_seq}"))


def rule_of(key: str) -> str:
    return key.split(":", 1)[0]


@attrs.define
class OpenAlert:
    alert_id: str
    key: str
    severity: str
    message: str
    subject_run_id: str
    raised_at: datetime
    confirmed_at: datetime
    acknowledged_until: datetime | None = None


class AlertEngine:
    """Folds rules over recorded events; returns the alert events to append (see module docstring)."""

    def __init__(self, rules: Sequence[Rule], policies: Mapping[str, AlertPolicy] | None = None,
                 default_policy: AlertPolicy = AlertPolicy()) -> None:
        self.rules = list(rules)
        self.policies = {**DEFAULT_POLICIES, **(policies or {})}
        self.default_policy = default_policy
        self.open: dict[str, OpenAlert] = {}
        self._last_raised: dict[str, datetime] = {}

    def policy(self, key: str) -> AlertPolicy:
        return self.policies.get(rule_of(key), self.default_policy)

    # ----------------------------------------------------------------- restart

    def restore(self, own_events: Iterable[RecordedEvent]) -> None:
        """Open alerts, last raise times and acknowledgements from previously written alert events."""
        for rec in own_events:
            self._apply_own(rec.event, rec.occurred_at)

    def warm(self, event: RecordedEvent) -> None:
        """Fold ``event`` into the rules without acting on their decisions (catching up after a restart)."""
        for rule in self.rules:
            rule.observe(event)

    # ---------------------------------------------------------------- the fold

    def observe(self, event: RecordedEvent, now: datetime) -> list[Event]:
        if isinstance(event.event, AlertAcknowledged):
            self._apply_own(event.event, now)
            return []
        decisions: list[Decision] = []
        for rule in self.rules:
            decisions.extend(rule.observe(event))
        return self._decide(decisions, now, event.seq)

    def tick(self, now: datetime, source_seq: int) -> list[Event]:
        decisions: list[Decision] = []
        for rule in self.rules:
            decisions.extend(rule.tick(now))
        out = self._decide(decisions, now, source_seq)
        for key, alert in list(self.open.items()):
            if now - alert.confirmed_at > self.policy(key).ttl:
                out.append(self._clear(alert, "expired: not confirmed within its TTL", source_seq))
        return out

    def _decide(self, decisions: Iterable[Decision], now: datetime, source_seq: int) -> list[Event]:
        out: list[Event] = []
        for d in decisions:
            if isinstance(d, Raise):
                event = self._raise(d, now, source_seq)
            elif isinstance(d, Clear):
                alert = self.open.get(d.key)
                event = self._clear(alert, d.reason, source_seq) if alert is not None else None
            else:  # pragma: no cover - the Decision union is closed
                raise TypeError(f"not a decision: {d!r}")
            if event is not None:
                out.append(event)
        return out

    def _raise(self, d: Raise, now: datetime, source_seq: int) -> MonitorAlertRaised | None:
        policy = self.policy(d.key)
        current = self.open.get(d.key)
        escalated = current is not None and _RANK.get(d.severity, 0) > _RANK.get(current.severity, 0)
        if current is not None and not escalated:
            current.confirmed_at = now
            if current.acknowledged_until is not None and now < current.acknowledged_until:
                return None
        last = self._last_raised.get(d.key)
        if not escalated and last is not None and now - last < policy.suppress:
            return None
        event = MonitorAlertRaised(alert_id=alert_id(d.key, source_seq), key=d.key, rule=rule_of(d.key),
                                   severity=d.severity, message=d.message, subject_run_id=d.subject_run_id,
                                   source_seq=source_seq, details=dict(d.details))
        self._apply_own(event, now)
        return event

    def _clear(self, alert: OpenAlert, reason: str, source_seq: int) -> AlertCleared:
        event = AlertCleared(alert_id=alert.alert_id, key=alert.key, rule=rule_of(alert.key), reason=reason,
                             source_seq=source_seq)
        self._apply_own(event, None)
        return event

    def _apply_own(self, ev: Event, at: datetime | None) -> None:
        if isinstance(ev, MonitorAlertRaised):
            assert at is not None
            self.open[ev.key] = OpenAlert(alert_id=ev.alert_id, key=ev.key, severity=ev.severity, message=ev.message,
                                          subject_run_id=ev.subject_run_id, raised_at=at, confirmed_at=at)
            self._last_raised[ev.key] = at
        elif isinstance(ev, AlertCleared):
            current = self.open.get(ev.key)
            if current is not None and current.alert_id == ev.alert_id:
                del self.open[ev.key]
        elif isinstance(ev, AlertAcknowledged):
            current = self.open.get(ev.key)
            if current is not None and current.alert_id == ev.alert_id:
                current.acknowledged_until = ev.until
