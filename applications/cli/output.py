"""Terminal and JSON output shared by every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import click
from rich.markup import escape
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (one JSON document)."""
    sys.stdout.write(json.dumps(data, default=_default, indent=2, allow_nan=False, ensure_ascii=False) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    # Cells, titles and headers are plain Text: a symbol, label or path with square
    # brackets is shown as written, never parsed as rich markup.
    table = Table(title=Text(str(title)), title_justify="left")
    for col in columns:
        table.add_column(Text(str(col)), overflow="fold")
    for row in rows:
        table.add_row(*[Text("" if v is None else str(v)) for v in row])
    console.print(table)


def fail(message: str, code: int = 2) -> None:
    """Print an error (never a traceback) and exit non-zero."""
    # soft_wrap: never break a path or an id across lines (a message must be copy-pasteable)
    err_console.print(f"[bold red]error:[/] {escape(str(message))}", soft_wrap=True)
    raise click.exceptions.Exit(code)
