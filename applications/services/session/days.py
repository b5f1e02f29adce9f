"""A trading process left running across days: one session per exchange day, sleeping in between.

``run_sessions_by_calendar(session, ...)`` calls ``session(run_id, continuing)`` on each trading
day of the calendar before its close (the same run continues while a session ends
``session_closed``; one that completed flat gives way to a new run the next day; any other
end stops the loop), then sleeps until shortly before the next open. A login the venue
refuses (``not_logged_in``: today's token is not there yet) is retried until the close.
Time only through the clock port, so a test clock runs days in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Protocol

from applications.services.session.settings import SessionResult, StopSignal
from core.events.base import RunStatus
from ports.clock import Clock


class SessionCalendar(Protocol):
    """The exchange's trading days (``adapters.csv.calendar.NseCalendar``)."""

    def session_hours(self, d: date) -> tuple[int, int] | None:
        """(open, close) in minutes after midnight (exchange time), or None on a day without a session."""
        ...


def run_sessions_by_calendar(session: Callable[[str, bool], SessionResult], *, calendar: SessionCalendar,
                             clock: Clock, zone: tzinfo, close: time, run_id: str, continuing: bool,
                             days: int | None, shutdown: StopSignal | None, log: Callable[[str], None],
                             wake_before_open_minutes: int, login_retry_seconds: float,
                             not_logged_in: type[BaseException], new_run_id: Callable[[], str],
                             login_hint: str = "log in again") -> list[SessionResult]:
    """See the module docstring. Returns every session's result."""
    results: list[SessionResult] = []

    def stopping() -> bool:
        return shutdown is not None and shutdown.requested

    def sleep_until(moment: datetime) -> None:
        while not stopping():
            left = (moment - clock.now()).total_seconds()
            if left <= 0:
                return
            clock.sleep(min(left, 60.0))

    while not stopping() and (days is None or len(results) < days):
        now = clock.now().astimezone(zone)
        day_close = datetime.combine(now.date(), close, tzinfo=zone)
        if calendar.session_hours(now.date()) is not None and now < day_close:
            try:
                result = session(run_id, continuing)
            except not_logged_in as exc:
                log(f"{now:%Y-%m-%d %H:%M}: cannot log in yet ({exc}); {login_hint} - trying again in "
                    f"{login_retry_seconds:.0f} s")
                sleep_until(min(clock.now() + timedelta(seconds=login_retry_seconds), day_close))
                continue
            results.append(result)
            if result.status == RunStatus.SESSION_CLOSED:
                continuing = True
            elif result.status == RunStatus.COMPLETED:
                run_id, continuing = new_run_id(), False      # flat at the close: a new run tomorrow
            else:
                break                                          # stopped by a signal
        wake = next_open(calendar, now.date(), wake_before_open_minutes, zone)
        if wake is None:
            log("no further session in the calendar; stopping")
            break
        log(f"next session {wake:%a %Y-%m-%d}; sleeping until {wake:%H:%M}")
        sleep_until(wake)
    return results


def next_open(calendar: SessionCalendar, after: date, lead_minutes: int, zone: tzinfo) -> datetime | None:
    """``lead_minutes`` before the open of the first session after ``after`` (None: none in two weeks)."""
    for ahead in range(1, 15):
        day = after + timedelta(days=ahead)
        hours = calendar.session_hours(day)
        if hours is not None:
            return datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=hours[0] - lead_minutes)
    return None


__all__ = ["SessionCalendar", "next_open", "run_sessions_by_calendar"]
