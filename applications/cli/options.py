"""Click parameter types with declared ranges, shared by every command.

Every numeric option is bounded and finite, dates are checked calendar dates and
intervals are one of the known names, so a hostile value is a one-line usage error
(exit 2) before any work starts — never a traceback from deep inside.
"""

from __future__ import annotations

import math
import os
from datetime import date
from pathlib import Path
from typing import Any

import click

from core.model import Interval

# Larger than any count or sequence number a store can hold, smaller than SQLite's 2**63 - 1.
MAX_COUNT = 2**62


def count(minimum: int = 0, maximum: int = MAX_COUNT) -> click.IntRange:
    """An integer in [minimum, maximum]."""
    return click.IntRange(minimum, maximum)


class FiniteFloat(click.FloatRange):
    """A finite float in a range (click's FloatRange lets ``nan`` through every bound)."""

    name = "finite float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


def finite(minimum: float | None = None, maximum: float | None = None, *, min_open: bool = False,
           max_open: bool = False) -> FiniteFloat:
    return FiniteFloat(minimum, maximum, min_open=min_open, max_open=max_open)


class IsoDate(click.ParamType):
    """A calendar date written YYYY-MM-DD; passed on as the same text."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value).strip()
        try:
            if len(text) != 10:
                raise ValueError("not YYYY-MM-DD")
            date.fromisoformat(text)
        except ValueError as exc:
            self.fail(f"{value!r} is not a date YYYY-MM-DD ({exc})", param, ctx)
        return text


ISO_DATE = IsoDate()


class IntervalName(click.ParamType):
    """A bar interval: 1minute, 5minute, 15minute, 1day (or an alias); passed on as its canonical name."""

    name = "|".join(i.value for i in Interval)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Interval):
            return value.value
        try:
            return Interval.parse(str(value)).value
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


INTERVAL = IntervalName()


def non_empty(_ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Callback: an explicitly empty id or symbol list is an error, not "the default"."""
    if isinstance(value, str) and not value.strip():
        raise click.BadParameter("must not be empty", param=param)
    return value


def symbol_list(_ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """Callback: comma-separated symbols, upper-cased; given but empty (``--symbols ""``) is an error."""
    if value is None:
        return None
    symbols = [s.strip().upper() for s in value.split(",") if s.strip()]
    if not symbols:
        raise click.BadParameter("give at least one symbol, e.g. TCS,INFY", param=param)
    return symbols


class OutputFolder(click.Path):
    """A path to write into (a folder, or a file with ``dir_okay=False``), checked before any
    work starts: an empty or blank value is an error, not "the current folder", and so is a
    path under a file or in a folder this user cannot write to — otherwise a long job (a
    walk-forward, a study) would run and record its events, then fail writing its report."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("must not be empty", param, ctx)
        path = super().convert(value, param, ctx)
        ancestor = Path(path).expanduser().absolute()
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor != Path(path).expanduser().absolute() and not ancestor.is_dir():
            self.fail(f"{str(value)!r} is under {ancestor}, which is a file, not a folder", param, ctx)
        if not os.access(ancestor if ancestor.is_dir() else ancestor.parent, os.W_OK):
            self.fail(f"{str(value)!r} cannot be written: {ancestor} is not writable by this user", param, ctx)
        return path
