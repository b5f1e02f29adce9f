"""Typed errors of the analytics package (a user can cause them with a bad run or file)."""

from __future__ import annotations

from core.errors import SenseQuantError


class ExportValidationError(SenseQuantError):
    """An export (run bundle, trades table) failed validation; nothing was written.

    The message names the document, the day or row and what is inconsistent.
    """
