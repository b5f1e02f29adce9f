"""Dashboard login hardening (issue 19): strong secrets, limited login attempts, TLS.

* Passwords (the shared ``SENSEQUANT_DASHBOARD_PASSWORD`` or each user's in the
  ``--basic-auth`` file) need at least ``MIN_PASSWORD_LENGTH`` characters; the cookie
  secret needs ``MIN_SECRET_BITS`` of estimated entropy (length x log2 of its distinct
  characters: 16 spaces have none).
* Login attempts are limited per client address: after ``MAX_FAILURES`` failures within
  ``WINDOW_S`` seconds that address gets HTTP 429 for ``LOCKOUT_S`` seconds, without the
  password being checked. Passwords are compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path

from core.errors import ConfigError

MIN_PASSWORD_LENGTH = 12
MIN_SECRET_BITS = 64
MAX_FAILURES = 5
WINDOW_S = 300.0
LOCKOUT_S = 300.0

SECRET_HINT = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'


def secret_bits(secret: str) -> float:
    """A rough entropy estimate: length x log2(distinct characters)."""
    distinct = len(set(secret))
    return 0.0 if distinct <= 1 else len(secret) * math.log2(distinct)


def check_cookie_secret(secret: str) -> None:
    if not secret.strip() or secret_bits(secret) < MIN_SECRET_BITS:
        raise ConfigError(f"the cookie secret is too weak (about {secret_bits(secret):.0f} bits; at least "
                          f"{MIN_SECRET_BITS} needed, e.g. 16+ varied random characters); {SECRET_HINT}")


def check_passwords(credentials: str, source: str) -> None:
    """``credentials``: a password, or the path of a JSON ``{"user": "password"}`` file."""
    path = Path(credentials)
    users = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"": credentials}
    for user, password in users.items():
        if len(password) < MIN_PASSWORD_LENGTH or not password.strip():
            who = f"user {user!r}'s password" if user else "the password"
            raise ConfigError(f"{who} ({source}) is too short: at least {MIN_PASSWORD_LENGTH} characters")


class AttemptLimiter:
    """Failed logins per client address in a sliding window; a locked-out address is refused."""

    def __init__(self, *, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S,
                 lockout_s: float = LOCKOUT_S, now: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window_s, self.lockout_s, self._now = max_failures, window_s, lockout_s, now
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked(self, client: str) -> float:
        """Seconds the client must still wait (0: it may try)."""
        with self._lock:
            return max(0.0, self._locked_until.get(client, 0.0) - self._now())

    def failed(self, client: str) -> None:
        with self._lock:
            now = self._now()
            window = self._failures[client]
            window.append(now)
            while window and window[0] < now - self.window_s:
                window.popleft()
            if len(window) >= self.max_failures:
                self._locked_until[client] = now + self.lockout_s
                window.clear()

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def valid_login(credentials: str, username: str, password: str) -> bool:
    path = Path(credentials)
    if path.is_file():
        users = json.loads(path.read_text(encoding="utf-8"))
        expected = users.get(username)
        if not isinstance(expected, str):
            hmac.compare_digest(password.encode(), password.encode())  # same work for unknown users
            return False
        return hmac.compare_digest(password.encode(), expected.encode())
    return hmac.compare_digest(password.encode(), credentials.encode())


def limited_auth_provider(credentials: str, limiter: AttemptLimiter):
    """A Panel basic-auth provider whose login handler checks ``credentials`` through ``limiter``."""
    import tornado.escape
    from panel.auth import BasicAuthProvider, BasicLoginHandler, _validate_next_url
    from panel.io.state import state

    class LimitedLoginHandler(BasicLoginHandler):
        def post(self) -> None:
            client = self.request.remote_ip or "unknown"
            wait = limiter.locked(client)
            if wait > 0:
                self.set_status(429)
                self.set_header("Retry-After", str(int(wait) + 1))
                self.write(f"Too many failed logins from this address; try again in {int(wait) + 1} s.")
                return
            username = self.get_argument("username", "")
            password = self.get_argument("password", "")
            if valid_login(credentials, username, password):
                limiter.succeeded(client)
                self.set_current_user(username)
                self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url)))
                return
            limiter.failed(client)
            self.redirect(self.request.uri.split("?")[0] + "?error="
                          + tornado.escape.url_escape("Invalid username or password!"))

    class LimitedBasicAuthProvider(BasicAuthProvider):
        @property
        def login_handler(self):  # type: ignore[override]
            LimitedLoginHandler._login_endpoint = self._login_endpoint
            LimitedLoginHandler._login_template = self._login_template
            return LimitedLoginHandler

    return LimitedBasicAuthProvider()
