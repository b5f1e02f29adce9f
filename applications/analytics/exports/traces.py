"""Prediction traces as rotated CSV files (``predictions_*.csv[.gz]``): writing and reading back."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from applications.analytics.metrics import (
    json_safe,
)
from applications.analytics.projections import (
    TRACE_COLUMNS,
    TRACE_EXTRA_COLUMNS,
    filter_traces,
    normalise_traces,
)
from core.errors import DataError

IST = timezone(timedelta(hours=5, minutes=30))
DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024
_JSON_COLUMNS = ("features", "metadata", "signals", "context")


# ==================================================================== trace CSV


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except (ValueError, TypeError):  # NaN/inf or numpy scalars: make it strict JSON first
        return json.dumps(json_safe(value), sort_keys=True, separators=(",", ":"), allow_nan=False,
                          ensure_ascii=False, default=str)


def trace_file_name(stamp: datetime, index: int, compress: bool) -> str:
    """``predictions_YYYYMMDD_HHMMSS_####.csv[.gz]`` (stamp in UTC)."""
    stamp = stamp.astimezone(timezone.utc) if stamp.tzinfo else stamp
    return f"predictions_{stamp:%Y%m%d_%H%M%S}_{index:04d}.csv" + (".gz" if compress else "")


def _csv_line(values: Sequence[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _trace_rows(traces: pd.DataFrame) -> Iterator[list[Any]]:
    ts = [t.isoformat() for t in pd.to_datetime(traces["timestamp"], utc=True)]
    cols = {c: traces[c].tolist() if c in traces else [{}] * len(traces)
            for c in [*TRACE_COLUMNS, *TRACE_EXTRA_COLUMNS]}
    for i in range(len(traces)):
        row: list[Any] = []
        for c in [*TRACE_COLUMNS, *TRACE_EXTRA_COLUMNS]:
            v = ts[i] if c == "timestamp" else cols[c][i]
            if c in _JSON_COLUMNS:
                v = _dumps(v if isinstance(v, dict) else {})
            elif isinstance(v, float):
                v = repr(v) if math.isfinite(v) else ""
            row.append(v)
        yield row


def write_traces_csv(traces: pd.DataFrame, out_dir: Path | str, *, stamp: datetime, compress: bool = False,
                     max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[Path]:
    """Write traces as rotated CSV files; returns the paths written, in order.

    A file is closed and the next one begun before a row would take it past
    ``max_file_bytes`` of CSV text (uncompressed bytes, so rotation does not depend on
    the gzip level); every file holds the header and at least one row. ``stamp`` names
    the files (the run's start, so re-exports are reproducible).
    """
    if max_file_bytes < 1:
        raise ValueError("max_file_bytes must be positive")
    out_dir = Path(out_dir)
    header = _csv_line([*TRACE_COLUMNS, *TRACE_EXTRA_COLUMNS]).encode("utf-8")
    chunks: list[list[bytes]] = [[]]
    size = len(header)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in _trace_rows(traces):
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        line = buf.getvalue().encode("utf-8")
        if chunks[-1] and size + len(line) > max_file_bytes:
            chunks.append([])
            size = len(header)
        chunks[-1].append(line)
        size += len(line)
    staging = Path(tempfile.mkdtemp(prefix=".traces-", dir=_ensure_dir(out_dir)))
    written: list[Path] = []
    try:
        for index, lines in enumerate(chunks):
            name = trace_file_name(stamp, index, compress)
            data = header + b"".join(lines)
            target = staging / name
            if compress:
                with open(target, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                              compresslevel=6) as gz:
                    gz.write(data)
            else:
                target.write_bytes(data)
            written.append(name)
        paths = []
        for name in written:
            os.replace(staging / name, out_dir / name)
            paths.append(out_dir / name)
        return paths
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _trace_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir()
                      if p.name.startswith("predictions_") and (p.name.endswith(".csv") or p.name.endswith(".csv.gz")))
    if path.is_file():
        return [path]
    raise DataError("no such file or folder; pass a predictions_*.csv[.gz] file or a folder of them", path=str(path))


def load_traces(path: Path | str | Sequence[Path | str], strategy: str | None = None) -> pd.DataFrame:
    """Prediction traces from CSV(.gz) files, folders of them, or a list of both.

    ``strategy`` keeps ``intraday`` or ``swing`` traces only (``both``/``None``: all).
    Files written before ``signals``/``context`` existed load with empty dicts there.
    A malformed file raises ``DataError`` naming the file, the row and the column.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    files: list[Path] = []
    for p in paths:
        files.extend(_trace_files(Path(p)))
    frames = [_read_trace_file(f) for f in files]
    frames = [f for f in frames if len(f)]
    if frames:
        df = pd.concat(frames, ignore_index=True)
    else:
        df = pd.DataFrame({c: [] for c in [*TRACE_COLUMNS, *TRACE_EXTRA_COLUMNS]})
    df = normalise_traces(df)
    return filter_traces(df, strategy=strategy)


def _read_trace_file(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, compression="infer")
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read prediction traces: {exc}", path=str(path)) from None
    missing = [c for c in TRACE_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; a trace file needs the header {','.join(TRACE_COLUMNS)}",
                        path=str(path), column=missing[0])
    for col in TRACE_EXTRA_COLUMNS:
        if col not in df.columns:
            df[col] = "{}"
    for col in _JSON_COLUMNS:
        values = df[col].tolist()
        parsed = []
        for i, text in enumerate(values):
            try:
                obj = json.loads(text) if text else {}
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON ({exc.msg}); the column holds a JSON object",
                                path=str(path), row=i + 1, column=col) from None
            if not isinstance(obj, dict):
                raise DataError("expected a JSON object", path=str(path), row=i + 1, column=col)
            parsed.append(obj)
        df[col] = parsed
    for col, kind in (("predicted_confidence", float), ("entry_price", float), ("exit_price", float),
                      ("realized_return_pct", float), ("holding_period_minutes", int)):
        try:
            df[col] = pd.to_numeric(df[col], errors="raise").astype(kind)
        except (ValueError, TypeError):
            bad = next(i for i, v in enumerate(df[col].tolist()) if not _is_number(v))
            raise DataError(f"not a number: {df[col].iloc[bad]!r}", path=str(path), row=bad + 1, column=col) from None
    try:
        df["timestamp"] = _parse_times(df["timestamp"])
    except (ValueError, TypeError):
        bad = next(i for i, v in enumerate(df["timestamp"].tolist()) if not _is_time(v))
        raise DataError(f"not an ISO-8601 time: {df['timestamp'].iloc[bad]!r}", path=str(path), row=bad + 1,
                        column="timestamp") from None
    for col in ("predicted_direction", "actual_direction"):
        df[col] = df[col].str.upper()
    df["source_file"] = path.name
    return df


def _parse_times(text: pd.Series) -> pd.Series:
    """ISO-8601 times to UTC; a time without an offset is NSE exchange time (IST)."""
    text = text.astype(str).str.strip()
    aware = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if aware.any():
        out[aware] = pd.to_datetime(text[aware], utc=True, format="ISO8601")
    if (~aware).any():
        naive = pd.to_datetime(text[~aware], format="ISO8601")
        out[~aware] = naive.dt.tz_localize(IST).dt.tz_convert("UTC")
    return out


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _is_time(v: Any) -> bool:
    try:
        pd.Timestamp(v)
        return True
    except (TypeError, ValueError):
        return False
