"""A simulated clock whose N-th sleep raises: an in-process stand-in for ``kill -9`` mid-session."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class SimulatedCrash(BaseException):
    """Raised from inside the loop; BaseException so nothing on the way catches it."""


class CrashingClock:
    """``WaitableClock`` that advances instantly and raises ``SimulatedCrash`` on sleep number ``crash_at``."""

    def __init__(self, crash_at: int | None = None, start: datetime | None = None) -> None:
        self._now = start or datetime(2024, 1, 1, tzinfo=timezone.utc)
        self.crash_at = crash_at
        self.sleeps = 0

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.crash_at is not None and self.sleeps >= self.crash_at:
            raise SimulatedCrash(f"crash at sleep {self.sleeps}")
        self._now += timedelta(seconds=max(seconds, 0))
