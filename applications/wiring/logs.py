"""Logs: structured JSON lines to a file per day (rotated at midnight, kept ``retention_days``) and
human-readable lines on the terminal; secrets scrubbed from both.

A JSON line holds ``time`` (UTC ISO 8601), ``level``, ``logger``, ``run_id``, ``message`` and
``fields`` (whatever was passed as ``extra={"fields": {...}}``, plus the exception text).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from applications.wiring.store import runs_dir

#: Environment variables whose values are secrets wherever they appear in a log line.
SECRET_ENV = ("BREEZE_API_KEY", "BREEZE_API_SECRET", "BREEZE_SESSION_TOKEN", "SENTIMENT_NEWSAPI_API_KEY",
              "SENTIMENT_TWITTER_BEARER_TOKEN", "SENSEQUANT_ALERT_URLS")
_URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s/@'\"]+@")
_HANDLER_MARK = "_sensequant_handler"


class ScrubSecrets(logging.Filter):
    """Masks known secret values and the ``user:password@`` part of URLs in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        values = {s for s in secrets if s and len(s) >= 4}
        values |= {os.environ[name] for name in SECRET_ENV if len(os.environ.get(name, "")) >= 4}
        for value in list(values):  # a URL list: each URL on its own too
            values |= {v for v in re.split(r"[\s;]+", value) if len(v) >= 4}
        self._secrets = sorted(values, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _URL_CREDENTIALS.sub(r"\1***@", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonLines(logging.Formatter):
    def __init__(self, run_id: str = "") -> None:
        super().__init__()
        self.run_id = run_id

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "fields", {}) or {})
        if record.exc_text:
            fields["exception"] = record.exc_text
        return json.dumps({"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                           "level": record.levelname, "logger": record.name,
                           "run_id": getattr(record, "run_id", self.run_id), "message": record.getMessage(),
                           "fields": fields}, default=str, ensure_ascii=False)


def configure_logging(log_dir: Path | None = None, *, component: str, run_id: str = "", retention_days: int = 14,
                      level: int = logging.INFO, terminal_level: int | None = None,
                      secrets: Iterable[str] = ()) -> Path:
    """Route the root logger to ``log_dir/<component>.jsonl`` (rotated daily) and the terminal.

    Returns the log file. Calling it again replaces the handlers it added before.
    """
    folder = Path(log_dir) if log_dir is not None else runs_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{component}.jsonl"
    scrubber = ScrubSecrets(secrets)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    file_handler = logging.handlers.TimedRotatingFileHandler(path, when="midnight", backupCount=retention_days,
                                                             encoding="utf-8", utc=True)
    file_handler.setFormatter(JsonLines(run_id))
    file_handler.setLevel(level)
    terminal = logging.StreamHandler()
    terminal.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    # the terminal keeps the level the CLI's -v chose (WARNING by default)
    terminal.setLevel(terminal_level if terminal_level is not None else (root.level or logging.WARNING))
    for handler in (file_handler, terminal):
        handler.addFilter(scrubber)
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    # basicConfig's plain stderr handler (the CLI's default) would print everything twice
    for handler in [h for h in root.handlers if not getattr(h, _HANDLER_MARK, False)
                    and type(h) is logging.StreamHandler]:
        root.removeHandler(handler)
    root.setLevel(min(level, root.level) if root.level else level)
    return path


def reset_logging() -> None:
    """Remove the handlers ``configure_logging`` added (tests; a long-lived process switching off)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
        handler.close()


__all__ = ["JsonLines", "ScrubSecrets", "configure_logging", "reset_logging"]
