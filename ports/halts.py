"""Exchange halts a session consults: today's price band of a stock, and a market-wide halt."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import attrs


@attrs.frozen(kw_only=True)
class PriceBand:
    """Today's circuit limits of one stock, in paise (either may be unknown: 0)."""

    lower_paise: int
    upper_paise: int


class MarketHalts(Protocol):
    """Where the engine learns about halts (live: Breeze quotes; tests: a scripted fake)."""

    def band(self, symbol: str, at: datetime) -> PriceBand | None:
        """The stock's circuit limits at ``at`` (None: unknown)."""
        ...

    def market_halt(self, at: datetime) -> str | None:
        """Why the whole market is halted at ``at``, or None when it trades."""
        ...
