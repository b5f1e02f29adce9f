"""The end-of-day learning job: at 16:00 IST, retrain, validate, and (optionally) promote.

Chain (spec §6): train the teacher and the distilled student on all bars up to today
(an expanding window) -> backtest the new student against the production champion over
its held-out window -> record the gate's verdict -> promote only when the verdict is
PROMOTE *and* ``auto_promote`` is on (off by default: a human promotes with
``sensequant models promote``). Training is skipped while the last ``ModelTrained`` event
is younger than ``retrain_every_days``. Every step writes its events; nothing here keeps
state of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from adapters.ml.registry import ModelRegistry
from applications.services.learning import (
    MODELS_STREAM,
    LearningConfig,
    TrainingOutcome,
    promote_model,
    rollback_model,
    train_models,
    utc_now,
)
from applications.services.validation import ValidationConfig, ValidationOutcome, validate_models
from core.errors import ConfigError
from core.events.catalog import ModelTrained
from ports.event_store import EventStore
from ports.market_data import MarketDataFeed

IST_ZONE = "Asia/Kolkata"


@attrs.frozen(kw_only=True)
class EodConfig:
    """When and how the EOD job runs."""

    at: str = "16:00"
    days: str = "mon-fri"
    retrain_every_days: int = 7
    auto_promote: bool = False
    #: Spec §6 rollback rule: when the production champion's validation backtest shows a
    #: Sharpe below ``rollback_min_sharpe`` or a hit ratio below ``rollback_min_hit_ratio``,
    #: restore the previous champion (only with ``auto_rollback``; off by default).
    auto_rollback: bool = False
    rollback_min_sharpe: float = 0.3
    rollback_min_hit_ratio: float = 0.45
    #: A scheduled run missed by less than this (scheduler down, machine asleep) still runs,
    #: once; an older miss is skipped and recorded as a warning (``applications.roots.eod_scheduler``).
    misfire_grace_seconds: int = 3600
    learning: LearningConfig = attrs.Factory(LearningConfig)
    validation: ValidationConfig = attrs.Factory(ValidationConfig)

    def __attrs_post_init__(self) -> None:
        try:
            hh, mm = (int(x) for x in self.at.split(":"))
            if not (0 <= hh < 24 and 0 <= mm < 60):
                raise ValueError
        except ValueError:
            raise ConfigError(f"EOD time {self.at!r} is not HH:MM (24-hour, IST)") from None
        if self.misfire_grace_seconds < 1:
            raise ConfigError(f"misfire_grace_seconds must be >= 1, got {self.misfire_grace_seconds}")
        if self.retrain_every_days < 0:
            raise ConfigError(f"retrain_every_days must be >= 0, got {self.retrain_every_days}")


@attrs.frozen(kw_only=True)
class EodOutcome:
    status: str  # "skipped" | "rejected" | "promoted" | "awaiting_approval"
    message: str
    training: TrainingOutcome | None = None
    validation: ValidationOutcome | None = None
    promoted: str | None = None
    rolled_back_to: str | None = None


def last_training_time(store: EventStore) -> datetime | None:
    """``occurred_at`` of the newest ``ModelTrained`` event, if any."""
    latest = None
    for rec in store.read_stream(MODELS_STREAM):
        if isinstance(rec.event, ModelTrained):
            latest = rec.occurred_at
    return latest


def run_eod(config: EodConfig, *, store: EventStore, registry: ModelRegistry, feed: MarketDataFeed | None = None,
            now: datetime | None = None, force: bool = False,
            progress: Callable[[str, int, int], None] | None = None) -> EodOutcome:
    """One pass of the EOD chain. ``force`` retrains even inside the retrain interval."""
    now = now or utc_now()
    last = last_training_time(store)
    if not force and last is not None and now - last < timedelta(days=config.retrain_every_days):
        return EodOutcome(status="skipped", message=(
            f"last training was {last.isoformat()}, less than {config.retrain_every_days} days ago; "
            "nothing to do (use --force to retrain now)"))
    training = train_models(config.learning, store=store, registry=registry, feed=feed, now=now, progress=progress)
    candidate = training.student.record.model_id
    validation = validate_models(candidate, store=store, registry=registry, config=config.validation, feed=feed,
                                 now=now, progress=progress)
    decision = validation.decision
    rolled_back_to = _maybe_roll_back(config, validation, store=store, registry=registry, now=now)
    if not decision.promote:
        return EodOutcome(status="rejected", message=f"{candidate}: {decision.reason}", training=training,
                          validation=validation, rolled_back_to=rolled_back_to)
    if not config.auto_promote:
        return EodOutcome(status="awaiting_approval",
                          message=f"{candidate} passed the gate; promote it with `sensequant models promote "
                                  f"{candidate}`", training=training, validation=validation,
                          rolled_back_to=rolled_back_to)
    new, _previous = promote_model(candidate, store=store, registry=registry, reason="EOD auto-promotion: gate PROMOTE",
                                   now=now)
    return EodOutcome(status="promoted", message=f"{new} is the production champion", training=training,
                      validation=validation, promoted=new, rolled_back_to=rolled_back_to)


def _maybe_roll_back(config: EodConfig, validation: ValidationOutcome, *, store: EventStore,
                     registry: ModelRegistry, now: datetime) -> str | None:
    champion = validation.champion
    if not config.auto_rollback or champion.model_id is None or not registry.production().archive:
        return None
    sc = champion.overall.scorecard
    weak = []
    if not (sc.sharpe_ratio >= config.rollback_min_sharpe):
        weak.append(f"Sharpe {sc.sharpe_ratio:.3f} < {config.rollback_min_sharpe}")
    if not (sc.hit_ratio >= config.rollback_min_hit_ratio):
        weak.append(f"hit ratio {sc.hit_ratio:.3f} < {config.rollback_min_hit_ratio}")
    if not weak:
        return None
    restored, _replaced = rollback_model(store=store, registry=registry, now=now,
                                         reason=f"EOD rollback rule: champion {champion.model_id} " + ", ".join(weak))
    return restored


def build_scheduler(config: EodConfig, job: Callable[[], Any], *, blocking: bool = True):
    """An in-memory APScheduler scheduler firing ``job`` at ``config.at`` IST on ``config.days``.

    ``sensequant eod schedule`` uses ``applications.roots.eod_scheduler.build_persistent_scheduler``
    (persistent job store, NSE calendar, data update, one scheduler per store) instead.

    A run missed by less than an hour (machine asleep) still fires once; overlapping runs
    are never started.
    """
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    hh, mm = (int(x) for x in config.at.split(":"))
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=IST_ZONE)
    scheduler.add_job(job, CronTrigger(day_of_week=config.days, hour=hh, minute=mm, timezone=IST_ZONE),
                      id="eod-learning", name="EOD teacher-student learning", max_instances=1, coalesce=True,
                      misfire_grace_time=config.misfire_grace_seconds)
    return scheduler
