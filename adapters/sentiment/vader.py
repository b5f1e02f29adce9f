"""VADER with a finance vocabulary. VADER ships its lexicon, so this works offline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# Words VADER does not know or scores wrongly for markets (valence scale -4..4).
FINANCE_LEXICON: dict[str, float] = {
    "surge": 2.5, "surges": 2.5, "surged": 2.5, "surging": 2.5,
    "soar": 2.7, "soars": 2.7, "soared": 2.7, "soaring": 2.7,
    "rally": 2.3, "rallies": 2.3, "rallied": 2.3, "rallying": 2.3,
    "jump": 1.8, "jumps": 1.8, "jumped": 1.8,
    "gain": 1.6, "gains": 1.6, "gained": 1.6,
    "climb": 1.5, "climbs": 1.5, "climbed": 1.5,
    "rise": 1.2, "rises": 1.2, "rose": 1.2,
    "upgrade": 2.2, "upgrades": 2.2, "upgraded": 2.2,
    "outperform": 2.0, "outperforms": 2.0, "beat": 1.5, "beats": 1.5,
    "bullish": 2.6, "record high": 2.0, "buyback": 1.2, "dividend": 1.0,
    "plunge": -2.8, "plunges": -2.8, "plunged": -2.8, "plunging": -2.8,
    "tumble": -2.5, "tumbles": -2.5, "tumbled": -2.5,
    "slump": -2.4, "slumps": -2.4, "slumped": -2.4,
    "crash": -3.0, "crashes": -3.0, "crashed": -3.0,
    "fall": -1.6, "falls": -1.6, "fell": -1.6, "falling": -1.6,
    "drop": -1.6, "drops": -1.6, "dropped": -1.6,
    "slide": -1.6, "slides": -1.6, "slid": -1.6,
    "sink": -1.9, "sinks": -1.9, "sank": -1.9,
    "decline": -1.5, "declines": -1.5, "declined": -1.5,
    "downgrade": -2.2, "downgrades": -2.2, "downgraded": -2.2,
    "underperform": -2.0, "misses": -1.5, "selloff": -2.2, "sell-off": -2.2,
    "bearish": -2.6, "default": -2.5, "fraud": -3.0, "probe": -1.5, "penalty": -1.8, "fined": -1.8,
}


@lru_cache(maxsize=1)
def finance_analyzer() -> SentimentIntensityAnalyzer:
    """A shared VADER analyzer with ``FINANCE_LEXICON`` added."""
    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(FINANCE_LEXICON)
    return analyzer


def compound(text: str) -> float:
    """VADER compound score in [-1, 1] with the finance lexicon."""
    return float(finance_analyzer().polarity_scores(text or "")["compound"])


def recency_weighted_mean(scores: Sequence[float], ages_seconds: Sequence[float], half_life_seconds: float) -> float:
    """Mean of ``scores`` weighted by ``0.5 ** (age / half_life)`` (newest count most)."""
    total = weight_sum = 0.0
    for score, age in zip(scores, ages_seconds):
        w = math.pow(0.5, max(age, 0.0) / half_life_seconds)
        total += w * score
        weight_sum += w
    return total / weight_sum if weight_sum else 0.0


def confidence_for(sample_size: int, saturation: int = 5) -> float:
    """More items, more confidence: ``n / saturation`` capped at 1."""
    return min(1.0, sample_size / saturation) if sample_size > 0 else 0.0
