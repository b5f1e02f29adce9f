"""FeatureBook: one symbol's bar history plus its feature columns, ready for strategies.

Columns are ``array.array`` (compact, and nearly as fast to index as lists) so that a strategy reading ``book.close[i]`` or
``book.features["rsi_14"][i]`` pays a list index, not a numpy scalar box. A book is
built either in one vectorised pass from a ``BarSeries`` (backtests) or bar by bar with
``append`` (live/paper); both give the same values (see ``core.features.indicators``).
A book built in bulk can be extended with ``append`` too: the incremental state is
rebuilt from the history on the first append.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

import numpy as np

from core.errors import ConfigError, DataError
from core.features.indicators import BarColumns, IncrementalIndicator, IndicatorSpec
from core.model import (
    IST_OFFSET_NS,
    NS_PER_DAY,
    NS_PER_MINUTE,
    Bar,
    BarSeries,
    Interval,
    datetime_to_ns,
    ns_to_datetime,
)

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def ist_session(start_ns: int) -> int:
    """IST calendar date (``date.toordinal()``) of a UTC epoch-ns instant."""
    return (start_ns + IST_OFFSET_NS) // NS_PER_DAY + _EPOCH_ORDINAL


def ist_minute_of_day(start_ns: int) -> int:
    """IST minutes since midnight of a UTC epoch-ns instant (09:15 IST -> 555)."""
    return ((start_ns + IST_OFFSET_NS) % NS_PER_DAY) // NS_PER_MINUTE


def bar_start_ns(bar: Bar) -> int:
    """Exact UTC epoch nanoseconds of ``bar.start`` (integer arithmetic, no float)."""
    return datetime_to_ns(bar.start)


def _check_specs(specs: "Iterable[IndicatorSpec] | Mapping[str, IndicatorSpec]") -> tuple[IndicatorSpec, ...]:
    if isinstance(specs, Mapping):  # a Strategy.feature_spec() dict: name -> spec
        specs = specs.values()
    out: list[IndicatorSpec] = []
    seen: dict[str, IndicatorSpec] = {}
    for spec in specs:
        name = getattr(spec, "name", None)
        if not isinstance(name, str) or not callable(getattr(spec, "batch", None)):
            raise ConfigError(f"{spec!r} is not an indicator spec (needs .name, .batch, .incremental)")
        if name in seen:
            if seen[name] == spec:
                continue  # the same indicator asked for twice (e.g. by two strategies)
            raise ConfigError(f"two different feature specs share the column name {name!r}: "
                              f"{seen[name]!r} and {spec!r}; give them distinct parameters")
        seen[name] = spec
        out.append(spec)
    return tuple(out)


def _shared_session_list(session: np.ndarray) -> list[int]:
    """``session.tolist()`` with one shared ``int`` object per run of equal values.

    Sessions repeat hundreds of times in a row in intraday data; sharing the objects
    saves most of the allocation time and memory of a million-bar book.
    """
    n = session.shape[0]
    if n == 0:
        return []
    starts = np.concatenate(([0], np.flatnonzero(session[1:] != session[:-1]) + 1))
    lengths = np.diff(np.concatenate((starts, [n])))
    objects = np.empty(starts.shape[0], dtype=object)
    objects[:] = session[starts].tolist()
    return np.repeat(objects, lengths).tolist()


_MINUTE_OBJECTS = np.empty(1440, dtype=object)
_MINUTE_OBJECTS[:] = list(range(1440))


def _shared_minute_list(minute: np.ndarray) -> list[int]:
    """``minute.tolist()`` (values 0..1439) sharing one ``int`` object per minute."""
    return _MINUTE_OBJECTS[minute].tolist()


def _doubles(values: np.ndarray) -> array:
    """A compact float column: 8 bytes per bar instead of a list's 32 (pointer + float object)."""
    out = array("d")
    out.frombytes(memoryview(np.ascontiguousarray(values, dtype=np.float64)).cast("B"))
    return out


def _int64s(values: np.ndarray) -> array:
    out = array("q")
    out.frombytes(memoryview(np.ascontiguousarray(values, dtype=np.int64)).cast("B"))
    return out


class FeatureBook:
    """Bar history and feature columns of one symbol at one interval (oldest first).

    Attributes
    ----------
    ts_ns : bar start, UTC epoch nanoseconds.
    session : IST calendar date of the bar start, as ``date.toordinal()``.
    minute_of_day : IST minutes since midnight of the bar START (09:15 -> 555).
    open, high, low, close : float rupees.
    volume : float, NaN where the source has no volume.
    features : column name -> values (NaN during warm-up).
    """

    __slots__ = ("symbol", "interval", "specs", "ts_ns", "session", "minute_of_day", "open", "high",
                 "low", "close", "volume", "features", "interval_minutes", "_updaters")

    def __init__(self, symbol: str, interval: Interval, specs: Sequence[IndicatorSpec]) -> None:
        self.symbol = symbol
        self.interval = interval
        self.interval_minutes = int(interval.duration.total_seconds() // 60)
        self.specs: tuple[IndicatorSpec, ...] = _check_specs(specs)
        # Price, time and feature columns are array.array: indexing one is nearly as fast as a
        # list's, and a million-bar book stays a quarter of the size.
        self.ts_ns: array = array("q")
        self.session: list[int] = []
        self.minute_of_day: list[int] = []
        self.open: array = array("d")
        self.high: array = array("d")
        self.low: array = array("d")
        self.close: array = array("d")
        self.volume: array = array("d")
        self.features: dict[str, array] = {s.name: array("d") for s in self.specs}
        self._updaters: list[IncrementalIndicator] | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def empty(cls, symbol: str, interval: Interval, specs: Sequence[IndicatorSpec]) -> "FeatureBook":
        """A book with no bars, to be filled with :meth:`append`."""
        book = cls(symbol, interval, specs)
        book._updaters = [s.incremental() for s in book.specs]
        return book

    @classmethod
    def from_series(cls, series: BarSeries, specs: Sequence[IndicatorSpec]) -> "FeatureBook":
        """Build the whole book in one vectorised pass (bars must be strictly increasing in time)."""
        book = cls(series.symbol, series.interval, specs)
        start = np.asarray(series.start_ns, dtype=np.int64)
        if start.shape[0] > 1:
            bad = np.flatnonzero(start[1:] <= start[:-1])
            if bad.size:
                k = int(bad[0]) + 1
                raise DataError(f"bars of {series.symbol} ({series.interval.value}) are not in strictly "
                                f"increasing time order at bar {k} (start_ns {int(start[k])} after "
                                f"{int(start[k - 1])}); sort the bars and drop duplicates before building features")
        local = start + IST_OFFSET_NS
        session = local // NS_PER_DAY + _EPOCH_ORDINAL
        minute = (local % NS_PER_DAY) // NS_PER_MINUTE
        cols = BarColumns(open=np.asarray(series.open, dtype=np.float64),
                          high=np.asarray(series.high, dtype=np.float64),
                          low=np.asarray(series.low, dtype=np.float64),
                          close=np.asarray(series.close, dtype=np.float64),
                          volume=np.asarray(series.volume, dtype=np.float64),
                          session=session)
        book.ts_ns = _int64s(start)
        book.session = _shared_session_list(session)
        book.minute_of_day = _shared_minute_list(minute)
        book.open = _doubles(cols.open)
        book.high = _doubles(cols.high)
        book.low = _doubles(cols.low)
        book.close = _doubles(cols.close)
        book.volume = _doubles(cols.volume)
        for spec in book.specs:
            values = spec.batch(cols)
            if values.shape != (len(cols),):
                raise AssertionError(f"{spec!r}.batch returned shape {values.shape}, expected ({len(cols)},)")
            book.features[spec.name] = _doubles(values)
        return book

    def append(self, bar: Bar) -> int:
        """Add one closed bar (later than the last), update every feature, return its index."""
        if bar.symbol != self.symbol or bar.interval is not self.interval:
            raise DataError(f"bar for {bar.symbol} ({bar.interval.value}) appended to the book of "
                            f"{self.symbol} ({self.interval.value}); route bars to the book of their own "
                            f"symbol and interval")
        ts = bar_start_ns(bar)
        if self.ts_ns and ts <= self.ts_ns[-1]:
            raise DataError(f"bar of {self.symbol} starting {bar.start.isoformat()} is not after the last "
                            f"bar in the book (start_ns {self.ts_ns[-1]}); bars must arrive in time order "
                            f"without duplicates")
        if self._updaters is None:
            self._updaters = self._replay()
        session = ist_session(ts)
        volume = math.nan if bar.volume is None else float(bar.volume)
        o, h, lo, c = float(bar.open), float(bar.high), float(bar.low), float(bar.close)
        self.ts_ns.append(ts)
        self.session.append(session)
        self.minute_of_day.append(ist_minute_of_day(ts))
        self.open.append(o)
        self.high.append(h)
        self.low.append(lo)
        self.close.append(c)
        self.volume.append(volume)
        for spec, upd in zip(self.specs, self._updaters):
            self.features[spec.name].append(float(upd.update(o, h, lo, c, volume, session)))
        return len(self.close) - 1

    def _replay(self) -> list[IncrementalIndicator]:
        updaters = [s.incremental() for s in self.specs]
        for k in range(len(self.close)):
            args = (self.open[k], self.high[k], self.low[k], self.close[k], self.volume[k], self.session[k])
            for upd in updaters:
                upd.update(*args)
        return updaters

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self.close)

    def __repr__(self) -> str:
        return (f"FeatureBook({self.symbol!r}, {self.interval.value}, bars={len(self)}, "
                f"features={list(self.features)})")

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def value(self, name: str, i: int) -> float:
        """Feature ``name`` at bar ``i`` (NaN during warm-up)."""
        try:
            column = self.features[name]
        except KeyError:
            raise KeyError(f"feature {name!r} is not in the book of {self.symbol}; available: "
                           f"{sorted(self.features)}") from None
        return column[i]

    def features_at(self, i: int) -> dict[str, float]:
        """Finite feature values at bar ``i``, rounded to 6 decimals (stable event payloads)."""
        out: dict[str, float] = {}
        for name, column in self.features.items():
            v = column[i]
            if math.isfinite(v):
                out[name] = round(v, 6)
        return out

    def bar_end_minute(self, i: int) -> int:
        """IST minute of day at which bar ``i`` closes (start + interval; may exceed 1440 for daily)."""
        return self.minute_of_day[i] + self.interval_minutes

    def start_at(self, i: int) -> datetime:
        """Bar ``i`` start as a tz-aware UTC datetime."""
        return ns_to_datetime(self.ts_ns[i])
