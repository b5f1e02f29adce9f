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
