"""Daily sentiment snapshots (spec 002 §13, US-024 phase 3): write them, and read them back
as a point-in-time ``SentimentProvider`` for backtests.

A snapshot is ``<root>/<SYMBOL>/<YYYY-MM-DD>.jsonl``, one JSON line::

    {"symbol": "RELIANCE", "date": "2018-03-01", "timestamp": "<when it was taken, ISO 8601>",
     "score": 0.21, "confidence": 0.66, "providers": ["headlines"],
     "metadata": {"article_count": 4, "as_of": "2018-03-01T18:30:00+00:00", "lookback_days": 3}}

The snapshot of day D scores what was published before the end of D (00:00 IST of
D+1), so it is known only from D+1 on: ``SnapshotSentimentProvider.score(symbol, t)``
answers with the latest snapshot whose day is strictly before ``t``'s IST date (and
not older than ``max_age_days``), never with the snapshot of ``t``'s own day.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from core.errors import DataError
from ports.sentiment import SentimentProvider, SentimentReading

IST = timezone(timedelta(hours=5, minutes=30))
SNAPSHOT_FIELDS = ("symbol", "date", "timestamp", "score", "confidence", "providers", "metadata")


def end_of_day(day: date) -> datetime:
    """00:00 IST after ``day``: what a snapshot of ``day`` may know."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=IST).astimezone(timezone.utc)


def snapshot_path(root: Path | str, symbol: str, day: date) -> Path:
    return Path(root) / symbol.upper() / f"{day.isoformat()}.jsonl"


@attrs.frozen(kw_only=True, slots=True)
class SnapshotResult:
    """What ingestion did for one symbol and day."""

    symbol: str
    date: date
    path: Path
    status: str  # written | skipped (exists) | would_write (dry run) | no_data
    record: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "date": self.date.isoformat(), "path": str(self.path), "status": self.status,
                "score": None if self.record is None else self.record["score"]}


def snapshot_record(reading: SentimentReading, day: date, taken_at: datetime, lookback_days: float | None
                    ) -> dict[str, Any]:
    meta: dict[str, Any] = {"article_count": int(reading.sample_size), "as_of": reading.as_of.isoformat()}
    if lookback_days is not None:
        meta["lookback_days"] = lookback_days
    return {"symbol": reading.symbol.upper(), "date": day.isoformat(), "timestamp": taken_at.isoformat(),
            "score": round(float(reading.score), 6), "confidence": round(float(reading.confidence), 6),
            "providers": [reading.provider], "metadata": meta}


def take_snapshots(provider: SentimentProvider, root: Path | str, symbols: Sequence[str], days: Iterable[date], *,
                   taken_at: datetime, force: bool = False, dry_run: bool = False,
                   lookback_days: float | None = None) -> list[SnapshotResult]:
    """Score every symbol at the end of every day and write the snapshot files.

    An existing file is kept (``skipped``) unless ``force``; ``dry_run`` writes nothing
    and reports ``would_write``; a day the provider has nothing for is ``no_data`` (no
    file: an absent snapshot means "unknown", never neutral).
    """
    results = []
    for day in days:
        for symbol in symbols:
            path = snapshot_path(root, symbol, day)
            if path.exists() and not force:
                results.append(SnapshotResult(symbol=symbol.upper(), date=day, path=path, status="skipped"))
                continue
            reading = provider.score(symbol, end_of_day(day))
            if reading is None or not math.isfinite(reading.score):
                results.append(SnapshotResult(symbol=symbol.upper(), date=day, path=path, status="no_data"))
                continue
            record = snapshot_record(reading, day, taken_at, lookback_days)
            if dry_run:
                results.append(SnapshotResult(symbol=symbol.upper(), date=day, path=path, status="would_write",
                                              record=record))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            try:
                tmp.write_text(json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n",
                               encoding="utf-8")
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            results.append(SnapshotResult(symbol=symbol.upper(), date=day, path=path, status="written",
                                          record=record))
    return results


def read_snapshot(path: Path) -> dict[str, Any]:
    """The last record of a snapshot file, checked against the spec's fields."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise DataError(f"cannot read sentiment snapshot: {exc}", path=str(path)) from None
    if not lines:
        raise DataError("empty sentiment snapshot", path=str(path))
    try:
        record = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", path=str(path), row=len(lines)) from None
    missing = [f for f in SNAPSHOT_FIELDS if f not in record]
    if missing:
        raise DataError(f"sentiment snapshot lacks {missing}", path=str(path), row=len(lines))
    score = record["score"]
    if not isinstance(score, (int, float)) or not -1.0 <= float(score) <= 1.0:
        raise DataError(f"score must be within [-1, 1], got {score!r}", path=str(path), column="score")
    if record["date"] != path.stem:
        raise DataError(f"the record's date {record['date']} differs from the file name", path=str(path))
    return record


class SnapshotSentimentProvider:
    """Point-in-time sentiment from snapshot files (see the module docstring)."""

    def __init__(self, root: Path | str, *, max_age_days: int = 3, name: str = "snapshots") -> None:
        self.root = Path(root)
        self.max_age_days = max_age_days
        self.name = name
        self._by_symbol: dict[str, list[tuple[date, dict[str, Any]]]] = {}

    def _snapshots(self, symbol: str) -> list[tuple[date, dict[str, Any]]]:
        if symbol not in self._by_symbol:
            folder = self.root / symbol
            rows = []
            if folder.is_dir():
                for path in sorted(folder.glob("*.jsonl")):
                    try:
                        day = date.fromisoformat(path.stem)
                    except ValueError:
                        continue  # not a snapshot file
                    rows.append((day, read_snapshot(path)))
            self._by_symbol[symbol] = rows
        return self._by_symbol[symbol]

    def symbols(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []

    def score(self, symbol: str, as_of: datetime) -> SentimentReading | None:
        if as_of.tzinfo is None:
            raise ValueError(f"as_of must be timezone-aware, got {as_of!r}")
        today = as_of.astimezone(IST).date()
        best = None
        for day, record in self._snapshots(symbol.upper()):
            if day >= today:
                break
            best = (day, record)
        if best is None or (today - best[0]).days > self.max_age_days:
            return None
        day, record = best
        count = int((record.get("metadata") or {}).get("article_count", 0))
        return SentimentReading(symbol=symbol.upper(), score=float(record["score"]), as_of=end_of_day(day),
                                provider=f"{self.name}:{'+'.join(record['providers'])}", sample_size=count,
                                confidence=float(record["confidence"]))
