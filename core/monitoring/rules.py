"""Alert rules: pure folds of recorded events (and the monitor's clock) into decisions.

A rule implements :class:`Rule` — two methods, nothing else:

* ``observe(event)``: fold one recorded event (any type; ignore what you do not need) and
  return the decisions it implies now;
* ``tick(now)``: decisions that only the passing of time implies (a lapsed heartbeat, an
  ageing model, a window emptying out).

A decision is :class:`Raise` (an alert key should be open, with its severity and message)
or :class:`Clear` (it should not). Rules say what *is*; they never remember what they
already raised: the :class:`core.monitoring.engine.AlertEngine` turns decisions into alert
events, once per key, with each rule's suppression window and TTL. A rule's ``name`` is
the alert's ``rule`` and the first part of its keys (``name:run:detail``).

Times: ``observe`` uses the event's ``occurred_at`` (sessions write heartbeats and health with
the wall clock) and never the clock of the reader; ``tick`` gets the monitor's clock. So a
restarted monitor that folds the same events again reaches the same state.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import attrs

from core.events.base import RecordedEvent
from core.events.catalog import (
    AlertRaised,
    CircuitBreakerTripped,
    FeedHealthChanged,
    ModelPromoted,
    ModelRolledBack,
    ModelTrained,
    PredictionTraced,
    RunCompleted,
)
from core.events.monitoring import LatencyRolledUp, SessionHeartbeat

INFO, WARNING, CRITICAL = "info", "warning", "critical"


@attrs.frozen(kw_only=True)
class Raise:
    """Alert ``key`` should be open."""

    key: str
    severity: str
    message: str
    subject_run_id: str = ""
    details: dict[str, Any] = attrs.Factory(dict)


@attrs.frozen(kw_only=True)
class Clear:
    """Alert ``key`` should not be open (any more)."""

    key: str
    reason: str


Decision = Raise | Clear


@runtime_checkable
class Rule(Protocol):
    """One alert rule (see the module docstring). ``name`` is stable: it names the alerts."""

    name: str

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ...

    def tick(self, now: datetime) -> list[Decision]:
        ...


def _book(rec: RecordedEvent) -> str:
    """The book a session stream belongs to (streams are ``run:book``)."""
    return rec.stream_id.split(":", 1)[1] if ":" in rec.stream_id else rec.stream_id


class _Passive:
    """Base for rules without time-driven decisions."""

    def tick(self, now: datetime) -> list[Decision]:
        return []


# ------------------------------------------------------------------ 1. circuit breaker


@attrs.define
class CircuitBreakerRule(_Passive):
    """A book's daily-loss circuit breaker tripped (CRITICAL); clears when a heartbeat shows the
    breaker reset (the next session)."""

    name: str = "circuit_breaker_triggered"

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ev = event.event
        if isinstance(ev, CircuitBreakerTripped):
            book = _book(event)
            return [Raise(key=f"{self.name}:{event.run_id}:{book}", severity=CRITICAL, subject_run_id=event.run_id,
                          message=f"{book}: circuit breaker tripped on {ev.session_date}: day P&L "
                                  f"Rs {ev.daily_pnl_paise / 100:,.2f} past the limit Rs {ev.limit_paise / 100:,.2f}; "
                                  "no new entries until the next session",
                          details={"book": book, "daily_pnl_paise": ev.daily_pnl_paise, "limit_paise": ev.limit_paise,
                                   "equity_paise": ev.equity_paise})]
        if isinstance(ev, SessionHeartbeat):
            return [Clear(key=f"{self.name}:{event.run_id}:{book}", reason="breaker reset for a new session")
                    for book, state in ev.books.items() if not state.get("breaker_tripped")]
        return []


# -------------------------------------------------------------------- 2. daily loss high


@attrs.define
class DailyLossRule(_Passive):
    """Early warning: a book's loss on the day reached ``share`` of its daily-loss cap while the
    breaker has not tripped yet (WARNING); clears when the loss falls back under the share, or
    when the breaker trips (``circuit_breaker_triggered`` takes over)."""

    share: float = 0.8
    name: str = "daily_loss_high"

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ev = event.event
        if not isinstance(ev, SessionHeartbeat):
            return []
        out: list[Decision] = []
        for book, state in ev.books.items():
            limit = int(state.get("loss_limit_paise") or 0)
            loss = -int(state.get("day_pnl_paise") or 0)
            key = f"{self.name}:{event.run_id}:{book}"
            if limit <= 0:
                continue
            if state.get("breaker_tripped"):
                out.append(Clear(key=key, reason="the circuit breaker tripped (its own alert takes over)"))
                continue
            if loss >= self.share * limit:
                out.append(Raise(key=key, severity=WARNING, subject_run_id=event.run_id,
                                 message=f"{book}: day loss Rs {loss / 100:,.2f} is {loss / limit:.0%} of the "
                                         f"daily-loss cap Rs {limit / 100:,.2f} (warning at {self.share:.0%})",
                                 details={"book": book, "day_loss_paise": loss, "loss_limit_paise": limit}))
            else:
                out.append(Clear(key=key, reason=f"day loss back under {self.share:.0%} of the cap"))
        return out


# ------------------------------------------------------------- 3. sentiment failures high


@attrs.define
class SentimentFailuresRule:
    """Sentiment providers failing: at least ``threshold`` provider circuit opens / degradations
    (``FeedHealthChanged`` of a ``sentiment.*`` feed) within ``window`` (WARNING); clears when the
    window holds none."""

    threshold: int = 1
    window: timedelta = timedelta(hours=1)
    name: str = "sentiment_failures_high"
    _failures: dict[str, deque] = attrs.field(factory=lambda: defaultdict(deque))

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ev = event.event
        if not (isinstance(ev, FeedHealthChanged) and ev.feed.startswith("sentiment")):
            return []
        if ev.status == "ok":
            return []
        failures = self._failures[event.run_id]
        failures.append((event.occurred_at, ev.feed, ev.reason))
        self._prune(failures, event.occurred_at)
        if len(failures) >= self.threshold:
            return [Raise(key=f"{self.name}:{event.run_id}", severity=WARNING, subject_run_id=event.run_id,
                          message=f"{len(failures)} sentiment provider failure(s) in the last "
                                  f"{self.window.total_seconds() / 60:.0f} min; "
                                  f"last: {ev.feed} {ev.status}: {ev.reason}",
                          details={"failures": len(failures), "feeds": sorted({f for _, f, _ in failures})})]
        return []

    def _prune(self, failures: deque, now: datetime) -> None:
        while failures and failures[0][0] < now - self.window:
            failures.popleft()

    def tick(self, now: datetime) -> list[Decision]:
        out: list[Decision] = []
        for run_id, failures in self._failures.items():
            self._prune(failures, now)
            if not failures:
                out.append(Clear(key=f"{self.name}:{run_id}", reason="no sentiment failure within the window"))
        return out


# -------------------------------------------------------------------- 4. stale models


def sessions_between(start: date, end: date) -> int:
    """Weekdays after ``start`` up to and including ``end`` (NSE holidays are not excluded)."""
    if end <= start:
        return 0
    days = (end - start).days
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    for k in range(1, rest + 1):
        if (start + timedelta(days=weeks * 7 + k)).weekday() < 5:
            count += 1
    return count


@attrs.define
class StaleModelRule:
    """The production model (the last ``ModelPromoted``, or the target of a rollback) or its
    teacher was trained more than ``max_sessions`` sessions ago: the EOD retraining failed or
    did not run (WARNING, ``stale_student_model`` / ``stale_teacher_artifacts``). Clears on a
    promotion of a fresher model."""

    max_sessions: int = 3
    name: str = "stale_student_model"
    teacher_name: str = "stale_teacher_artifacts"
    _trained: dict[str, tuple[str, datetime, str | None]] = attrs.field(factory=dict)
    _production: str | None = None

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ev = event.event
        if isinstance(ev, ModelTrained):
            self._trained[ev.model_id] = (ev.role, event.occurred_at, ev.teacher_model_id)
        elif isinstance(ev, ModelPromoted):
            self._production = ev.model_id
        elif isinstance(ev, ModelRolledBack):
            self._production = ev.to_model_id
        return []

    def tick(self, now: datetime) -> list[Decision]:
        if self._production is None or self._production not in self._trained:
            return []
        out: list[Decision] = []
        role, trained_at, teacher = self._trained[self._production]
        checks = [(self.teacher_name if role == "teacher" else self.name, self._production, trained_at)]
        if teacher is not None and teacher in self._trained:
            checks.append((self.teacher_name, teacher, self._trained[teacher][1]))
        for rule, model_id, at in checks:
            age = sessions_between(at.date(), now.date())
            key = f"{rule}:{model_id if rule == self.teacher_name else 'production'}"
            if age > self.max_sessions:
                out.append(Raise(key=key, severity=WARNING,
                                 message=f"{'teacher' if rule == self.teacher_name else 'production model'} {model_id} "
                                         f"was trained {age} sessions ago (limit {self.max_sessions}): "
                                         "the end-of-day retraining failed or did not run",
                                 details={"model_id": model_id, "trained_at": at.isoformat(), "age_sessions": age}))
            else:
                out.append(Clear(key=key, reason="production model is fresh"))
        return out


# ------------------------------------------------------------------- 5. heartbeat lapsed


@attrs.define
class HeartbeatRule:
    """A running session stopped writing heartbeats for ``lapse`` (CRITICAL: frozen or crashed).
    Clears on the next heartbeat or when the run completes; sessions silent for ``forget_after``
    are dropped (a crash from last week is not news every day)."""

    lapse: timedelta = timedelta(seconds=30)
    forget_after: timedelta = timedelta(hours=24)
    name: str = "heartbeat_lapsed"
    _last: dict[str, tuple[datetime, str]] = attrs.field(factory=dict)

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ev = event.event
        if isinstance(ev, SessionHeartbeat):
            self._last[event.run_id] = (event.occurred_at, ev.mode)
            return [Clear(key=f"{self.name}:{event.run_id}", reason="heartbeat resumed")]
        if isinstance(ev, RunCompleted) and event.run_id in self._last:
            del self._last[event.run_id]
            return [Clear(key=f"{self.name}:{event.run_id}", reason=f"session ended ({ev.status})")]
        return []

    def tick(self, now: datetime) -> list[Decision]:
        out: list[Decision] = []
        for run_id, (at, mode) in list(self._last.items()):
            silent = now - at
            key = f"{self.name}:{run_id}"
            if silent > self.forget_after:
                del self._last[run_id]
                out.append(Clear(key=key, reason="session silent for too long: no longer watched"))
            elif silent > self.lapse:
                out.append(Raise(key=key, severity=CRITICAL, subject_run_id=run_id,
                                 message=f"{mode} session {run_id[:12]} wrote no heartbeat for "
                                         f"{silent.total_seconds():.0f} s (limit {self.lapse.total_seconds():.0f} s): "
                                         "frozen or crashed",
                                 details={"last_heartbeat": at.isoformat(), "silent_seconds": silent.total_seconds()}))
        return out


# ------------------------------------------------------------ 6. breeze connectivity lost


@attrs.define
class ConnectivityRule(_Passive):
    """A market-data or broker feed (any ``FeedHealthChanged`` but sentiment) is ``down``
    (CRITICAL) or ``degraded`` (WARNING); clears when it reports ``ok`` again."""

    name: str = "breeze_connectivity_lost"

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ev = event.event
        if not isinstance(ev, FeedHealthChanged) or ev.feed.startswith("sentiment"):
            return []
        key = f"{self.name}:{event.run_id}:{ev.feed}"
        if ev.status == "ok":
            return [Clear(key=key, reason=f"{ev.feed} healthy again: {ev.reason}")]
        return [Raise(key=key, severity=CRITICAL if ev.status == "down" else WARNING, subject_run_id=event.run_id,
                      message=f"feed {ev.feed} {ev.status}: {ev.reason}",
                      details={"feed": ev.feed, "status": ev.status})]


# ----------------------------------------------------------- 7. performance degradation


def histogram_quantile(bounds: Sequence[float], counts: Sequence[int], q: float, overflow: float) -> float:
    """The ``q`` quantile of a bucket histogram, interpolated linearly inside its bucket.

    ``counts`` has one more entry than ``bounds`` (the overflow bucket, whose upper end is
    ``overflow``, e.g. the largest value seen).
    """
    total = sum(counts)
    if total == 0:
        return 0.0
    target = q * total
    seen = 0
    lower = 0.0
    edges = list(bounds) + [max(overflow, bounds[-1] if bounds else overflow)]
    for upper, n in zip(edges, counts):
        if n and seen + n >= target:
            return lower + (upper - lower) * (target - seen) / n
        seen += n
        lower = upper
    return edges[-1]


@attrs.define
class LatencyRule(_Passive):
    """Bar-to-decision latency p95 over the last ``window_minutes`` rollups of a session above
    ``threshold_ms`` (WARNING, ``performance_degradation_latency``); clears when back under."""

    threshold_ms: float = 1000.0
    window_minutes: int = 5
    name: str = "performance_degradation_latency"
    _rollups: dict[str, deque] = attrs.field(factory=dict)

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ev = event.event
        if not isinstance(ev, LatencyRolledUp) or ev.count == 0:
            return []
        window = self._rollups.setdefault(event.run_id, deque(maxlen=self.window_minutes))
        if window and list(window[-1].bucket_bounds_ms) != list(ev.bucket_bounds_ms):
            window.clear()  # a session restarted with other buckets: start the window over
        window.append(ev)
        bounds = ev.bucket_bounds_ms
        counts = [sum(r.bucket_counts[i] for r in window) for i in range(len(bounds) + 1)]
        p95 = histogram_quantile(bounds, counts, 0.95, max(r.max_ms for r in window))
        key = f"{self.name}:{event.run_id}"
        if p95 > self.threshold_ms:
            return [Raise(key=key, severity=WARNING, subject_run_id=event.run_id,
                          message=f"bar-to-decision latency p95 {p95:,.0f} ms over the last {len(window)} min "
                                  f"is above {self.threshold_ms:,.0f} ms",
                          details={"p95_ms": round(p95, 3), "bars": sum(counts), "minutes": len(window)})]
        return [Clear(key=key, reason=f"latency p95 {p95:,.1f} ms back under the threshold")]


# ----------------------------------------------------------------------- accuracy rules


def sharpe(returns: Sequence[float], periods_per_year: float = 252.0) -> float:
    """Mean over sample standard deviation, annualised; 0 for fewer than two or no dispersion
    (``applications.analytics.metrics.sharpe_ratio``'s definition)."""
    n = len(returns)
    if n < 2:
        return 0.0
    mean = sum(returns) / n
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
    if not sd > 1e-15:
        return 0.0
    return mean / sd * math.sqrt(periods_per_year)


def precision(traces: Sequence[tuple[str, str, float]], label: str) -> float:
    """Share of traces predicted ``label`` that were actually ``label`` (0 when none was)."""
    predicted = [actual for pred, actual, _ in traces if pred == label]
    return sum(1 for a in predicted if a == label) / len(predicted) if predicted else 0.0


def win_rate(traces: Sequence[tuple[str, str, float]]) -> float:
    return sum(1 for _, _, r in traces if r > 0) / len(traces) if traces else 0.0


@attrs.define
class AccuracyRule(_Passive):
    """The dashboard's accuracy alerts over prediction traces, per session and strategy (WARNING):

    * ``accuracy_precision_low``: precision of ``label`` over the last ``window`` traces below
      ``precision_threshold``;
    * ``accuracy_sharpe_low``: Sharpe of their returns below ``sharpe_threshold``;
    * ``accuracy_degradation``: rolling precision / win rate fell more than ``precision_drop`` /
      ``win_rate_drop`` below all-time, or rolling Sharpe more than ``sharpe_drop``.
    """

    window: int = 100
    precision_threshold: float = 0.55
    sharpe_threshold: float = 0.5
    label: str = "LONG"
    precision_drop: float = 0.10
    win_rate_drop: float = 0.10
    sharpe_drop: float = 0.50
    # A Sharpe or precision of two trades is noise: nothing is judged before ``min_trades``.
    min_trades: int = 20
    name: str = "accuracy"
    _recent: dict[tuple[str, str], deque] = attrs.field(factory=dict)
    _all: dict[tuple[str, str], list] = attrs.field(factory=dict)

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ev = event.event
        if not isinstance(ev, PredictionTraced):
            return []
        k = (event.run_id, ev.strategy)
        trace = (ev.predicted_direction, ev.actual_direction, ev.realized_return_pct / 100.0)
        self._recent.setdefault(k, deque(maxlen=self.window)).append(trace)
        self._all.setdefault(k, []).append(trace)
        recent, every = list(self._recent[k]), self._all[k]
        if len(every) < self.min_trades:
            return []
        run, strategy = k
        p, s = precision(recent, self.label), sharpe([r for _, _, r in recent])
        base = {"strategy": strategy, "trades": len(recent)}
        out: list[Decision] = []

        def check(rule: str, bad: bool, message: str, **details: Any) -> None:
            key = f"{rule}:{run}:{strategy}"
            out.append(Raise(key=key, severity=WARNING, subject_run_id=run, message=f"{strategy}: {message}",
                             details={**base, **details}) if bad else Clear(key=key, reason="back within threshold"))

        check("accuracy_precision_low", p < self.precision_threshold,
              f"{self.label} precision {p:.1%} over the last {len(recent)} trades is below "
              f"{self.precision_threshold:.0%}", precision=p)
        check("accuracy_sharpe_low", s < self.sharpe_threshold,
              f"Sharpe {s:.2f} over the last {len(recent)} trades is below {self.sharpe_threshold:.2f}", sharpe=s)
        drops = {
            f"precision_{self.label}": (precision(every, self.label) - p, self.precision_drop),
            "win_rate": (win_rate(every) - win_rate(recent), self.win_rate_drop),
            "sharpe_ratio": (sharpe([r for _, _, r in every]) - s, self.sharpe_drop),
        }
        worse = {m: round(d, 6) for m, (d, limit) in drops.items() if d > limit + 1e-12}
        check("accuracy_degradation", bool(worse),
              "rolling vs all-time degraded: " + ", ".join(f"{m} -{d:.2f}" for m, d in worse.items()), drops=worse)
        return out


# --------------------------------------------------------------- ad-hoc alerts forwarded


@attrs.define
class ForwardedAlertRule(_Passive):
    """``AlertRaised`` events other components record (the EOD scheduler's failures, probes)
    become monitor alerts too, so they are delivered and acknowledged the same way; identical
    messages from one source share a key (and its suppression). ``error`` maps to CRITICAL."""

    name: str = "forwarded"

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ev = event.event
        if not isinstance(ev, AlertRaised):
            return []
        severity = {"error": CRITICAL, "critical": CRITICAL, "warning": WARNING}.get(ev.severity, INFO)
        return [Raise(key=f"{self.name}:{ev.source}:{ev.message[:120]}", severity=severity,
                      subject_run_id=event.run_id, message=f"{ev.source}: {ev.message}", details=dict(ev.details))]
