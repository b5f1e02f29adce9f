"""Time, for the core: simulated in backtests, the wall clock in paper/live."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """The only source of 'now' the core may use."""

    def now(self) -> datetime:
        """Current time, tz-aware UTC."""
        ...


@runtime_checkable
class WaitableClock(Clock, Protocol):
    """A clock a loop can wait on: the wall clock really sleeps, a simulated one jumps."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of this clock's time pass."""
        ...
