"""A small JSON-over-HTTPS GET with typed failures (standard library only)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from core.errors import SenseQuantError


class ProviderError(SenseQuantError):
    """A sentiment source failed (timeout, 5xx, bad answer). Counted by the circuit breaker."""


class ProviderRateLimitedError(ProviderError):
    """The source said 429 / rate limited; ``retry_after_seconds`` when it told us."""

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ProviderAuthError(ProviderError):
    """The API key/token is missing, invalid or exhausted; a human has to fix the configuration."""


def get_json(base_url: str, path: str, params: Mapping[str, Any], headers: Mapping[str, str], *,
             timeout: float, source: str) -> tuple[int, dict[str, Any], Mapping[str, str]]:
    """GET ``base_url + path?params``; returns (HTTP status, parsed JSON body, headers).

    HTTP error statuses are returned (with their JSON body) rather than raised, so each
    provider can read its API's error object. Timeouts and connection failures raise
    ``ProviderError``; headers (which carry credentials) never appear in messages.
    """
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    url = f"{base_url.rstrip('/')}{path}?{query}"
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "sensequant/0.1",
                                                   **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, reply_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, reply_headers = exc.code, exc.read(), exc.headers
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProviderError(f"{source}: request failed ({type(exc).__name__}: {reason})") from None
    try:
        body = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProviderError(f"{source}: HTTP {status} with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise ProviderError(f"{source}: HTTP {status} with an unexpected JSON shape")
    return status, body, reply_headers
