"""``release_underperforming``: a deployed release breaching its heightened-monitoring thresholds.

Spec 002 §10: for the first hours after a deploy (48 by default) the monitor holds the release to
tighter figures than normal. The rule follows the ``releases`` stream (which release is active,
since when, with which thresholds, and which session runs started from it) and the trades and
end-of-session snapshots of those runs; the comparison itself is ``core.release.underperformance``,
the same definition the release audit derived the thresholds with.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from core.events.base import RecordedEvent
from core.events.catalog import PortfolioSnapshotted, RunStarted, TradeClosed
from core.events.release import ReleaseApplied, ReleaseDeployed, ReleaseRolledBack
from core.monitoring.rules import WARNING, Clear, Decision, Raise
from core.release import HeightenedThresholds, ObservedFigures, underperformance


@attrs.define
class _Book:
    initial_paise: int
    peak_paise: int
    last_paise: int
    worst_drawdown: float = 0.0  # <= 0, as a fraction


@attrs.define
class ReleaseUnderperformingRule:
    """Raise while the active release, inside its heightened window, breaches its thresholds;
    clear when it recovers, is rolled back or replaced, or the window ends."""

    min_trades_for_win_rate: int = 5
    name: str = "release_underperforming"
    _release: str | None = None
    _until: datetime | None = None
    _thresholds: HeightenedThresholds = attrs.Factory(HeightenedThresholds)
    _runs: set[str] = attrs.Factory(set)
    _initial: dict[str, dict[str, int]] = attrs.Factory(dict)
    _books: dict[tuple[str, str], _Book] = attrs.Factory(dict)
    _trades: int = 0
    _wins: int = 0
    _raised: bool = False

    def _key(self) -> str:
        return f"{self.name}:{self._release}"

    def _reset(self) -> list[Decision]:
        out: list[Decision] = [Clear(key=self._key(), reason="the release is no longer active")] \
            if self._release and self._raised else []
        self._release, self._until, self._runs, self._initial, self._books = None, None, set(), {}, {}
        self._trades = self._wins = 0
        self._raised = False
        return out

    def observe(self, event: RecordedEvent) -> list[Decision]:
        ev = event.event
        if isinstance(ev, ReleaseDeployed):
            out = self._reset()
            self._release = ev.release_id
            self._until = event.occurred_at + timedelta(hours=ev.heightened_hours)
            try:
                self._thresholds = HeightenedThresholds(**{k: ev.thresholds.get(k) for k in
                                                           ("min_win_rate_pct", "max_drawdown_pct", "max_loss_pct")})
            except TypeError:
                self._thresholds = HeightenedThresholds()
            return out
        if isinstance(ev, ReleaseRolledBack):
            return self._reset()
        if self._release is None:
            return []
        if isinstance(ev, ReleaseApplied):
            if ev.release_id == self._release:
                self._runs.add(ev.run_id)
            return []
        if event.run_id not in self._runs or self._until is None or event.occurred_at >= self._until:
            return []
        book = event.stream_id.rsplit(":", 1)[-1]
        if isinstance(ev, RunStarted):
            self._initial[event.run_id] = {k: int(v) for k, v in
                                           ev.config.get("initial_cash_paise_by_book", {}).items()}
            return []
        if isinstance(ev, TradeClosed):
            self._trades += 1
            self._wins += ev.net_pnl_paise > 0
        elif isinstance(ev, PortfolioSnapshotted):
            state = self._books.get((event.run_id, book))
            if state is None:
                start = self._initial.get(event.run_id, {}).get(book, ev.equity_paise)
                state = self._books[(event.run_id, book)] = _Book(initial_paise=start, peak_paise=start,
                                                                   last_paise=start)
            state.last_paise = ev.equity_paise
            state.peak_paise = max(state.peak_paise, ev.equity_paise)
            if state.peak_paise > 0:
                state.worst_drawdown = min(state.worst_drawdown, ev.equity_paise / state.peak_paise - 1.0)
        else:
            return []
        return self._judge(event.run_id)

    def _judge(self, run_id: str) -> list[Decision]:
        initial = sum(b.initial_paise for b in self._books.values())
        final = sum(b.last_paise for b in self._books.values())
        observed = ObservedFigures(
            trades=self._trades, win_rate_pct=100.0 * self._wins / self._trades if self._trades else 0.0,
            max_drawdown_pct=100.0 * min((b.worst_drawdown for b in self._books.values()), default=0.0),
            total_return_pct=100.0 * (final / initial - 1.0) if initial > 0 else 0.0)
        breaches = underperformance(self._thresholds, observed, min_trades_for_win_rate=self.min_trades_for_win_rate)
        if breaches:
            self._raised = True
            return [Raise(key=self._key(), severity=WARNING, subject_run_id=run_id,
                          message=f"release {self._release} under heightened monitoring: " + "; ".join(breaches),
                          details={"release_id": self._release, "breaches": breaches,
                                   "observed": attrs.asdict(observed), "thresholds": self._thresholds.to_dict()})]
        if self._raised:
            self._raised = False
            return [Clear(key=self._key(), reason="back within the release's heightened thresholds")]
        return []

    def tick(self, now: datetime) -> list[Decision]:
        if self._release is not None and self._until is not None and now >= self._until and self._raised:
            self._raised = False
            return [Clear(key=self._key(), reason="the heightened-monitoring window ended")]
        return []
