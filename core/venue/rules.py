"""Per-venue capabilities (pure data): what may be sent, and why an entry is refused.

``BREEZE_CASH`` is ICICI Breeze's equity cash segment as of 2026 (see the README's
"running a live account"): margin / intraday products can no longer be placed through the
API, so every order is a ``cash`` order; a sell without holdings would be a delivery short
sale, which NSE cash does not allow; market orders are turned into aggressive limits by
the broker adapter; at most 10 orders per second (place, modify and cancel together).
A same-day buy and sell in ``cash`` is still charged as intraday by the exchange, which
is why an intraday book keeps the intraday cost model while its orders go out as ``cash``.

``UNRESTRICTED`` is the research venue: anything goes (the shipped backtest's behaviour).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from core.errors import ConfigError
from core.model import Direction


@attrs.frozen(kw_only=True)
class VenueRules:
    """A venue's order capabilities; ``entry_refusal`` is what the engine asks before an entry."""

    name: str
    label: str
    short_selling: bool
    intraday_margin_product: bool
    market_orders: bool
    max_orders_per_second: int | None

    def entry_refusal(self, direction: Direction) -> str | None:
        """Why an entry in ``direction`` may not be sent here, or None when it may."""
        if direction is Direction.SHORT and not self.short_selling:
            return (f"venue {self.label}: no short selling (a sell without holdings would be a delivery "
                    "short sale, and intraday margin products cannot be placed through the API)")
        return None

    def allows(self, direction: Direction) -> bool:
        return self.entry_refusal(direction) is None

    def book_refusal(self, book: str, directions: Iterable[Direction], setting: str) -> str | None:
        """Why a book whose strategy can only enter ``directions`` may not trade here at all, or None.

        ``setting`` names the configuration that decides those directions (shown to the user).
        """
        wanted = sorted(d.value for d in directions)
        if any(self.allows(d) for d in directions):
            return None
        return (f"book {book} can only enter {'/'.join(wanted) or 'nothing'}, and {self.describe()}; every entry "
                f"would be rejected. Change {setting} (or trade it in paper with --ignore-venue-rules)")

    def book_warning(self, book: str, directions: Iterable[Direction], setting: str) -> str | None:
        """A note when some (not all) of a book's entry directions will be rejected here."""
        refused = sorted(d.value for d in directions if not self.allows(d))
        if not refused or len(refused) == len(list(directions)):
            return None
        return (f"book {book}: {'/'.join(refused)} entries will be rejected ({self.describe()}); set {setting} to "
                "false to stop generating them")

    def describe(self) -> str:
        """One line, e.g. ``Breeze cash: no short selling, no intraday margin product, 10 orders/s, limit orders only``."""
        parts = [
            "short selling" if self.short_selling else "no short selling",
            "intraday margin product" if self.intraday_margin_product else "no intraday margin product",
        ]
        if self.max_orders_per_second is not None:
            parts.append(f"{self.max_orders_per_second} orders/s")
        parts.append("market orders" if self.market_orders else "limit orders only")
        return f"{self.label}: {', '.join(parts)}"


BREEZE_CASH = VenueRules(name="breeze_cash", label="Breeze cash", short_selling=False,
                         intraday_margin_product=False, market_orders=False, max_orders_per_second=10)
UNRESTRICTED = VenueRules(name="unrestricted", label="research venue", short_selling=True,
                          intraday_margin_product=True, market_orders=True, max_orders_per_second=None)
VENUE_RULES: dict[str, VenueRules] = {r.name: r for r in (BREEZE_CASH, UNRESTRICTED)}


def venue_rules(name: str) -> VenueRules:
    """The rules called ``name`` (``breeze_cash``, ``unrestricted``); ``ConfigError`` otherwise."""
    try:
        return VENUE_RULES[name]
    except KeyError:
        raise ConfigError(f"unknown venue rules {name!r}; use one of {', '.join(sorted(VENUE_RULES))}") from None


__all__ = ["BREEZE_CASH", "UNRESTRICTED", "VENUE_RULES", "VenueRules", "venue_rules"]
