"""Sentiment scores for symbols, point in time."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs


@attrs.frozen(kw_only=True, slots=True)
class SentimentReading:
    """A score in [-1, 1] for ``symbol`` using only information published before ``as_of``."""

    symbol: str
    score: float
    as_of: datetime
    provider: str
    sample_size: int
    confidence: float = 1.0


@runtime_checkable
class SentimentProvider(Protocol):
    """Scores a symbol as of a time. Returns ``None`` when it has nothing to say."""

    name: str

    def score(self, symbol: str, as_of: datetime) -> SentimentReading | None:
        ...
