"""A scripted ``SentimentProvider`` for registry tests: answers, ``None`` or raises, as told."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

from ports.sentiment import SentimentReading


class ScriptedSentimentProvider:
    """Returns ``value`` (or the next scripted outcome: a float, ``None`` or an exception)."""

    def __init__(self, name: str, value: float | None = 0.0, *, confidence: float = 1.0, sample_size: int = 3) -> None:
        self.name = name
        self.value = value
        self.confidence = confidence
        self.sample_size = sample_size
        self.script: deque[Any] = deque()
        self.calls: list[tuple[str, datetime]] = []

    def then(self, *outcomes: Any) -> "ScriptedSentimentProvider":
        self.script.extend(outcomes)
        return self

    def score(self, symbol: str, as_of: datetime) -> SentimentReading | None:
        self.calls.append((symbol, as_of))
        outcome = self.script.popleft() if self.script else self.value
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is None:
            return None
        return SentimentReading(symbol=symbol, score=float(outcome), as_of=as_of, provider=self.name,
                                sample_size=self.sample_size, confidence=self.confidence)
