"""How the dashboard writes numbers: rupees with Indian digit grouping, signed percents,
ratios and holding periods (a true minus sign, never a raw column name)."""

from __future__ import annotations

import math

MINUS = "\u2212"


def indian_grouping(whole: int) -> str:
    """``1234567`` -> ``12,34,567`` (thousands, then lakhs and crores by twos)."""
    digits = str(abs(int(whole)))
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join([*groups, tail])


def rupees(paise: int | float | None, *, decimals: int = 0, signed: bool = False) -> str:
    """``-621064`` paise -> ``−₹6,211`` (``decimals`` of a rupee; ``signed`` adds a ``+``)."""
    if paise is None or (isinstance(paise, float) and not math.isfinite(paise)):
        return "n/a"
    value = round(abs(float(paise)) / 100.0, decimals)
    whole = int(value)
    text = f"₹{indian_grouping(whole)}"
    if decimals:
        text += f"{value - whole:.{decimals}f}"[1:]
    if paise < 0 and value != 0:
        return MINUS + text
    return ("+" + text) if signed and value != 0 else text


def signed_pct(percent: float | None, digits: int = 2) -> str:
    """A percent figure (already x100) with its sign: ``+1.25 %``, ``−0.62 %``."""
    if percent is None or not math.isfinite(percent):
        return "n/a"
    text = f"{abs(percent):.{digits}f} %"
    if round(percent, digits) == 0:
        return text
    return (MINUS if percent < 0 else "+") + text


def share(fraction: float | None, digits: int = 1) -> str:
    """A fraction as a percent without a sign: ``0.372`` -> ``37.2 %``."""
    if fraction is None or not math.isfinite(fraction):
        return "n/a"
    return f"{fraction * 100:.{digits}f} %"


def ratio(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{abs(value):.{digits}f}"
    return MINUS + text if value < 0 and round(value, digits) != 0 else text


def hold(minutes: float) -> str:
    if minutes >= 60 * 24:
        return f"{minutes / (60 * 24):.1f} days"
    if minutes >= 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes:.0f} min"
