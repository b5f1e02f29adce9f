"""A clock the backtest moves by hand (implements ``ports.clock.Clock``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"simulated clock needs a timezone-aware time, got {moment!r}")
    return moment.astimezone(timezone.utc)


class SimulatedClock:
    """Market time of a replay: ``set`` it to each bar's time, or ``advance`` it.

    Time never runs backwards: setting an earlier time raises ``ValueError`` (a replay that
    does so has its bars out of order). ``now()`` is tz-aware UTC.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _utc(start) if start is not None else datetime(1970, 1, 1, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        moment = _utc(moment)
        if moment < self._now:
            raise ValueError(f"simulated clock cannot go back from {self._now.isoformat()} "
                             f"to {moment.isoformat()}; replay bars in time order")
        self._now = moment

    def sleep(self, seconds: float) -> None:
        """Waiting on a simulated clock moves it forward at once (replays in tests are instant)."""
        if seconds > 0:
            self.advance(timedelta(seconds=seconds))

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError(f"simulated clock cannot advance by a negative {delta}")
        self._now = self._now + delta
        return self._now


__all__ = ["SimulatedClock"]
