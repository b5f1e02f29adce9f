"""``CsvFeed``: the ``MarketDataFeed`` over a directory of CSV / CSV.gz bar files.

Layouts (both may be mixed in one directory)::

    {root}/{SYMBOL}_{interval}.csv[.gz]          one file per symbol and interval
    {root}/{SYMBOL}/{interval}/*.csv[.gz]        several files, concatenated and de-duplicated

``interval`` is written as ``1minute``, ``5minute``, ``15minute`` or ``1day`` (aliases such as
``1min`` / ``1d`` are accepted). 5- and 15-minute bars are built from 1-minute files when no
file exists at that interval.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone as dt_timezone, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from adapters.csv.calendar import NseCalendar
from adapters.csv.manifest import Manifest, check_label, check_timezone
from adapters.csv.reader import BarColumns, FileReport, read_bar_file
from core.errors import DataError
from core.model import IST_OFFSET_NS, Bar, BarSeries, Interval, datetime_to_ns

log = logging.getLogger(__name__)
IST = dt_timezone(timedelta(hours=5, minutes=30), "IST")
SUFFIXES = (".csv.gz", ".csv")


def _strip_suffix(name: str) -> str | None:
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return None


def _parse_interval(text: str) -> Interval | None:
    try:
        return Interval.parse(text)
    except ValueError:
        return None


def _as_interval(value: Interval | str) -> Interval:
    return value if isinstance(value, Interval) else Interval.parse(str(value))


def discover(root: Path) -> dict[tuple[str, Interval], list[Path]]:
    """All bar files under ``root`` keyed by (symbol, interval)."""
    found: dict[tuple[str, Interval], list[Path]] = {}
    if not root.is_dir():
        return found
    for entry in sorted(root.iterdir()):
        if entry.is_file():
            stem = _strip_suffix(entry.name)
            if stem is None or "_" not in stem:
                continue
            symbol, _, interval_text = stem.rpartition("_")
            interval = _parse_interval(interval_text)
            if interval is not None and symbol:
                found.setdefault((symbol, interval), []).append(entry)
        elif entry.is_dir() and not entry.name.startswith("."):
            for sub in sorted(entry.iterdir()):
                interval = _parse_interval(sub.name) if sub.is_dir() else None
                if interval is None:
                    continue
                files = sorted(f for f in sub.iterdir() if f.is_file() and _strip_suffix(f.name) is not None)
                if files:
                    found.setdefault((entry.name, interval), []).extend(files)
    return found


def to_series(symbol: str, interval: Interval, cols: BarColumns) -> BarSeries:
    return BarSeries(symbol=symbol, interval=interval, start_ns=cols.start_ns, open=cols.open, high=cols.high,
                     low=cols.low, close=cols.close, volume=cols.volume)


def slice_series(series: BarSeries, start: datetime | None, end: datetime | None) -> BarSeries:
    lo, hi = 0, len(series)
    if start is not None:
        lo = int(np.searchsorted(series.start_ns, _to_ns(start, "start"), side="left"))
    if end is not None:
        hi = int(np.searchsorted(series.start_ns, _to_ns(end, "end"), side="left"))
    if lo == 0 and hi == len(series):
        return series
    hi = max(hi, lo)
    return BarSeries(symbol=series.symbol, interval=series.interval, start_ns=series.start_ns[lo:hi],
                     open=series.open[lo:hi], high=series.high[lo:hi], low=series.low[lo:hi],
                     close=series.close[lo:hi], volume=series.volume[lo:hi])


def _to_ns(value: datetime, name: str) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        raise DataError(f"{name}={value!r} must be timezone-aware (e.g. with tzinfo=IST)")
    return datetime_to_ns(value)


def resample(cols: BarColumns, interval: Interval) -> BarColumns:
    """Aggregate 1-minute bars into ``interval`` bars (IST 09:15 is on every 5/15-minute mark)."""
    if len(cols) == 0:
        return cols
    dur = int(interval.duration.total_seconds()) * 1_000_000_000
    bucket = (cols.start_ns + IST_OFFSET_NS) // dur
    starts = np.concatenate([[0], np.flatnonzero(np.diff(bucket)) + 1])
    ends = np.concatenate([starts[1:], [len(bucket)]]) - 1
    return BarColumns(
        start_ns=bucket[starts] * dur - IST_OFFSET_NS,
        open=cols.open[starts],
        high=np.maximum.reduceat(cols.high, starts),
        low=np.minimum.reduceat(cols.low, starts),
        close=cols.close[ends],
        volume=np.add.reduceat(cols.volume, starts),
        row=cols.row[starts],
    )


class CsvFeed:
    """Validated bars from CSV files; implements ``ports.market_data.MarketDataFeed``.

    Parameters
    ----------
    root:
        The data directory (e.g. ``data/market``); may hold a ``sources.toml`` manifest.
    timezone:
        Timezone of naive timestamps for files the manifest does not declare
        (default ``Asia/Kolkata``). Aware timestamps always keep their own offset.
    label:
        ``"start"`` or ``"end"``: whether undeclared files stamp a bar at its opening or its
        closing minute. Output bars are always labelled by their start. Daily bars ignore
        the label: a daily bar starts at 00:00 IST of its session date.
    lenient:
        Drop exact duplicate rows (with a warning) instead of rejecting the file. Nothing
        else is ever dropped silently.
    big_move_threshold:
        Day-over-day close-to-close moves beyond this fraction are reported (split/bonus check).
    calendar:
        The NSE calendar (default: pandas-market-calendars plus ``data/calendar`` specials).
    """

    def __init__(self, root: Path | str, *, timezone: str | None = None, label: str | None = None,
                 lenient: bool = False, big_move_threshold: float = 0.20, calendar: NseCalendar | None = None,
                 resample_minutes: bool = True) -> None:
        self.root = Path(root)
        if timezone is not None:
            check_timezone(timezone, "CsvFeed(timezone=...)")
        if label is not None:
            label = check_label(label, "CsvFeed(label=...)")
        self.timezone = timezone
        self.label = label
        self.lenient = lenient
        self.big_move_threshold = big_move_threshold
        self.calendar = calendar if calendar is not None else NseCalendar()
        self.resample_minutes = resample_minutes
        self.manifest = Manifest.load(self.root)
        self._cache: dict[tuple[str, Interval], tuple[tuple[Any, ...], BarSeries, list[FileReport]]] = {}

    # -- MarketDataFeed ---------------------------------------------------------------------
    def symbols(self, interval: Interval) -> list[str]:
        """Symbols with files at ``interval`` (or 1-minute files to resample from)."""
        interval = _as_interval(interval)
        files = discover(self.root)
        out = {s for (s, i) in files if i is interval}
        if self.resample_minutes and interval in (Interval.MINUTE_5, Interval.MINUTE_15):
            out |= {s for (s, i) in files if i is Interval.MINUTE_1}
        return sorted(out)

    def history(self, symbol: str, interval: Interval, start: datetime | None = None,
                end: datetime | None = None) -> Sequence[Bar]:
        """Bars with ``start <= bar.start < end``, oldest first, ``Bar.start`` in IST."""
        series = self.history_series(symbol, interval, start, end)
        if len(series) == 0:
            return []
        interval = _as_interval(interval)
        base = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
        starts = (series.start_ns // 1000).tolist()
        opens, highs, lows, closes = (a.tolist() for a in (series.open, series.high, series.low, series.close))
        vols = series.volume.tolist()
        return [Bar(symbol=series.symbol, interval=interval,
                    start=(base + timedelta(microseconds=us)).astimezone(IST),
                    open=opens[i], high=highs[i], low=lows[i], close=closes[i],
                    volume=None if vols[i] != vols[i] else int(vols[i]))
                for i, us in enumerate(starts)]

    def history_series(self, symbol: str, interval: Interval, start: datetime | None = None,
                       end: datetime | None = None) -> BarSeries:
        """Columnar bars with ``start <= start_ns < end`` (bounds optional), oldest first."""
        series, _ = self._load(symbol, _as_interval(interval))
        return slice_series(series, start, end)

    # -- extras -----------------------------------------------------------------------------
    def reports(self, symbol: str, interval: Interval) -> list[FileReport]:
        """Validation reports of the files behind ``symbol``/``interval`` (loads them if needed)."""
        _, reports = self._load(symbol, _as_interval(interval))
        return reports

    def files(self, symbol: str, interval: Interval) -> list[Path]:
        return discover(self.root).get((symbol, _as_interval(interval)), [])

    def describe(self) -> dict[str, Any]:
        """The feed's effective settings, for recording in a run's configuration."""
        return {
            "kind": "csv",
            "root": str(self.root),
            "timezone": self.timezone or self.manifest.defaults_timezone or "Asia/Kolkata",
            "label": self.label or self.manifest.defaults_label or "start",
            "lenient": self.lenient,
            "big_move_threshold": self.big_move_threshold,
            "resample_minutes": self.resample_minutes,
            "session": "NSE 09:15-15:30 IST, special hours per calendar",
            "manifest": self.manifest.describe(),
            "calendar": self.calendar.describe(),
        }

    # -- loading ----------------------------------------------------------------------------
    def _load(self, symbol: str, interval: Interval) -> tuple[BarSeries, list[FileReport]]:
        found = discover(self.root)
        files = found.get((symbol, interval), [])
        source_interval = interval
        if not files and self.resample_minutes and interval in (Interval.MINUTE_5, Interval.MINUTE_15):
            files = found.get((symbol, Interval.MINUTE_1), [])
            source_interval = Interval.MINUTE_1
        if not files:
            have = sorted({s for (s, i) in found if i is interval})
            raise DataError(f"no {interval.value} data for symbol {symbol!r} under {self.root} "
                            f"(expected {symbol}_{interval.value}.csv[.gz] or {symbol}/{interval.value}/*.csv[.gz]); "
                            f"available: {', '.join(have) or 'none'}")
        key = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        cached = self._cache.get((symbol, interval))
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        parts: list[BarColumns] = []
        reports: list[FileReport] = []
        for f in files:
            spec = self.manifest.resolve(f, timezone=self.timezone, label=self.label)
            cols, report = read_bar_file(f, symbol=symbol, interval=source_interval, spec=spec,
                                         lenient=self.lenient, calendar=self.calendar,
                                         big_move_threshold=self.big_move_threshold)
            reports.append(report)
            for w in report.warnings:
                log.info("%s: %s", f, w)
            if not report.ok:
                first = report.errors[0]
                more = len(report.errors) - 1
                if more:
                    first = DataError(f"{first.reason} (and {more} more problem(s) in this file; run "
                                      f"`sensequant data validate {f}` for all)",
                                      path=first.path, row=first.row, column=first.column)
                raise first
            assert cols is not None
            parts.append(cols)
        cols = merge_files(parts, files) if len(parts) > 1 else parts[0]
        if source_interval is not interval:
            cols = resample(cols, interval)
        series = to_series(symbol, interval, cols)
        self._cache[(symbol, interval)] = (key, series, reports)
        return series, reports


def merge_files(parts: list[BarColumns], files: list[Path]) -> BarColumns:
    """Concatenate per-file bars; drop bars repeated identically across files, reject conflicts."""
    file_idx = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in enumerate(parts)])
    cols = BarColumns.concat(parts)
    order = np.argsort(cols.start_ns, kind="stable")
    cols = cols.take(order)
    file_idx = file_idx[order]
    same = np.diff(cols.start_ns) == 0
    if not same.any():
        return cols

    def eq(a: np.ndarray) -> np.ndarray:
        return (a[1:] == a[:-1]) | (np.isnan(a[1:]) & np.isnan(a[:-1]))

    exact = same & eq(cols.open) & eq(cols.high) & eq(cols.low) & eq(cols.close) & eq(cols.volume)
    conflict = same & ~exact
    if conflict.any():
        i = int(np.argmax(conflict))
        a, b = int(file_idx[i]), int(file_idx[i + 1])
        when = np.datetime64(int(cols.start_ns[i + 1]) + IST_OFFSET_NS, "ns").astype("datetime64[m]")
        when = str(when).replace("T", " ")
        raise DataError(f"bar starting {when} IST is also in {files[a]} row {int(cols.row[i])} with different "
                        f"prices/volume ({int(conflict.sum())} such bar(s)); overlapping files must agree",
                        path=str(files[b]), row=int(cols.row[i + 1]))
    return cols.take(np.concatenate([[True], ~exact]))
