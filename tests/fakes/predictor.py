"""A fixed-answer ``Predictor`` for engine and strategy tests (records what it was asked)."""

from __future__ import annotations

from collections.abc import Mapping

from ports.predictor import Prediction


class FakePredictor:
    """Always returns ``probabilities``; keeps every feature dict it scored in ``calls``."""

    def __init__(self, probabilities: Mapping[str, float] | None = None, *, model_id: str = "fake-model",
                 feature_names: list[str] | None = None) -> None:
        self.model_id = model_id
        self.feature_names = list(feature_names or [])
        self.probabilities = dict(probabilities or {"LONG": 0.5, "SHORT": 0.2, "NOOP": 0.3})
        self.calls: list[dict[str, float]] = []

    def predict(self, features: Mapping[str, float]) -> Prediction:
        self.calls.append(dict(features))
        return Prediction(model_id=self.model_id, probabilities=dict(self.probabilities),
                          contributions={n: 0.0 for n in self.feature_names})
