"""Breeze market data for paper and live sessions: history for warm-up and websocket bars. Never orders.

Shared by ``applications.roots.paper`` (paper on live data: real prices, simulated fills) and
``applications.roots.live``. It imports only the data modules of ``adapters.breeze``; the
order adapter stays out of reach of paper trading (``.importlinter``).
"""

from __future__ import annotations

from datetime import datetime
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
from core.venue.halts import NSE_CLOSE
from ports.clock import WaitableClock

IST_SESSION_END = NSE_CLOSE


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


@attrs.frozen
class BreezeHistoryCache:
    """Breeze history behind the CSV bar cache: ``feed`` (a ``HybridFeed``) fetches what ``cache`` lacks."""

    feed: Any
    cache: Any
    history: BreezeHistoricalFeed


def default_cache_dir() -> Path:
    """Where fetched bars are cached: ``data/cache/bars`` under the project."""
    return project_root() / "data" / "cache" / "bars"


def open_breeze_history_cache(credentials: BreezeCredentials, clock: WaitableClock, symbols: list[str],
                              cache_dir: Path, *, sdk_factory: Any = None) -> BreezeHistoryCache:
    """Log in and build the hybrid feed: the CSV cache first, Breeze history (rate limited) for the rest."""
    from adapters.hybrid import CsvBarCache, HybridFeed

    limiter = TokenBucket(100, 60.0, monotonic=lambda: clock.now().timestamp(), sleep=clock.sleep)
    session = BreezeSession(credentials, sdk_factory=sdk_factory, rate_limiter=limiter, sleep=clock.sleep).connect()
    symbol_map = BreezeSymbolMap(lookup=lambda symbol: session.call("get_names", exchange_code="NSE",
                                                                    stock_code=symbol))
    history = BreezeHistoricalFeed(session, symbol_map, clock, universe=symbols)
    cache = CsvBarCache(cache_dir, now=clock.now)
    feed = HybridFeed(cache, history, cache_writer=cache, feed_name="breeze+cache", api_source="breeze_api")
    return BreezeHistoryCache(feed=feed, cache=cache, history=history)


def open_cache(cache_dir: Path) -> Any:
    """The CSV bar cache alone (planning a fetch, a dry run: no login)."""
    from adapters.hybrid import CsvBarCache
    return CsvBarCache(cache_dir)


def validate_cache_files(folder: Path, symbol: str, interval: Any) -> list[dict[str, Any]]:
    """Every cached CSV of one symbol/interval folder read back with ``data validate``'s strict checks."""
    from adapters.csv import NseCalendar, read_bar_file
    from adapters.csv.manifest import Manifest

    calendar = NseCalendar()
    manifest = Manifest.empty(folder)
    reports = []
    for file in sorted(folder.glob("*.csv")):
        _cols, report = read_bar_file(file, symbol=symbol, interval=interval, spec=manifest.resolve(file),
                                      calendar=calendar)
        reports.append(report.to_dict())
    return reports


__all__ = ["BreezeData", "BreezeHistoryCache", "default_cache_dir", "load_credentials", "open_breeze_data",
           "open_breeze_history_cache", "open_cache", "validate_cache_files"]
