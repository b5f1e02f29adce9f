"""NSE trading symbols <-> ICICI short codes (``RELIANCE`` <-> ``RELIND``).

Breeze identifies instruments by ICICI's own short codes. A wrong code does not fail:
``get_historical_data_v2`` answers ``Success: []``. The shipped table covers the NIFTY-50
names SenseQuant uses; anything else is looked up once with ``get_names`` and cached.
``BreezeSymbolMap.verify`` compares the table with ``get_names`` for a manual check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from core.errors import BrokerApiError, DataError

# NSE symbol -> ICICI short code. Indices use Breeze's index codes.
NSE_TO_ICICI: dict[str, str] = {
    "NIFTY50": "NIFTY",
    "BANKNIFTY": "CNXBAN",
    "ADANIENT": "ADAENT",
    "ADANIPORTS": "ADAPOR",
    "APOLLOHOSP": "APOHOS",
    "ASIANPAINT": "ASIPAI",
    "AXISBANK": "AXIBAN",
    "BAJAJ-AUTO": "BAAUTO",
    "BAJAJFINSV": "BAFINS",
    "BAJFINANCE": "BAJFI",
    "BHARTIARTL": "BHAAIR",
    "BPCL": "BHAPET",
    "BRITANNIA": "BRIIND",
    "CIPLA": "CIPLA",
    "COALINDIA": "COALIN",
    "DRREDDY": "DRREDD",
    "EICHERMOT": "EICMOT",
    "GRASIM": "GRASIM",
    "HCLTECH": "HCLTEC",
    "HDFCBANK": "HDFBAN",
    "HDFCLIFE": "HDFSTA",
    "HEROMOTOCO": "HERHON",
    "HINDALCO": "HINDAL",
    "HINDUNILVR": "HINLEV",
    "ICICIBANK": "ICIBAN",
    "INDUSINDBK": "INDBA",
    "INFY": "INFTEC",
    "IOC": "INDOIL",
    "ITC": "ITC",
    "JSWSTEEL": "JSWSTE",
    "KOTAKBANK": "KOTMAH",
    "LT": "LARTOU",
    "LTIM": "LTINFO",
    "M&M": "MAHMAH",
    "MARUTI": "MARUTI",
    "NESTLEIND": "NESIND",
    "NTPC": "NTPC",
    "ONGC": "ONGC",
    "POWERGRID": "POWGRI",
    "RELIANCE": "RELIND",
    "SBILIFE": "SBILIF",
    "SBIN": "STABAN",
    "SUNPHARMA": "SUNPHA",
    "TATACONSUM": "TATGLO",
    "TATAMOTORS": "TATMOT",
    "TATASTEEL": "TATSTE",
    "TCS": "TCS",
    "TECHM": "TECMAH",
    "TITAN": "TITIND",
    "ULTRACEMCO": "ULTCEM",
    "UPL": "UNIP",
    "WIPRO": "WIPRO",
}

NameLookup = Callable[[str], Any]


class BreezeSymbolMap:
    """Two-way mapping with a ``get_names`` fallback (``lookup(nse_symbol) -> dict``)."""

    def __init__(self, lookup: NameLookup | None = None, table: dict[str, str] | None = None) -> None:
        self._lookup = lookup
        self._to_icici = dict(NSE_TO_ICICI if table is None else table)
        self._to_nse = {code: sym for sym, code in self._to_icici.items()}
        self._tokens: dict[str, str] = {}
        self.lookups = 0

    def to_breeze(self, symbol: str) -> str:
        """The ICICI short code of an NSE symbol; ``DataError`` if neither table nor lookup knows it."""
        key = symbol.strip().upper()
        code = self._to_icici.get(key)
        if code is not None:
            return code
        info = self._lookup_names(key)
        code = (info or {}).get("isec_stock_code")
        if not code:
            raise DataError(f"unknown symbol {symbol!r}: not in the shipped NSE->ICICI code table and Breeze "
                            "get_names did not find it; check the NSE symbol or add it to the table",
                            column="symbol")
        self._remember(key, str(code), info)
        return str(code)

    def to_nse(self, code: str) -> str:
        """The NSE symbol of an ICICI short code (the code itself if unknown)."""
        return self._to_nse.get(code.strip().upper(), code.strip().upper())

    def stream_token(self, symbol: str) -> str | None:
        """``4.1!<token>`` for quote streaming, when ``get_names`` has told us the token."""
        key = symbol.strip().upper()
        if key not in self._tokens:
            info = self._lookup_names(key)
            if info:
                self._remember(key, str(info.get("isec_stock_code") or self.to_breeze(key)), info)
        return self._tokens.get(key)

    def symbol_for_token(self, token: str) -> str | None:
        for sym, tok in self._tokens.items():
            if tok == token:
                return sym
        return None

    def verify(self, symbols: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """Symbols whose table code differs from ``get_names``: ``{symbol: (table, breeze)}``."""
        out: dict[str, tuple[str, str | None]] = {}
        for sym in symbols:
            key = sym.upper()
            info = self._lookup_names(key)
            live = (info or {}).get("isec_stock_code")
            table = self._to_icici.get(key, "")
            if live != table:
                out[key] = (table, live)
        return out

    def _lookup_names(self, key: str) -> dict[str, Any] | None:
        if self._lookup is None:
            return None
        self.lookups += 1
        try:
            info = self._lookup(key)
        except BrokerApiError:       # "not found" answers; session/limit errors still propagate
            return None
        if isinstance(info, dict) and "Success" in info:  # tolerate an enveloped answer
            info = info.get("Success")
        if isinstance(info, list):
            info = info[0] if info else None
        return info if isinstance(info, dict) else None

    def _remember(self, key: str, code: str, info: dict[str, Any] | None) -> None:
        self._to_icici.setdefault(key, code)
        self._to_nse.setdefault(code, key)
        token = (info or {}).get("isec_token_level1")
        if token:
            self._tokens[key] = str(token)
