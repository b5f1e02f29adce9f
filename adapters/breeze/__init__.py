"""ICICI Breeze adapters: session, historical bars, live bars, orders.

``breeze-connect`` is optional (extra ``live``) and imported only when a real session is
opened (``open_breeze_session``); nothing here imports it at module level.
"""

from __future__ import annotations

from pathlib import Path

from adapters.breeze.broker import BreezeBookOrders, BreezeBroker, BrokerFunds, DayOrderOutcome, aggressive_limit_paise
from adapters.breeze.credentials import BreezeCredentials, load_breeze_credentials
from adapters.breeze.errors import BreezeRateLimitedError, BreezeTransientError
from adapters.breeze.historical import BreezeHistoricalFeed
from adapters.breeze.live import BreezeLiveBarSource
from adapters.breeze.orders import InMemoryOrderRecords, JsonFileOrderRecords, OrderRecord
from adapters.breeze.ratelimit import TokenBucket
from adapters.breeze.session import BreezeSession, HealthSink, SdkFactory
from adapters.breeze.symbols import BreezeSymbolMap
from adapters.breeze.ticks import TickBarAggregator

__all__ = [
    "BreezeBookOrders", "BreezeBroker", "BreezeCredentials", "BreezeHistoricalFeed", "BreezeLiveBarSource", "BreezeRateLimitedError",
    "BreezeSession", "BreezeSymbolMap", "BreezeTransientError", "BrokerFunds", "DayOrderOutcome", "InMemoryOrderRecords",
    "JsonFileOrderRecords", "OrderRecord", "TickBarAggregator", "TokenBucket", "aggressive_limit_paise",
    "load_breeze_credentials", "open_breeze_session", "symbol_map_for",
]


def open_breeze_session(credentials: BreezeCredentials | None = None, *, dotenv_path: Path | None = None,
                        sdk_factory: SdkFactory | None = None, on_health: HealthSink | None = None,
                        feed_name: str = "breeze") -> BreezeSession:
    """Load credentials (environment/.env) if not given, create the SDK client and log in.

    With the default ``sdk_factory`` this is the only place ``breeze_connect`` is imported.
    """
    creds = credentials or load_breeze_credentials(dotenv_path=dotenv_path)
    return BreezeSession(creds, sdk_factory=sdk_factory, on_health=on_health, feed_name=feed_name).connect()


def symbol_map_for(session: BreezeSession, exchange_code: str = "NSE") -> BreezeSymbolMap:
    """Shipped NSE->ICICI table with ``get_names`` as the fallback lookup."""
    return BreezeSymbolMap(lookup=lambda symbol: session.call("get_names", exchange_code=exchange_code,
                                                              stock_code=symbol))
