"""Build a ``SentimentRegistry`` from plain settings (the composition root supplies the values)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from adapters.sentiment.headlines import HeadlinesSentimentProvider
from adapters.sentiment.newsapi import NewsApiProvider
from adapters.sentiment.registry import SentimentRegistry
from adapters.sentiment.stub import StubSentimentProvider
from adapters.sentiment.twitter import XRecentSearchProvider
from core.errors import ConfigError
from core.events.catalog import FeedHealthChanged
from ports.clock import Clock

DEFAULT_WEIGHTS = {"headlines": 1.0, "newsapi": 0.6, "twitter": 0.4}
# NewsAPI: 100 requests/minute is the documented ceiling; X recent search: 450 per 15 minutes per app.
DEFAULT_RATES = {"newsapi": 100.0, "twitter": 30.0}


def build_sentiment_registry(clock: Clock, *, news_dir: Path | None = None, newsapi_key: str | None = None,
                             newsapi_base_url: str = "https://newsapi.org", twitter_bearer_token: str | None = None,
                             twitter_base_url: str = "https://api.x.com", weights: Mapping[str, float] | None = None,
                             fallback_order: Sequence[str] | None = None, rates_per_minute: Mapping[str, float] | None = None,
                             mode: str = "weighted", failure_threshold: int = 5, cooldown: timedelta = timedelta(minutes=30),
                             ttl: timedelta = timedelta(hours=1), lookback: timedelta = timedelta(days=3),
                             timeout_seconds: float = 5.0, neutral_fallback: bool = True,
                             on_health: Callable[[FeedHealthChanged], None] | None = None) -> SentimentRegistry:
    """Providers for every source that is configured, plus a neutral stub as the last resort.

    A source is configured when its key/token (or ``news_dir``) is given; weights and rates
    default to ``DEFAULT_WEIGHTS``/``DEFAULT_RATES``. Raises ``ConfigError`` when nothing is
    configured and ``neutral_fallback`` is off.
    """
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    rates = {**DEFAULT_RATES, **(rates_per_minute or {})}
    registry = SentimentRegistry(clock, mode=mode, failure_threshold=failure_threshold, cooldown=cooldown, ttl=ttl,
                                 on_health=on_health)
    if news_dir is not None:
        if not Path(news_dir).exists():
            raise ConfigError(f"sentiment news_dir {news_dir} does not exist; point it at a folder of headline CSVs")
        registry.register(HeadlinesSentimentProvider(Path(news_dir), lookback=lookback),
                          weight=weights["headlines"], rate_per_minute=rates.get("headlines"))
    if newsapi_key:
        registry.register(NewsApiProvider(newsapi_key, base_url=newsapi_base_url, lookback=lookback,
                                          timeout=timeout_seconds),
                          weight=weights["newsapi"], rate_per_minute=rates.get("newsapi"))
    if twitter_bearer_token:
        registry.register(XRecentSearchProvider(twitter_bearer_token, clock, base_url=twitter_base_url,
                                                timeout=timeout_seconds),
                          weight=weights["twitter"], rate_per_minute=rates.get("twitter"))
    if neutral_fallback:
        registry.register(StubSentimentProvider(0.0, confidence=0.0, name="neutral"), weight=0.0, last_resort=True)
    if not registry.fallback_order:
        raise ConfigError("no sentiment source configured: give a news folder, a NewsAPI key or an X bearer token")
    if fallback_order:
        registry.set_fallback_order(fallback_order)
    return registry
