"""A CSV bar cache: one file per fetch plus ``metadata.json`` per symbol/interval.

Layout (``root`` is e.g. ``data/cache/bars``)::

    root/RELIANCE/1minute/2025-02-03_to_2025-02-07.csv
    root/RELIANCE/1minute/metadata.json

``metadata.json`` lists the files and the merged time ranges that were fetched (half-open
``[start, end)``, ISO-8601 with offset), so an empty answer for a holiday still counts as
covered. A CSV is written (temp file + rename) before the metadata names it, and readers only
read files the metadata lists, so a crash never exposes half-written data.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from core.errors import DataError
from core.model import Bar, BarSeries, Interval

IST = timezone(timedelta(hours=5, minutes=30), "IST")
COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
Range = tuple[datetime, datetime]


def _merge(ranges: list[Range]) -> list[Range]:
    out: list[Range] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract(want: Range, have: Sequence[Range], tolerance: timedelta = timedelta(0)) -> list[Range]:
    """Parts of ``want`` not covered by ``have``; gaps no longer than ``tolerance`` are ignored."""
    start, end = want
    gaps: list[Range] = []
    cursor = start
    for a, b in _merge(list(have)):
        if b <= cursor:
            continue
        if a >= end:
            break
        if a > cursor:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return [(a, b) for a, b in gaps if b - a > tolerance]


class CsvBarCache:
    """``MarketDataFeed`` over cached CSVs, and the writer ``HybridFeed`` records fetches with."""

    def __init__(self, root: Path, *, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.root = Path(root)
        self._now = now
        self._memo: dict[tuple[str, Interval], tuple[float, list[Bar]]] = {}

    # ------------------------------------------------------------- MarketDataFeed

    def symbols(self, interval: Interval) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / interval.value / "metadata.json").is_file())

    def history(self, symbol: str, interval: Interval, start: datetime | None = None,
                end: datetime | None = None) -> Sequence[Bar]:
        bars = self._all_bars(symbol.upper(), interval)
        return [b for b in bars if (start is None or b.start >= start) and (end is None or b.start < end)]

    def history_series(self, symbol: str, interval: Interval, start: datetime | None = None,
                       end: datetime | None = None) -> BarSeries:
        return bars_to_series(symbol.upper(), interval, self.history(symbol, interval, start, end))

    # ------------------------------------------------------------------- writer

    def covered(self, symbol: str, interval: Interval) -> list[Range]:
        """Merged ranges already fetched for ``symbol``/``interval``."""
        meta = self._read_meta(symbol.upper(), interval)
        return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in meta.get("ranges", [])]

    def missing(self, symbol: str, interval: Interval, start: datetime, end: datetime,
                tolerance: timedelta = timedelta(0)) -> list[Range]:
        """Sub-ranges of ``[start, end)`` never fetched."""
        return subtract((start, end), self.covered(symbol, interval), tolerance)

    def record(self, symbol: str, interval: Interval, start: datetime, end: datetime, bars: Sequence[Bar],
               source: str) -> None:
        """Store bars fetched for ``[start, end)`` and mark the range covered (even if empty)."""
        symbol = symbol.upper()
        folder = self._folder(symbol, interval)
        folder.mkdir(parents=True, exist_ok=True)
        meta = self._read_meta(symbol, interval)
        meta.setdefault("symbol", symbol)
        meta.setdefault("interval", interval.value)
        files = meta.setdefault("files", {})
        a_ist, b_ist = start.astimezone(IST), end.astimezone(IST)
        stem = f"{a_ist:%Y-%m-%dT%H%M}_to_{b_ist:%Y-%m-%dT%H%M}"
        name = f"{stem}.csv"
        n = 1
        while name in files:
            n += 1
            name = f"{stem}.{n}.csv"
        inside = [b for b in bars if start <= b.start < end]
        tmp = folder / (name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            for bar in inside:
                writer.writerow([bar.start.astimezone(IST).isoformat(), repr(bar.open), repr(bar.high),
                                 repr(bar.low), repr(bar.close), "" if bar.volume is None else bar.volume])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / name)
        files[name] = {
            "date_range": f"{a_ist:%Y-%m-%d} to {b_ist:%Y-%m-%d}",
            "rows": len(inside),
            "start": start.astimezone(IST).isoformat(),
            "end": end.astimezone(IST).isoformat(),
            "fetched_at": self._now().isoformat(),
            "source": source,
        }
        ranges = self.covered(symbol, interval) + [(start, end)]
        meta["ranges"] = [[a.astimezone(IST).isoformat(), b.astimezone(IST).isoformat()] for a, b in _merge(ranges)]
        self._write_meta(symbol, interval, meta)
        self._memo.pop((symbol, interval), None)

    # ---------------------------------------------------------------- internals

    def _folder(self, symbol: str, interval: Interval) -> Path:
        return self.root / symbol / interval.value

    def _meta_path(self, symbol: str, interval: Interval) -> Path:
        return self._folder(symbol, interval) / "metadata.json"

    def _read_meta(self, symbol: str, interval: Interval) -> dict[str, Any]:
        path = self._meta_path(symbol, interval)
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"cache metadata is not valid JSON ({exc}); delete the folder {path.parent} to "
                            "refetch it", path=str(path)) from None

    def _write_meta(self, symbol: str, interval: Interval, meta: dict[str, Any]) -> None:
        path = self._meta_path(symbol, interval)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)

    def _all_bars(self, symbol: str, interval: Interval) -> list[Bar]:
        path = self._meta_path(symbol, interval)
        if not path.is_file():
            return []
        stamp = path.stat().st_mtime_ns
        memo = self._memo.get((symbol, interval))
        if memo is not None and memo[0] == stamp:
            return memo[1]
        meta = self._read_meta(symbol, interval)
        by_start: dict[datetime, Bar] = {}
        # Later fetches win over earlier ones for the same bar.
        for name, info in sorted(meta.get("files", {}).items(), key=lambda kv: kv[1].get("fetched_at", "")):
            for bar in self._read_csv(self._folder(symbol, interval) / name, symbol, interval):
                by_start[bar.start] = bar
        bars = [by_start[k] for k in sorted(by_start)]
        self._memo[(symbol, interval)] = (stamp, bars)
        return bars

    @staticmethod
    def _read_csv(path: Path, symbol: str, interval: Interval) -> list[Bar]:
        out = []
        try:
            fh = path.open(newline="", encoding="utf-8")
        except FileNotFoundError:
            raise DataError("cached file listed in metadata.json is missing; delete metadata.json to refetch",
                            path=str(path)) from None
        with fh:
            reader = csv.DictReader(fh)
            for row_no, row in enumerate(reader, start=1):
                column = "timestamp"
                try:
                    start = datetime.fromisoformat(row["timestamp"])
                    if start.tzinfo is None:
                        raise ValueError("timestamp has no UTC offset")
                    values = []
                    for column in ("open", "high", "low", "close"):
                        values.append(float(row[column]))
                    column = "volume"
                    volume = None if row["volume"] in ("", None) else int(float(row["volume"]))
                except (KeyError, TypeError, ValueError) as exc:
                    raise DataError(f"unreadable value ({exc}); delete this file's entry from metadata.json to "
                                    "refetch it", path=str(path), row=row_no, column=column) from None
                o, h, l, c = values
                if h < l or h < max(o, c) or l > min(o, c):
                    raise DataError(f"high {h} / low {l} do not bracket open {o} and close {c}", path=str(path),
                                    row=row_no, column="high")
                out.append(Bar(symbol=symbol, interval=interval, start=start.astimezone(timezone.utc),
                               open=o, high=h, low=l, close=c, volume=volume))
        return out


def bars_to_series(symbol: str, interval: Interval, bars: Sequence[Bar]) -> BarSeries:
    """Columnar form of ``bars`` (an empty series when there are none)."""
    if bars:
        return BarSeries.from_bars(list(bars))
    import numpy as np
    empty = np.array([], dtype=np.float64)
    return BarSeries(symbol=symbol, interval=interval, start_ns=np.array([], dtype=np.int64), open=empty,
                     high=empty.copy(), low=empty.copy(), close=empty.copy(), volume=empty.copy())
