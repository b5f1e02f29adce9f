"""Live closed bars from the Breeze websocket (``LiveBarSource``)."""

from __future__ import annotations

import logging
import queue
import time as _time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

import tenacity

from adapters.breeze.session import BreezeSession
from adapters.breeze.symbols import BreezeSymbolMap
from adapters.breeze.ticks import TickBarAggregator
from core.errors import BrokerApiError, ConfigError
from core.model import Bar, Interval
from ports.clock import Clock

log = logging.getLogger(__name__)


class BreezeLiveBarSource:
    """Subscribes to ticks, aggregates them into closed bars, stops at ``session_end``.

    A bar is emitted when a later tick of its symbol arrives or, for quiet symbols,
    ``close_grace`` after its end on the clock (``None``: only on a later tick / at the end).
    ``feed="quotes"`` (default) subscribes to exchange quotes (trade ticks, volume from the
    cumulative traded quantity); ``feed="ohlcv"`` to the 1-second OHLCV stream.

    Ticks arrive on the SDK's websocket thread and are handed over through a queue. If no
    tick arrives for ``stale_after`` the feed reports itself ``degraded`` (Breeze sockets
    are known to go quiet or drop after a few seconds), and ``ok`` again on the next tick.

    A socket quiet for ``stale_after`` is treated as dropped: it is disconnected, connected and
    every symbol resubscribed, retried with exponential back-off (tenacity: ``reconnect_backoff``,
    doubling up to ``reconnect_max_backoff``) up to ``reconnect_attempts`` times. When every
    attempt failed the feed reports ``down`` (the session goes reduce-only and the monitor raises
    ``breeze_connectivity_lost``) and the cycle starts again after another quiet ``stale_after``;
    the stream itself never raises for a drop, so exits keep their bars the moment ticks return.
    """

    def __init__(self, session: BreezeSession, symbol_map: BreezeSymbolMap, clock: Clock, *,
                 session_end: datetime, exchange_code: str = "NSE",
                 stale_after: timedelta = timedelta(seconds=60), poll_seconds: float = 0.5,
                 quote_time_zone: tzinfo | None = None, feed: str = "quotes",
                 close_grace: timedelta | None = timedelta(seconds=10), reconnect_attempts: int = 5,
                 reconnect_backoff: float = 1.0, reconnect_max_backoff: float = 30.0,
                 sleep: Callable[[float], None] | None = None) -> None:
        if feed not in ("quotes", "ohlcv"):
            raise ConfigError(f"Breeze live feed {feed!r} is unknown; use 'quotes' (trade ticks) or 'ohlcv' "
                              "(1-second candles)")
        self._feed = feed
        self._grace = close_grace
        self._session = session
        self._map = symbol_map
        self._clock = clock
        self._session_end = session_end
        self._exchange = exchange_code
        self._stale_after = stale_after
        self._poll = poll_seconds
        self._quote_tz = quote_time_zone
        self._ticks: "queue.Queue[dict[str, Any]]" = queue.Queue()
        self.ticks_received = 0
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_backoff = reconnect_backoff
        self.reconnect_max_backoff = reconnect_max_backoff
        self._sleep = sleep or getattr(clock, "sleep", None) or _time.sleep
        self.reconnects = 0
        self.failed_reconnect_rounds = 0

    def _on_ticks(self, tick: Any) -> None:
        for item in tick if isinstance(tick, list) else [tick]:
            if isinstance(item, dict):
                self._ticks.put(item)

    def _subscription(self, code: str) -> dict[str, Any]:
        params: dict[str, Any] = {"exchange_code": self._exchange, "stock_code": code, "product_type": "cash"}
        if self._feed == "ohlcv":
            params["interval"] = "1second"          # finished candles: summed into bars, never double counted
        else:
            params.update(get_exchange_quotes=True, get_market_depth=False)
        return params

    def _subscribe(self, sdk: Any, code: str, *, first: bool) -> None:
        try:
            answer = sdk.subscribe_feeds(**self._subscription(code))
        except Exception as exc:  # unknown codes surface as TypeError/KeyError inside the SDK
            answer = f"exception {type(exc).__name__}: {exc}"
        # On failure the SDK returns a string (or None when the socket is not up) instead of raising.
        if answer is None or (isinstance(answer, str) and "exception" in answer.lower()):
            reason = answer or "the websocket is not connected"
            if first:
                self._session.set_health("down", f"subscribe {code} failed: {reason}")
            raise BrokerApiError(f"Breeze subscribe_feeds for {code} failed: {reason}; check the symbol and "
                                 "that the session is valid")

    def _reconnect(self, sdk: Any, codes: list[str]) -> bool:
        """Drop and re-open the socket and resubscribe, with back-off; False (and ``down``) if every try failed."""
        attempts = 0

        def attempt() -> None:
            nonlocal attempts
            attempts += 1
            try:
                sdk.ws_disconnect()
            except Exception:  # the socket is probably gone already
                pass
            sdk.ws_connect()
            sdk.on_ticks = self._on_ticks
            for code in codes:
                self._subscribe(sdk, code, first=False)

        try:
            tenacity.Retrying(stop=tenacity.stop_after_attempt(self.reconnect_attempts),
                              wait=tenacity.wait_exponential(multiplier=self.reconnect_backoff,
                                                             max=self.reconnect_max_backoff),
                              sleep=self._sleep, reraise=True)(attempt)
        except Exception as exc:  # noqa: BLE001 - a lost socket must not end the session
            self.failed_reconnect_rounds += 1
            reason = self._session.redact(f"{type(exc).__name__}: {exc}")
            log.warning("Breeze websocket reconnect failed %d times: %s", attempts, reason)
            self._session.set_health("down", f"websocket reconnect failed {attempts} times, last: {reason}")
            return False
        self.reconnects += 1
        log.info("Breeze websocket reconnected after %d attempt(s); %d symbol(s) resubscribed", attempts, len(codes))
        self._session.set_health("degraded", f"websocket reconnected after {attempts} attempt(s); waiting for ticks")
        return True

    def stream(self, symbols: Sequence[str], interval: Interval) -> Iterator[Bar]:
        aggregator = TickBarAggregator(interval, quote_time_zone=self._quote_tz)
        sdk = self._session.sdk
        codes = {self._map.to_breeze(s): s.upper() for s in symbols}
        tokens = {}
        for code, sym in codes.items():
            token = self._map.stream_token(sym)
            if token:
                tokens[token] = sym

        def resolve(tick: dict[str, Any]) -> str | None:
            if tick.get("stock_code") in codes:
                return codes[tick["stock_code"]]
            return tokens.get(str(tick.get("symbol", "")))

        sdk.ws_connect()
        sdk.on_ticks = self._on_ticks
        try:
            for code in codes:
                self._subscribe(sdk, code, first=True)
            last_tick_at = self._clock.now()
            while self._clock.now() < self._session_end:
                try:
                    tick = self._ticks.get(timeout=self._poll)
                except queue.Empty:
                    if self._clock.now() - last_tick_at > self._stale_after:
                        self._session.set_health("degraded", f"no ticks for {self._stale_after}")
                        if self.reconnect_attempts > 0:
                            self._reconnect(sdk, list(codes))
                            last_tick_at = self._clock.now()  # the next round after another quiet spell
                    if self._grace is not None:
                        yield from aggregator.close_before(self._clock.now() - self._grace)
                    continue
                self.ticks_received += 1
                last_tick_at = self._clock.now()
                self._session.set_health("ok", "ticks arriving")
                if self._grace is not None:
                    # Other symbols' due bars first, so bars come out in time order across symbols.
                    yield from aggregator.close_before(self._clock.now() - self._grace)
                yield from aggregator.on_tick(tick, resolve)
            while not self._ticks.empty():
                yield from aggregator.on_tick(self._ticks.get_nowait(), resolve)
            yield from aggregator.flush()
        finally:
            for code in codes:
                try:
                    sdk.unsubscribe_feeds(**self._subscription(code))
                except Exception:  # best effort on the way out
                    pass
            try:
                sdk.ws_disconnect()
            except Exception:
                pass
