"""The EOD learning chain: train teacher and student, register, evaluate, gate, promote, roll back.

Every step is an event in the ``models`` stream of the event store (``ModelTrained``,
``ModelEvaluated``, ``PromotionDecided``, ``ModelPromoted``, ``ModelRolledBack``), and every
invocation is a run (mode ``learning`` for training and gating, ``models`` for promote and
rollback) with ``RunStarted``/``RunCompleted`` in its ``<run_id>:run`` stream. The model
files live in the registry (``adapters.ml.registry``); the log says who changed what, when.

The promotion gate here is *signal-level*: candidate and champion are scored on the same
held-out bars by acting on every LONG/SHORT call for the label horizon, without costs.
The backtest-level gate (walk-forward backtests of both models through the engine) is
``applications.services.validation``.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from adapters.ml.evaluation import evaluate_classifier
from adapters.ml.models import LIGHTGBM, LOGISTIC, SGD
from adapters.ml.registry import ModelRecord, ModelRegistry
from adapters.ml.registry import default_registry_dir as registry_dir_under
from adapters.ml.training import teacher_params, train_student, train_teacher
from adapters.ml.tuning import feature_importance, tune_teacher
from applications.wiring.adapters import csv_feed
from applications.wiring.config import config_hash
from applications.wiring.store import code_version, runs_dir
from core.errors import ConcurrencyError, ConfigError, ModelRegistryError
from core.events.base import Event, NewEvent, RunInfo, RunStatus
from core.events.catalog import (
    ModelEvaluated,
    ModelPromoted,
    ModelRolledBack,
    ModelTrained,
    PredictionTraced,
    PromotionDecided,
    RunCompleted,
    RunStarted,
)
from core.events.codec import converter
from core.features import IndicatorSpec
from core.learning.dataset import LabeledDataset, dataset_from_series
from core.learning.features import DEFAULT_MODEL_SPECS, FeatureRecipe, recipe_from_specs
from core.learning.gate import PromotionDecision, PromotionThresholds, evaluate_promotion
from core.learning.labels import LabelConfig
from core.learning.metrics import signal_scorecard
from core.learning.teacher import TeacherLabels, strategy_kind_by_name, teacher_labels
from core.model import BarSeries, Interval, StrategyKind, ns_to_datetime
from core.strategies import IntradayConfig, IntradayStrategy, SwingConfig, SwingStrategy
from ports.event_store import EventStore
from ports.market_data import MarketDataFeed

IST = timezone(timedelta(hours=5, minutes=30))
MODELS_STREAM = "models"
SHIPPED_DAILY_SYMBOLS = ["HDFCBANK", "INFY", "RELIANCE", "SBIN", "TATAMOTORS", "TCS", "WIPRO"]
FEATURE_CHOICES = ("strategy", "default")

Progress = Callable[[str, int, int], None]


def default_registry_dir() -> Path:
    """``data/runs/models`` (or under ``SENSEQUANT_RUNS_DIR``)."""
    return registry_dir_under(runs_dir())


@attrs.frozen(kw_only=True)
class LearningConfig:
    """What a training run uses; recorded in ``RunStarted`` and hashed.

    ``features="strategy"`` trains on the columns the strategy of ``kind`` computes (so the
    model can score inside that strategy's backtests and live runs); ``"default"`` on a
    richer stand-alone indicator set.
    """

    data_dir: str = "data/market"
    data_timezone: str = "Asia/Kolkata"
    symbols: list[str] = attrs.Factory(lambda: list(SHIPPED_DAILY_SYMBOLS))
    interval: str = "1day"
    kind: str = "swing"
    horizon: int = 5
    threshold: float | None = None
    max_abs_return: float | None = 0.25
    start: str | None = None
    end: str | None = None
    test_fraction: float = 0.25
    seed: int = 7
    student: str = LIGHTGBM
    features: str = "strategy"
    teacher_params: dict[str, Any] = attrs.Factory(dict)
    #: Optuna trials searching the teacher's LightGBM parameters (0: use ``teacher_params``)
    #: and the purged time-series CV folds each trial is scored on (``adapters.ml.tuning``).
    tune_trials: int = 0
    tune_folds: int = 4

    def __attrs_post_init__(self) -> None:
        if self.tune_trials < 0 or self.tune_trials > 10_000:
            raise ConfigError(f"tune_trials must be in [0, 10000], got {self.tune_trials}")
        if not 2 <= self.tune_folds <= 20:
            raise ConfigError(f"tune_folds (cross-validation folds) must be in [2, 20], got {self.tune_folds}")
        if self.kind not in ("swing", "intraday"):
            raise ConfigError(f"learning kind {self.kind!r} is unknown; use swing or intraday")
        if self.student not in (LOGISTIC, SGD, LIGHTGBM):
            raise ConfigError(f"student {self.student!r} is unknown; use {LOGISTIC}, {SGD} or {LIGHTGBM}")
        if self.features not in FEATURE_CHOICES:
            raise ConfigError(f"features {self.features!r} is unknown; use one of {', '.join(FEATURE_CHOICES)}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be between 0 and 1, got {self.test_fraction}")
        if self.horizon < 1:
            raise ConfigError(f"horizon must be at least 1, got {self.horizon}")
        if not self.symbols:
            raise ConfigError("no symbols to train on; pass --symbols")

    def label_config(self) -> LabelConfig:
        kind = StrategyKind(self.kind)
        overrides: dict[str, Any] = {"horizon": self.horizon, "max_abs_return": self.max_abs_return}
        if self.threshold is not None:
            overrides["threshold"] = self.threshold
        return LabelConfig.for_kind(kind, **overrides)

    def specs(self) -> list[IndicatorSpec]:
        if self.features == "default":
            return list(DEFAULT_MODEL_SPECS)
        strategy = SwingStrategy(SwingConfig()) if self.kind == "swing" else IntradayStrategy(IntradayConfig())
        wanted = strategy.feature_spec()
        return list(wanted.values()) if isinstance(wanted, dict) else list(wanted)


@attrs.frozen(kw_only=True)
class TrainedModelReport:
    record: ModelRecord
    metrics: dict[str, Any]
    training_seconds: float


@attrs.frozen(kw_only=True)
class TrainingOutcome:
    run_id: str
    teacher: TrainedModelReport
    student: TrainedModelReport
    train_rows: int
    test_rows: int
    data_fingerprint: str
    seconds_total: float


# ------------------------------------------------------------------------ event helpers


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def append_model_events(store: EventStore, events: Sequence[tuple[Event, datetime]], *, run_id: str,
                        attempts: int = 5) -> None:
    """Append to the registry-wide ``models`` stream, re-reading its version on a race."""
    batch = [NewEvent(event=e, occurred_at=at) for e, at in events]
    for attempt in range(attempts):
        try:
            store.append(MODELS_STREAM, store.stream_version(MODELS_STREAM), batch, run_id=run_id)
            return
        except ConcurrencyError:
            if attempt == attempts - 1:
                raise


class ActionRun:
    """A short run around one learning action: runs-table row plus RunStarted/RunCompleted."""

    def __init__(self, store: EventStore, *, mode: str, config: dict[str, Any], fingerprint: str, at: datetime,
                 symbols: Sequence[str] = (), seed: int = 0, label: str = "") -> None:
        self.store = store
        self.run_id = uuid.uuid4().hex
        self.at = at
        chash = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
        store.start_run(RunInfo(run_id=self.run_id, mode=mode, config_hash=chash, code_version=code_version(),
                                data_fingerprint=fingerprint, started_at=utc_now(), label=label))
        self._stream = f"{self.run_id}:run"
        store.append(self._stream, 0, [NewEvent(event=RunStarted(
            mode=mode, config=json.loads(json.dumps(config, default=str)), config_hash=chash,
            code_version=code_version(), data_fingerprint=fingerprint, symbols=list(symbols),
            strategies=[], initial_cash_paise=0, seed=seed), occurred_at=at)], run_id=self.run_id)

    def finish(self, status: str, message: str = "") -> None:
        self.store.append(self._stream, 1, [NewEvent(event=RunCompleted(
            status=status, bars_processed=0, final_equity_paise=0, message=message),
            occurred_at=self.at)], run_id=self.run_id)
        self.store.finish_run(self.run_id, status, utc_now())

    def __enter__(self) -> "ActionRun":
        return self

    def __exit__(self, exc_type, exc, _tb) -> None:
        if exc_type is None:
            self.finish(RunStatus.COMPLETED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish(RunStatus.INTERRUPTED, "interrupted by the user")
        else:
            self.finish(RunStatus.FAILED, f"{exc_type.__name__}: {exc}")


# ----------------------------------------------------------------------------- data


def default_feed(config: LearningConfig) -> MarketDataFeed:
    return csv_feed(config.data_dir, config.data_timezone)


def load_series(config: LearningConfig, feed: MarketDataFeed) -> list[BarSeries]:
    """Bars of every configured symbol within ``start``..``end`` (IST session dates, inclusive)."""
    interval = Interval.parse(config.interval)
    available = set(feed.symbols(interval))
    bounds = []
    for label, value in (("start", config.start), ("end", config.end)):
        if value is None:
            bounds.append(None)
            continue
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{label} date {value!r} is not YYYY-MM-DD") from None
        moment = datetime.combine(day, dtime(0), tzinfo=IST)
        bounds.append(moment + timedelta(days=1) if label == "end" else moment)
    out = []
    for symbol in config.symbols:
        if symbol not in available:
            raise ConfigError(f"no {interval.value} data for symbol {symbol!r}; available: "
                              f"{', '.join(sorted(available)) or 'none'} (check --data-dir and --symbols)")
        series = feed.history_series(symbol, interval, bounds[0], bounds[1])
        if len(series) == 0:
            raise ConfigError(f"{symbol} has no {interval.value} bars between {config.start or 'the start'} and "
                              f"{config.end or 'the end'} of the data")
        out.append(series)
    return out


def build_training_set(series: Sequence[BarSeries], config: LearningConfig,
                       recipe: FeatureRecipe | None = None) -> LabeledDataset:
    """Features at signal time plus forward labels, all symbols stacked."""
    specs = config.specs()
    recipe = recipe or recipe_from_specs(specs)
    return LabeledDataset.concat([dataset_from_series(s, config.label_config(), specs, recipe) for s in series])


def teacher_labels_from_run(store: EventStore, run_id: str, feed: MarketDataFeed | None = None, *,
                            configs: dict[StrategyKind, LabelConfig] | None = None,
                            intervals: dict[StrategyKind, str] | None = None,
                            data_dir: str = "data/market") -> TeacherLabels:
    """Teacher labels for every ``PredictionTraced`` of a run, joined with the feed's bars.

    Swing traces are labelled on daily bars, intraday traces on 1-minute bars (override with
    ``intervals``); thresholds and horizons come from ``configs`` (strategy defaults).
    """
    run_id = store.get_run(run_id).run_id
    intervals = intervals or {StrategyKind.SWING: "1day", StrategyKind.INTRADAY: "1minute"}
    traces, after = [], 0
    while page := store.read_all(after, 10_000, run_id=run_id):
        after = page[-1].seq
        traces.extend(r.event for r in page if isinstance(r.event, PredictionTraced))
    feed = feed or default_feed(LearningConfig(data_dir=data_dir))
    out_examples, skipped = [], {}
    for kind in (StrategyKind.SWING, StrategyKind.INTRADAY):
        mine = [t for t in traces if strategy_kind_by_name(t.strategy) is kind]
        if not mine:
            continue
        interval = Interval.parse(intervals[kind])
        bars = {sym: feed.history_series(sym, interval) for sym in sorted({t.symbol for t in mine})
                if sym in set(feed.symbols(interval))}
        part = teacher_labels(mine, bars, configs)
        out_examples.extend(part.examples)
        for k, v in part.skipped.items():
            skipped[k] = skipped.get(k, 0) + v
    unknown = sum(1 for t in traces if strategy_kind_by_name(t.strategy) is None)
    if unknown:
        skipped["unknown_strategy"] = skipped.get("unknown_strategy", 0) + unknown
    return TeacherLabels(examples=tuple(out_examples), skipped=skipped)


# ---------------------------------------------------------------------------- training


def _scorecard_dict(model, data: LabeledDataset, label: LabelConfig) -> dict[str, Any]:
    pred = model.predict_proba(data.X).argmax(axis=1)
    periods = 252.0 if label.kind is StrategyKind.SWING else 252.0 * 75
    return signal_scorecard(pred, data.y, data.forward_return, horizon_periods=label.horizon,
                            periods_per_year=periods).to_dict()


def train_models(config: LearningConfig, *, store: EventStore, registry: ModelRegistry,
                 feed: MarketDataFeed | None = None, now: datetime | None = None,
                 progress: Progress | None = None, student_role: str = "student",
                 extra: dict[str, Any] | None = None) -> TrainingOutcome:
    """Train the LightGBM teacher and the distilled student, register both, record every step.

    ``student_role`` names the student's registry role (walk-forward validation registers
    its per-window students as ``candidate``); ``extra`` is merged into both records'
    metadata. Every record notes ``train_label_end``: the last label exit bar it learnt from.
    """
    t_start = time.perf_counter()
    now = now or utc_now()
    step = progress or (lambda _label, _done, _total: None)
    step("loading bars", 0, 6)
    series = load_series(config, feed or default_feed(config))
    specs = config.specs()
    recipe = recipe_from_specs(specs)
    label = config.label_config()
    data = build_training_set(series, config, recipe)
    if len(data) < 50:
        raise ConfigError(f"only {len(data)} labelled rows for {', '.join(config.symbols)}; widen --start/--end "
                          "or add symbols")
    train, test = data.chronological_split(config.test_fraction)
    fingerprint = train.fingerprint()
    lo, hi = train.window()
    window = (ns_to_datetime(lo), ns_to_datetime(hi))
    test_lo, test_hi = test.window()
    config_dict = converter.unstructure(config)
    config_dict["label"] = label.to_dict()
    config_dict["feature_recipe"] = recipe.to_dict()
    tuning = None
    teacher_overrides = dict(config.teacher_params)
    if config.tune_trials:
        step(f"tuning teacher ({config.tune_trials} trials, {config.tune_folds}-fold purged CV)", 1, 6)
        try:
            tuning = tune_teacher(train.X, train.y, train.feature_names, train.start_ns, train.exit_ns,
                                  seed=config.seed, trials=config.tune_trials, folds=config.tune_folds,
                                  progress=lambda done, total: step(f"tuning teacher: trial {done}/{total}", 1, 6))
        except ValueError as exc:
            raise ConfigError(f"cannot tune the teacher: {exc}") from None
        teacher_overrides = {**teacher_overrides, **tuning.best_params}
    params = teacher_params(teacher_overrides, seed=config.seed)
    common = {"label_config": label.to_dict(), "feature_recipe": recipe.to_dict(),
              "extra": {"symbols": sorted({s.symbol for s in series}), "interval": config.interval,
                        "test_window": {"start": ns_to_datetime(test_lo).isoformat(), "end": ns_to_datetime(test_hi).isoformat()},
                        "config_hash": config_hash(config), "train_rows": len(train), "test_rows": len(test),
                        "train_label_end": ns_to_datetime(int(train.exit_ns.max())).isoformat(), **(extra or {})}}
    with ActionRun(store, mode="learning", config=config_dict, fingerprint=fingerprint, at=now,
              symbols=sorted({s.symbol for s in series}), seed=config.seed, label=f"train {config.kind}") as run:
        step("training teacher (LightGBM)", 1, 6)
        t0 = time.perf_counter()
        teacher = train_teacher(train.X, train.y, train.feature_names, seed=config.seed, params=teacher_overrides)
        teacher_s = time.perf_counter() - t0
        step("evaluating teacher", 2, 6)
        teacher_metrics = {"test": evaluate_classifier(test.y, teacher.predict_proba(test.X)),
                           "train": evaluate_classifier(train.y, teacher.predict_proba(train.X)),
                           "signal_scorecard": _scorecard_dict(teacher, test, label)}
        teacher_extra = {**common["extra"], "feature_importance": feature_importance(teacher)}
        if tuning is not None:
            teacher_extra["tuning"] = tuning.to_dict()
        t_rec = registry.register(teacher, role="teacher", created_at=now, training_window=window,
                                  data_fingerprint=fingerprint, metrics=teacher_metrics, params=params,
                                  **{**common, "extra": teacher_extra})
        step(f"training student ({config.student})", 3, 6)
        t0 = time.perf_counter()
        student = train_student(train.X, teacher.predict_proba(train.X), train.feature_names, seed=config.seed,
                                algorithm=config.student)
        student_s = time.perf_counter() - t0
        step("evaluating student", 4, 6)
        agreement = float(np.mean(student.predict_proba(test.X).argmax(1) == teacher.predict_proba(test.X).argmax(1)))
        student_metrics = {"test": evaluate_classifier(test.y, student.predict_proba(test.X)),
                           "teacher_agreement": round(agreement, 6),
                           "signal_scorecard": _scorecard_dict(student, test, label)}
        student_extra = {**common["extra"], "feature_importance": feature_importance(student)}
        s_rec = registry.register(student, role=student_role, created_at=now, training_window=window,
                                  data_fingerprint=fingerprint, metrics=student_metrics,
                                  params={"algorithm": config.student, "seed": config.seed}, teacher_model_id=t_rec.model_id,
                                  **{**common, "extra": student_extra})
        step("recording events", 5, 6)
        test_fp = test.fingerprint()
        events: list[tuple[Event, datetime]] = []
        for rec, secs, metrics, teacher_id, p in ((t_rec, teacher_s, teacher_metrics, None, params),
                                                  (s_rec, student_s, student_metrics, t_rec.model_id, s_rec.params)):
            events.append((ModelTrained(
                model_id=rec.model_id, role=rec.role, algorithm=rec.algorithm, feature_names=list(rec.feature_names),
                training_window_start=window[0], training_window_end=window[1], data_fingerprint=fingerprint,
                n_samples=len(train), label_config=label.to_dict(), params=dict(p), seed=config.seed,
                training_seconds=round(secs, 6), teacher_model_id=teacher_id), now))
            events.append((ModelEvaluated(model_id=rec.model_id, dataset="test", data_fingerprint=test_fp,
                                          n_samples=len(test), metrics=metrics), now))
        append_model_events(store, events, run_id=run.run_id)
        step("done", 6, 6)
    return TrainingOutcome(run_id=run.run_id,
                           teacher=TrainedModelReport(record=t_rec, metrics=teacher_metrics, training_seconds=teacher_s),
                           student=TrainedModelReport(record=s_rec, metrics=student_metrics, training_seconds=student_s),
                           train_rows=len(train), test_rows=len(test), data_fingerprint=fingerprint,
                           seconds_total=time.perf_counter() - t_start)


# ------------------------------------------------------------------------------- gate


def _model_scorecard(registry: ModelRegistry, model_id: str, series: Sequence[BarSeries], label: LabelConfig,
                     window: tuple[int, int]):
    from core.learning.gate import Scorecard
    record, model = registry.load(model_id)
    if not record.feature_recipe:
        raise ModelRegistryError(f"model {model_id} has no feature recipe; it cannot be re-scored from bars")
    recipe = FeatureRecipe.from_dict(record.feature_recipe)
    specs = _specs_for_recipe(recipe)
    data = LabeledDataset.concat([dataset_from_series(s, label, specs, recipe) for s in series])
    mask = (data.start_ns >= window[0]) & (data.start_ns <= window[1])
    subset = data.take(mask)
    if len(subset) == 0:
        raise ConfigError(f"no labelled bars in the validation window for model {model_id}")
    periods = 252.0 if label.kind is StrategyKind.SWING else 252.0 * 75
    pred = model.predict_proba(subset.X).argmax(axis=1)
    sc = signal_scorecard(pred, subset.y, subset.forward_return, horizon_periods=label.horizon,
                          periods_per_year=periods)
    return Scorecard(precision=sc.precision, hit_ratio=sc.hit_ratio, sharpe_ratio=sc.sharpe_ratio), len(subset)


def _specs_for_recipe(recipe: FeatureRecipe) -> list[IndicatorSpec]:
    """Indicator specs whose column names cover the recipe's raw columns."""
    from core.features import ATR, EMA, RSI, SMA, VWAP, RollingReturn, RollingVolatility
    out: list[IndicatorSpec] = []
    for col in recipe.raw_columns:
        kind, _, arg = col.partition("_")
        factory = {"sma": SMA, "ema": EMA, "rsi": RSI, "atr": ATR, "ret": RollingReturn,
                   "vol": RollingVolatility}.get(kind)
        if col == "vwap":
            out.append(VWAP())
        elif factory is not None and arg.isdigit():
            out.append(factory(int(arg)))
        else:
            raise ModelRegistryError(f"feature column {col!r} of the recipe is not a known indicator name")
    return out


def decide_promotion(candidate_id: str, *, store: EventStore, registry: ModelRegistry,
                     champion_id: str | None = None, thresholds: PromotionThresholds = PromotionThresholds(),
                     feed: MarketDataFeed | None = None, data_dir: str | None = None,
                     now: datetime | None = None) -> PromotionDecision:
    """Signal-level gate: score candidate and champion on the candidate's held-out window.

    The champion defaults to the production champion. Appends ``PromotionDecided``.
    """
    now = now or utc_now()
    candidate = registry.get(candidate_id)
    champion_id = champion_id or registry.champion()
    champion = registry.get(champion_id) if champion_id else None
    test_window = candidate.extra.get("test_window")
    if not test_window:
        raise ModelRegistryError(f"model {candidate.model_id} records no held-out window; re-train it with "
                                 "`sensequant models train`")
    window = (int(datetime.fromisoformat(test_window["start"]).timestamp() * 1e9),
              int(datetime.fromisoformat(test_window["end"]).timestamp() * 1e9))
    label = LabelConfig(kind=StrategyKind(candidate.label_config["kind"]),
                        threshold=candidate.label_config["threshold"], horizon=candidate.label_config["horizon"],
                        max_abs_return=candidate.label_config.get("max_abs_return"))
    config = LearningConfig(symbols=list(candidate.extra.get("symbols") or SHIPPED_DAILY_SYMBOLS),
                            interval=candidate.extra.get("interval", "1day"), data_dir=data_dir or "data/market")
    series = load_series(config, feed or default_feed(config))
    cand_sc, n = _model_scorecard(registry, candidate.model_id, series, label, window)
    champ_sc = _model_scorecard(registry, champion.model_id, series, label, window)[0] if champion else None
    decision = evaluate_promotion(
        cand_sc, champ_sc, candidate_id=candidate.model_id, champion_id=champion.model_id if champion else None,
        thresholds=thresholds,
        context={"method": "signal-level (every LONG/SHORT call held for the label horizon, no costs)",
                 "validation_window": f"{test_window['start'][:10]}..{test_window['end'][:10]}",
                 "validation_rows": n, "symbols": ",".join(config.symbols)})
    with ActionRun(store, mode="learning", config={"action": "gate", "candidate": candidate.model_id,
                                              "champion": decision.champion_id,
                                              "thresholds": thresholds.to_dict()},
              fingerprint=candidate.data_fingerprint, at=now, label=f"gate {candidate.model_id}") as run:
        record_decision(store, decision, run_id=run.run_id, at=now)
    return decision


def record_decision(store: EventStore, decision: PromotionDecision, *, run_id: str, at: datetime) -> None:
    """Append ``PromotionDecided`` for a gate decision."""
    append_model_events(store, [(PromotionDecided(
        candidate_model_id=decision.candidate_id, champion_model_id=decision.champion_id, verdict=decision.verdict,
        reason=decision.reason, checklist=json.loads(json.dumps(decision.checklist(), allow_nan=False))), at)],
        run_id=run_id)


def latest_decision(store: EventStore, model_id: str) -> PromotionDecided | None:
    """The most recent gate decision about ``model_id`` in the log."""
    found = None
    for rec in store.read_stream(MODELS_STREAM):
        if isinstance(rec.event, PromotionDecided) and rec.event.candidate_model_id == model_id:
            found = rec.event
    return found


# ------------------------------------------------------------------ promote / rollback


def promote_model(model_id: str, *, store: EventStore, registry: ModelRegistry, reason: str = "",
                  force: bool = False, now: datetime | None = None) -> tuple[str, str | None]:
    """Point production at ``model_id`` (hash-verified), archiving the champion; append ``ModelPromoted``.

    Refused when the latest gate decision about the model is REJECT, unless ``force``.
    """
    now = now or utc_now()
    full = registry.resolve(model_id)
    decision = latest_decision(store, full)
    if decision is not None and decision.verdict != "PROMOTE" and not force:
        raise ModelRegistryError(f"the promotion gate rejected {full} ({decision.reason}); "
                                 "pass --force to promote it anyway")
    if not reason:
        reason = f"gate {decision.verdict}" if decision is not None else "manual (no gate decision recorded)"
        if force and decision is not None and decision.verdict != "PROMOTE":
            reason = f"forced over gate {decision.verdict}"
    registry.verify(full)
    with ActionRun(store, mode="models", config={"action": "promote", "model_id": full, "reason": reason},
              fingerprint=registry.get(full).data_fingerprint, at=now, label=f"promote {full}") as run:
        new, previous = registry.promote(full, at=now, reason=reason)
        append_model_events(store, [(ModelPromoted(model_id=new, previous_model_id=previous,
                                                   registry=str(registry.root), reason=reason), now)],
                            run_id=run.run_id)
    return new, previous


def rollback_model(*, store: EventStore, registry: ModelRegistry, reason: str = "",
                   now: datetime | None = None) -> tuple[str, str]:
    """Restore the previous champion; append ``ModelRolledBack``. Returns ``(restored, replaced)``."""
    now = now or utc_now()
    state = registry.production()
    if state.champion is None or not state.archive:
        registry.rollback(at=now, reason=reason)  # raises the precise error
    with ActionRun(store, mode="models", config={"action": "rollback", "from": state.champion, "reason": reason},
              fingerprint="", at=now, label="rollback") as run:
        restored, replaced = registry.rollback(at=now, reason=reason)
        append_model_events(store, [(ModelRolledBack(from_model_id=replaced, to_model_id=restored,
                                                     registry=str(registry.root), reason=reason), now)],
                            run_id=run.run_id)
    return restored, replaced
