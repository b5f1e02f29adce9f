"""Websocket ticks -> closed bars. Pure: no SDK, no clock, no I/O.

Two tick shapes arrive from Breeze streaming (all values may be strings):

* quote ticks ``{'symbol': '4.1!2885', 'last', 'ltq', 'ttq', 'ltt': 'Wed Feb 12 11:12:20 2025', ...}``
  — a trade at ``last``; volume comes from the change in the cumulative ``ttq``; ``ltt``
  is in the SDK host's local zone (see ``quote_time_zone``);
* OHLCV-stream ticks ``{'interval': '1second'|'1minute', 'stock_code': 'RELIND', 'open', 'high',
  'low', 'close', 'volume', 'datetime'}`` — a finished (1second) or running (1minute)
  candle. 1-second candles are summed; a 1-minute candle replaces the previous update of the
  same minute.

A bar is emitted when a tick from a later bucket arrives for the same symbol, or on
``flush`` at session end. Ticks older than the open bucket are counted in ``late_ticks``
and dropped (closed bars are never reopened).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any

import attrs

from adapters.breeze.times import IST, parse_ist
from core.model import Bar, Interval

SymbolResolver = Callable[[dict[str, Any]], str | None]


@attrs.define
class _Building:
    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int = 0
    has_volume: bool = False
    seen_candles: dict[datetime, tuple[float, float, float, float, int]] = attrs.Factory(dict)


def _f(value: Any) -> float:
    return float(str(value).replace(",", ""))


class TickBarAggregator:
    """Aggregates ticks of many symbols into closed bars of ``interval`` (IST-aligned)."""

    def __init__(self, interval: Interval = Interval.MINUTE_1, *, quote_time_zone: tzinfo | None = None) -> None:
        """``quote_time_zone``: the zone of quote ticks' ``ltt`` text. The SDK formats it with
        ``datetime.fromtimestamp(...)``, i.e. in the local zone of the machine running the SDK
        (the default here); OHLCV-stream ``datetime`` values are IST as Breeze sends them."""
        if not interval.is_intraday:
            raise ValueError("TickBarAggregator builds intraday bars only")
        self.interval = interval
        self._quote_tz = quote_time_zone or datetime.now().astimezone().tzinfo
        self._step = int(interval.duration.total_seconds())
        self._open: dict[str, _Building] = {}
        self._last_cum_volume: dict[str, int] = {}
        self.late_ticks = 0
        self.ignored_ticks = 0

    def bucket_start(self, moment: datetime) -> datetime:
        local = moment.astimezone(IST)
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        return (local - timedelta(seconds=seconds % self._step, microseconds=local.microsecond)).astimezone(
            moment.tzinfo)

    # ------------------------------------------------------------------ inputs

    def on_tick(self, tick: dict[str, Any], resolve: SymbolResolver) -> list[Bar]:
        """Feed one raw Breeze tick; returns bars it closed (possibly none)."""
        symbol = resolve(tick)
        if symbol is None:
            self.ignored_ticks += 1
            return []
        try:
            if "interval" in tick and "datetime" in tick:
                start = parse_ist(tick["datetime"])
                volume = int(_f(tick.get("volume") or 0))
                return self.add_candle(symbol, start, _f(tick["open"]), _f(tick["high"]), _f(tick["low"]),
                                       _f(tick["close"]), volume,
                                       replace=str(tick["interval"]).strip().lower() != "1second")
            at = datetime.strptime(" ".join(str(tick["ltt"]).split()), "%a %b %d %H:%M:%S %Y").replace(
                tzinfo=self._quote_tz)
            price = _f(tick["last"])
            cum = tick.get("ttq")
            return self.add_trade(symbol, at, price,
                                  cumulative_volume=None if cum in (None, "") else int(_f(cum)),
                                  volume=None if tick.get("ltq") in (None, "") else int(_f(tick["ltq"])))
        except (KeyError, ValueError, TypeError):
            self.ignored_ticks += 1
            return []

    def add_trade(self, symbol: str, at: datetime, price: float, *, cumulative_volume: int | None = None,
                  volume: int | None = None) -> list[Bar]:
        """A trade print. ``cumulative_volume`` (day total) wins over ``volume`` when given."""
        start = self.bucket_start(at)
        closed, building = self._roll(symbol, start)
        if building is None:
            # A late print: its volume belongs to a closed bar, so it is dropped, not moved to a later one.
            if cumulative_volume is not None and cumulative_volume > self._last_cum_volume.get(symbol, -1):
                self._last_cum_volume[symbol] = cumulative_volume
            return closed
        qty: int | None = None
        if cumulative_volume is not None:
            previous = self._last_cum_volume.get(symbol)
            if previous is None or cumulative_volume < previous:
                qty = volume if volume is not None else 0
            else:
                qty = cumulative_volume - previous
            self._last_cum_volume[symbol] = cumulative_volume
        elif volume is not None:
            qty = volume
        self._apply(building, price, price, price, price, qty)
        return closed

    def add_candle(self, symbol: str, start: datetime, open_: float, high: float, low: float, close: float,
                   volume: int, *, replace: bool) -> list[Bar]:
        """A streamed candle; ``replace`` for running candles that are re-sent as they grow."""
        bucket = self.bucket_start(start)
        closed, building = self._roll(symbol, bucket)
        if building is None:
            return closed
        if replace:
            building.seen_candles[start] = (open_, high, low, close, volume)
            self._rebuild_from_candles(building)
        else:
            self._apply(building, open_, high, low, close, volume)
        return closed

    def close_before(self, moment: datetime) -> list[Bar]:
        """Close every open bar that ended at or before ``moment`` (quiet symbols in live trading).

        A tick for a bar closed this way arrives late and is dropped (``late_ticks``)."""
        out = []
        for name in sorted(self._open):
            building = self._open[name]
            if building.start + self.interval.duration <= moment:
                del self._open[name]
                if building.open > 0:
                    out.append(self._bar(name, building))
                # keep later ticks of this bucket out: they are late now
                self._open[name] = _Building(start=building.start + self.interval.duration, open=0.0, high=0.0,
                                             low=0.0, close=0.0)
        return out

    def flush(self, symbol: str | None = None) -> list[Bar]:
        """Close the open bars (all symbols, or one) — call at session end."""
        names = [symbol] if symbol is not None else sorted(self._open)
        out = []
        for name in names:
            building = self._open.pop(name, None)
            if building is not None and building.open > 0:
                out.append(self._bar(name, building))
        return out

    # ------------------------------------------------------------------ internals

    def _roll(self, symbol: str, start: datetime) -> tuple[list[Bar], _Building | None]:
        current = self._open.get(symbol)
        if current is not None and start < current.start:
            self.late_ticks += 1
            return [], None
        closed: list[Bar] = []
        if current is not None and start > current.start:
            if current.open > 0:
                closed.append(self._bar(symbol, current))
            current = None
        if current is None:
            current = _Building(start=start, open=0.0, high=0.0, low=0.0, close=0.0)
            self._open[symbol] = current
        return closed, current

    @staticmethod
    def _apply(b: _Building, open_: float, high: float, low: float, close: float, volume: int | None) -> None:
        if b.open <= 0:
            b.open, b.high, b.low = open_, high, low
        else:
            b.high = max(b.high, high)
            b.low = min(b.low, low)
        b.close = close
        if volume is not None:
            b.volume += volume
            b.has_volume = True

    @staticmethod
    def _rebuild_from_candles(b: _Building) -> None:
        candles = [b.seen_candles[k] for k in sorted(b.seen_candles)]
        b.open = candles[0][0]
        b.high = max(c[1] for c in candles)
        b.low = min(c[2] for c in candles)
        b.close = candles[-1][3]
        b.volume = sum(c[4] for c in candles)
        b.has_volume = True

    def _bar(self, symbol: str, b: _Building) -> Bar:
        return Bar(symbol=symbol, interval=self.interval, start=b.start, open=b.open, high=b.high, low=b.low,
                   close=b.close, volume=b.volume if b.has_volume else None)
