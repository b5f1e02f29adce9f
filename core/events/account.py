"""Events of a trading account that outlives one session (paper / live): its funds, its model."""

from __future__ import annotations

import attrs

from core.events.base import Event, event_type

__all__ = ["AccountFundsObserved", "DayOrdersRenewed", "MarketHalted", "MarketResumed", "SessionModelSelected"]


@event_type("session.model_selected", 1)
@attrs.frozen(kw_only=True)
class SessionModelSelected(Event):
    """A paper/live session fixed the model it scores every decision with, at its start.

    ``requested`` is what the user asked for (``production`` or an id); ``model_id`` what it
    resolved to. A promotion therefore takes effect at the next session start, never
    mid-session: a resumed session keeps the model its run started with (``resumed``).
    ``previous_model_id`` is the model of the latest earlier session of the same mode
    (None: there was none, or it traded without a model).
    """

    requested: str
    model_id: str
    previous_model_id: str | None
    resumed: bool


@event_type("account.funds_observed", 1)
@attrs.frozen(kw_only=True)
class AccountFundsObserved(Event):
    """A live session read the broker's available funds and sized book ``strategy`` from them.

    ``trading_capital_paise = min(available_paise, cap_paise)``: the book's cash for the
    session; ``cap_paise`` is the configured capital of the book (never more is risked).
    """

    strategy: str
    available_paise: int
    cap_paise: int
    trading_capital_paise: int


@event_type("halt.market_halted", 1)
@attrs.frozen(kw_only=True)
class MarketHalted(Event):
    """The whole market halted (NSE market-wide circuit breaker): the book pauses, no decision, no order."""

    strategy: str
    reason: str


@event_type("halt.market_resumed", 1)
@attrs.frozen(kw_only=True)
class MarketResumed(Event):
    """The market-wide halt is over: the book decides again from this bar on."""

    strategy: str


@event_type("account.day_orders_renewed", 1)
@attrs.frozen(kw_only=True)
class DayOrdersRenewed(Event):
    """A session start found orders of an earlier session at a venue whose orders are valid
    for the day only (Breeze equity), and put the account back in the state the log expects.

    ``renewed``: protective legs (stop-loss / target) of a position carried overnight, placed
    again for today under the same client id (``client_order_id``, ``previous_broker_order_id``,
    ``broker_order_id``, ``placed_on`` of the expired placement). ``expired``: other orders
    that lapsed unfilled at their session's close (``client_order_id``, ``placed_on``).
    ``filled``: client ids whose executions from that earlier session were only learnt now;
    their fills reach the book on its next bar like any other fill.
    """

    strategy: str
    renewed: list[dict[str, str]]
    expired: list[dict[str, str]]
    filled: list[str]
