"""Teacher hyperparameter tuning (spec §16.2) with Optuna on the shipped daily bars, real LightGBM.

Purged chronological folds, the defaults as trial 0, determinism, the choice recorded in the
registry metadata next to every model's feature importance, and `models train --tune`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from adapters.memory import InMemoryEventStore
from adapters.ml.registry import ModelRegistry
from adapters.ml.training import DEFAULT_TEACHER_PARAMS
from adapters.ml.tuning import TEACHER_SPACE, purged_folds, tune_teacher
from applications.cli.main import cli
from applications.services.learning import LearningConfig, build_training_set, default_feed, load_series, train_models
from core.errors import ConfigError
from core.learning.labels import CLASS_ORDER  # noqa: F401  (the classes the log-loss is over)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not list((ROOT / "data" / "market").glob("*_1day.csv*")),
                                reason="no shipped daily bars in data/market")
SYMBOLS = ["TCS", "INFY"]
NOW = datetime(2026, 1, 5, 10, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def rows():
    from applications.services.learning import recipe_from_specs
    config = LearningConfig(symbols=SYMBOLS, end="2019-12-31")
    series = load_series(config, default_feed(config))
    data = build_training_set(series, config, recipe_from_specs(config.specs()))
    train, _test = data.chronological_split(config.test_fraction)
    return train


def test_folds_are_chronological_and_purged(rows):
    folds = purged_folds(rows.start_ns, rows.exit_ns, 4)
    assert len(folds) == 4
    for train_idx, val_idx in folds:
        first_val = rows.start_ns[val_idx[0]]
        assert rows.start_ns[train_idx].max() < first_val  # the past only
        assert rows.exit_ns[train_idx].max() < first_val  # no label reaches into the fold
    # a row that would leak was really dropped (labels look 5 sessions ahead)
    train_idx, val_idx = folds[0]
    assert train_idx[-1] < val_idx[0] - 1


def test_tuning_is_deterministic_starts_from_the_defaults_and_never_does_worse(rows):
    a = tune_teacher(rows.X, rows.y, rows.feature_names, rows.start_ns, rows.exit_ns, seed=3, trials=6, folds=3)
    b = tune_teacher(rows.X, rows.y, rows.feature_names, rows.start_ns, rows.exit_ns, seed=3, trials=6, folds=3)
    assert a.best_params == b.best_params and a.best_score == b.best_score
    assert a.history[0]["trial"] == 0 and a.history[0]["params"] == {k: DEFAULT_TEACHER_PARAMS[k] for k in TEACHER_SPACE}
    assert a.best_score <= a.baseline_score and round(a.baseline_score, 6) == a.history[0]["score"]
    assert a.trials == 6 and set(a.best_params) == set(TEACHER_SPACE)
    for name, bounds in TEACHER_SPACE.items():
        assert bounds[0] <= a.best_params[name] <= bounds[1]


def test_bad_tuning_settings_are_clear_errors(rows):
    with pytest.raises(ConfigError, match="tune_folds"):
        LearningConfig(symbols=SYMBOLS, tune_trials=3, tune_folds=1)
    with pytest.raises(ValueError, match="sorted by signal time"):
        tune_teacher(rows.X[::-1], rows.y[::-1], rows.feature_names, rows.start_ns[::-1], rows.exit_ns[::-1],
                     seed=1, trials=1)


def test_train_models_uses_the_tuned_parameters_and_records_them_with_feature_importance(tmp_path):
    store, registry = InMemoryEventStore(), ModelRegistry(tmp_path / "reg")
    out = train_models(LearningConfig(symbols=SYMBOLS, end="2019-12-31", tune_trials=5, tune_folds=3),
                       store=store, registry=registry, now=NOW)
    teacher, _model = registry.load(out.teacher.record.model_id)  # hashes verified on load
    tuning = teacher.extra["tuning"]
    assert tuning["trials"] == 5 and tuning["best_score"] <= tuning["baseline_score"]
    for name, value in tuning["best_params"].items():
        assert teacher.params[name] == value  # what was trained is what was chosen
    for record in (teacher, registry.get(out.student.record.model_id)):
        importance = record.extra["feature_importance"]
        assert set(importance) == set(record.feature_names)
        assert abs(sum(importance.values()) - 1.0) < 1e-4 and all(v >= 0 for v in importance.values())
    untuned = train_models(LearningConfig(symbols=SYMBOLS, end="2019-12-31"), store=store, registry=registry, now=NOW)
    assert "tuning" not in untuned.teacher.record.extra and untuned.teacher.record.extra["feature_importance"]


def test_models_train_tune_json(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSEQUANT_MODEL_REGISTRY", str(tmp_path / "reg"))
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'e.db'}", "models", "train", "--symbols",
                                      ",".join(SYMBOLS), "--end", "2019-12-31", "--tune", "4", "--cv-folds", "3",
                                      "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    tuning = doc["teacher"]["tuning"]
    assert tuning["trials"] == 4 and tuning["metric"] == "cv_multiclass_log_loss" and "history" not in tuning
    assert doc["teacher"]["params"]["num_leaves"] == tuning["best_params"]["num_leaves"]
    assert np.isclose(sum(doc["teacher"]["feature_importance"].values()), 1.0, atol=1e-4)
    bad = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'e.db'}", "models", "train", "--cv-folds", "1"])
    assert bad.exit_code == 2 and "--cv-folds" in bad.output
