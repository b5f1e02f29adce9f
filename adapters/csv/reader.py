"""Read and validate one bar file (``.csv`` / ``.csv.gz``) into numpy columns.

Everything here is vectorised (pyarrow's multi-threaded CSV reader, numpy checks); there
is no per-row Python on the good path. When pyarrow cannot convert a column, the file is
re-read as text to find the exact row and value that is wrong.

Row numbers in messages are 1-based data rows (the header is not counted), so "row 1" is
the first line under the header.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from adapters.csv.calendar import NseCalendar, day_to_date
from adapters.csv.manifest import SourceSpec
from core.errors import DataError
from core.model import IST_OFFSET_NS, NS_PER_DAY, NS_PER_MINUTE, Interval

# canonical column -> accepted header names (compared case-insensitively, stripped)
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "timestamp_utc", "datetime", "date_time", "time", "date"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "v", "vol"),
    "symbol": ("symbol", "ticker", "tradingsymbol"),
}
REQUIRED = ("timestamp", "open", "high", "low", "close")
PRICES = ("open", "high", "low", "close")
_AWARE_RE = re.compile(r"(?:Z|[+-]\d\d:?\d\d)\s*$")
_FIXED_OFFSET_ZONES = {"UTC": 0, "Etc/UTC": 0, "GMT": 0, "Asia/Kolkata": IST_OFFSET_NS,
                       "Asia/Calcutta": IST_OFFSET_NS}
# price factor on the ex-date -> what usually causes it (bonus a:b = a new shares per b held)
_SPLIT_RATIOS = {"1:2 split or 1:1 bonus": 0.5, "2:1 bonus": 1 / 3, "1:2 bonus": 2 / 3, "1:3 bonus": 0.75,
                 "1:4 split or 3:1 bonus": 0.25, "1:5 split or 4:1 bonus": 0.2, "1:10 split": 0.1}
MAX_LISTED = 20


@attrs.define
class BarColumns:
    """Validated, normalised bars of one file (bar-start int64 ns UTC, oldest first)."""

    start_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    row: np.ndarray  # 1-based data row in the source file, for messages

    def __len__(self) -> int:
        return int(self.start_ns.shape[0])

    def take(self, mask_or_idx: np.ndarray) -> "BarColumns":
        return BarColumns(*(getattr(self, f.name)[mask_or_idx] for f in attrs.fields(BarColumns)))

    @classmethod
    def concat(cls, parts: list["BarColumns"]) -> "BarColumns":
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in attrs.fields(BarColumns)))

    @classmethod
    def empty(cls) -> "BarColumns":
        f = np.empty(0, dtype=np.float64)
        i = np.empty(0, dtype=np.int64)
        return cls(i, f, f, f, f, f, i)


@attrs.define
class FileReport:
    """What reading one file found. ``errors`` non-empty means nothing from it is used."""

    path: str
    symbol: str
    interval: str
    timezone: str
    label: str
    declared_by: str
    rows_read: int = 0
    rows_used: int = 0
    first: str | None = None
    last: str | None = None
    sessions: int = 0
    missing_sessions: list[str] = attrs.Factory(list)
    extra_sessions: list[str] = attrs.Factory(list)
    special_sessions: list[str] = attrs.Factory(list)
    short_sessions: list[dict[str, Any]] = attrs.Factory(list)
    gaps: int = 0
    missing_bars: int = 0
    largest_gaps: list[dict[str, Any]] = attrs.Factory(list)
    out_of_session: int = 0
    out_of_session_by_time: dict[str, int] = attrs.Factory(dict)
    duplicates_dropped: int = 0
    big_moves: list[dict[str, Any]] = attrs.Factory(list)
    symbol_column: list[dict[str, Any]] = attrs.Factory(list)
    warnings: list[str] = attrs.Factory(list)
    errors: list[DataError] = attrs.Factory(list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self, filter=lambda a, _: a.name != "errors")
        out["ok"] = self.ok
        out["errors"] = [{"message": str(e), "reason": e.reason, "row": e.row, "column": e.column}
                         for e in self.errors]
        return out


# ---------------------------------------------------------------------------------------
# header and raw reading
# ---------------------------------------------------------------------------------------
def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _sniff(path: Path) -> tuple[list[str], list[str] | None]:
    """Header fields and the first data row (or None)."""
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            first = next(reader, None)
            while first is not None and not any(x.strip() for x in first):
                first = next(reader, None)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read the file ({type(exc).__name__}: {exc}); is it a CSV or a gzip'd CSV?",
                        path=str(path)) from None
    if header is None or not any(h.strip() for h in header):
        raise DataError("the file is empty: expected a header line such as "
                        "'timestamp,open,high,low,close,volume'", path=str(path))
    return header, first


def map_columns(header: list[str], path: Path) -> dict[str, str]:
    """canonical name -> header name as written in the file."""
    lowered: dict[str, str] = {}
    for name in header:
        key = name.strip().lower()
        if key in lowered:
            raise DataError(f"column {name!r} appears twice in the header; remove one", path=str(path),
                            column=name)
        lowered[key] = name
    mapping: dict[str, str] = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        for alias in aliases:  # aliases are in priority order
            if alias in lowered:
                mapping[canonical] = lowered[alias]
                break
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        accepted = "; ".join(f"{c}: {'/'.join(COLUMN_ALIASES[c])}" for c in missing)
        raise DataError(f"missing required column(s) {', '.join(missing)} (header has: {', '.join(header)}). "
                        f"Accepted names (case-insensitive): {accepted}",
                        path=str(path), column=missing[0])
    return mapping


def _read_typed(path: Path, mapping: dict[str, str], aware: bool) -> pa.Table:
    types: dict[str, pa.DataType] = {mapping["timestamp"]: pa.timestamp("ns", tz="UTC") if aware
                                     else pa.timestamp("ns")}
    for c in ("open", "high", "low", "close", "volume"):
        if c in mapping:
            types[mapping[c]] = pa.float64()
    if "symbol" in mapping:
        types[mapping["symbol"]] = pa.dictionary(pa.int32(), pa.string())
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=True, block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(include_columns=list(mapping.values()), column_types=types,
                                             strings_can_be_null=False),
    )


def _read_text(path: Path, mapping: dict[str, str]) -> pa.Table:
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=True, block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(include_columns=list(mapping.values()),
                                             column_types={v: pa.string() for v in mapping.values()},
                                             strings_can_be_null=False),
    )


def _ragged_row(path: Path, width: int) -> tuple[int, int] | None:
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        next(reader, None)
        row = 0
        for fields in reader:
            if not fields:
                continue
            row += 1
            if len(fields) != width:
                return row, len(fields)
    return None


def _parse_numbers(values: np.ndarray, path: Path, column: str, errors: list[DataError]) -> np.ndarray:
    import pandas as pd
    s = pd.Series(values, dtype=object)
    parsed = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    stripped = s.str.strip()
    blank = stripped.isin(["", "NaN", "nan", "NA", "N/A", "null", "NULL", "None", "-NaN", "-nan"]).to_numpy()
    bad = np.isnan(parsed) & ~blank
    if bad.any():
        i = int(np.argmax(bad))
        errors.append(DataError(f"{values[i]!r} is not a number ({int(bad.sum())} such row(s) in this column)",
                                path=str(path), row=i + 1, column=column))
    return parsed


def _parse_timestamps(values: np.ndarray, path: Path, column: str, aware: bool,
                      errors: list[DataError]) -> tuple[np.ndarray, bool]:
    """Slow but precise parser used only when pyarrow rejected the column."""
    import pandas as pd
    s = pd.Series(values, dtype=object).str.strip()
    # utc=True accepts both forms, so this finds what is unparseable in either form
    parsed = pd.to_datetime(s, errors="coerce", format="ISO8601", utc=True)
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        errors.append(DataError(
            f"cannot parse timestamp {values[i]!r} ({int(bad.sum())} such row(s)); "
            f"use ISO-8601 such as 2024-01-01T09:15:00+05:30 or 2024-01-01 09:15:00",
            path=str(path), row=i + 1, column=column))
        return np.zeros(len(values), dtype=np.int64), aware
    has_zone = s.str.contains(_AWARE_RE).to_numpy()
    mismatch = has_zone != aware
    if mismatch.any():
        i = int(np.argmax(mismatch))
        what = "has a UTC offset" if has_zone[i] else "has no UTC offset"
        errors.append(DataError(
            f"timestamp {values[i]!r} {what} while row 1 ({values[0]!r}) "
            f"{'has one' if aware else 'has none'}; a file must use one form throughout",
            path=str(path), row=i + 1, column=column))
        return np.zeros(len(values), dtype=np.int64), aware
    # naive values were read as UTC wall time above; _localize applies the declared zone later
    ns = parsed.dt.tz_localize(None)
    return ns.to_numpy(dtype="datetime64[ns]").astype(np.int64), aware


def _localize(naive_ns: np.ndarray, tz: str, path: Path, column: str, errors: list[DataError]) -> np.ndarray:
    if tz in _FIXED_OFFSET_ZONES:
        return naive_ns - _FIXED_OFFSET_ZONES[tz]
    import pandas as pd
    try:
        idx = pd.DatetimeIndex(naive_ns.view("datetime64[ns]")).tz_localize(tz, ambiguous="raise",
                                                                             nonexistent="raise")
    except Exception as exc:  # pytz/pandas raise several types for DST problems
        errors.append(DataError(f"naive timestamps cannot be read in timezone {tz}: {exc}; declare the "
                                f"file's timezone (sources.toml or --tz) or write offsets",
                                path=str(path), column=column))
        return naive_ns
    return idx.tz_convert("UTC").tz_localize(None).to_numpy().astype(np.int64)


# ---------------------------------------------------------------------------------------
# the reader
# ---------------------------------------------------------------------------------------
def _fmt_ns(ns: int, with_time: bool = True) -> str:
    ist = np.datetime64(int(ns) + IST_OFFSET_NS, "ns")
    text = str(ist.astype("datetime64[m]" if with_time else "datetime64[D]"))
    return text.replace("T", " ") if with_time else text


def read_bar_file(path: Path, *, symbol: str, interval: Interval, spec: SourceSpec, lenient: bool = False,
                  calendar: NseCalendar | None = None, big_move_threshold: float = 0.20,
                  ) -> tuple[BarColumns | None, FileReport]:
    """Read, validate and normalise one file.

    Returns ``(columns, report)``; ``columns`` is ``None`` when ``report.errors`` is not
    empty (nothing from a broken file is used).
    """
    path = Path(path)
    report = FileReport(path=str(path), symbol=symbol, interval=interval.value, timezone=spec.timezone,
                        label=spec.label, declared_by=spec.declared_by)
    try:
        cols = _read_and_check(path, interval, spec, lenient, report)
    except DataError as exc:
        report.errors.append(exc)
        return None, report
    if report.errors:
        return None, report
    assert cols is not None
    try:
        _check_known_range(cols, path, calendar)
        cols = _sessions_and_stats(cols, path, interval, calendar, big_move_threshold, report)
        if len(cols) == 0:
            raise DataError(f"no usable row: all {report.rows_read:,} row(s) fall outside NSE session hours "
                            "(check the file's timezone and bar label)", path=str(path))
        _check_price_band(cols, path, interval, symbol, report)
    except DataError as exc:
        report.errors.append(exc)
        return None, report
    report.rows_used = len(cols)
    if len(cols):
        report.first = _fmt_ns(cols.start_ns[0], interval.is_intraday)
        report.last = _fmt_ns(cols.start_ns[-1], interval.is_intraday)
    return cols, report


# Impossible values (issue 19): no NSE share has traded above Rs 1 crore, and no bar above 10^12 shares.
MAX_PRICE_RUPEES = 10_000_000.0
MAX_VOLUME = 1e12
# NSE stops a share at its price band (2-20 %); F&O shares have dynamic bands that are widened
# step by step within a day, and real days beyond 20 % exist (SBIN +29 % on 2017-10-25,
# TATAMOTORS -30 % on 2019-02-08). A price more than 40 % away from the previous session's close
# is not a trade: it is an error unless that day is a corporate action (split, bonus) of the
# symbol in the corporate-actions list next to the file.
PRICE_BAND = 0.40
CORPORATE_ACTIONS_FILE = "corporate_actions.csv"


def _check_known_range(cols: BarColumns, path: Path, calendar: NseCalendar | None) -> None:
    """Timestamps before or after the years the NSE calendar knows cannot be checked as sessions."""
    first, last = (calendar or NseCalendar()).describe()["years"]
    lo = (date(int(first), 1, 1) - date(1970, 1, 1)).days * NS_PER_DAY - IST_OFFSET_NS
    hi = (date(int(last) + 1, 1, 1) - date(1970, 1, 1)).days * NS_PER_DAY - IST_OFFSET_NS
    outside = (cols.start_ns < lo) | (cols.start_ns >= hi)
    if outside.any():
        i = int(np.argmax(outside))
        raise DataError(f"timestamp {_fmt_ns(int(cols.start_ns[i]))} is outside the NSE calendar's known years "
                        f"{first}-{last} ({int(outside.sum())} such row(s))", path=str(path),
                        row=int(cols.row[i]), column="timestamp")


def _exempt_days(path: Path, symbol: str) -> set[int]:
    """Ex-dates (IST day numbers) of the symbol's corporate actions listed next to the file."""
    listed = path.parent / CORPORATE_ACTIONS_FILE
    if not listed.is_file():
        return set()
    from adapters.csv.corporate_actions import load_corporate_actions
    return {(a.ex_date - date(1970, 1, 1)).days for a in load_corporate_actions(listed)
            if a.symbol == symbol.upper()}


def _check_price_band(cols: BarColumns, path: Path, interval: Interval, symbol: str, report: FileReport) -> None:
    """Every bar's high and low within PRICE_BAND of the previous session's close (first session: its open)."""
    days = (cols.start_ns + IST_OFFSET_NS) // NS_PER_DAY
    change = np.flatnonzero(np.diff(days)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(days)]])
    reference = np.empty(len(starts))
    reference[0] = cols.open[0]
    reference[1:] = cols.close[ends[:-1] - 1]
    per_bar = np.repeat(reference, ends - starts)
    too_high = cols.high > per_bar * (1 + PRICE_BAND)
    too_low = cols.low < per_bar * (1 - PRICE_BAND)
    bad = too_high | too_low
    if not bad.any():
        return
    exempt = _exempt_days(path, symbol)
    if exempt:
        bad &= ~np.isin(days, np.fromiter(exempt, dtype=np.int64))
    if not bad.any():
        return
    i = int(np.argmax(bad))
    column = "high" if too_high[i] else "low"
    value = float(cols.high[i] if too_high[i] else cols.low[i])
    hint = _split_hint(value / per_bar[i])
    raise DataError(f"{column} {value!r} on {day_to_date(int(days[i]))} is {abs(value / per_bar[i] - 1):.0%} away "
                    f"from the previous close {float(per_bar[i])!r}, beyond NSE's price bands (+/-{PRICE_BAND:.0%}) "
                    f"and not a listed corporate action ({int(bad.sum())} such bar(s){'; ' + hint if hint else ''}); "
                    "fix the price or list the "
                    f"split/bonus in {CORPORATE_ACTIONS_FILE}", path=str(path), row=int(cols.row[i]), column=column)


def _read_and_check(path: Path, interval: Interval, spec: SourceSpec, lenient: bool,
                    report: FileReport) -> BarColumns | None:
    p = str(path)
    header, first = _sniff(path)
    mapping = map_columns(header, path)
    if first is None:
        raise DataError("the file has a header but no data rows", path=p)
    ts_idx = [h.strip().lower() for h in header].index(mapping["timestamp"].strip().lower())
    first_ts = first[ts_idx] if ts_idx < len(first) else ""
    aware = bool(_AWARE_RE.search(first_ts.strip()))
    errors = report.errors
    try:
        table = _read_typed(path, mapping, aware)
        n = table.num_rows
        ts_col = table.column(mapping["timestamp"])
        if ts_col.null_count:
            raw = ts_col.is_null().to_numpy(zero_copy_only=False)
            i = int(np.argmax(raw))
            errors.append(DataError("timestamp is empty", path=p, row=i + 1, column=mapping["timestamp"]))
            return None
        ts = ts_col.cast(pa.int64()).to_numpy()
        values = {c: table.column(mapping[c]).to_numpy() for c in ("open", "high", "low", "close", "volume")
                  if c in mapping}
    except pa.ArrowInvalid as exc:
        if "Expected" in str(exc) and "columns" in str(exc):
            bad = _ragged_row(path, len(header))
            if bad is not None:
                raise DataError(f"row has {bad[1]} fields but the header has {len(header)}; "
                                f"fix the quoting or the missing/extra separators", path=p, row=bad[0]) from None
            raise DataError(f"malformed CSV: {exc}", path=p) from None
        text = _read_text(path, mapping)
        n = text.num_rows
        ts_raw = text.column(mapping["timestamp"]).to_numpy(zero_copy_only=False)
        ts, aware = _parse_timestamps(ts_raw, path, mapping["timestamp"], aware, errors)
        values = {c: _parse_numbers(text.column(mapping[c]).to_numpy(zero_copy_only=False), path, mapping[c],
                                    errors)
                  for c in ("open", "high", "low", "close", "volume") if c in mapping}
        table = text
        if errors:
            return None
    report.rows_read = n
    if n == 0:
        raise DataError("the file has a header but no data rows", path=p)
    o, h, lo, c = (values[k] for k in PRICES)
    vol = values.get("volume")
    if vol is None:
        vol = np.full(n, np.nan)

    def first_bad(mask: np.ndarray) -> int | None:
        return int(np.argmax(mask)) if mask.any() else None

    def add(mask: np.ndarray, column: str, message: str) -> None:
        i = first_bad(mask)
        if i is not None:
            count = int(mask.sum())
            more = f" ({count} rows like this)" if count > 1 else ""
            errors.append(DataError(message.format(i=i, row=i + 1) + more, path=p, row=i + 1, column=column))

    for k, arr in zip(PRICES, (o, h, lo, c)):
        col = mapping[k]
        add(np.isnan(arr), col, f"{k} is empty or NaN; every bar needs a finite price")
        add(np.isinf(arr), col, f"{k} is infinite")
        nonpos = arr <= 0
        i = first_bad(nonpos)
        if i is not None:
            add(nonpos, col, f"{k} is {float(arr[i])!r}: prices must be positive")
        absurd = np.isfinite(arr) & (arr > MAX_PRICE_RUPEES)
        i = first_bad(absurd)
        if i is not None:
            add(absurd, col, f"{k} is {float(arr[i])!r}: beyond any NSE share price "
                f"(at most Rs {MAX_PRICE_RUPEES:,.0f}); a corrupted or mis-scaled value")
    if "volume" in mapping:
        add(np.isinf(vol), mapping["volume"], "volume is infinite")
        add(np.isfinite(vol) & (vol > MAX_VOLUME), mapping["volume"],
            f"volume is beyond any NSE bar (at most {MAX_VOLUME:.0e} shares); a corrupted value")
        neg = vol < 0
        i = first_bad(neg)
        if i is not None:
            add(neg, mapping["volume"], f"volume is {float(vol[i])!r}: volume cannot be negative")
    hl = h < lo
    i = first_bad(hl)
    if i is not None:
        add(hl, mapping["high"], f"high {float(h[i])!r} is below low {float(lo[i])!r}")
    bad_h = (h < o) | (h < c)
    i = first_bad(bad_h & ~hl)
    if i is not None:
        which = "open" if h[i] < o[i] else "close"
        add(bad_h & ~hl, mapping["high"],
            f"high {float(h[i])!r} is below {which} {float((o if which == 'open' else c)[i])!r}")
    bad_l = (lo > o) | (lo > c)
    i = first_bad(bad_l & ~hl)
    if i is not None:
        which = "open" if lo[i] > o[i] else "close"
        add(bad_l & ~hl, mapping["low"],
            f"low {float(lo[i])!r} is above {which} {float((o if which == 'open' else c)[i])!r}")

    ts_name = mapping["timestamp"]
    if not aware:
        ts = _localize(ts, spec.timezone, path, ts_name, errors)
    # normalise to bar start
    if interval.is_intraday:
        dur = int(interval.duration.total_seconds()) * 1_000_000_000
        add(ts % dur != 0, ts_name, f"timestamp is not on the {interval.value} grid (row {{row}}); "
            f"bars must be stamped at whole {interval.value.replace('minute', '-minute')} marks")
        start = ts - dur if spec.label == "end" else ts
    else:
        start = ((ts + IST_OFFSET_NS) // NS_PER_DAY) * NS_PER_DAY - IST_OFFSET_NS
    d = np.diff(start)
    back = d < 0
    i = first_bad(back)
    if i is not None:
        errors.append(DataError(
            f"rows are not sorted by time: {_fmt_ns(start[i + 1], interval.is_intraday)} comes after "
            f"{_fmt_ns(start[i], interval.is_intraday)} (row {i + 1}) ({int(back.sum())} place(s)); "
            f"sort the file by timestamp", path=p, row=i + 2, column=ts_name))
    same = d == 0
    keep = None
    if same.any():
        exact = same & (o[1:] == o[:-1]) & (h[1:] == h[:-1]) & (lo[1:] == lo[:-1]) & (c[1:] == c[:-1]) & (
            (vol[1:] == vol[:-1]) | (np.isnan(vol[1:]) & np.isnan(vol[:-1])))
        conflict = same & ~exact
        i = first_bad(conflict)
        if i is not None:
            errors.append(DataError(
                f"duplicate timestamp {_fmt_ns(start[i + 1], interval.is_intraday)} (also row {i + 1}) "
                f"with different prices/volume ({int(conflict.sum())} such row(s)); keep one bar per timestamp",
                path=p, row=i + 2, column=ts_name))
        elif lenient:
            keep = np.concatenate([[True], ~exact])
            dropped = int(exact.sum())
            report.duplicates_dropped = dropped
            report.warnings.append(f"lenient mode: dropped {dropped} exact duplicate row(s) "
                                   f"(first: row {int(np.argmax(exact)) + 2})")
        else:
            i = int(np.argmax(exact))
            errors.append(DataError(
                f"duplicate timestamp {_fmt_ns(start[i + 1], interval.is_intraday)}: exact copy of row {i + 1} "
                f"({int(exact.sum())} such row(s)); remove the copies or read in lenient mode "
                f"(--lenient / lenient=True) to drop exact duplicates",
                path=p, row=i + 2, column=ts_name))
    if errors:
        errors.sort(key=lambda e: (e.row or 0))
        return None
    if "symbol" in mapping:
        _symbol_column(table.column(mapping["symbol"]), start, interval, report)
    rows = np.arange(1, n + 1, dtype=np.int64)
    cols = BarColumns(start.astype(np.int64), o, h, lo, c, vol.astype(np.float64), rows)
    if keep is not None:
        cols = cols.take(keep)
    return cols


def _symbol_column(column: pa.ChunkedArray, start: np.ndarray, interval: Interval, report: FileReport) -> None:
    """Report what the file's own symbol column says (renames, a different spelling)."""
    n = len(column)
    if n == 0:
        return
    if pa.types.is_dictionary(column.type):
        # compare small integer codes, not strings (fast and light on memory)
        unified = column.unify_dictionaries()
        codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in unified.chunks])
        dictionary = unified.chunks[0].dictionary.to_pylist()
        points = np.flatnonzero(codes[1:] != codes[:-1]) + 1

        def value(k: int) -> str:
            return dictionary[int(codes[k])]
    else:
        texts = np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
        points = np.flatnonzero(texts[1:] != texts[:-1]) + 1

        def value(k: int) -> str:
            return str(texts[k])

    first_value = value(0)
    if first_value != report.symbol:
        report.symbol_column.append({"row": 1, "date": _fmt_ns(start[0], False), "value": first_value})
    for k in points[:MAX_LISTED]:
        k = int(k)
        report.symbol_column.append({"row": k + 1, "date": _fmt_ns(start[k], False), "from": value(k - 1),
                                     "value": value(k)})
    if len(points):
        chain = " -> ".join([first_value] + [value(int(k)) for k in points[:MAX_LISTED]])
        report.warnings.append(
            f"Symbol column changes inside the file ({chain}, first change at row {int(points[0]) + 1}, "
            f"{_fmt_ns(start[int(points[0])], False)}): treated as a rename; every row is used as "
            f"{report.symbol} (the file name)")
    elif first_value != report.symbol:
        report.warnings.append(f"Symbol column says {first_value!r}; the file name's symbol "
                               f"{report.symbol!r} is used")


def _split_hint(ratio: float) -> str:
    for name, r in _SPLIT_RATIOS.items():
        if abs(ratio - r) / r < 0.03:
            return f"looks like an unadjusted {name}"
        if abs(ratio - 1 / r) * r < 0.03:
            return f"looks like an unadjusted reverse {name}"
    return ""


def _sessions_and_stats(cols: BarColumns, path: Path, interval: Interval, calendar: NseCalendar | None,
                        threshold: float, report: FileReport) -> BarColumns:
    if len(cols) == 0:
        return cols
    local = cols.start_ns + IST_OFFSET_NS
    days = local // NS_PER_DAY
    if calendar is None:
        calendar = NseCalendar()
    if interval.is_intraday:
        dur_min = int(interval.duration.total_seconds() // 60)
        minute = (local % NS_PER_DAY) // NS_PER_MINUTE
        change = np.flatnonzero(np.diff(days)) + 1
        bounds = np.concatenate([[0], change, [len(days)]])
        u_days = days[bounds[:-1]]
        found, opens, closes, kinds = calendar.lookup(u_days)
        counts = np.diff(bounds)
        o_row = np.repeat(opens, counts)
        c_row = np.repeat(closes, counts)
        inside = (minute >= o_row) & (minute + dur_min <= c_row)
        dropped = int((~inside).sum())
        if dropped:
            report.out_of_session = dropped
            label_shift = dur_min if report.label == "end" else 0
            mins = minute[~inside] + label_shift
            tally = Counter((mins // 60 * 100 + mins % 60).tolist())
            report.out_of_session_by_time = {f"{k // 100:02d}:{k % 100:02d}": v for k, v in tally.most_common(12)}
            report.warnings.append(
                f"dropped {dropped} bar(s) outside the session (09:15-15:30 IST, or the day's special hours); "
                f"most common labels: {', '.join(list(report.out_of_session_by_time)[:5])}")
            cols = cols.take(inside)
            if len(cols) == 0:
                report.warnings.append("no bars left inside session hours")
                return cols
            local = cols.start_ns + IST_OFFSET_NS
            days = local // NS_PER_DAY
            minute = (local % NS_PER_DAY) // NS_PER_MINUTE
            change = np.flatnonzero(np.diff(days)) + 1
            bounds = np.concatenate([[0], change, [len(days)]])
            u_days = days[bounds[:-1]]
            found, opens, closes, kinds = calendar.lookup(u_days)
            counts = np.diff(bounds)
        expected = (closes - opens) // dur_min
        short = np.flatnonzero(counts < expected)
        report.missing_bars = int((expected - counts)[counts < expected].sum())
        for k in short[:MAX_LISTED]:
            report.short_sessions.append({"date": str(day_to_date(u_days[k])), "bars": int(counts[k]),
                                          "expected": int(expected[k])})
        step = np.diff(cols.start_ns)
        same_day = np.diff(days) == 0
        gap_mask = same_day & (step > dur_min * NS_PER_MINUTE)
        report.gaps = int(gap_mask.sum())
        if report.gaps:
            idx = np.flatnonzero(gap_mask)
            sizes = step[idx] // NS_PER_MINUTE
            order = np.argsort(-sizes, kind="stable")[:5]
            report.largest_gaps = [{"after": _fmt_ns(cols.start_ns[idx[j]]), "minutes": int(sizes[j])}
                                   for j in order]
        session_close = cols.close[bounds[1:] - 1]
    else:
        u_days = days
        found, opens, closes, kinds = calendar.lookup(u_days)
        session_close = cols.close
    report.sessions = int(len(u_days))
    all_sessions = calendar.sessions_between(int(u_days[0]), int(u_days[-1]))
    missing = np.setdiff1d(all_sessions, u_days, assume_unique=True)
    if len(missing):
        report.missing_sessions = [str(day_to_date(x)) for x in missing]
        report.warnings.append(f"{len(missing)} calendar session(s) have no bars (first: "
                               f"{report.missing_sessions[0]})")
    extra = u_days[~found]
    if len(extra):
        report.extra_sessions = [str(day_to_date(x)) for x in extra]
        report.warnings.append(f"{len(extra)} day(s) with bars the NSE calendar does not know as sessions "
                               f"(first: {report.extra_sessions[0]}); add them to "
                               f"data/calendar/nse_sessions_missing_from_calendars_observed.csv if real")
    special = u_days[found & (kinds > 0)]
    report.special_sessions = [
        f"{day_to_date(x)} ({calendar.note(int(x)) or 'non-standard hours'})" for x in special]
    if len(session_close) > 1:
        ratio = session_close[1:] / session_close[:-1]
        big = np.flatnonzero(np.abs(ratio - 1) > threshold)
        for k in big[:MAX_LISTED]:
            r = float(ratio[k])
            report.big_moves.append({"date": str(day_to_date(u_days[k + 1])),
                                     "prev_close": float(session_close[k]), "close": float(session_close[k + 1]),
                                     "change_pct": round((r - 1) * 100, 2), "hint": _split_hint(r)})
        if len(big):
            first = report.big_moves[0]
            report.warnings.append(
                f"{len(big)} day-over-day move(s) beyond {threshold:.0%} (first {first['date']}: "
                f"{first['change_pct']:+.1f}%{'; ' + first['hint'] if first['hint'] else ''}): check for "
                f"unadjusted splits/bonuses (adjust before trading on them) or bad prices")
    return cols
