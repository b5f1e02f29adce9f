"""The ``Predictor`` port contract over the LightGBM and linear registry predictors and the fake."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from adapters.ml.predictor import load_predictor
from adapters.ml.registry import ModelRegistry
from adapters.ml.training import train_student, train_teacher
from core.features import ATR, RSI, SMA, FeatureBook
from core.learning.features import recipe_from_specs
from core.learning.labels import CLASS_ORDER
from core.model import BarSeries, Interval
from ports.predictor import Prediction, Predictor
from tests.fakes.predictor import FakePredictor

SPECS = [SMA(20), SMA(50), RSI(14), ATR(14)]
RECIPE = recipe_from_specs(SPECS)


def synthetic_book(n: int = 400, seed: int = 5) -> FeatureBook:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    start = (np.arange(n, dtype=np.int64) * 86_400 + 1_577_836_800) * 1_000_000_000
    series = BarSeries(symbol="SYN", interval=Interval.DAY_1, start_ns=start, open=close, high=close * 1.01,
                       low=close * 0.99, close=close, volume=np.full(n, 1e5))
    return FeatureBook.from_series(series, SPECS)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    book = synthetic_book()
    cols = RECIPE.book_columns(book)
    X = np.column_stack([cols[n] for n in RECIPE.feature_names])
    keep = np.all(np.isfinite(X), axis=1)
    X = X[keep]
    y = np.random.default_rng(0).integers(0, 3, X.shape[0])
    teacher = train_teacher(X, y, RECIPE.feature_names, seed=1, params={"num_boost_round": 20})
    student = train_student(X, teacher.predict_proba(X), RECIPE.feature_names, seed=1)
    reg = ModelRegistry(tmp_path_factory.mktemp("registry"))
    ids = {}
    for role, model in (("teacher", teacher), ("student", student)):
        rec = reg.register(model, role=role, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                           training_window=(datetime(2020, 1, 1, tzinfo=timezone.utc),
                                            datetime(2020, 12, 31, tzinfo=timezone.utc)),
                           data_fingerprint="synthetic", metrics={}, feature_recipe=RECIPE.to_dict())
        ids[model.algorithm] = rec.model_id
    return reg, ids


@pytest.fixture(params=["lightgbm", "logistic", "fake"])
def predictor(request, registry) -> Predictor:
    reg, ids = registry
    if request.param == "fake":
        return FakePredictor(feature_names=list(RECIPE.feature_names))
    return load_predictor(reg, ids[request.param])


def test_implements_the_port(predictor):
    assert isinstance(predictor, Predictor)
    assert isinstance(predictor.model_id, str) and predictor.model_id
    assert list(predictor.feature_names) == list(RECIPE.feature_names)


def test_scores_engine_feature_dicts_with_a_probability_per_class(predictor):
    book = synthetic_book()
    for i in (10, 60, 399):  # warm-up (columns absent) and settled bars
        out = predictor.predict(book.features_at(i))
        assert isinstance(out, Prediction) and out.model_id == predictor.model_id
        assert set(out.probabilities) == set(CLASS_ORDER)
        values = list(out.probabilities.values())
        assert all(0.0 <= v <= 1.0 and np.isfinite(v) for v in values)
        assert sum(values) == pytest.approx(1.0)
        assert out.direction in CLASS_ORDER
        assert set(out.contributions) <= set(predictor.feature_names)


def test_is_deterministic(predictor):
    features = synthetic_book().features_at(200)
    assert predictor.predict(features) == predictor.predict(features)
