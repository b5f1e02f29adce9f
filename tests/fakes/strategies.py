"""A scripted Strategy for engine tests: it says what it was told to, at the bar it was told."""

from __future__ import annotations

from typing import Any

from core.model import Direction, StrategyKind
from core.strategies.base import PositionView, Signal


class ScriptedStrategy:
    """Emits ``script[(symbol, i)]`` on bar ``i`` of ``symbol``; records every call it got."""

    def __init__(self, script: dict[tuple[str, int], Signal], *, name: str = "scripted",
                 kind: StrategyKind = StrategyKind.SWING) -> None:
        self.name = name
        self.kind = kind
        self.script = script
        self.calls: list[tuple[str, int, PositionView, float | None]] = []

    def feature_spec(self) -> list[Any]:
        return []

    def decide(self, book, i, position, sentiment, prediction):
        self.calls.append((book.symbol, i, position, sentiment))
        return self.script.get((book.symbol, i))


def long(reason: str = "scripted long", **kw: Any) -> Signal:
    return Signal(direction=Direction.LONG, confidence=kw.pop("confidence", 0.8), reason=reason, **kw)


def short(reason: str = "scripted short", **kw: Any) -> Signal:
    return Signal(direction=Direction.SHORT, confidence=kw.pop("confidence", 0.8), reason=reason, **kw)


def flat(reason: str = "scripted exit") -> Signal:
    return Signal(direction=Direction.FLAT, confidence=1.0, reason=reason)
