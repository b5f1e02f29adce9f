"""The learning chain through the real engine: train -> backtest validation -> gate -> EOD job.

Real CSV feed (shipped daily bars), real LightGBM, in-memory event store, real registry files.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapters.memory import InMemoryEventStore
from adapters.ml.registry import ModelRegistry
from applications.services.eod import EodConfig, build_scheduler, last_training_time, run_eod
from applications.services.learning import MODELS_STREAM, LearningConfig, train_models
from applications.services.validation import ValidationConfig, _fold_windows, validate_models
from core.errors import ConfigError
from core.learning.gate import PromotionThresholds
from core.events.catalog import ModelPromoted, PromotionDecided, RunStarted

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not list((ROOT / "data" / "market").glob("*_1day.csv*")),
                                reason="no shipped daily bars in data/market")

SYMBOLS = ["RELIANCE", "TCS", "INFY", "SBIN"]
NOW = datetime(2026, 1, 5, 10, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = InMemoryEventStore()
    registry = ModelRegistry(tmp_path_factory.mktemp("reg"))
    first = train_models(LearningConfig(symbols=SYMBOLS, seed=1), store=store, registry=registry, now=NOW)
    second = train_models(LearningConfig(symbols=SYMBOLS, seed=2), store=store, registry=registry,
                          now=NOW + timedelta(days=1))
    return store, registry, first, second


def test_validation_without_champion_compares_with_the_strategy_alone(trained):
    store, registry, first, _ = trained
    out = validate_models(first.student.record.model_id, store=store, registry=registry,
                          config=ValidationConfig(folds=2), now=NOW)
    assert out.champion.model_id is None
    assert out.candidate.run_id != out.champion.run_id
    assert len(out.candidate.folds) == 2 and out.candidate.folds[0].start == out.window[0]
    assert out.candidate.overall.trades > 0 and out.champion.overall.trades > 0
    assert sum(f.trades for f in out.candidate.folds) == out.candidate.overall.trades
    runs = {r.run_id: r for r in store.list_runs(mode="validation")}
    assert out.candidate.run_id in runs and out.champion.run_id in runs
    started = [r.event for r in store.read_all(0, 100_000, run_id=out.candidate.run_id) if isinstance(r.event, RunStarted)]
    assert started[0].config["predictor"] == first.student.record.model_id
    decided = [r.event for r in store.read_stream(MODELS_STREAM) if isinstance(r.event, PromotionDecided)]
    assert decided[-1].candidate_model_id == first.student.record.model_id
    assert decided[-1].verdict == out.decision.verdict
    ctx = decided[-1].checklist["context"]
    assert ctx["candidate_run"] == out.candidate.run_id and len(ctx["candidate_folds"]) == 2


def test_validation_against_the_production_champion_uses_the_same_window(trained):
    store, registry, first, second = trained
    registry.promote(first.student.record.model_id, at=NOW)
    out = validate_models(second.student.record.model_id, store=store, registry=registry,
                          config=ValidationConfig(folds=1), now=NOW)
    assert out.champion.model_id == first.student.record.model_id
    assert out.decision.champion_id == first.student.record.model_id
    assert out.candidate.overall.start == out.champion.overall.start
    assert out.candidate.overall.end == out.champion.overall.end


def test_models_that_need_columns_the_strategy_lacks_are_refused(tmp_path):
    store = InMemoryEventStore()
    registry = ModelRegistry(tmp_path)
    out = train_models(LearningConfig(symbols=["TCS", "INFY"], features="default"), store=store, registry=registry,
                       now=NOW)
    with pytest.raises(ConfigError, match="--features strategy"):
        validate_models(out.student.record.model_id, store=store, registry=registry, now=NOW)


def test_fold_windows_cover_the_window_without_gaps():
    from datetime import date
    folds = _fold_windows(date(2020, 1, 1), date(2020, 12, 31), 3)
    assert folds[0][0] == date(2020, 1, 1) and folds[-1][1] == date(2020, 12, 31)
    for (_, end), (start, _) in zip(folds, folds[1:]):
        assert start == end + timedelta(days=1)


def test_eod_chain_retrains_validates_and_respects_the_interval(tmp_path):
    store = InMemoryEventStore()
    registry = ModelRegistry(tmp_path)
    # Thresholds any outcome meets, so the chain's promotion path is exercised deterministically.
    lenient = PromotionThresholds(min_precision_uplift=-10, min_hit_ratio_uplift=-10, min_sharpe_uplift=-10)
    config = EodConfig(learning=LearningConfig(symbols=["TCS", "INFY", "RELIANCE"]),
                       validation=ValidationConfig(folds=1, thresholds=lenient), auto_promote=True,
                       retrain_every_days=7)
    first = run_eod(config, store=store, registry=registry, now=NOW)
    assert first.status == "promoted", first.message
    assert last_training_time(store) == NOW
    assert registry.champion() == first.promoted == first.training.student.record.model_id
    promoted = [r.event for r in store.read_stream(MODELS_STREAM) if isinstance(r.event, ModelPromoted)]
    assert [p.model_id for p in promoted] == [first.promoted] and "EOD" in promoted[0].reason
    skipped = run_eod(config, store=store, registry=registry, now=NOW + timedelta(days=3))
    assert skipped.status == "skipped" and "7 days" in skipped.message and skipped.training is None
    manual = run_eod(attrs_evolve(config, auto_promote=False), store=store, registry=registry,
                     now=NOW + timedelta(days=3), force=True)
    assert manual.status == "awaiting_approval" and manual.promoted is None
    assert manual.validation.champion.model_id == first.promoted  # validated against the new champion
    assert registry.champion() == first.promoted
    strict = run_eod(attrs_evolve(config, validation=ValidationConfig(folds=1, thresholds=PromotionThresholds(
        min_precision_uplift=10, min_hit_ratio_uplift=10, min_sharpe_uplift=10))), store=store, registry=registry,
        now=NOW + timedelta(days=11))
    assert strict.status == "rejected" and registry.champion() == first.promoted


def attrs_evolve(config, **changes):
    import attrs
    return attrs.evolve(config, **changes)


def test_scheduler_fires_at_16_00_ist_on_weekdays():
    from zoneinfo import ZoneInfo
    calls = []
    scheduler = build_scheduler(EodConfig(), lambda: calls.append(1), blocking=False)
    (job,) = scheduler.get_jobs()
    ist = ZoneInfo("Asia/Kolkata")
    friday_evening = datetime(2026, 1, 9, 17, 0, tzinfo=ist)
    nxt = job.trigger.get_next_fire_time(None, friday_evening)
    assert nxt == datetime(2026, 1, 12, 16, 0, tzinfo=ist)  # Monday 16:00 IST
    monday_morning = datetime(2026, 1, 12, 9, 0, tzinfo=ist)
    assert job.trigger.get_next_fire_time(None, monday_morning) == datetime(2026, 1, 12, 16, 0, tzinfo=ist)
    assert job.max_instances == 1 and job.coalesce
    with pytest.raises(ConfigError):
        EodConfig(at="25:00")


def test_teacher_labels_from_a_backtest_runs_traces():
    from applications.services.books import BacktestConfig, SwingBookConfig
    from applications.services.backtest import run_backtest
    from applications.services.learning import teacher_labels_from_run
    from core.learning.features import recipe_from_specs
    from core.learning.labels import CLASS_ORDER
    from core.strategies import SwingStrategy

    store = InMemoryEventStore()
    res = run_backtest(BacktestConfig(strategy="swing", start="2018-01-01", end="2019-12-31",
                                      swing=SwingBookConfig(symbols=["TCS", "INFY", "SBIN"])), store=store,
                       sentiment=None)
    labels = teacher_labels_from_run(store, res.run_id)
    traces = [r.event for r in store.read_all(0, 100_000, run_id=res.run_id) if r.type == "prediction.traced"]
    assert len(traces) > 10
    assert len(labels.examples) + sum(labels.skipped.values()) == len(traces)
    assert len(labels.examples) >= len(traces) - 2  # only the last trades may lack a full horizon
    first = labels.examples[0]
    assert first.features == traces[0].features and first.predicted_direction == "LONG"
    assert 0.0 <= labels.agreement() <= 1.0
    recipe = recipe_from_specs(SwingStrategy().feature_spec())
    ds = labels.to_dataset(recipe=recipe)
    assert ds.feature_names == recipe.feature_names and len(ds) == len(labels.examples)
    assert set(ds.y.tolist()) <= set(range(len(CLASS_ORDER)))


def test_eod_rollback_rule_restores_the_previous_champion_when_the_champion_is_weak(tmp_path):
    store = InMemoryEventStore()
    registry = ModelRegistry(tmp_path)
    learning = LearningConfig(symbols=["TCS", "INFY"])
    a = train_models(learning, store=store, registry=registry, now=NOW)
    b = train_models(attrs_evolve(learning, seed=3), store=store, registry=registry, now=NOW + timedelta(days=1))
    registry.promote(a.student.record.model_id, at=NOW)
    registry.promote(b.student.record.model_id, at=NOW)
    never = PromotionThresholds(min_precision_uplift=10, min_hit_ratio_uplift=10, min_sharpe_uplift=10)
    config = EodConfig(learning=attrs_evolve(learning, seed=4), auto_rollback=True, rollback_min_sharpe=99.0,
                       validation=ValidationConfig(folds=1, thresholds=never))
    out = run_eod(config, store=store, registry=registry, now=NOW + timedelta(days=30))
    assert out.status == "rejected"
    assert out.rolled_back_to == a.student.record.model_id == registry.champion()
    from core.events.catalog import ModelRolledBack
    rolled = [r.event for r in store.read_stream(MODELS_STREAM) if isinstance(r.event, ModelRolledBack)]
    assert rolled[-1].from_model_id == b.student.record.model_id and "rollback rule" in rolled[-1].reason
    calm = run_eod(attrs_evolve(config, auto_rollback=False), store=store, registry=registry,
                   now=NOW + timedelta(days=60))
    assert calm.rolled_back_to is None and registry.champion() == a.student.record.model_id
