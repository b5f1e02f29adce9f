"""Monitoring use cases: follow the event log, evaluate the alert rules, record and deliver alerts;
and the read side (alert list, session status, acknowledgement) the CLI and the dashboard share.

The monitor only reads the log and appends to its own stream (``monitor:alerts``), so it can
never slow or stop a trading session: sessions never read what it writes.

The first monitor on a store records ``MonitorStarted(from_seq=last seq)``: older events are
folded into the rules' state but raise nothing. Events of backtest/validation runs are skipped
(a simulated breaker trip is a result, not an incident).

Restart without duplicates or gaps. Every lifecycle event the monitor writes carries
``source_seq``, the last log position it had read; all decisions of one poll are appended in
one atomic append, so the monitor's position *is* the highest ``source_seq`` in its stream —
kept in the database with the alerts themselves, no separate checkpoint to drift. On start it
restores open alerts (and acknowledgements) from its stream, folds the log up to that position
into the rules without acting, and carries on after it. Alert ids derive from (key, position),
and event ids from (alert id, kind), so a decision taken twice is written once.

Delivery is at least once: a ``raised``/``cleared`` notice without its ``AlertDelivered`` /
``AlertDeliveryFailed`` outcome is (re)sent on start; the alert id is the receiver's
idempotency key. A monitor killed between a send and its outcome sends that one notice again.
"""

from __future__ import annotations

import time as _time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from core.errors import ConcurrencyError, SenseQuantError, StoreUnavailableError
from core.events.base import Event, NewEvent, RecordedEvent, RunStatus
from core.events.catalog import FeedHealthChanged, RunStarted
from core.events.monitoring import (
    AlertAcknowledged,
    AlertCleared,
    AlertDelivered,
    AlertDeliveryFailed,
    MonitorAlertRaised,
    MonitorStarted,
    SessionHeartbeat,
)
from core.monitoring import AlertEngine, AlertPolicy, Rule, RuleSettings, default_rules
from ports.alerts import AlertMessage, AlertSink
from ports.event_store import EventStore

MONITOR_RUN_ID = "monitor"
ALERTS_STREAM = "monitor:alerts"
ACKS_STREAM = "monitor:acks"
_EVENT_NAMESPACE = uuid.UUID("0c2d8f4e-7b3a-4f61-9d2e-5a8c1b7e9f30")
SESSION_MODES = ("paper", "live")
#: Runs of these modes are simulations of the past (their breaker trips and traces are results,
#: not incidents): the monitor skips their events.
SIMULATION_MODES = ("backtest", "validation")


class MonitorBusyError(SenseQuantError):
    """Another monitor writes the same alert stream."""


class AlertNotFoundError(SenseQuantError):
    """No alert has that id (or the prefix is ambiguous)."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@attrs.frozen(kw_only=True)
class MonitorSettings:
    poll_seconds: float = 0.5
    page_size: int = 5000
    rules: RuleSettings = attrs.Factory(RuleSettings)
    policies: dict[str, AlertPolicy] = attrs.Factory(dict)


def notice(event: MonitorAlertRaised | AlertCleared, severity: str) -> AlertMessage:
    """The human text of a lifecycle event (the alert id doubles as the idempotency key)."""
    if isinstance(event, MonitorAlertRaised):
        title = f"[{event.severity.upper()}] {event.rule}"
        body = event.message
        if event.subject_run_id:
            body += f"\nsession: {event.subject_run_id}"
        body += f"\nacknowledge: sensequant monitor ack {event.alert_id[:8]} --note '...'"
        kind = "raised"
    else:
        title = f"[RESOLVED] {event.rule}"
        body = f"{event.key}: {event.reason}"
        kind = "cleared"
    return AlertMessage(alert_id=event.alert_id, kind=kind, severity=severity, rule=event.rule, title=title,
                        body=f"{body}\nidempotency key: {event.alert_id}:{kind}")


class Monitor:
    """Tails ``store`` and evaluates ``rules``; see the module docstring. ``on_event`` sees every
    lifecycle event written (the terminal view); ``on_recorded`` every log event read (metrics);
    ``on_polled`` is called after every poll (the root keeps the read models current there)."""

    def __init__(self, store: EventStore, sink: AlertSink | None, *, settings: MonitorSettings = MonitorSettings(),
                 rules: Sequence[Rule] | None = None, now: Callable[[], datetime] = _utc_now,
                 on_event: Callable[[Event], None] = lambda _e: None,
                 on_recorded: Callable[[RecordedEvent], None] = lambda _r: None,
                 on_polled: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.sink = sink
        self.settings = settings
        self.engine = AlertEngine(rules if rules is not None else default_rules(settings.rules),
                                  policies=settings.policies)
        self._now = now
        self._on_event = on_event
        self._on_recorded = on_recorded
        self._on_polled = on_polled
        self.position = 0
        self._version = 0
        self._severity: dict[str, str] = {}
        self._pending: dict[tuple[str, str], MonitorAlertRaised | AlertCleared] = {}
        self.delivered = 0
        self.started = False
        self._modes: dict[str, str] = {}

    def _watched(self, rec: RecordedEvent) -> bool:
        """False for the monitor's own stream and for events of simulated (backtest) runs."""
        if rec.stream_id == ALERTS_STREAM:
            return False
        if isinstance(rec.event, RunStarted):
            self._modes[rec.run_id] = rec.event.mode
        return self._modes.get(rec.run_id) not in SIMULATION_MODES

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        own = self.store.read_stream(ALERTS_STREAM)
        self._version = own[-1].stream_version if own else 0
        if not own:
            # the first monitor on this store: history is state, not news
            self._append([MonitorStarted(from_seq=self.store.last_seq(),
                                         rules=[getattr(r, "name", type(r).__name__) for r in self.engine.rules])],
                         self._now())
            own = self.store.read_stream(ALERTS_STREAM)
        acks = self.store.read_stream(ACKS_STREAM)
        self.engine.restore(sorted(own + acks, key=lambda r: r.seq))
        for rec in own:
            ev = rec.event
            if isinstance(ev, (MonitorAlertRaised, AlertCleared)):
                self.position = max(self.position, ev.source_seq)
                if isinstance(ev, MonitorAlertRaised):
                    self._severity[ev.alert_id] = ev.severity
                self._pending[(ev.alert_id, "raised" if isinstance(ev, MonitorAlertRaised) else "cleared")] = ev
            elif isinstance(ev, (AlertDelivered, AlertDeliveryFailed)):
                self._pending.pop((ev.alert_id, ev.kind), None)
            elif isinstance(ev, MonitorStarted):
                self.position = max(self.position, ev.from_seq)
        after = 0
        while after < self.position:
            page = self.store.read_all(after_seq=after, limit=self.settings.page_size)
            if not page:
                break
            for rec in page:
                if rec.seq > self.position:
                    break
                if self._watched(rec):
                    self.engine.warm(rec)
                    self._on_recorded(rec)
            after = page[-1].seq
        self.started = True
        self.deliver_pending()

    # ---------------------------------------------------------------- the loop

    def poll(self) -> int:
        """Read what is new, decide, append, deliver. Returns how many log events were read."""
        if not self.started:
            self.start()
        page = self.store.read_all(after_seq=self.position, limit=self.settings.page_size)
        now = self._now()
        decided: list[Event] = []
        for rec in page:
            if self._watched(rec):
                decided.extend(self.engine.observe(rec, now))
                self._on_recorded(rec)
        if page:
            self.position = page[-1].seq
        decided.extend(self.engine.tick(now, self.position))
        if decided:
            self._append(decided, now)
            for ev in decided:
                if isinstance(ev, MonitorAlertRaised):
                    self._severity[ev.alert_id] = ev.severity
                    self._pending[(ev.alert_id, "raised")] = ev
                elif isinstance(ev, AlertCleared):
                    self._pending[(ev.alert_id, "cleared")] = ev
                self._on_event(ev)
        self.deliver_pending()
        self._on_polled()
        return len(page)

    def run(self, should_stop: Callable[[], bool], sleep: Callable[[float], None] = _time.sleep,
            log: Callable[[str], None] = lambda _m: None) -> None:
        """Poll until ``should_stop()``; a full page is followed at once, otherwise wait ``poll_seconds``.

        A database that went away (a PostgreSQL restart) is waited for with back-off, not fatal:
        the next poll continues from the same position.
        """
        outage = 0
        while not should_stop():
            try:
                read = self.poll()
            except StoreUnavailableError as exc:
                outage += 1
                wait = min(30.0, self.settings.poll_seconds * 2 ** outage)
                log(f"event store unavailable ({exc}); retrying in {wait:.1f} s")
                sleep(wait)
                continue
            if outage:
                log("event store reachable again")
                outage = 0
            if read < self.settings.page_size:
                sleep(self.settings.poll_seconds)

    def deliver_pending(self) -> None:
        """Send every notice without an outcome, recording each outcome right after its send (the
        window in which a kill makes a notice go out twice is one HTTP round trip)."""
        for (alert_id, kind), ev in sorted(self._pending.items(), key=lambda kv: kv[1].source_seq):
            severity = self._severity.get(alert_id, "warning")
            if self.sink is None:
                report_ok, channels, attempts, reason = True, (), 0, ""
            else:
                try:
                    report = self.sink.send(notice(ev, severity))
                    report_ok, channels, attempts, reason = (report.delivered, report.channels, report.attempts,
                                                             report.reason)
                except Exception as exc:  # noqa: BLE001 - a sink must not raise; if one does, record it
                    report_ok, channels, attempts, reason = False, (), 1, f"{type(exc).__name__} in the alert sink"
            outcome: Event = (AlertDelivered(alert_id=alert_id, kind=kind, channels=list(channels), attempts=attempts)
                              if report_ok else
                              AlertDeliveryFailed(alert_id=alert_id, kind=kind, channels=list(channels),
                                                  attempts=attempts, reason=reason))
            self._append([outcome], self._now())
            self._pending.pop((alert_id, kind), None)
            self.delivered += 1 if report_ok else 0
            if not report_ok:
                self._on_event(outcome)

    def _append(self, events: Sequence[Event], now: datetime) -> None:
        batch = []
        for ev in events:
            kind = type(ev).__name__
            ident = uuid.uuid5(_EVENT_NAMESPACE, f"{getattr(ev, 'alert_id', '')}:{kind}:{getattr(ev, 'kind', '')}")
            batch.append(NewEvent(event=ev, occurred_at=now, event_id=ident))
        try:
            recorded = self.store.append(ALERTS_STREAM, self._version, batch, run_id=MONITOR_RUN_ID)
        except ConcurrencyError:
            raise MonitorBusyError("another `sensequant monitor run` is writing the alert stream of this "
                                   "database; run one monitor per database") from None
        self._version = recorded[-1].stream_version


# ------------------------------------------------------------------- read side


@attrs.define
class AlertRow:
    """One alert as the CLI and the dashboard show it; ``status`` is open, acknowledged or cleared."""

    alert_id: str
    key: str
    rule: str
    severity: str
    message: str
    subject_run_id: str
    raised_at: datetime
    status: str = "open"
    cleared_at: datetime | None = None
    cleared_reason: str = ""
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None
    note: str = ""
    delivery: str = "pending"

    def as_dict(self) -> dict[str, Any]:
        return {f.name: (v.isoformat() if isinstance(v := getattr(self, f.name), datetime) else v)
                for f in attrs.fields(type(self))}


def alert_rows(events: Iterable[RecordedEvent]) -> list[AlertRow]:
    """Fold the monitor's and the acknowledgement stream's events into alerts, newest first."""
    rows: dict[str, AlertRow] = {}
    for rec in sorted(events, key=lambda r: r.seq):
        ev = rec.event
        if isinstance(ev, MonitorAlertRaised):
            rows[ev.alert_id] = AlertRow(alert_id=ev.alert_id, key=ev.key, rule=ev.rule, severity=ev.severity,
                                         message=ev.message, subject_run_id=ev.subject_run_id,
                                         raised_at=rec.occurred_at)
        elif (row := rows.get(getattr(ev, "alert_id", ""))) is None:
            continue
        elif isinstance(ev, AlertCleared):
            row.status, row.cleared_at, row.cleared_reason = "cleared", rec.occurred_at, ev.reason
        elif isinstance(ev, AlertAcknowledged):
            row.acknowledged_by, row.acknowledged_at, row.note = ev.acknowledged_by, rec.occurred_at, ev.note
            if row.status == "open":
                row.status = "acknowledged"
        elif isinstance(ev, AlertDelivered) and ev.kind == "raised":
            row.delivery = "delivered" if ev.channels else "no channel"
        elif isinstance(ev, AlertDeliveryFailed) and ev.kind == "raised":
            row.delivery = f"failed: {ev.reason}"
    return sorted(rows.values(), key=lambda r: r.raised_at, reverse=True)


def read_alerts(store: EventStore, *, open_only: bool = False, since: datetime | None = None,
                run_id: str | None = None) -> list[AlertRow]:
    rows = alert_rows(store.read_stream(ALERTS_STREAM) + store.read_stream(ACKS_STREAM))
    return [r for r in rows
            if (not open_only or r.status != "cleared") and (since is None or r.raised_at >= since)
            and (run_id is None or r.subject_run_id == run_id)]


def acknowledge(store: EventStore, alert_id: str, *, by: str, note: str, hours: float = 24.0,
                now: Callable[[], datetime] = _utc_now) -> AlertRow:
    """Record that ``by`` took alert ``alert_id`` (a unique prefix is enough) on, with ``note``."""
    if not note.strip():
        raise AlertNotFoundError("an acknowledgement needs a --note saying why")
    rows = [r for r in read_alerts(store) if r.alert_id.startswith(alert_id)]
    if len(rows) != 1:
        raise AlertNotFoundError(f"no alert {alert_id!r}" if not rows else
                                 f"{len(rows)} alerts start with {alert_id!r}; give more characters")
    row = rows[0]
    at = now()
    event = AlertAcknowledged(alert_id=row.alert_id, key=row.key, acknowledged_by=by, note=note,
                              until=at + timedelta(hours=hours))
    for attempt in (1, 2, 3):
        try:
            store.append(ACKS_STREAM, store.stream_version(ACKS_STREAM), [NewEvent(event=event, occurred_at=at)],
                         run_id=MONITOR_RUN_ID)
            break
        except ConcurrencyError:
            if attempt == 3:
                raise
    row.acknowledged_by, row.acknowledged_at, row.note = by, at, note
    if row.status == "open":
        row.status = "acknowledged"
    return row


@attrs.frozen(kw_only=True)
class SessionStatus:
    run_id: str
    mode: str
    status: str
    started_at: datetime
    heartbeat_age_seconds: float | None
    feed_status: str
    reduce_only: bool
    bars_processed: int
    open_positions: int
    day_pnl_paise: int
    breaker_tripped: bool
    open_alerts: int

    def as_dict(self) -> dict[str, Any]:
        return {f.name: (v.isoformat() if isinstance(v := getattr(self, f.name), datetime) else v)
                for f in attrs.fields(type(self))}


def session_status(store: EventStore, *, now: datetime | None = None, limit: int = 10,
                   alerts: Sequence[AlertRow] | None = None) -> list[SessionStatus]:
    """Running and recent paper/live sessions, newest first, from their health streams."""
    now = now or _utc_now()
    open_by_run: dict[str, int] = {}
    for row in alerts if alerts is not None else read_alerts(store, open_only=True):
        if row.status != "cleared":
            open_by_run[row.subject_run_id] = open_by_run.get(row.subject_run_id, 0) + 1
    runs = sorted([r for mode in SESSION_MODES for r in store.list_runs(mode=mode, limit=limit)],
                  key=lambda r: r.started_at, reverse=True)[:limit]
    out = []
    for run in runs:
        stream = f"{run.run_id}:health"
        version = store.stream_version(stream)
        beat: SessionHeartbeat | None = None
        beat_at: datetime | None = None
        feed = "ok"
        if version:
            tail = store.read_stream(stream, from_version=max(1, version - 50))
            for rec in tail:
                if isinstance(rec.event, SessionHeartbeat):
                    beat, beat_at = rec.event, rec.occurred_at
            if beat is None:
                feed = next((r.event.status for r in reversed(tail) if isinstance(r.event, FeedHealthChanged)), "ok")
        books = beat.books.values() if beat is not None else []
        out.append(SessionStatus(
            run_id=run.run_id, mode=run.mode, status=run.status, started_at=run.started_at,
            heartbeat_age_seconds=(now - beat_at).total_seconds() if beat_at is not None else None,
            feed_status=beat.feed_status if beat is not None else feed,
            reduce_only=beat.reduce_only if beat is not None else False,
            bars_processed=beat.bars_processed if beat is not None else 0,
            open_positions=sum(int(b.get("open_positions", 0)) for b in books),
            day_pnl_paise=sum(int(b.get("day_pnl_paise", 0)) for b in books),
            breaker_tripped=any(b.get("breaker_tripped") for b in books),
            open_alerts=open_by_run.get(run.run_id, 0)))
    return out


def is_running(status: SessionStatus) -> bool:
    return status.status == RunStatus.RUNNING
