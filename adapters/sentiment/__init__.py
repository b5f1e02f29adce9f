"""Sentiment providers (NewsAPI, X, offline headlines with VADER, stub) and the registry."""

from adapters.sentiment.factory import build_sentiment_registry
from adapters.sentiment.headlines import HeadlinesSentimentProvider
from adapters.sentiment.http import ProviderAuthError, ProviderError, ProviderRateLimitedError
from adapters.sentiment.newsapi import NewsApiProvider
from adapters.sentiment.registry import ProviderHealth, SentimentRegistry
from adapters.sentiment.snapshots import SnapshotSentimentProvider, read_snapshot, take_snapshots
from adapters.sentiment.stub import StubSentimentProvider
from adapters.sentiment.twitter import XRecentSearchProvider
from adapters.sentiment.vader import FINANCE_LEXICON, compound, finance_analyzer

__all__ = [
    "FINANCE_LEXICON", "HeadlinesSentimentProvider", "NewsApiProvider", "ProviderAuthError", "ProviderError",
    "ProviderHealth", "ProviderRateLimitedError", "SentimentRegistry", "SnapshotSentimentProvider",
    "StubSentimentProvider", "read_snapshot", "take_snapshots",
    "XRecentSearchProvider", "build_sentiment_registry", "compound", "finance_analyzer",
]
