"""``SentimentRegistry``: several providers behind one ``SentimentProvider``.

Per provider: a weight, a place in the fallback order, a circuit breaker (open after
``failure_threshold`` consecutive failures, half-open after ``cooldown``: one trial call
closes it on success or re-opens it), a token bucket (``rate_per_minute``), and health
statistics. Answers are cached for ``ttl`` (on the injected clock).

``as_of`` is floored to ``bucket`` before anything is asked, so a cached answer never
contains information from later in its bucket. With ``mode="weighted"`` every available
provider is asked and the weighted mean of their scores returned (provider name
``hybrid[a,b]``); with ``mode="first"`` the first answer in fallback order wins.
``last_resort`` providers (the neutral stub) are asked only when no other provider
answered. When providers fail (or are skipped by their breaker or rate limit), the latest
earlier reading of the symbol (never a later one, no older than ``max_stale``) is returned
with halved confidence, else the last resort, else ``None``; such answers are not cached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from adapters.sentiment.http import ProviderRateLimitedError
from core.errors import ConfigError
from core.events.catalog import FeedHealthChanged
from ports.clock import Clock
from ports.sentiment import SentimentProvider, SentimentReading

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class ClockTokenBucket:
    """Non-blocking token bucket on a ``Clock``: ``try_acquire`` says whether a call may go now."""

    def __init__(self, clock: Clock, per_minute: float) -> None:
        self._clock = clock
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._tokens = float(per_minute)
        self._last = clock.now()
        self._blocked_until: datetime | None = None

    def block_for(self, seconds: float) -> None:
        self._blocked_until = self._clock.now() + timedelta(seconds=seconds)
        self._tokens = 0.0

    def try_acquire(self) -> bool:
        now = self._clock.now()
        if self._blocked_until is not None and now < self._blocked_until:
            return False
        elapsed = max(0.0, (now - self._last).total_seconds())
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._last = now
        if self._tokens >= 1.0 - 1e-9:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False


@attrs.define
class ProviderHealth:
    """Statistics of one provider as the registry saw it."""

    name: str
    state: str = CLOSED
    calls: int = 0
    successes: int = 0
    empty: int = 0
    failures: int = 0
    rate_limited: int = 0
    skipped_open: int = 0
    consecutive_failures: int = 0
    total_latency_ms: float = 0.0
    last_error: str | None = None
    last_success_at: datetime | None = None
    opened_at: datetime | None = None

    @property
    def avg_latency_ms(self) -> float:
        return self.total_latency_ms / self.calls if self.calls else 0.0

    @property
    def success_rate(self) -> float:
        return 100.0 * self.successes / self.calls if self.calls else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "calls": self.calls, "successes": self.successes,
                "empty": self.empty, "failures": self.failures, "rate_limited": self.rate_limited,
                "skipped_open": self.skipped_open, "consecutive_failures": self.consecutive_failures,
                "avg_latency_ms": round(self.avg_latency_ms, 3), "success_rate": round(self.success_rate, 1),
                "last_error": self.last_error,
                "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None}


@attrs.define
class _Entry:
    provider: SentimentProvider
    weight: float
    limiter: ClockTokenBucket | None
    health: ProviderHealth
    last_resort: bool = False


class SentimentRegistry:
    """A ``SentimentProvider`` combining others with fallback, breakers, limits and a TTL cache."""

    def __init__(self, clock: Clock, *, mode: str = "weighted", failure_threshold: int = 5,
                 cooldown: timedelta = timedelta(minutes=30), ttl: timedelta = timedelta(hours=1),
                 bucket: timedelta = timedelta(minutes=1), max_stale: timedelta = timedelta(days=1),
                 timer: Callable[[], float] = time.perf_counter, max_cache_entries: int = 100_000,
                 on_health: Callable[[FeedHealthChanged], None] | None = None, name: str = "registry") -> None:
        if mode not in ("weighted", "first"):
            raise ConfigError(f"sentiment registry mode {mode!r} is unknown; use 'weighted' or 'first'")
        if failure_threshold < 1:
            raise ConfigError("sentiment circuit breaker threshold must be at least 1")
        self.name = name
        self._clock = clock
        self.mode = mode
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.ttl = ttl
        self._bucket = bucket
        self.max_stale = max_stale
        self._timer = timer
        self.max_cache_entries = max_cache_entries
        self._on_health = on_health
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self._cache: dict[tuple[str, datetime], tuple[datetime, SentimentReading | None]] = {}
        self._last: dict[str, SentimentReading] = {}
        self.cache_hits = 0
        self.cache_misses = 0
        self._round_failed = False

    # ------------------------------------------------------------- registration

    def register(self, provider: SentimentProvider, *, weight: float = 1.0, rate_per_minute: float | None = None,
                 last_resort: bool = False) -> "SentimentRegistry":
        """Add a provider. ``last_resort`` providers (e.g. the neutral stub) are asked only
        when no other provider answered, so they never dilute a weighted average."""
        if provider.name in self._entries:
            raise ConfigError(f"sentiment provider {provider.name!r} is registered twice")
        if weight < 0:
            raise ConfigError(f"sentiment weight for {provider.name!r} must be >= 0, got {weight}")
        limiter = ClockTokenBucket(self._clock, rate_per_minute) if rate_per_minute else None
        self._entries[provider.name] = _Entry(provider, weight, limiter, ProviderHealth(provider.name),
                                              last_resort=last_resort)
        self._order.append(provider.name)
        return self

    def set_fallback_order(self, names: Sequence[str]) -> None:
        unknown = [n for n in names if n not in self._entries]
        if unknown:
            raise ConfigError(f"fallback order names unknown providers {unknown}; registered: {self._order}")
        self._order = list(names) + [n for n in self._order if n not in names]

    @property
    def fallback_order(self) -> list[str]:
        return list(self._order)

    # ------------------------------------------------------------------- scoring

    def score(self, symbol: str, as_of: datetime) -> SentimentReading | None:
        key_time = self._floor(as_of)
        key = (symbol.upper(), key_time)
        now = self._clock.now()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            self.cache_hits += 1
            return cached[1]
        self.cache_misses += 1
        readings: list[tuple[_Entry, SentimentReading]] = []
        self._round_failed = False
        stale = self._stale(symbol.upper(), key_time)
        for last_resort in (False, True):
            if readings or (last_resort and stale is not None and self._round_failed):
                break            # providers failed: a recent real reading beats the last resort
            for name in self._order:
                entry = self._entries[name]
                if entry.last_resort is not last_resort:
                    continue
                reading = self._ask(entry, symbol, key_time)
                if reading is not None:
                    readings.append((entry, reading))
                    if self.mode == "first" or last_resort:
                        break
        result = self._combine(symbol.upper(), key_time, readings)
        if self._round_failed and (result is None or all(e.last_resort for e, _ in readings)):
            # Failures or skips: do not cache, ask again next time; meanwhile the latest earlier reading.
            return stale if stale is not None else result
        self._cache[key] = (now, result)
        if result is not None and not all(e.last_resort for e, _ in readings):
            self._last[symbol.upper()] = result
        self._evict(now)
        return result

    def _stale(self, symbol: str, as_of: datetime) -> SentimentReading | None:
        """The latest earlier reading (never a later one), with halved confidence."""
        last = self._last.get(symbol)
        if last is not None and last.as_of <= as_of and as_of - last.as_of <= self.max_stale:
            return attrs.evolve(last, confidence=last.confidence * 0.5)
        return None

    def health(self) -> dict[str, dict[str, Any]]:
        """Per-provider statistics (calls, failures, latency, breaker state...)."""
        for entry in self._entries.values():
            self._breaker_state(entry)
        return {name: self._entries[name].health.as_dict() for name in self._order}

    # ---------------------------------------------------------------- internals

    def _floor(self, as_of: datetime) -> datetime:
        if as_of.tzinfo is None:
            raise ValueError(f"as_of must be timezone-aware, got {as_of!r}")
        step = int(self._bucket.total_seconds())
        if step <= 0:
            return as_of
        epoch = int(as_of.timestamp())
        return datetime.fromtimestamp(epoch - epoch % step, tz=as_of.tzinfo)

    def _breaker_state(self, entry: _Entry) -> str:
        h = entry.health
        if h.state == OPEN and h.opened_at is not None and self._clock.now() - h.opened_at >= self.cooldown:
            self._transition(entry, HALF_OPEN, "cooldown over, one trial call allowed")
        return h.state

    def _ask(self, entry: _Entry, symbol: str, as_of: datetime) -> SentimentReading | None:
        h = entry.health
        if self._breaker_state(entry) == OPEN:
            h.skipped_open += 1
            self._round_failed = True
            return None
        if entry.limiter is not None and not entry.limiter.try_acquire():
            h.rate_limited += 1
            self._round_failed = True
            return None
        h.calls += 1
        started = self._timer()
        try:
            reading = entry.provider.score(symbol, as_of)
        except Exception as exc:  # any provider failure counts; the registry never raises for one
            h.total_latency_ms += (self._timer() - started) * 1000.0
            self._failed(entry, exc)
            self._round_failed = True
            return None
        h.total_latency_ms += (self._timer() - started) * 1000.0
        h.successes += 1
        h.consecutive_failures = 0
        h.last_success_at = self._clock.now()
        if h.state != CLOSED:
            self._transition(entry, CLOSED, "trial call succeeded")
        if reading is None:
            h.empty += 1
        return reading

    def _failed(self, entry: _Entry, exc: Exception) -> None:
        h = entry.health
        h.failures += 1
        h.consecutive_failures += 1
        h.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("sentiment provider %s failed (%d in a row): %s", h.name, h.consecutive_failures, h.last_error)
        if isinstance(exc, ProviderRateLimitedError) and entry.limiter is not None:
            entry.limiter.block_for(exc.retry_after_seconds or 60.0)
        if h.state == HALF_OPEN or h.consecutive_failures >= self.failure_threshold:
            h.opened_at = self._clock.now()
            self._transition(entry, OPEN, f"{h.consecutive_failures} consecutive failures, last: {h.last_error}",
                             force=True)

    def _transition(self, entry: _Entry, state: str, reason: str, force: bool = False) -> None:
        h = entry.health
        if h.state == state and not force:
            return
        changed = h.state != state
        h.state = state
        if changed:
            log.info("sentiment provider %s circuit %s: %s", h.name, state, reason)
            if self._on_health is not None:
                status = {CLOSED: "ok", HALF_OPEN: "degraded", OPEN: "down"}[state]
                self._on_health(FeedHealthChanged(feed=f"sentiment.{h.name}", status=status, reason=reason))

    def _combine(self, symbol: str, as_of: datetime,
                 readings: list[tuple[_Entry, SentimentReading]]) -> SentimentReading | None:
        if not readings:
            return None
        if len(readings) == 1:
            return attrs.evolve(readings[0][1], as_of=as_of)
        weights = [max(e.weight, 0.0) for e, _ in readings]
        if sum(weights) <= 0:
            weights = [1.0] * len(readings)
        total = sum(weights)
        score = sum(w * r.score for w, (_, r) in zip(weights, readings)) / total
        confidence = sum(w * r.confidence for w, (_, r) in zip(weights, readings)) / total
        names = ",".join(r.provider for _, r in readings)
        return SentimentReading(symbol=symbol, score=score, as_of=as_of, provider=f"hybrid[{names}]",
                                sample_size=sum(r.sample_size for _, r in readings), confidence=confidence)

    def _evict(self, now: datetime) -> None:
        if len(self._cache) <= self.max_cache_entries:
            return
        # Oldest insertions first (dicts keep insertion order): drop to 90 % of the cap in one go.
        target = int(self.max_cache_entries * 0.9)
        for key in list(self._cache)[: len(self._cache) - target]:
            del self._cache[key]
