"""Teacher -> student training on the shipped daily bars, the model registry and the predictors.

Real LightGBM and scikit-learn, real files. The daily bars are read with pandas here
(adapters.ml takes arrays, never files).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters.ml.evaluation import evaluate_classifier
from adapters.ml.models import LightGbmModel, LinearModel
from adapters.ml.predictor import LightGbmPredictor, LinearPredictor, load_predictor
from adapters.ml.registry import ModelRegistry
from adapters.ml.training import train_student, train_teacher
from core.errors import ModelIntegrityError, ModelNotFoundError, ModelRegistryError
from core.features import FeatureBook
from core.learning.dataset import LabeledDataset, dataset_from_series
from core.learning.features import DEFAULT_MODEL_SPECS, recipe_from_specs
from core.learning.labels import CLASS_ORDER, LabelConfig
from core.model import IST_OFFSET_NS, BarSeries, Interval
from ports.predictor import Predictor

MARKET = Path(__file__).resolve().parents[2] / "data" / "market"
DAILY = sorted(MARKET.glob("*_1day.csv.gz"))
pytestmark = pytest.mark.skipif(not DAILY, reason="no shipped daily bars in data/market")

T0 = datetime(2026, 1, 5, 10, 30, tzinfo=timezone.utc)


def read_daily(path: Path) -> BarSeries:
    df = pd.read_csv(path)
    days = pd.to_datetime(df["Date"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
    start = days + (9 * 3600 + 15 * 60) * 10**9 - IST_OFFSET_NS  # 09:15 IST
    return BarSeries(symbol=str(df["Symbol"].iloc[0]), interval=Interval.DAY_1, start_ns=start.astype(np.int64),
                     open=df["Open"].to_numpy(float), high=df["High"].to_numpy(float), low=df["Low"].to_numpy(float),
                     close=df["Close"].to_numpy(float), volume=df["Volume"].to_numpy(float))


@pytest.fixture(scope="module")
def split() -> tuple[LabeledDataset, LabeledDataset]:
    config = LabelConfig.swing(horizon=5, max_abs_return=0.25)
    ds = LabeledDataset.concat([dataset_from_series(read_daily(p), config) for p in DAILY])
    return ds.chronological_split(0.25)


@pytest.fixture(scope="module")
def trained(split):
    train, test = split
    t0 = time.perf_counter()
    teacher = train_teacher(train.X, train.y, train.feature_names, seed=7)
    t1 = time.perf_counter()
    student = train_student(train.X, teacher.predict_proba(train.X), train.feature_names, seed=7)
    t2 = time.perf_counter()
    return teacher, student, {"teacher_s": t1 - t0, "student_s": t2 - t1}


def register(reg: ModelRegistry, model, split, *, role: str, at: datetime, metrics=None, teacher_id=None):
    train, _ = split
    lo, hi = train.window()
    return reg.register(model, role=role, created_at=at,
                        training_window=(datetime.fromtimestamp(lo / 1e9, timezone.utc),
                                         datetime.fromtimestamp(hi / 1e9, timezone.utc)),
                        data_fingerprint=train.fingerprint(), metrics=metrics or {}, params={"seed": 7},
                        label_config={"kind": "swing", "threshold": 0.005, "horizon": 5}, teacher_model_id=teacher_id,
                        feature_recipe=recipe_from_specs(DEFAULT_MODEL_SPECS).to_dict())


def test_training_chain_runs_and_reports_metrics(split, trained):
    train, test = split
    teacher, student, timing = trained
    assert len(train) > 3000 and len(test) > 1000
    assert set(np.unique(train.y)) == {0, 1, 2}
    rep_t = evaluate_classifier(test.y, teacher.predict_proba(test.X))
    rep_s = evaluate_classifier(test.y, student.predict_proba(test.X))
    for rep in (rep_t, rep_s):
        assert rep["class_labels"] == list(CLASS_ORDER)
        assert np.array(rep["confusion_matrix"]).sum() == len(test)
        assert 0.0 <= rep["accuracy"] <= 1.0 and 0.0 <= rep["auc_macro"] <= 1.0
        assert set(rep["precision_per_class"]) == set(CLASS_ORDER)
    # Daily direction is close to a coin toss; the teacher must at least beat the
    # always-LONG baseline's AUC of 0.5 by a little and the student must track it.
    assert rep_t["auc_macro"] > 0.5
    agreement = np.mean(teacher.predict_proba(test.X).argmax(1) == student.predict_proba(test.X).argmax(1))
    assert agreement > 0.5
    assert timing["teacher_s"] < 20 and timing["student_s"] < 20
    print(f"\nrows train={len(train)} test={len(test)} teacher {timing['teacher_s']:.2f}s "
          f"acc={rep_t['accuracy']:.3f} auc={rep_t['auc_macro']:.3f} | student {timing['student_s']:.2f}s "
          f"acc={rep_s['accuracy']:.3f} auc={rep_s['auc_macro']:.3f} agreement={agreement:.3f}")


def test_training_is_deterministic(split, trained):
    train, _ = split
    teacher, student, _ = trained
    again = train_teacher(train.X, train.y, train.feature_names, seed=7)
    assert again.to_bytes() == teacher.to_bytes()
    s2 = train_student(train.X, again.predict_proba(train.X), train.feature_names, seed=7)
    assert s2.to_bytes() == student.to_bytes()


def test_sgd_student_and_round_trip(split, trained):
    train, test = split
    teacher, _, _ = trained
    sgd = train_student(train.X, teacher.predict_proba(train.X), train.feature_names, seed=3, algorithm="sgd")
    p = sgd.predict_proba(test.X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    back = LinearModel.from_bytes(sgd.to_bytes(), sgd.feature_names)
    np.testing.assert_array_equal(back.predict_proba(test.X), p)


def test_registry_round_trip_gives_identical_predictions(tmp_path, split, trained):
    _, test = split
    teacher, student, _ = trained
    reg = ModelRegistry(tmp_path / "models")
    rt = register(reg, teacher, split, role="teacher", at=T0, metrics={"accuracy": 0.5})
    rs = register(reg, student, split, role="student", at=T0 + timedelta(minutes=1), teacher_id=rt.model_id)
    assert rt.model_id.startswith("teacher-lightgbm-20260105T103000Z-")
    assert [r.model_id for r in reg.list()] == [rt.model_id, rs.model_id]
    rec, loaded_t = reg.load(rt.model_id)
    assert isinstance(loaded_t, LightGbmModel) and rec.metrics == {"accuracy": 0.5}
    np.testing.assert_array_equal(loaded_t.predict_proba(test.X), teacher.predict_proba(test.X))
    rec_s, loaded_s = reg.load(rs.model_id[:30])
    assert rec_s.teacher_model_id == rt.model_id and rec_s.feature_names == test.feature_names
    np.testing.assert_array_equal(loaded_s.predict_proba(test.X), student.predict_proba(test.X))
    files = sorted(p.name for p in reg.version_dir(rs.model_id).iterdir())
    assert files == ["manifest.json", "metadata.json", "model.json"]
    assert not list((tmp_path / "models").rglob("*.pkl"))
    with pytest.raises(ModelNotFoundError):
        reg.load("nope")
    with pytest.raises(ModelRegistryError, match="already registered"):
        register(reg, student, split, role="student", at=T0 + timedelta(minutes=1))


@pytest.mark.parametrize("victim", ["model.txt", "metadata.json", "manifest.json"])
def test_a_tampered_file_is_refused_before_it_is_parsed(tmp_path, split, trained, victim):
    teacher, _, _ = trained
    reg = ModelRegistry(tmp_path / "models")
    rec = register(reg, teacher, split, role="teacher", at=T0)
    path = reg.version_dir(rec.model_id) / victim
    data = path.read_bytes()
    if victim == "model.txt":
        # A plausible edit: same format, one leaf value nudged. It parses fine — only the hash catches it.
        text = data.decode()
        i = text.index("leaf_value=") + len("leaf_value=")
        path.write_bytes((text[:i] + "9" + text[i:]).encode())
    else:
        path.write_bytes(b"{ not json at all")  # would raise a JSON error if it were parsed first
    with pytest.raises(ModelIntegrityError) as err:
        reg.load(rec.model_id)
    assert victim in str(err.value) and err.value.path.endswith(victim)
    with pytest.raises(ModelIntegrityError):
        load_predictor(reg, rec.model_id)
    with pytest.raises(ModelIntegrityError):
        reg.promote(rec.model_id, at=T0)
    assert reg.champion() is None


def test_promote_archive_and_rollback_restore_the_previous_champion(tmp_path, split, trained):
    teacher, student, _ = trained
    reg = ModelRegistry(tmp_path / "models")
    a = register(reg, student, split, role="student", at=T0)
    b = register(reg, teacher, split, role="teacher", at=T0 + timedelta(days=1))
    with pytest.raises(ModelRegistryError, match="nothing to roll back"):
        reg.rollback(at=T0)
    assert reg.promote(a.model_id, at=T0) == (a.model_id, None)
    with pytest.raises(ModelRegistryError, match="no previous champion"):
        reg.rollback(at=T0)
    with pytest.raises(ModelRegistryError, match="already"):
        reg.promote(a.model_id, at=T0)
    assert reg.promote(b.model_id, at=T0 + timedelta(days=1)) == (b.model_id, a.model_id)
    state = reg.production()
    assert state.champion == b.model_id and [x["model_id"] for x in state.archive] == [a.model_id]
    assert isinstance(load_predictor(reg), LightGbmPredictor)
    assert reg.rollback(at=T0 + timedelta(days=2), reason="drawdown") == (a.model_id, b.model_id)
    state = reg.production()
    assert state.champion == a.model_id and state.archive == ()
    assert [h["action"] for h in state.history] == ["promote", "promote", "rollback"]
    assert isinstance(load_predictor(reg), LinearPredictor)
    # the pointer survives a fresh registry object (it is on disk)
    assert ModelRegistry(tmp_path / "models").champion() == a.model_id
    assert json.loads((tmp_path / "models" / "production.json").read_text())["champion"] == a.model_id


def test_rollback_refuses_a_tampered_previous_champion(tmp_path, split, trained):
    teacher, student, _ = trained
    reg = ModelRegistry(tmp_path / "models")
    a = register(reg, student, split, role="student", at=T0)
    b = register(reg, teacher, split, role="teacher", at=T0 + timedelta(days=1))
    reg.promote(a.model_id, at=T0)
    reg.promote(b.model_id, at=T0)
    (reg.version_dir(a.model_id) / "model.json").write_text("{}")
    with pytest.raises(ModelIntegrityError):
        reg.rollback(at=T0)
    assert reg.champion() == b.model_id  # nothing changed


@pytest.mark.parametrize("kind", ["lightgbm", "linear"])
def test_predictors_satisfy_the_port_and_explain_themselves(tmp_path, split, trained, kind):
    _, test = split
    teacher, student, _ = trained
    reg = ModelRegistry(tmp_path / "models")
    rec = register(reg, teacher if kind == "lightgbm" else student, split, role="x", at=T0)
    pred = load_predictor(reg, rec.model_id)
    assert isinstance(pred, Predictor)
    assert pred.feature_names == list(test.feature_names)
    row = dict(zip(test.feature_names, test.X[10].tolist()))
    out = pred.predict(row)  # already-derived inputs are accepted as well (names match)
    assert out.model_id == rec.model_id
    assert set(out.probabilities) == set(CLASS_ORDER)
    assert sum(out.probabilities.values()) == pytest.approx(1.0)
    assert set(out.contributions) == set(test.feature_names)
    np.testing.assert_allclose([out.probabilities[c] for c in CLASS_ORDER], pred.predict_many(test.X[10:11])[0])
    if kind == "lightgbm":
        # SHAP: contributions + bias add up to the raw margin of the predicted class
        best = CLASS_ORDER.index(out.direction)
        raw = teacher.booster.predict(test.X[10:11], raw_score=True)[0, best]
        bias = teacher.contributions(test.X[10:11])[0, best, -1]
        assert sum(out.contributions.values()) + bias == pytest.approx(raw, abs=1e-9)
    # The engine passes the book's raw columns; the stored recipe derives the model inputs.
    series = read_daily(DAILY[0])
    book = FeatureBook.from_series(series, DEFAULT_MODEL_SPECS)
    assert set(pred.required_columns) <= set(book.features)
    i = len(series) - 1
    via_raw = pred.predict(book.features_at(i))
    direct = recipe_from_specs(DEFAULT_MODEL_SPECS).row(book.features_at(i))
    np.testing.assert_allclose([via_raw.probabilities[c] for c in CLASS_ORDER],
                               pred.predict_many(np.array([[direct[n] for n in pred.feature_names]]))[0])
    # warm-up bars lack most columns: still a valid distribution, never an exception
    early = pred.predict(book.features_at(2))
    assert sum(early.probabilities.values()) == pytest.approx(1.0)
    assert all(np.isfinite(list(early.probabilities.values())))


def test_lightgbm_student_imitates_the_teacher_and_is_deterministic(split, trained):
    train, test = split
    teacher, _, _ = trained
    soft = teacher.predict_proba(train.X)
    a = train_student(train.X, soft, train.feature_names, seed=7, algorithm="lightgbm")
    b = train_student(train.X, soft, train.feature_names, seed=7, algorithm="lightgbm")
    assert isinstance(a, LightGbmModel) and a.to_bytes() == b.to_bytes()
    agreement = np.mean(a.predict_proba(test.X).argmax(1) == teacher.predict_proba(test.X).argmax(1))
    assert agreement > 0.7
    back = LightGbmModel.from_bytes(a.to_bytes(), a.feature_names)
    np.testing.assert_array_equal(back.predict_proba(test.X), a.predict_proba(test.X))
