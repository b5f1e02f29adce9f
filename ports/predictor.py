"""Model scores for strategies (student models from the EOD learning loop)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import attrs


@attrs.frozen(kw_only=True, slots=True)
class Prediction:
    """Class probabilities for LONG/SHORT/NOOP from model ``model_id``."""

    model_id: str
    probabilities: Mapping[str, float]
    contributions: Mapping[str, float] = attrs.Factory(dict)

    @property
    def direction(self) -> str:
        return max(self.probabilities, key=lambda k: self.probabilities[k])


@runtime_checkable
class Predictor(Protocol):
    """Turns a feature vector into a prediction."""

    model_id: str
    feature_names: list[str]

    def predict(self, features: Mapping[str, float]) -> Prediction:
        ...
