"""The Breeze session: creates the SDK client, unwraps response envelopes, classifies failures.

``breeze-connect`` is an optional extra (``pip install 'sensequant[live]'``). Its import
downloads the security master over the network and creates ``./logs``, so it is imported
only inside ``default_sdk_factory`` when a real session is opened; tests pass a fake SDK.

Every SDK call goes through ``BreezeSession.call``, which

* waits for the shared token bucket (100 calls/minute),
* turns ``None`` (the SDK's silent answer before ``generate_session``) and the
  "Could not authenticate..." / "Session key is expired" texts into ``BrokerSessionError``,
* turns ``{'Status': 5, 'Error': 'Limit exceed: API call per day: '}`` into
  ``BrokerDailyLimitError`` (never retried),
* turns 429 / too many requests into ``BreezeRateLimitedError`` (retried after a back-off),
* turns timeouts, dropped connections and 5xx gateway errors into ``BreezeTransientError``,
* turns any other error envelope into ``BrokerApiError``,
* reports health changes as ``FeedHealthChanged`` events through ``on_health``.

Credential values are scrubbed from every message it raises or logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import tenacity

from adapters.breeze.credentials import BreezeCredentials
from adapters.breeze.errors import BreezeRateLimitedError, BreezeTransientError
from adapters.breeze.ratelimit import TokenBucket
from core.venue import BREEZE_CASH
from core.errors import BrokerApiError, BrokerDailyLimitError, BrokerSessionError, ConfigError
from core.events.catalog import FeedHealthChanged

log = logging.getLogger(__name__)

SdkFactory = Callable[[str], Any]
HealthSink = Callable[[FeedHealthChanged], None]

RELOGIN_HINT = ("log in again at https://api.icicidirect.com/apiuser/login?api_key=<your url-encoded api key>, "
                "put the new API_Session value in BREEZE_SESSION_TOKEN (environment or .env) and restart")

_AUTH_MARKERS = ("could not authenticate", "session key is expired", "invalid session",
                 "public key does not exist", "resource not available", "session expired")
_DAILY_MARKERS = ("limit exceed", "api call per day")
#: SDK calls that place, change or cancel an order: they count against the venue's order rate.
ORDER_METHODS = frozenset({"place_order", "modify_order", "cancel_order"})
_RATE_MARKERS = ("429", "too many requests", "rate limit")
_TRANSIENT_MARKERS = ("timed out", "timeout", "connection", "temporarily", "service unavailable",
                      "bad gateway", "gateway", "502", "503", "504", "remote end closed", "max retries",
                      "reset by peer", "internal server error")


def default_sdk_factory(api_key: str) -> Any:
    """Import ``breeze_connect`` now (network call at import!) and build its client."""
    try:
        from breeze_connect import BreezeConnect  # noqa: PLC0415 - lazy on purpose, see module doc
    except ImportError:
        raise ConfigError("breeze-connect is not installed; install the live extra: "
                          "pip install 'sensequant[live]'") from None
    except Exception as exc:  # URLError while it downloads the security master at import
        raise BrokerApiError(f"importing breeze-connect failed ({type(exc).__name__}): it downloads the "
                             "ICICI security master when imported, so this machine needs internet access "
                             "to directlink.icicidirect.com") from None
    return BreezeConnect(api_key=api_key)


def _classify(message: str, status: object = None) -> Exception:
    text = message.lower()
    if status == 5 or str(status) == "5" or any(m in text for m in _DAILY_MARKERS):
        return BrokerDailyLimitError(f"Breeze daily API call limit reached ({message}); no more calls "
                                     "succeed today: wait for tomorrow or use cached data")
    if any(m in text for m in _AUTH_MARKERS):
        return BrokerSessionError(f"Breeze session is not valid ({message}); {RELOGIN_HINT}")
    if str(status) == "429" or any(m in text for m in _RATE_MARKERS):
        return BreezeRateLimitedError(f"Breeze rate limit hit: {message}")
    if str(status) in {"502", "503", "504"} or any(m in text for m in _TRANSIENT_MARKERS):
        return BreezeTransientError(f"Breeze transient failure: {message}")
    return BrokerApiError(f"Breeze rejected the request: {message}")


class BreezeSession:
    """A logged-in Breeze client plus the envelope/failure handling every adapter shares."""

    def __init__(self, credentials: BreezeCredentials, *, sdk_factory: SdkFactory | None = None,
                 rate_limiter: TokenBucket | None = None, on_health: HealthSink | None = None,
                 feed_name: str = "breeze", sleep: Callable[[float], None] = time.sleep,
                 retry_attempts: int = 4, backoff_seconds: float = 1.0, rate_limit_backoff_seconds: float = 30.0,
                 order_limiter: TokenBucket | None = None) -> None:
        self._credentials = credentials
        self._sdk_factory = sdk_factory or default_sdk_factory
        self.rate_limiter = rate_limiter or TokenBucket(100, 60.0, sleep=sleep)
        # The venue's order rate (Breeze cash: 10 orders/s), on top of the general call cap:
        # a burst of square-off orders is paced here instead of being refused by the broker.
        self.order_limiter = order_limiter or TokenBucket(BREEZE_CASH.max_orders_per_second, 1.0, sleep=sleep)
        self._on_health = on_health
        self.feed_name = feed_name
        self._sleep = sleep
        self.retry_attempts = retry_attempts
        self.backoff_seconds = backoff_seconds
        self.rate_limit_backoff_seconds = rate_limit_backoff_seconds
        self._sdk: Any = None
        self.health_status = "unknown"
        self.health_reason = ""
        self.calls = 0

    def __repr__(self) -> str:
        return f"BreezeSession(feed={self.feed_name!r}, connected={self._sdk is not None}, health={self.health_status!r})"

    # ------------------------------------------------------------------ lifecycle

    def connect(self) -> "BreezeSession":
        """Create the SDK client and ``generate_session``; typed error if the token is bad."""
        creds = self._credentials
        try:
            sdk = self._sdk_factory(creds.api_key)
            self.rate_limiter.acquire()
            sdk.generate_session(api_secret=creds.api_secret, session_token=creds.session_token)
        except (ConfigError, BrokerApiError, BrokerSessionError) as exc:
            self.set_health("down", str(exc))
            raise
        except Exception as exc:
            err = _classify(creds.redact(exc))
            if isinstance(err, BrokerApiError) or isinstance(err, BreezeTransientError):
                err = BrokerSessionError(f"could not create a Breeze session ({creds.redact(exc)}); {RELOGIN_HINT}")
            self.set_health("down", str(err))
            raise err from None
        self._sdk = sdk
        self.set_health("ok", "session created")
        return self

    @property
    def sdk(self) -> Any:
        if self._sdk is None:
            raise BrokerSessionError(f"Breeze session not connected: call connect() first, or {RELOGIN_HINT}")
        return self._sdk

    # ---------------------------------------------------------------------- calls

    def call(self, method: str, *, empty_on: Iterable[str] = (), **kwargs: Any) -> Any:
        """Call an SDK method once; return the ``Success`` payload or raise a typed error.

        ``empty_on`` lists error texts (e.g. ``"No Data Found"``) that mean an empty result.
        """
        sdk = self.sdk
        if method in ORDER_METHODS:
            self.order_limiter.acquire()
        self.rate_limiter.acquire()
        self.calls += 1
        redact = self._credentials.redact
        function = getattr(sdk, method, None)
        if function is None:
            raise BrokerApiError(f"this breeze-connect version has no {method}(); upgrade: pip install -U 'sensequant[live]'")
        try:
            response = function(**kwargs)
        except Exception as exc:
            err = _classify(redact(exc))
            if type(err) is BrokerApiError:
                # A raised exception ("Error in get_quotes(): ...") is a transport problem, not an answer.
                err = BreezeTransientError(f"Breeze {method} failed: {redact(exc)}")
            self._report(err)
            raise err from None
        if response is None:
            err = BrokerSessionError(f"Breeze {method} returned nothing: the session is not established; {RELOGIN_HINT}")
            self._report(err)
            raise err
        if not isinstance(response, dict) or "Status" not in response:
            self.set_health("ok", "calls succeeding")
            return response       # get_names answers without an envelope
        status = response.get("Status")
        error = response.get("Error")
        if status == 200 and not error:
            self.set_health("ok", "calls succeeding")
            return response.get("Success")
        message = redact(error if error else f"status {status}")
        if any(marker.lower() in message.lower() for marker in empty_on):
            self.set_health("ok", "calls succeeding")
            return []
        err = _classify(message, status)
        self._report(err)
        raise err

    def call_with_retry(self, method: str, *, empty_on: Iterable[str] = (), **kwargs: Any) -> Any:
        """``call`` for idempotent reads: transient failures are retried with exponential back-off.

        429s wait at least ``rate_limit_backoff_seconds``; session, daily-cap and API errors
        are raised at once.
        """
        def wait(state: tenacity.RetryCallState) -> float:
            exp = self.backoff_seconds * (2 ** (state.attempt_number - 1))
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, BreezeRateLimitedError):
                return max(exp, self.rate_limit_backoff_seconds)
            return exp

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry_attempts),
            wait=wait,
            retry=tenacity.retry_if_exception_type(BreezeTransientError),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda s: log.warning("Breeze %s failed (attempt %d), retrying: %s", method,
                                               s.attempt_number, s.outcome.exception() if s.outcome else ""),
        )
        return retrying(self.call, method, empty_on=empty_on, **kwargs)

    # --------------------------------------------------------------------- health

    def _report(self, err: Exception) -> None:
        if type(err) is BrokerApiError:
            return      # a refused request (bad code, rejected order) says nothing about the feed's health
        if isinstance(err, (BrokerSessionError, BrokerDailyLimitError)):
            self.set_health("down", str(err))
        else:
            self.set_health("degraded", str(err))

    def redact(self, text: object) -> str:
        """``text`` with the credential values masked."""
        return self._credentials.redact(text)

    def set_health(self, status: str, reason: str) -> None:
        if status == self.health_status:
            return
        self.health_status = status
        self.health_reason = reason
        log.info("feed %s is %s: %s", self.feed_name, status, reason)
        if self._on_health is not None:
            self._on_health(FeedHealthChanged(feed=self.feed_name, status=status, reason=reason))
