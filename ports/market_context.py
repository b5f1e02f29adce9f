"""Market-wide context (index level, returns, volatility) at a moment, point in time."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class MarketContextProvider(Protocol):
    """Market regime figures known at ``when``: only data published strictly before it.

    Returns a flat ``{name: float}`` dict (spec 004's trade ``context``), empty when the
    provider has no data covering ``when``.
    """

    name: str

    def context_at(self, when: datetime) -> dict[str, float]:
        ...
