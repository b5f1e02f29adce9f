"""Historical bars from Breeze ``get_historical_data_v2``, paged at 1000 candles a request."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from adapters.breeze.session import BreezeSession
from adapters.breeze.symbols import BreezeSymbolMap
from adapters.breeze.times import IST, parse_ist, to_breeze_iso
from core.errors import DataError
from core.model import Bar, BarSeries, Interval
from ports.clock import Clock

MAX_CANDLES_PER_REQUEST = 1000
# Breeze has no 15-minute candles: they are built from 5-minute ones.
_SOURCE_INTERVAL = {
    Interval.MINUTE_1: "1minute",
    Interval.MINUTE_5: "5minute",
    Interval.MINUTE_15: "5minute",
    Interval.DAY_1: "1day",
}
_SOURCE_DURATION = {"1minute": timedelta(minutes=1), "5minute": timedelta(minutes=5), "1day": timedelta(days=1)}
# Calendar span of one request: at most 375 one-minute bars per session, 75 five-minute bars
# and one daily bar per day, so each window stays under 1000 candles; a full page still
# continues from its last candle in case a source returns extra (pre-open) rows.
_WINDOW = {"1minute": timedelta(days=2), "5minute": timedelta(days=12), "1day": timedelta(days=1000)}
_DEFAULT_LOOKBACK = {
    Interval.MINUTE_1: timedelta(days=5),
    Interval.MINUTE_5: timedelta(days=30),
    Interval.MINUTE_15: timedelta(days=60),
    Interval.DAY_1: timedelta(days=365 * 2),
}


class BreezeHistoricalFeed:
    """``MarketDataFeed`` over Breeze: validated bars labelled at bar start, tz-aware UTC.

    ``symbols(interval)`` returns the configured universe (Breeze itself can serve any
    listed instrument). Without ``start`` a default lookback per interval is used; without
    ``end`` the clock's now.
    """

    source_name = "breeze_api"

    def __init__(self, session: BreezeSession, symbol_map: BreezeSymbolMap, clock: Clock, *,
                 universe: Iterable[str] = (), exchange_code: str = "NSE") -> None:
        self._session = session
        self._map = symbol_map
        self._clock = clock
        self._universe = [s.upper() for s in universe]
        self._exchange = exchange_code
        self.requests = 0

    def symbols(self, interval: Interval) -> list[str]:
        return list(self._universe)

    def history(self, symbol: str, interval: Interval, start: datetime | None = None,
                end: datetime | None = None) -> Sequence[Bar]:
        end = end or self._clock.now()
        start = start or (end - _DEFAULT_LOOKBACK[interval])
        if start >= end:
            return []
        code = self._map.to_breeze(symbol)
        source = _SOURCE_INTERVAL[interval]
        rows = list(self._fetch(code, source, start, end))
        bars = _to_bars(symbol.upper(), Interval.MINUTE_5 if interval is Interval.MINUTE_15 else interval,
                        rows, code)
        if interval is Interval.MINUTE_15:
            bars = aggregate(bars, Interval.MINUTE_15)
        return [b for b in bars if start <= b.start < end]

    def history_series(self, symbol: str, interval: Interval, start: datetime | None = None,
                       end: datetime | None = None) -> BarSeries:
        return bars_to_series(symbol.upper(), interval, self.history(symbol, interval, start, end))

    def _fetch(self, code: str, source: str, start: datetime, end: datetime) -> Iterable[dict[str, Any]]:
        duration = _SOURCE_DURATION[source]
        cursor = start
        while cursor < end:
            window_end = min(end, cursor + _WINDOW[source])
            self.requests += 1
            page = self._session.call_with_retry(
                "get_historical_data_v2", empty_on=("No Data Found",), interval=source,
                from_date=to_breeze_iso(cursor), to_date=to_breeze_iso(window_end), stock_code=code,
                exchange_code=self._exchange, product_type="cash") or []
            yield from page
            if len(page) >= MAX_CANDLES_PER_REQUEST:
                last = max(parse_ist(row["datetime"]) for row in page)
                cursor = max(last + duration, cursor + duration)
            else:
                cursor = window_end


def _number(row: dict[str, Any], key: str, where: str, index: int) -> float:
    try:
        value = float(row[key])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{key} is missing or not a number ({row.get(key)!r})", path=where, row=index,
                        column=key) from None
    if not math.isfinite(value):
        raise DataError(f"{key} is not finite ({value})", path=where, row=index, column=key)
    return value


def _to_bars(symbol: str, interval: Interval, rows: list[dict[str, Any]], code: str) -> list[Bar]:
    """Validate Breeze rows and build bars; duplicates keep the last row, output sorted."""
    where = f"breeze get_historical_data_v2 {code} {interval.value}"
    by_start: dict[datetime, Bar] = {}
    for index, row in enumerate(rows, start=1):
        try:
            start = parse_ist(row["datetime"])
        except (KeyError, ValueError):
            raise DataError(f"datetime missing or unreadable ({row.get('datetime')!r})", path=where, row=index,
                            column="datetime") from None
        o, h, l, c = (_number(row, k, where, index) for k in ("open", "high", "low", "close"))
        if min(o, h, l, c) <= 0:
            raise DataError(f"bar at {start.astimezone(IST):%Y-%m-%d %H:%M} IST has a non-positive price",
                            path=where, row=index, column="low")
        if h < l or h < max(o, c) or l > min(o, c):
            raise DataError(f"bar at {start.astimezone(IST):%Y-%m-%d %H:%M} IST is inconsistent: "
                            f"open {o}, high {h}, low {l}, close {c} (need low <= open/close <= high)",
                            path=where, row=index, column="high")
        raw_volume = row.get("volume")
        volume = None
        if raw_volume not in (None, ""):
            volume = int(_number(row, "volume", where, index))
            if volume < 0:
                raise DataError(f"negative volume {volume}", path=where, row=index, column="volume")
        if interval is Interval.DAY_1:
            # Daily bars start at 00:00 IST of the session date, whatever time Breeze stamps.
            start = start.astimezone(IST).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(start.tzinfo)
        by_start[start] = Bar(symbol=symbol, interval=interval, start=start, open=o, high=h, low=l,
                              close=c, volume=volume)
    return [by_start[k] for k in sorted(by_start)]


def aggregate(bars: Sequence[Bar], interval: Interval) -> list[Bar]:
    """Combine consecutive finer bars into ``interval`` buckets (IST-aligned, bar-start labels)."""
    step = int(interval.duration.total_seconds())
    out: list[Bar] = []
    bucket: list[Bar] = []
    bucket_start: datetime | None = None
    for bar in bars:
        local = bar.start.astimezone(IST)
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        start = (local - timedelta(seconds=seconds % step)).astimezone(bar.start.tzinfo)
        if bucket and start != bucket_start:
            out.append(_merge(bucket, interval, bucket_start))
            bucket = []
        bucket_start = start
        bucket.append(bar)
    if bucket:
        out.append(_merge(bucket, interval, bucket_start))
    return out


def _merge(bars: list[Bar], interval: Interval, start: datetime | None) -> Bar:
    assert start is not None
    volumes = [b.volume for b in bars if b.volume is not None]
    return Bar(symbol=bars[0].symbol, interval=interval, start=start, open=bars[0].open,
               high=max(b.high for b in bars), low=min(b.low for b in bars), close=bars[-1].close,
               volume=sum(volumes) if volumes else None)


def bars_to_series(symbol: str, interval: Interval, bars: Sequence[Bar]) -> BarSeries:
    """Columnar form of ``bars`` (an empty series when there are none)."""
    if bars:
        return BarSeries.from_bars(list(bars))
    import numpy as np
    empty = np.array([], dtype=np.float64)
    return BarSeries(symbol=symbol, interval=interval, start_ns=np.array([], dtype=np.int64), open=empty,
                     high=empty.copy(), low=empty.copy(), close=empty.copy(), volume=empty.copy())
