"""Offline sentiment from dated headlines (``data/news/*.csv.gz``), strictly point in time.

Accepted layouts (one per file, detected from the header):

* ``published_at,symbol,search_term,headline`` — naive times are **IST**;
* ``published_at_utc,symbol,publisher,headline,link`` — UTC times.

Every headline is scored once with VADER (finance lexicon) at load. Per symbol the
publication times (int64 ns UTC, sorted) and scores are numpy arrays, so
``score(symbol, as_of)`` finds the window ``[as_of - lookback, as_of)`` with two binary
searches and returns the recency-weighted mean of the compound scores inside it. Only
headlines published strictly **before** ``as_of`` count. Results are memoised per
``(symbol, as_of bucket)``; ``as_of`` is floored to the bucket first, so a memoised value
never uses a headline from later in its bucket.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.sentiment.vader import compound, confidence_for
from core.errors import DataError
from ports.sentiment import SentimentReading

_NS = 1_000_000_000


class HeadlinesSentimentProvider:
    """``SentimentProvider`` replaying historical headlines."""

    def __init__(self, paths: Iterable[Path] | Path, *, lookback: timedelta = timedelta(days=3),
                 half_life: timedelta = timedelta(days=1), bucket: timedelta = timedelta(minutes=1),
                 memo_size: int = 100_000, name: str = "headlines") -> None:
        if isinstance(paths, Path):
            paths = sorted([*paths.glob("*.csv.gz"), *paths.glob("*.csv")]) if paths.is_dir() else [paths]
        self.name = name
        self.paths = list(paths)
        self._lookback_ns = int(lookback.total_seconds() * _NS)
        self._half_life_s = half_life.total_seconds()
        self._bucket_ns = max(1, int(bucket.total_seconds() * _NS))
        self._memo: OrderedDict[tuple[str, int], SentimentReading | None] = OrderedDict()
        self._memo_size = memo_size
        self.memo_hits = 0
        self._times: dict[str, np.ndarray] = {}
        self._scores: dict[str, np.ndarray] = {}
        self._load()

    # --------------------------------------------------------------- loading

    def _load(self) -> None:
        frames = [self._read(path) for path in self.paths]
        if not frames:
            return
        data = pd.concat(frames, ignore_index=True)
        # The same headline listed twice for a symbol (overlapping searches) counts once.
        data = data.drop_duplicates(subset=["symbol", "t_ns", "headline"])
        unique = data["headline"].unique()
        scores = dict(zip(unique, (compound(h) for h in unique)))
        data["score"] = data["headline"].map(scores)
        for symbol, group in data.groupby("symbol", sort=True):
            group = group.sort_values("t_ns", kind="stable")
            self._times[str(symbol)] = group["t_ns"].to_numpy(dtype=np.int64)
            self._scores[str(symbol)] = group["score"].to_numpy(dtype=np.float64)

    @staticmethod
    def _read(path: Path) -> pd.DataFrame:
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read headlines file ({exc})", path=str(path)) from None
        if "published_at_utc" in raw.columns:
            column, default_tz = "published_at_utc", "UTC"
        elif "published_at" in raw.columns:
            column, default_tz = "published_at", "Asia/Kolkata"
        else:
            raise DataError("no time column: need 'published_at' (naive = IST) or 'published_at_utc'",
                            path=str(path), column="published_at")
        for needed in ("symbol", "headline"):
            if needed not in raw.columns:
                raise DataError(f"missing column '{needed}'; expected published_at,symbol,search_term,headline",
                                path=str(path), column=needed)
        parsed = pd.to_datetime(raw[column], errors="coerce", format="ISO8601", utc=default_tz == "UTC")
        bad = parsed.isna()
        if bad.any():
            row_no = int(np.flatnonzero(bad.to_numpy())[0]) + 1
            raise DataError(f"unreadable timestamp {raw[column].iloc[row_no - 1]!r}", path=str(path), row=row_no,
                            column=column)
        if parsed.dt.tz is None:
            parsed = parsed.dt.tz_localize(default_tz)
        times = parsed.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").array.asi8
        return pd.DataFrame({"symbol": raw["symbol"].str.strip().str.upper(), "t_ns": np.array(times, dtype=np.int64),
                             "headline": raw["headline"].astype(str)})

    # -------------------------------------------------------------- scoring

    def symbols(self) -> list[str]:
        return sorted(self._times)

    def headline_count(self, symbol: str) -> int:
        return int(self._times.get(symbol.upper(), np.empty(0)).shape[0])

    def score(self, symbol: str, as_of: datetime) -> SentimentReading | None:
        if as_of.tzinfo is None:
            raise ValueError(f"as_of must be timezone-aware, got {as_of!r}")
        key = symbol.upper()
        as_of_ns = int(as_of.timestamp() * 1_000_000) * 1000
        bucket_ns = as_of_ns - (as_of_ns % self._bucket_ns)
        memo_key = (key, bucket_ns)
        if memo_key in self._memo:
            self.memo_hits += 1
            self._memo.move_to_end(memo_key)
            return self._memo[memo_key]
        reading = self._compute(key, bucket_ns)
        self._memo[memo_key] = reading
        if len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)
        return reading

    def _compute(self, symbol: str, as_of_ns: int) -> SentimentReading | None:
        times = self._times.get(symbol)
        if times is None:
            return None
        hi = int(np.searchsorted(times, as_of_ns, side="left"))          # strictly before as_of
        lo = int(np.searchsorted(times, as_of_ns - self._lookback_ns, side="left"))
        if hi <= lo:
            return None
        ages = (as_of_ns - times[lo:hi]).astype(np.float64) / _NS
        weights = np.power(0.5, ages / self._half_life_s)
        value = float(np.dot(weights, self._scores[symbol][lo:hi]) / weights.sum())
        n = hi - lo
        return SentimentReading(symbol=symbol, score=max(-1.0, min(1.0, value)),
                                as_of=datetime.fromtimestamp(as_of_ns / _NS, tz=timezone.utc),
                                provider=self.name, sample_size=n, confidence=confidence_for(n))
