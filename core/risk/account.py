"""One risk manager for several books trading one account (e.g. intraday + swing in one process).

``AccountRisk(config)`` holds the account's circuit breaker and caps; ``attach(name,
portfolio)`` gives each book's engine a ``BookRisk`` that looks like a ``RiskManager`` but
answers for the whole account:

* the daily-loss cap is measured on the account: the session's opening equity is the sum
  of the books' opening equities, the loss is the sum of their equities minus that; when
  it breaches the cap, entries stop in **every** book until the next session;
* gross exposure and the per-symbol cap of ``check_entry`` are computed over all books'
  positions against the account's equity.

A book's equity changes only on its own bars and fills, so a book that has not yet seen
the session's first bar contributes its current equity, which is what it opens with.
"""

from __future__ import annotations

from datetime import date

from core.events import CircuitBreakerTripped
from core.risk.manager import PortfolioView, RiskConfig, RiskDecision, RiskManager


class AccountRisk:
    """The shared limits; also a ``PortfolioView`` of the whole account (sums over the books)."""

    def __init__(self, config: RiskConfig | None = None) -> None:
        self.manager = RiskManager(config)
        self.config = self.manager.config
        self._portfolios: dict[str, PortfolioView] = {}
        self._opening: dict[str, int] = {}
        self._session: date | None = None

    def attach(self, name: str, portfolio: PortfolioView) -> "BookRisk":
        if name in self._portfolios:
            raise ValueError(f"book {name!r} is already attached to this account")
        self._portfolios[name] = portfolio
        return BookRisk(self, name)

    # the account as a portfolio view
    def equity_paise(self) -> int:
        return sum(p.equity_paise() for p in self._portfolios.values())

    def gross_exposure_paise(self) -> int:
        return sum(p.gross_exposure_paise() for p in self._portfolios.values())

    def symbol_exposure_paise(self, symbol: str) -> int:
        return sum(p.symbol_exposure_paise(symbol) for p in self._portfolios.values())

    def book_opens(self, name: str, session_date: date, equity_paise: int) -> None:
        """Book ``name`` starts ``session_date`` with ``equity_paise``; the account's opening equity follows."""
        if session_date != self._session:
            tripped_today = self.manager.entries_blocked and self.manager.session_date == session_date
            self._session = session_date
            self._opening = {}
        else:
            tripped_today = self.manager.entries_blocked
        self._opening[name] = int(equity_paise)
        opening = sum(self._opening.get(n, p.equity_paise()) for n, p in self._portfolios.items())
        self.manager.start_session(session_date, opening)
        if tripped_today:
            self.manager._tripped = True  # noqa: SLF001 - the same session continues

    def opening_paise(self, name: str) -> int:
        """Book ``name``'s equity at the account's session open (its current equity if it has not opened)."""
        return int(self._opening.get(name, self._portfolios[name].equity_paise()))

    def restore_trip(self, session_date: date) -> None:
        """A resumed book's log says the breaker tripped on ``session_date`` (the current session)."""
        if self.manager.session_date == session_date or self._session is None:
            self.manager._tripped = True  # noqa: SLF001 - restoring state the manager itself set


class BookRisk:
    """What one book's engine holds: the ``RiskManager`` interface, answered for the account."""

    def __init__(self, account: AccountRisk, name: str) -> None:
        self._account = account
        self.name = name
        self.config = account.config

    @property
    def entries_blocked(self) -> bool:
        return self._account.manager.entries_blocked

    @property
    def _tripped(self) -> bool:  # the engine's restore sets it
        return self._account.manager.entries_blocked

    @_tripped.setter
    def _tripped(self, value: bool) -> None:
        if value:
            self._account.restore_trip(self._account.manager.session_date or date.min)

    @property
    def session_date(self) -> date | None:
        return self._account.manager.session_date

    @property
    def start_of_day_equity_paise(self) -> int | None:
        """This book's equity when the account's session opened (its part of the account's)."""
        if self._account.manager.session_date is None:
            return None
        return self._account.opening_paise(self.name)

    def daily_loss_limit_paise(self) -> int | None:
        """The account's limit: the cap is one for all the books."""
        return self._account.manager.daily_loss_limit_paise()

    def start_session(self, session_date: date, equity_paise: int) -> None:
        self._account.book_opens(self.name, session_date, equity_paise)

    def update(self, equity_paise: int, session_date: date) -> CircuitBreakerTripped | None:
        account = self._account
        if account.manager.session_date != session_date:
            account.book_opens(self.name, session_date, equity_paise)
        return account.manager.update(account.equity_paise(), session_date)

    def check_entry(self, *, symbol: str, quantity: int, price_paise: int,
                    portfolio: PortfolioView) -> RiskDecision:
        return self._account.manager.check_entry(symbol=symbol, quantity=quantity, price_paise=price_paise,
                                                 portfolio=self._account)


__all__ = ["AccountRisk", "BookRisk"]
