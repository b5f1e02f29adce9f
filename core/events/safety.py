"""Events of the engine's last-line safety checks (issue 19)."""

from __future__ import annotations

import attrs

from core.events.base import Event, event_type


@event_type("book.stopped", 1)
@attrs.frozen(kw_only=True)
class BookStopped(Event):
    """The book stopped trading because continuing would misstate it (e.g. equity below zero).

    ``reason`` is machine-readable (``negative_equity``); ``message`` says what happened.
    """

    reason: str
    symbol: str
    equity_paise: int
    cash_paise: int
    message: str
