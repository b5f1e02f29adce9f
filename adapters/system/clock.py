"""The wall clock for paper and live sessions (implements ``ports.clock.WaitableClock``)."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")


class WallClock:
    """Real time: ``now()`` is tz-aware UTC, ``sleep`` really waits, ``today_ist`` is the NSE date."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def now_ist(self) -> datetime:
        return self.now().astimezone(IST)

    def today_ist(self) -> date:
        """The IST calendar date (the NSE session date)."""
        return self.now_ist().date()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


__all__ = ["IST", "WallClock"]
