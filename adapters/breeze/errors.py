"""Adapter-internal failures that a retry may fix. User-facing errors live in ``core.errors``."""

from __future__ import annotations

from core.errors import BrokerError


class BreezeTransientError(BrokerError):
    """A timeout, dropped connection or 5xx: the request may or may not have been processed."""


class BreezeRateLimitedError(BreezeTransientError):
    """HTTP 429 / too many requests: back off, then retry."""
