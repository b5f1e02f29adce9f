"""``MarketHalts`` over Breeze quotes: each stock's circuit limits, and the index's move for NSE's
market-wide circuit breaker (``core.venue.halts``).

* ``band(symbol)``: ``upper_circuit`` / ``lower_circuit`` of ``get_quotes`` (cached for
  ``refresh``; Breeze's dynamic bands can flex during the day);
* ``market_halt(at)``: the index quote (NIFTY by default) is read at most once per
  ``refresh``; its move from ``previous_close`` is looked up in NSE's table. A triggered level
  halts until its halt and pre-open end (or the close), and fires once per day.

Verified only against the fake SDK (quote rows shaped as the Breeze docs describe); an
unanswered quote means "unknown", never "halted".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from adapters.breeze.session import BreezeSession
from adapters.breeze.symbols import BreezeSymbolMap
from adapters.breeze.times import IST
from core.errors import SenseQuantError
from core.model import rupees_to_paise
from core.venue.halts import NSE_CLOSE, MarketHaltWatch
from ports.halts import PriceBand

def _rupees(value: Any) -> float | None:
    try:
        number = float(str(value).replace(",", ""))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class BreezeMarketHalts:
    def __init__(self, session: BreezeSession, symbol_map: BreezeSymbolMap, *, index_code: str = "NIFTY",
                 exchange_code: str = "NSE", refresh: timedelta = timedelta(seconds=60)) -> None:
        self._session = session
        self._map = symbol_map
        self._index = index_code
        self._exchange = exchange_code
        self._refresh = refresh
        self._bands: dict[str, tuple[datetime, PriceBand | None]] = {}
        self._index_read: datetime | None = None
        self._watch = MarketHaltWatch(NSE_CLOSE)

    def _quote(self, code: str) -> dict[str, Any]:
        try:
            rows = self._session.call_with_retry("get_quotes", stock_code=code, exchange_code=self._exchange,
                                                 expiry_date="", product_type="cash", right="", strike_price="") or []
        except SenseQuantError:
            return {}
        return next((r for r in rows if str(r.get("exchange_code", self._exchange)).upper() == self._exchange),
                    rows[0] if rows else {})

    def band(self, symbol: str, at: datetime) -> PriceBand | None:
        cached = self._bands.get(symbol)
        if cached is not None and at - cached[0] < self._refresh:
            return cached[1]
        quote = self._quote(self._map.to_breeze(symbol))
        upper, lower = _rupees(quote.get("upper_circuit")), _rupees(quote.get("lower_circuit"))
        band = None if upper is None and lower is None else PriceBand(
            lower_paise=rupees_to_paise(str(lower)) if lower else 0,
            upper_paise=rupees_to_paise(str(upper)) if upper else 0)
        self._bands[symbol] = (at, band)
        return band

    def market_halt(self, at: datetime) -> str | None:
        local = at.astimezone(IST)
        active = self._watch.active(local)
        if active is not None:
            return active
        if self._index_read is not None and at - self._index_read < self._refresh:
            return None
        self._index_read = at
        quote = self._quote(self._index)
        ltp, previous = _rupees(quote.get("ltp")), _rupees(quote.get("previous_close"))
        if ltp is None or previous is None:
            return None
        return self._watch.observe(ltp / previous - 1.0, local)


__all__ = ["BreezeMarketHalts"]
