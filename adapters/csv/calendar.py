"""NSE trading calendar: pandas-market-calendars ``NSE`` plus known special sessions.

``pandas_market_calendars`` (bundled rules, works offline) knows weekday holidays and the
weekday Muhurat sessions with their evening hours. It does not know weekend special
sessions (weekend Muhurat, Budget Saturdays, special live / DR sessions). Those come from
the CSV files in ``data/calendar/``:

- ``nse_sessions_missing_from_calendars_observed.csv``: dates real data shows as trading
  (column ``date``, ``note``);
- ``nse_special_session_hours.csv`` (optional): ``date,open_ist,close_ist,note`` hours for
  special sessions. A weekend special session without hours gets the regular
  09:15-15:30 window; weekend Muhurat sessions without hours get an approximate evening
  window (17:30-20:00) and are reported as such.

Coverage: checked against real daily data for 2007-2025 (no false holidays; only the weekend
specials above missing). Before about 2005 the library's NSE holidays are incomplete, so old
daily files show some "extra sessions" in their reports.

All times are IST minutes after midnight; days are integer day numbers in IST
(``(utc_ns + IST_OFFSET_NS) // NS_PER_DAY``).
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REGULAR_OPEN_MIN = 9 * 60 + 15
REGULAR_CLOSE_MIN = 15 * 60 + 30
MUHURAT_FALLBACK = (17 * 60 + 30, 20 * 60)
_EPOCH = date(1970, 1, 1)

EXTRA_SESSIONS_FILE = "nse_sessions_missing_from_calendars_observed.csv"
SESSION_HOURS_FILE = "nse_special_session_hours.csv"


def default_calendar_dir() -> Path:
    """``data/calendar`` of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "data" / "calendar"


def day_number(d: date) -> int:
    return (d - _EPOCH).days


def day_to_date(n: int) -> date:
    return _EPOCH + timedelta(days=int(n))


def _hhmm(text: str) -> int:
    hh, mm = text.strip().split(":")
    return int(hh) * 60 + int(mm)


class NseCalendar:
    """Sessions of the National Stock Exchange of India, with their IST hours.

    Parameters
    ----------
    calendar_dir:
        Folder with the special-session CSVs (default ``data/calendar``). If it does not
        exist, only pandas-market-calendars is used and ``describe()`` says so.
    """

    def __init__(self, calendar_dir: Path | None = None, *, first_year: int = 2000, last_year: int = 2030) -> None:
        self.calendar_dir = default_calendar_dir() if calendar_dir is None else Path(calendar_dir)
        self._first_year = first_year
        self._last_year = last_year
        self._days: np.ndarray | None = None
        self._open: np.ndarray | None = None
        self._close: np.ndarray | None = None
        self._kind: np.ndarray | None = None  # 0 regular, 1 non-standard hours (pmc), 2 special extra
        self._notes: dict[int, str] = {}
        self.extra_source: str | None = None

    # -- building -------------------------------------------------------------------------
    def _build(self) -> None:
        import pandas_market_calendars as mcal

        sched = mcal.get_calendar("NSE").schedule(f"{self._first_year}-01-01", f"{self._last_year}-12-31")
        ist_open = sched["market_open"].dt.tz_convert("Asia/Kolkata")
        ist_close = sched["market_close"].dt.tz_convert("Asia/Kolkata")
        days = ((sched.index.values.astype("datetime64[D]") - np.datetime64("1970-01-01", "D"))
                .astype(np.int64))
        opens = (ist_open.dt.hour * 60 + ist_open.dt.minute).to_numpy(np.int64)
        closes = (ist_close.dt.hour * 60 + ist_close.dt.minute).to_numpy(np.int64)
        kind = np.where((opens == REGULAR_OPEN_MIN) & (closes == REGULAR_CLOSE_MIN), 0, 1)
        # Before 2010-01-04 the library uses 09:55 opens; treat those as regular sessions.
        sessions: dict[int, tuple[int, int, int]] = {
            int(d): (int(o), int(c), int(k)) for d, o, c, k in zip(days, opens, closes, kind)}
        for d, (o, c, k) in list(sessions.items()):
            if o == 9 * 60 + 55 and c == REGULAR_CLOSE_MIN:
                sessions[d] = (o, c, 0)

        hours: dict[int, tuple[int, int, str]] = {}
        hours_path = self.calendar_dir / SESSION_HOURS_FILE
        if hours_path.is_file():
            with hours_path.open(newline="") as fh:
                for row in csv.DictReader(fh):
                    n = day_number(date.fromisoformat(row["date"]))
                    hours[n] = (_hhmm(row["open_ist"]), _hhmm(row["close_ist"]), row.get("note", ""))
        extras_path = self.calendar_dir / EXTRA_SESSIONS_FILE
        if extras_path.is_file():
            self.extra_source = str(extras_path)
            with extras_path.open(newline="") as fh:
                for row in csv.DictReader(fh):
                    n = day_number(date.fromisoformat(row["date"]))
                    note = row.get("note", "")
                    if n in sessions:
                        self._notes[n] = note
                        continue
                    if n in hours:
                        o, c, hnote = hours[n]
                        note = f"{note}; hours {hnote}".strip("; ")
                    elif "muhurat" in note.lower():
                        o, c = MUHURAT_FALLBACK
                        note = f"{note}; hours unknown, approximate evening window 17:30-20:00"
                    else:
                        o, c = REGULAR_OPEN_MIN, REGULAR_CLOSE_MIN
                    sessions[n] = (o, c, 2)
                    self._notes[n] = note
        ordered = sorted(sessions)
        self._days = np.array(ordered, dtype=np.int64)
        self._open = np.array([sessions[d][0] for d in ordered], dtype=np.int64)
        self._close = np.array([sessions[d][1] for d in ordered], dtype=np.int64)
        self._kind = np.array([sessions[d][2] for d in ordered], dtype=np.int64)

    def _ensure(self) -> None:
        if self._days is None:
            self._build()

    # -- queries --------------------------------------------------------------------------
    def lookup(self, days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For IST day numbers: (is_session, open_min, close_min, kind) arrays.

        Days the calendar does not know get ``is_session=False`` and the regular hours.
        ``kind``: 0 regular, 1 non-standard hours (e.g. weekday Muhurat), 2 special extra session.
        """
        self._ensure()
        assert self._days is not None and self._open is not None and self._close is not None
        assert self._kind is not None
        days = np.asarray(days, dtype=np.int64)
        idx = np.searchsorted(self._days, days)
        idx_c = np.minimum(idx, len(self._days) - 1)
        found = self._days[idx_c] == days
        opens = np.where(found, self._open[idx_c], REGULAR_OPEN_MIN)
        closes = np.where(found, self._close[idx_c], REGULAR_CLOSE_MIN)
        kind = np.where(found, self._kind[idx_c], -1)
        return found, opens, closes, kind

    def sessions_between(self, first_day: int, last_day: int) -> np.ndarray:
        """IST day numbers of all sessions with ``first_day <= day <= last_day``."""
        self._ensure()
        assert self._days is not None
        lo = np.searchsorted(self._days, first_day, side="left")
        hi = np.searchsorted(self._days, last_day, side="right")
        return self._days[lo:hi]

    def is_session(self, d: date) -> bool:
        return bool(self.lookup(np.array([day_number(d)]))[0][0])

    def session_hours(self, d: date) -> tuple[int, int] | None:
        found, o, c, _ = self.lookup(np.array([day_number(d)]))
        return (int(o[0]), int(c[0])) if found[0] else None

    def note(self, day: int) -> str:
        self._ensure()
        return self._notes.get(int(day), "")

    def describe(self) -> dict[str, Any]:
        return {
            "base": "pandas_market_calendars NSE",
            "special_sessions_file": self.extra_source,
            "calendar_dir": str(self.calendar_dir),
            "years": [self._first_year, self._last_year],
        }
