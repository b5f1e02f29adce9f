"""SentimentRegistry: weights, fallback, circuit breakers, rate limits, TTL cache, health."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.sentiment import ProviderError, ProviderRateLimitedError, SentimentRegistry, StubSentimentProvider
from core.errors import ConfigError
from ports.sentiment import SentimentProvider
from tests.fakes.manual_clock import ManualClock
from tests.fakes.sentiment import ScriptedSentimentProvider

T0 = datetime(2025, 2, 5, 4, 0, tzinfo=timezone.utc)
BOOM = ProviderError("newsapi: request failed (timeout)")


class Ticker:
    """A deterministic perf_counter: each read advances 5 ms."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.005
        return self.t


def registry(clock=None, **kw) -> tuple[SentimentRegistry, ManualClock, list]:
    clock = clock or ManualClock(T0)
    events: list = []
    reg = SentimentRegistry(clock, timer=Ticker(), on_health=events.append, **kw)
    return reg, clock, events


def test_weighted_average_of_providers():
    reg, _, _ = registry()
    reg.register(ScriptedSentimentProvider("newsapi", 0.45, confidence=0.8), weight=0.6)
    reg.register(ScriptedSentimentProvider("twitter", 0.62, confidence=0.9), weight=0.4)
    assert isinstance(reg, SentimentProvider)
    reading = reg.score("reliance", T0)
    assert reading.score == pytest.approx(0.518) and reading.confidence == pytest.approx(0.84)
    assert reading.provider == "hybrid[newsapi,twitter]" and reading.symbol == "RELIANCE" and reading.sample_size == 6


def test_first_mode_falls_back_in_order():
    reg, _, _ = registry(mode="first")
    news = reg_news = ScriptedSentimentProvider("newsapi", 0.3).then(BOOM)
    twitter = ScriptedSentimentProvider("twitter", -0.2)
    reg.register(news).register(twitter).register(StubSentimentProvider())
    assert reg.score("TCS", T0).provider == "twitter"
    assert reg.score("TCS", T0 + timedelta(minutes=1)).provider == "newsapi"
    assert len(twitter.calls) == 1 and reg_news is news
    reg.set_fallback_order(["stub", "newsapi"])
    assert reg.fallback_order == ["stub", "newsapi", "twitter"]
    assert reg.score("TCS", T0 + timedelta(minutes=2)).provider == "stub"
    with pytest.raises(ConfigError):
        reg.set_fallback_order(["nope"])


def test_breaker_opens_after_threshold_then_half_opens_after_cooldown():
    reg, clock, events = registry(failure_threshold=3, cooldown=timedelta(minutes=30), mode="first")
    flaky = ScriptedSentimentProvider("newsapi", 0.5).then(BOOM, BOOM, BOOM, BOOM)
    reg.register(flaky).register(StubSentimentProvider(0.1))
    for i in range(3):
        assert reg.score("TCS", T0 + timedelta(minutes=i)).provider == "stub"
    assert reg.health()["newsapi"]["state"] == "open"
    assert [(e.feed, e.status) for e in events] == [("sentiment.newsapi", "down")]
    reg.score("TCS", T0 + timedelta(minutes=5))
    assert len(flaky.calls) == 3 and reg.health()["newsapi"]["skipped_open"] == 1
    clock.advance(timedelta(minutes=31))
    assert reg.health()["newsapi"]["state"] == "half_open"
    reg.score("TCS", T0 + timedelta(minutes=40))                  # trial fails: open again, new cooldown
    assert reg.health()["newsapi"]["state"] == "open" and len(flaky.calls) == 4
    clock.advance(timedelta(minutes=29))
    reg.score("TCS", T0 + timedelta(minutes=41))
    assert len(flaky.calls) == 4
    clock.advance(timedelta(minutes=2))
    assert reg.score("TCS", T0 + timedelta(minutes=42)).provider == "newsapi"      # trial succeeds
    assert reg.health()["newsapi"]["state"] == "closed"
    assert [e.status for e in events] == ["down", "degraded", "down", "degraded", "ok"]


def test_health_statistics():
    reg, _, _ = registry()
    reg.register(ScriptedSentimentProvider("newsapi", 0.5).then(BOOM, None))
    for i in range(3):
        reg.score("TCS", T0 + timedelta(minutes=i))
    h = reg.health()["newsapi"]
    assert (h["calls"], h["successes"], h["failures"], h["empty"]) == (3, 2, 1, 1)
    assert h["avg_latency_ms"] == pytest.approx(5.0) and h["consecutive_failures"] == 0
    assert "timeout" in h["last_error"] and h["last_success_at"] == T0.isoformat()
    assert h["success_rate"] == pytest.approx(66.7)


def test_rate_limit_skips_calls_beyond_the_budget_and_refills_with_time():
    reg, clock, _ = registry(mode="first")
    news = ScriptedSentimentProvider("newsapi", 0.5)
    reg.register(news, rate_per_minute=2).register(StubSentimentProvider())
    providers = [reg.score("TCS", T0 + timedelta(minutes=i)).provider for i in range(3)]
    assert providers == ["newsapi", "newsapi", "stub"] and reg.health()["newsapi"]["rate_limited"] == 1
    clock.advance(timedelta(seconds=30))
    assert reg.score("TCS", T0 + timedelta(minutes=10)).provider == "newsapi"


def test_provider_429_blocks_its_bucket_for_the_retry_after():
    reg, clock, _ = registry(mode="first")
    news = ScriptedSentimentProvider("newsapi", 0.5).then(ProviderRateLimitedError("429", 120))
    reg.register(news, rate_per_minute=100).register(StubSentimentProvider())
    reg.score("TCS", T0)
    clock.advance(timedelta(seconds=60))
    assert reg.score("TCS", T0 + timedelta(minutes=1)).provider == "stub"
    clock.advance(timedelta(seconds=61))
    assert reg.score("TCS", T0 + timedelta(minutes=2)).provider == "newsapi"


def test_ttl_cache_and_bucketed_as_of():
    reg, clock, _ = registry(ttl=timedelta(minutes=10), bucket=timedelta(minutes=1))
    news = ScriptedSentimentProvider("newsapi", 0.5)
    reg.register(news)
    first = reg.score("TCS", T0 + timedelta(seconds=40))
    assert first.as_of == T0 and news.calls[0][1] == T0           # providers see the floored time
    reg.score("TCS", T0 + timedelta(seconds=59))
    assert len(news.calls) == 1 and reg.cache_hits == 1
    clock.advance(timedelta(minutes=11))
    reg.score("TCS", T0 + timedelta(seconds=10))
    assert len(news.calls) == 2


def test_all_failing_returns_an_earlier_reading_with_lower_confidence_or_none():
    reg, clock, _ = registry(max_stale=timedelta(hours=2))
    news = ScriptedSentimentProvider("newsapi", 0.4, confidence=0.8).then(0.4, BOOM, BOOM)
    reg.register(news)
    reg.score("TCS", T0)
    stale = reg.score("TCS", T0 + timedelta(hours=1))
    assert stale.score == 0.4 and stale.confidence == pytest.approx(0.4) and stale.as_of == T0
    assert reg.score("TCS", T0 + timedelta(hours=3)) is None
    assert reg.score("INFY", T0) is not None                       # other symbols unaffected


def test_configuration_errors():
    clock = ManualClock(T0)
    with pytest.raises(ConfigError):
        SentimentRegistry(clock, mode="majority")
    reg = SentimentRegistry(clock)
    reg.register(StubSentimentProvider())
    with pytest.raises(ConfigError, match="twice"):
        reg.register(StubSentimentProvider())
    with pytest.raises(ConfigError):
        reg.register(ScriptedSentimentProvider("x"), weight=-1)


def test_cache_is_bounded():
    reg, _, _ = registry(max_cache_entries=10)
    reg.register(ScriptedSentimentProvider("newsapi", 0.1))
    for i in range(25):
        reg.score("TCS", T0 + timedelta(minutes=i))
    assert len(reg._cache) <= 10
    reg.score("TCS", T0 + timedelta(minutes=24))
    assert reg.cache_hits == 1                                   # the newest entries survive


def test_last_resort_provider_only_answers_when_nobody_else_does():
    reg, _, _ = registry()
    news = ScriptedSentimentProvider("newsapi", 0.5).then(0.5, None)
    reg.register(StubSentimentProvider(0.0, name="neutral"), weight=0.0, last_resort=True)
    reg.register(news, weight=1.0)
    assert reg.score("TCS", T0).score == 0.5 and reg.score("TCS", T0).provider == "newsapi"
    fallback = reg.score("TCS", T0 + timedelta(minutes=1))
    assert fallback.provider == "neutral" and fallback.score == 0.0


def test_build_registry_from_settings(tmp_path):
    from adapters.sentiment import build_sentiment_registry
    (tmp_path / "n.csv").write_text("published_at,symbol,search_term,headline\n"
                                    "2025-02-04 09:00:00,TCS,tcs,TCS shares surge on record deal\n")
    clock = ManualClock(T0)
    reg = build_sentiment_registry(clock, news_dir=tmp_path, newsapi_key="k", twitter_bearer_token="t",
                                   fallback_order=["headlines"])
    assert reg.fallback_order == ["headlines", "newsapi", "twitter", "neutral"]
    only_stub = build_sentiment_registry(clock)
    assert only_stub.score("TCS", T0).provider == "neutral"
    with pytest.raises(ConfigError):
        build_sentiment_registry(clock, neutral_fallback=False)
    with pytest.raises(ConfigError, match="does not exist"):
        build_sentiment_registry(clock, news_dir=tmp_path / "missing")


def test_failing_providers_prefer_a_recent_real_reading_over_the_neutral_last_resort():
    reg, _, _ = registry(max_stale=timedelta(hours=2))
    news = ScriptedSentimentProvider("newsapi", 0.6, confidence=1.0).then(0.6, BOOM, BOOM)
    reg.register(news).register(StubSentimentProvider(0.0, name="neutral"), weight=0.0, last_resort=True)
    reg.score("TCS", T0)
    stale = reg.score("TCS", T0 + timedelta(hours=1))
    assert stale.provider == "newsapi" and stale.score == 0.6 and stale.confidence == 0.5
    neutral = reg.score("TCS", T0 + timedelta(hours=3))          # too old to reuse
    assert neutral.provider == "neutral"
    assert reg.score("INFY", T0 + timedelta(hours=3)).provider == "newsapi"
