"""Breeze market data for paper and live sessions: history for warm-up and websocket bars. Never orders.

Shared by ``applications.roots.paper`` (paper on live data: real prices, simulated fills) and
``applications.roots.live``. It imports only the data modules of ``adapters.breeze``; the
order adapter stays out of reach of paper trading (``.importlinter``).
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Any

import attrs

from adapters.breeze.credentials import BreezeCredentials, load_breeze_credentials
from adapters.breeze.historical import BreezeHistoricalFeed
from adapters.breeze.live import BreezeLiveBarSource
from adapters.breeze.ratelimit import TokenBucket
from adapters.breeze.session import BreezeSession
from adapters.breeze.symbols import BreezeSymbolMap
from applications.wiring.store import project_root
from ports.clock import WaitableClock

IST_SESSION_END = time(15, 30)


@attrs.frozen
class BreezeData:
    session: BreezeSession
    symbol_map: BreezeSymbolMap
    history: BreezeHistoricalFeed
    bars: BreezeLiveBarSource


def load_credentials(environ: dict[str, str] | None = None, dotenv_path: Path | None = None) -> BreezeCredentials:
    """BREEZE_API_KEY/SECRET/SESSION_TOKEN from the environment or the project's ``.env`` (typed error if missing)."""
    return load_breeze_credentials(environ, dotenv_path=dotenv_path if dotenv_path is not None
                                   else project_root() / ".env")


def open_breeze_data(credentials: BreezeCredentials, clock: WaitableClock, symbols: list[str], *,
                     sdk_factory: Any = None, session_end: datetime | None = None,
                     tick_poll_seconds: float = 0.5, on_health: Any = None) -> BreezeData:
    """Log in, then build the history feed and the websocket bar source (bars close on the clock's IST day).

    ``on_health`` receives the session's ``FeedHealthChanged`` (login, expired token, websocket)."""
    from adapters.system import IST

    # Rate-limit waits and retry back-off go through the clock port (instant under a test clock).
    limiter = TokenBucket(100, 60.0, monotonic=lambda: clock.now().timestamp(), sleep=clock.sleep)
    session = BreezeSession(credentials, sdk_factory=sdk_factory, rate_limiter=limiter, sleep=clock.sleep,
                           on_health=on_health).connect()
    symbol_map = BreezeSymbolMap(lookup=lambda symbol: session.call("get_names", exchange_code="NSE",
                                                                    stock_code=symbol))
    history = BreezeHistoricalFeed(session, symbol_map, clock, universe=symbols)
    end = session_end or datetime.combine(clock.now().astimezone(IST).date(), IST_SESSION_END, tzinfo=IST)
    bars = BreezeLiveBarSource(session, symbol_map, clock, session_end=end, poll_seconds=tick_poll_seconds)
    return BreezeData(session=session, symbol_map=symbol_map, history=history, bars=bars)


__all__ = ["BreezeData", "load_credentials", "open_breeze_data"]
