"""``Predictor`` port adapters backed by registry models (hash-verified on load).

``LightGbmPredictor`` explains each prediction with LightGBM's per-feature SHAP
contributions (``pred_contrib=True``) for the predicted class; ``LinearPredictor`` with
each feature's standardised value times its coefficient for the predicted class.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adapters.ml.models import LightGbmModel, LinearModel, TrainedModel
from adapters.ml.registry import ModelRegistry
from core.errors import ModelRegistryError
from core.learning.labels import CLASS_ORDER
from ports.predictor import Prediction


class _ModelPredictor:
    def __init__(self, model_id: str, model: TrainedModel) -> None:
        self.model_id = model_id
        self.feature_names = list(model.feature_names)
        self._model = model

    def _row(self, features: Mapping[str, float]) -> np.ndarray:
        missing = [n for n in self.feature_names if n not in features]
        if missing:
            raise KeyError(f"model {self.model_id} needs features {missing}; the strategy's feature book "
                           "must compute them")
        return np.array([[float(features[n]) for n in self.feature_names]], dtype=np.float64)

    def predict(self, features: Mapping[str, float]) -> Prediction:
        """Class probabilities for one feature vector, with per-feature contributions."""
        row = self._row(features)
        proba = self._model.predict_proba(row)[0]
        best = int(np.argmax(proba))
        contrib = self._model.contributions(row)[0, best, : len(self.feature_names)]
        return Prediction(model_id=self.model_id,
                          probabilities={name: float(proba[i]) for i, name in enumerate(CLASS_ORDER)},
                          contributions={n: float(c) for n, c in zip(self.feature_names, contrib)})

    def predict_many(self, X: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, 3)`` for a matrix whose columns follow ``feature_names``."""
        return self._model.predict_proba(X)


class LightGbmPredictor(_ModelPredictor):
    """A LightGBM registry model as a ``Predictor``."""

    def __init__(self, model_id: str, model: LightGbmModel) -> None:
        super().__init__(model_id, model)


class LinearPredictor(_ModelPredictor):
    """A linear (logistic / SGD) registry model as a ``Predictor``."""

    def __init__(self, model_id: str, model: LinearModel) -> None:
        super().__init__(model_id, model)


def load_predictor(registry: ModelRegistry, model_id: str | None = None) -> LightGbmPredictor | LinearPredictor:
    """The predictor for ``model_id`` (default: the production champion), hash-verified."""
    target = model_id or registry.champion()
    if target is None:
        raise ModelRegistryError(f"no model is in production in {registry.root}; "
                                 "promote one with `sensequant models promote ID`")
    record, model = registry.load(target)
    if isinstance(model, LightGbmModel):
        return LightGbmPredictor(record.model_id, model)
    return LinearPredictor(record.model_id, model)
