"""Hybrid market data: a cache feed first, an API feed on a miss (two MarketDataFeed ports)."""

from adapters.hybrid.cache import CsvBarCache, subtract
from adapters.hybrid.feed import CacheWriter, FetchReport, HybridFeed

__all__ = ["CacheWriter", "CsvBarCache", "FetchReport", "HybridFeed", "subtract"]
