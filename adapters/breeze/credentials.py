"""Breeze credentials: read only from the environment or a ``.env`` file, never printed.

The api key, secret and daily session token must never reach logs, reprs, events or
exception messages. ``BreezeCredentials`` masks itself in ``repr``/``str`` and offers
``redact(text)`` to scrub any of the three values out of third-party error texts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import attrs
from dotenv import dotenv_values

from core.errors import ConfigError

ENV_API_KEY = "BREEZE_API_KEY"
ENV_API_SECRET = "BREEZE_API_SECRET"
ENV_SESSION_TOKEN = "BREEZE_SESSION_TOKEN"
LOGIN_URL = "https://api.icicidirect.com/apiuser/login?api_key=<your url-encoded api key>"
MASK = "***"


@attrs.frozen(kw_only=True, repr=False)
class BreezeCredentials:
    """API key, secret and the session token of today's browser login."""

    api_key: str
    api_secret: str
    session_token: str

    def __repr__(self) -> str:
        return f"BreezeCredentials(api_key={MASK}, api_secret={MASK}, session_token={MASK})"

    __str__ = __repr__

    @property
    def account_id(self) -> str:
        """A stable, non-secret name of the account these credentials trade: ``breeze-`` and
        16 hex digits of SHA-256 of the API key (one API key is one ICICI Direct account).
        Safe in events, leases and logs: the key cannot be recovered from it."""
        return "breeze-" + hashlib.sha256(self.api_key.encode("utf-8")).hexdigest()[:16]

    def redact(self, text: object) -> str:
        """``text`` with every credential value replaced by ``***``."""
        out = str(text)
        for secret in sorted((self.api_key, self.api_secret, self.session_token), key=len, reverse=True):
            if secret:
                out = out.replace(secret, MASK)
        return out


def load_breeze_credentials(environ: Mapping[str, str] | None = None,
                            dotenv_path: Path | None = None) -> BreezeCredentials:
    """Credentials from ``BREEZE_API_KEY``, ``BREEZE_API_SECRET``, ``BREEZE_SESSION_TOKEN``.

    A ``.env`` file (``dotenv_path``) is read first; the real environment wins over it.
    Raises ``ConfigError`` naming every missing variable (never any value).
    """
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    source = os.environ if environ is None else environ
    merged.update({k: v for k, v in source.items() if k in (ENV_API_KEY, ENV_API_SECRET, ENV_SESSION_TOKEN)})
    values = {name: merged.get(name, "").strip() for name in (ENV_API_KEY, ENV_API_SECRET, ENV_SESSION_TOKEN)}
    missing = [name for name, value in values.items() if not value]
    if missing:
        where = f"the environment or {dotenv_path}" if dotenv_path is not None else "the environment or .env"
        hint = ""
        if ENV_SESSION_TOKEN in missing:
            hint = (f"; the session token changes every day: log in at {LOGIN_URL} and copy the "
                    "API_Session value from the redirect URL")
        raise ConfigError(f"Breeze credentials missing: set {', '.join(missing)} in {where}{hint}")
    return BreezeCredentials(api_key=values[ENV_API_KEY], api_secret=values[ENV_API_SECRET],
                             session_token=values[ENV_SESSION_TOKEN])
