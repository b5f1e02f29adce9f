"""Sizing a live session from the account: each book's cash is the broker's available funds, capped.

At a fresh session start every book gets ``min(available funds, its configured capital)``
(the configured ``initial_cash_rupees`` is the cap: never more is risked) and an
``AccountFundsObserved`` event says what was read; books of one session split the funds in
proportion to their caps. A resumed session keeps the cash its run started with (the log's
portfolio is folded from it), so a crash never re-sizes a running session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from applications.services.books import BookPlan
from core.errors import ConfigError, ResumeError
from core.events.account import AccountFundsObserved
from core.events.catalog import RunStarted
from ports.event_store import EventStore


def started_cash(store: EventStore, run_id: str) -> dict[str, int]:
    """The cash per book a run started with (``RunStarted.config['initial_cash_paise_by_book']``)."""
    for rec in store.read_stream(f"{run_id}:run"):
        if isinstance(rec.event, RunStarted):
            return {k: int(v) for k, v in rec.event.config.get("initial_cash_paise_by_book", {}).items()}
    raise ResumeError(f"run {run_id} has no RunStarted event; it cannot be resumed")


def size_books_from_funds(plans: Sequence[BookPlan], available_paise: int, *, store: EventStore,
                          resume_run: str | None = None, log: Callable[[str], None] = lambda _m: None
                          ) -> tuple[list[BookPlan], list[AccountFundsObserved]]:
    """The plans with their session cash, and the events to record (none on a resume)."""
    if resume_run is not None:
        cash = started_cash(store, store.get_run(resume_run).run_id)
        return [attrs.evolve(p, initial_cash_paise=cash.get(p.name, p.initial_cash_paise)) for p in plans], []
    if available_paise <= 0:
        raise ConfigError(f"the broker reports {available_paise / 100:,.2f} Rs available for equity; allocate "
                          "funds to equity at the broker before trading live")
    total_cap = sum(p.initial_cash_paise for p in plans) or 1
    sized, events = [], []
    for plan in plans:
        share = available_paise * plan.initial_cash_paise // total_cap
        capital = min(share, plan.initial_cash_paise)
        log(f"{plan.name}: trading capital {capital / 100:,.2f} Rs (available {available_paise / 100:,.2f} Rs, "
            f"cap {plan.initial_cash_paise / 100:,.2f} Rs)")
        sized.append(attrs.evolve(plan, initial_cash_paise=capital))
        events.append(AccountFundsObserved(strategy=plan.name, available_paise=available_paise,
                                           cap_paise=plan.initial_cash_paise, trading_capital_paise=capital))
    return sized, events


__all__ = ["size_books_from_funds", "started_cash"]
