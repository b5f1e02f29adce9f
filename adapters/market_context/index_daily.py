"""NIFTY 50 regime figures at a trade's entry, from daily index closes, without look-ahead.

At a moment ``t`` only sessions whose IST date is strictly before ``t``'s IST date are
used: an intraday entry at 10:05 on day D cannot know D's close, and a swing entry at
D's open knows the closes up to D-1. The figures (prefix = the index name, lower case):

- ``<index>_close``: the last known close (session D-1);
- ``<index>_return_1d`` / ``_return_5d``: simple returns of that close over 1 and 5
  sessions before it;
- ``<index>_realized_vol_20d``: annualised (sqrt 252) sample standard deviation of the
  20 daily log returns ending at D-1;
- ``<index>_age_days``: calendar days from that session to ``t``'s date (a gap in the
  source shows here rather than being hidden).

Nothing is returned when the last known session is more than ``max_age_days`` old
(outside the data's range). India VIX is not provided: no licensed VIX history is
available to this project (see data/README.md).
"""

from __future__ import annotations

import bisect
import math
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError

IST = timezone(timedelta(hours=5, minutes=30))
TRADING_DAYS_PER_YEAR = 252


def load_index_closes(path: Path | str) -> tuple[list[date], np.ndarray]:
    """``(session dates, closes)`` from a ``date,close,...`` CSV(.gz), sorted, validated."""
    path = Path(path)
    try:
        df = pd.read_csv(path, usecols=["date", "close"], compression="infer")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read index closes: {exc}", path=str(path)) from None
    try:
        days = pd.to_datetime(df["date"], format="%Y-%m-%d").dt.date
    except (ValueError, TypeError) as exc:
        raise DataError(f"index dates must be YYYY-MM-DD: {exc}", path=str(path), column="date") from None
    closes = pd.to_numeric(df["close"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(closes) | (closes <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"not a positive close: {df['close'].iloc[row]!r}", path=str(path), row=row + 1,
                        column="close")
    order = np.argsort(np.asarray(days, dtype=object), kind="stable")
    days = [days.iloc[i] for i in order]
    closes = closes[order]
    if len(set(days)) != len(days):
        raise DataError("duplicate session dates", path=str(path), column="date")
    return days, closes


class IndexDailyContext:
    """``MarketContextProvider`` over one index's daily closes."""

    def __init__(self, days: list[date], closes: np.ndarray, *, index: str = "NIFTY50", max_age_days: int = 7,
                 source: str = "") -> None:
        self.name = f"{index.lower()}-daily"
        self.index = index
        self.source = source
        self._days = list(days)
        self._closes = np.asarray(closes, dtype=float)
        self._log_returns = np.diff(np.log(self._closes))
        self._max_age = max_age_days
        self._prefix = index.lower()

    @classmethod
    def from_csv(cls, path: Path | str, *, index: str = "NIFTY50", max_age_days: int = 7) -> "IndexDailyContext":
        days, closes = load_index_closes(path)
        return cls(days, closes, index=index, max_age_days=max_age_days, source=Path(path).name)

    @property
    def first_session(self) -> date | None:
        return self._days[0] if self._days else None

    @property
    def last_session(self) -> date | None:
        return self._days[-1] if self._days else None

    def context_at(self, when: datetime) -> dict[str, float]:
        if when.tzinfo is None:
            raise ValueError("context_at needs an aware datetime")
        today = when.astimezone(IST).date()
        k = bisect.bisect_left(self._days, today) - 1  # the last session strictly before today
        if k < 0:
            return {}
        age = (today - self._days[k]).days
        if age > self._max_age:
            return {}
        c = self._closes
        p = self._prefix
        out = {f"{p}_close": round(float(c[k]), 4), f"{p}_age_days": float(age)}
        if k >= 1:
            out[f"{p}_return_1d"] = round(float(c[k] / c[k - 1] - 1.0), 8)
        if k >= 5:
            out[f"{p}_return_5d"] = round(float(c[k] / c[k - 5] - 1.0), 8)
        if k >= 20:
            window = self._log_returns[k - 20:k]
            out[f"{p}_realized_vol_20d"] = round(float(np.std(window, ddof=1) * math.sqrt(TRADING_DAYS_PER_YEAR)), 8)
        return out
