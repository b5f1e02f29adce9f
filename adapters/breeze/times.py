"""Breeze speaks IST wall-clock times; the core speaks tz-aware UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")

_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%d",
    "%a %b %d %H:%M:%S %Y",      # quote ticks' ltt: 'Wed Feb 12 11:12:20 2025'
    "%d-%b-%Y %H:%M:%S",          # trade detail: '08-Jun-2022 14:09:34'
    "%d-%b-%Y %H:%M",             # order list: '03-Jun-2022 10:32'
    "%d-%b-%Y",
)


def to_breeze_iso(moment: datetime) -> str:
    """An aware datetime as Breeze's ISO form, in IST wall-clock time.

    Breeze reads the time part of ``...T09:20:00.000Z`` as IST market time (its README
    example returns the 09:20 IST bar for a 09:20Z request), so the IST wall clock is sent.
    """
    if moment.tzinfo is None:
        raise ValueError(f"need a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(IST).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_ist(text: str) -> datetime:
    """A Breeze timestamp (naive IST in one of its formats) as tz-aware UTC."""
    raw = str(text).strip()
    for fmt in _FORMATS:
        try:
            naive = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=IST).astimezone(timezone.utc)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"unrecognised Breeze timestamp {raw!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=IST)
    return parsed.astimezone(timezone.utc)


def ist_midnight(moment: datetime) -> datetime:
    """Start of the IST calendar day containing ``moment`` (aware, IST)."""
    local = moment.astimezone(IST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)
