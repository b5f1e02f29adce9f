"""A ``Clock`` a test moves by hand, and a fake monotonic time + sleep for rate limiters/backoff."""

from __future__ import annotations

from datetime import datetime, timedelta


class ManualClock:
    """``ports.clock.Clock`` that only moves when told to (``advance``/``set``)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)

    def set(self, moment: datetime) -> None:
        self._now = moment


class FakeTime:
    """``monotonic()`` and ``sleep(seconds)`` that advance a counter instead of waiting.

    ``sleeps`` records every requested wait so tests can assert on back-off schedules.
    An optional ``clock`` is advanced by the same amount, keeping wall and monotonic time in step.
    """

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []
        self.clock = clock

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        if self.clock is not None:
            self.clock.advance(timedelta(seconds=seconds))
