"""A fixed-score provider: neutral by default. For tests, demos and as the last fallback."""

from __future__ import annotations

from datetime import datetime

from ports.sentiment import SentimentReading


class StubSentimentProvider:
    """Always answers ``value`` (0.0 = neutral) with low confidence."""

    def __init__(self, value: float = 0.0, *, confidence: float = 0.5, name: str = "stub") -> None:
        if not -1.0 <= value <= 1.0:
            raise ValueError(f"stub sentiment must be in [-1, 1], got {value}")
        self.value = value
        self.confidence = confidence
        self.name = name

    def score(self, symbol: str, as_of: datetime) -> SentimentReading:
        return SentimentReading(symbol=symbol.upper(), score=self.value, as_of=as_of, provider=self.name,
                                sample_size=0, confidence=self.confidence)
