"""The corporate-actions table (splits, bonuses) used to back-adjust daily history."""

from __future__ import annotations

import csv
from datetime import date
from fractions import Fraction
from pathlib import Path

from core.errors import DataError
from core.model import CorporateAction

REQUIRED = ("symbol", "ex_date", "factor")


def load_corporate_actions(path: Path) -> list[CorporateAction]:
    """Read ``symbol,ex_date,factor[,kind,note]`` rows; ``factor`` may be a fraction like ``4/3``."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"missing required column(s) {', '.join(missing)}; the header must be "
                                "symbol,ex_date,factor[,kind,note]", path=str(path))
            actions = []
            for row_no, row in enumerate(reader, start=1):
                actions.append(_parse(path, row_no, row))
    except FileNotFoundError:
        raise DataError("corporate-actions file does not exist; create it or disable adjustment",
                        path=str(path)) from None
    return actions


def _parse(path: Path, row_no: int, row: dict[str, str]) -> CorporateAction:
    symbol = (row.get("symbol") or "").strip().upper()
    if not symbol:
        raise DataError("symbol is empty", path=str(path), row=row_no, column="symbol")
    try:
        ex_date = date.fromisoformat((row.get("ex_date") or "").strip())
    except ValueError:
        raise DataError(f"ex_date {row.get('ex_date')!r} is not YYYY-MM-DD", path=str(path), row=row_no,
                        column="ex_date") from None
    try:
        factor = Fraction((row.get("factor") or "").strip())
    except (ValueError, ZeroDivisionError):
        raise DataError(f"factor {row.get('factor')!r} is not a number or fraction like 4/3", path=str(path),
                        row=row_no, column="factor") from None
    if factor <= 0:
        raise DataError(f"factor must be positive, got {factor}", path=str(path), row=row_no, column="factor")
    return CorporateAction(symbol=symbol, ex_date=ex_date, factor=factor,
                           kind=(row.get("kind") or "split").strip(), note=(row.get("note") or "").strip())
