"""``Predictor`` port adapters backed by registry models (hash-verified on load).

The engine passes ``FeatureBook.features_at(i)`` — the strategy's raw indicator columns.
When the model was trained through a ``FeatureRecipe`` (stored with it), the predictor
derives the model's inputs from those raw columns with the same recipe; otherwise the
dict must already hold the model's feature names. A value that is absent (warm-up:
``features_at`` leaves out non-finite values) is treated as missing: LightGBM routes it
down its learnt missing-value branch, the linear model imputes the training mean.

``LightGbmPredictor`` explains each prediction with LightGBM's per-feature SHAP
contributions (``pred_contrib=True``) for the predicted class; ``LinearPredictor`` with
each feature's standardised value times its coefficient for the predicted class.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adapters.ml.models import LightGbmModel, LinearModel, TrainedModel
from adapters.ml.registry import ModelRecord, ModelRegistry
from core.errors import ModelRegistryError
from core.learning.features import FeatureRecipe
from core.learning.labels import CLASS_ORDER
from ports.predictor import Prediction


class _ModelPredictor:
    def __init__(self, model_id: str, model: TrainedModel, recipe: FeatureRecipe | None = None) -> None:
        self.model_id = model_id
        self.feature_names = list(model.feature_names)
        self.recipe = recipe
        #: Raw feature columns the caller's book must provide.
        self.required_columns = list(recipe.raw_columns) if recipe is not None else list(self.feature_names)
        self._model = model

    def inputs(self, features: Mapping[str, float]) -> dict[str, float]:
        """The model's input vector for a raw feature dict (NaN where missing).

        A dict that already holds every model feature name is used as is.
        """
        if self.recipe is not None and not all(n in features for n in self.feature_names):
            return self.recipe.row(features)
        nan = float("nan")
        return {n: float(features.get(n, nan)) for n in self.feature_names}

    def predict(self, features: Mapping[str, float]) -> Prediction:
        """Class probabilities for one feature vector, with per-feature contributions."""
        inputs = self.inputs(features)
        row = np.array([[inputs[n] for n in self.feature_names]], dtype=np.float64)
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

    def __init__(self, model_id: str, model: LightGbmModel, recipe: FeatureRecipe | None = None) -> None:
        super().__init__(model_id, model, recipe)


class LinearPredictor(_ModelPredictor):
    """A linear (logistic / SGD) registry model as a ``Predictor``."""

    def __init__(self, model_id: str, model: LinearModel, recipe: FeatureRecipe | None = None) -> None:
        super().__init__(model_id, model, recipe)


def predictor_for(record: ModelRecord, model: TrainedModel) -> LightGbmPredictor | LinearPredictor:
    """Wrap a loaded model (with its stored feature recipe, if any) as a predictor."""
    recipe = FeatureRecipe.from_dict(record.feature_recipe) if record.feature_recipe else None
    if isinstance(model, LightGbmModel):
        return LightGbmPredictor(record.model_id, model, recipe)
    return LinearPredictor(record.model_id, model, recipe)


def load_predictor(registry: ModelRegistry, model_id: str | None = None) -> LightGbmPredictor | LinearPredictor:
    """The predictor for ``model_id`` (default: the production champion), hash-verified."""
    target = model_id or registry.champion()
    if target is None:
        raise ModelRegistryError(f"no model is in production in {registry.root}; "
                                 "promote one with `sensequant models promote ID`")
    record, model = registry.load(target)
    return predictor_for(record, model)
