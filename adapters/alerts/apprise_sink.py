"""``AlertSink`` over apprise, with per-severity routing and tenacity retries.

Channels come from ``SENSEQUANT_ALERT_URLS`` (environment or ``.env``): apprise URLs separated
by whitespace or ``;``, each optionally prefixed with the severities it receives::

    SENSEQUANT_ALERT_URLS="critical=tgram://BOT_TOKEN/CHAT_ID  warning|critical=slack://T/B/C  json://host/hook"

(an entry without a prefix receives every severity). URLs carry secrets (tokens, passwords):
they are never logged, never put in events and never in a failure reason; a route is named by
its scheme and position only (``json#3``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

import apprise
import attrs
import tenacity

from ports.alerts import AlertMessage, DeliveryReport

log = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "critical")
_PREFIX = re.compile(r"^([a-z|]+)=(.+)$")
_NOTIFY_TYPES = {"info": apprise.NotifyType.INFO, "warning": apprise.NotifyType.WARNING,
                 "critical": apprise.NotifyType.FAILURE}


@attrs.frozen(kw_only=True)
class ChannelRoute:
    """One channel: the URL (secret), the severities it receives and its printable label."""

    url: str = attrs.field(repr=False)
    severities: tuple[str, ...]
    label: str


def parse_alert_urls(value: str | None) -> list[ChannelRoute]:
    """Routes from a ``SENSEQUANT_ALERT_URLS`` value (see the module docstring)."""
    routes: list[ChannelRoute] = []
    for k, entry in enumerate(t for t in re.split(r"[\s;]+", value or "") if t):
        severities: tuple[str, ...] = SEVERITIES
        match = _PREFIX.match(entry)
        if match and all(s in SEVERITIES for s in match.group(1).split("|")):
            severities = tuple(match.group(1).split("|"))
            entry = match.group(2)
        scheme = entry.split("://", 1)[0] if "://" in entry else "?"
        routes.append(ChannelRoute(url=entry, severities=severities, label=f"{scheme}#{k + 1}"))
    return routes


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (and the user/password/token parts of URLs) masked."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    # any URL that slipped in: keep the scheme, hide the rest
    return re.sub(r"\b([a-z][a-z0-9+.-]*)://[^\s'\"]+", r"\1://***", text)


class _NotDelivered(Exception):
    pass


class AppriseAlertSink:
    """Delivers through apprise; retries each failed delivery with exponential back-off and never raises."""

    def __init__(self, routes: Sequence[ChannelRoute], *, attempts: int = 3, backoff_seconds: float = 0.5,
                 max_backoff_seconds: float = 8.0, timeout_seconds: float = 10.0) -> None:
        self.routes = list(routes)
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._secrets = [r.url for r in self.routes]
        # one Apprise object per route so a failure names its route, and routing is ours
        self._servers: list[tuple[ChannelRoute, apprise.Apprise]] = []
        for route in self.routes:
            server = apprise.Apprise(asset=apprise.AppriseAsset(app_id="SenseQuant", app_desc="SenseQuant alerts"))
            instance = apprise.Apprise.instantiate(route.url)
            if instance is None:
                log.warning("alert channel %s is not a valid apprise URL: ignored", route.label)
                continue
            if hasattr(instance, "socket_read_timeout"):
                instance.socket_read_timeout = timeout_seconds
                instance.socket_connect_timeout = timeout_seconds
            server.add(instance)
            self._servers.append((route, server))

    @property
    def channels(self) -> list[str]:
        return [r.label for r, _ in self._servers]

    def send(self, message: AlertMessage) -> DeliveryReport:
        targets = [(r, s) for r, s in self._servers if message.severity in r.severities]
        labels = tuple(r.label for r, _ in targets)
        if not targets:
            return DeliveryReport(delivered=True, channels=(), attempts=0, reason="no channel routes this severity")
        pending = list(targets)
        attempts = 0
        try:
            for attempt in tenacity.Retrying(
                    stop=tenacity.stop_after_attempt(self.attempts),
                    wait=tenacity.wait_exponential(multiplier=self.backoff_seconds, max=self.max_backoff_seconds),
                    retry=tenacity.retry_if_exception_type(_NotDelivered), reraise=True):
                with attempt:
                    attempts += 1
                    pending = [(r, s) for r, s in pending if not self._notify(s, message)]
                    if pending:
                        raise _NotDelivered(", ".join(r.label for r, _ in pending))
        except _NotDelivered as exc:
            reason = scrub(f"{len(pending)} of {len(targets)} channel(s) failed after {attempts} attempt(s): {exc}",
                           self._secrets)
            log.warning("alert %s not delivered: %s", message.alert_id, reason)
            return DeliveryReport(delivered=False, channels=labels, attempts=attempts, reason=reason)
        except Exception as exc:  # noqa: BLE001 - a channel bug must never reach the monitor loop
            reason = scrub(f"{type(exc).__name__}: {exc}", self._secrets)
            log.warning("alert %s not delivered: %s", message.alert_id, reason)
            return DeliveryReport(delivered=False, channels=labels, attempts=attempts, reason=reason)
        return DeliveryReport(delivered=True, channels=labels, attempts=attempts)

    def _notify(self, server: apprise.Apprise, message: AlertMessage) -> bool:
        try:
            return bool(server.notify(title=message.title, body=message.body,
                                      notify_type=_NOTIFY_TYPES.get(message.severity, apprise.NotifyType.INFO)))
        except Exception as exc:  # noqa: BLE001 - counted as a failed attempt
            log.debug("apprise raised %s", type(exc).__name__)
            return False
