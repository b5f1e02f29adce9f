"""Hybrid market data: a cache feed first, an API feed on a miss (two MarketDataFeed ports)."""
