"""The EOD scheduler with a real SQLite job store: persistence, misfires, the lock, NSE days, data update.

The scheduled function in the misfire tests is ``tests.integration.eod_probe:record_run``
(stored by import path like the real job), which appends one event per run.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapters.csv import CsvFeed
from adapters.memory import InMemoryEventStore, InMemoryFeed
from adapters.ml.registry import ModelRegistry
from applications.services.eod import EodConfig
from applications.roots.eod_scheduler import (
    EOD_STREAM,
    JOB_FUNC,
    JOB_ID,
    SchedulerLock,
    build_persistent_scheduler,
    config_from_dict,
    lock_path,
    run_eod_job,
    scheduled_eod_job,
    state_path,
    update_market_data,
)
from applications.services.learning import LearningConfig
from applications.wiring.store import open_store
from core.errors import ConfigError, SchedulerLockedError
from core.events.catalog import AlertRaised, EodDataUpdated, ModelTrained
from core.model import Interval
from tests.integration import eod_probe

ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests.integration.eod_probe:record_run"
UTC = timezone.utc


@pytest.fixture
def where(tmp_path):
    return {"jobstore": f"sqlite:///{tmp_path / 'scheduler' / 'jobs.sqlite'}",
            "db": f"sqlite:///{tmp_path / 'events.db'}"}


def _scheduler(where, config=None, func=PROBE, registry_dir=None):
    return build_persistent_scheduler(config or EodConfig(), jobstore_url=where["jobstore"], db_url=where["db"],
                                      blocking=False, func=func, registry_dir=registry_dir)


def _miss_a_run(where, *, ago: timedelta, config=None, func=PROBE, registry_dir=None) -> None:
    """A scheduler that installs the job, then 'sleeps' through a run: the stored next run time is in the past."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    sched = _scheduler(where, config, func, registry_dir)
    sched.start(paused=True)
    sched.shutdown()
    # the machine 'sleeps' through the fire time: move the stored next run time into the past
    # (through the job store itself, with no scheduler running, as after a real outage)
    store = SQLAlchemyJobStore(url=where["jobstore"])
    store.start(sched, "default")
    job = store.lookup_job(JOB_ID)
    job._modify(next_run_time=datetime.now(UTC) - ago)
    store.update_job(job)
    store.shutdown()


def _alerts(db: str, severity: str) -> list[AlertRaised]:
    store = open_store(db)
    try:
        return [r.event for r in store.read_stream(EOD_STREAM)
                if isinstance(r.event, AlertRaised) and r.event.severity == severity]
    finally:
        store.close()


def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_the_job_is_stored_by_import_path_with_plain_arguments_and_never_duplicated(where):
    for _ in range(2):  # a restart re-installs the same job id
        sched = build_persistent_scheduler(EodConfig(), jobstore_url=where["jobstore"], db_url=where["db"],
                                           registry_dir="reg", blocking=False)
        sched.start(paused=True)
        jobs = sched.get_jobs()
        sched.shutdown()
    assert [j.id for j in jobs] == [JOB_ID]
    job = jobs[0]
    assert job.func_ref == JOB_FUNC and job.coalesce and job.max_instances == 1 and job.misfire_grace_time == 3600
    assert json.loads(json.dumps(job.kwargs)) == job.kwargs
    assert config_from_dict(job.kwargs["config"]) == EodConfig()
    assert job.kwargs["state_file"] == str(state_path(where["jobstore"]))
    assert Path(where["jobstore"][len("sqlite:///"):]).is_file()
    ist_nxt = job.next_run_time.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert (ist_nxt.hour, ist_nxt.minute) == (16, 0) and ist_nxt.weekday() < 5


def test_a_run_missed_within_the_grace_time_runs_exactly_once_on_restart(where):
    _miss_a_run(where, ago=timedelta(minutes=10))
    assert eod_probe.runs(where["db"]) == 0
    sched = _scheduler(where)
    sched.start()
    try:
        assert _wait(lambda: eod_probe.runs(where["db"]) >= 1)
        time.sleep(0.5)
        assert eod_probe.runs(where["db"]) == 1
        assert sched.get_job(JOB_ID).next_run_time > datetime.now(UTC)  # back on the 16:00 schedule
    finally:
        sched.shutdown()
    # a further restart does not run it again
    sched = _scheduler(where)
    sched.start()
    time.sleep(0.3)
    sched.shutdown()
    assert eod_probe.runs(where["db"]) == 1
    assert _alerts(where["db"], "warning") == []


def test_several_missed_runs_coalesce_into_one(where):
    # next run time two days back: the cron trigger has several fire times since then; with a
    # grace time covering them all, coalescing still runs the job once.
    config = EodConfig(days="mon-sun", misfire_grace_seconds=4 * 86400)
    _miss_a_run(where, ago=timedelta(days=2, minutes=5), config=config)
    sched = _scheduler(where, config)
    sched.start()
    try:
        assert _wait(lambda: eod_probe.runs(where["db"]) >= 1)
        time.sleep(0.5)
    finally:
        sched.shutdown()
    assert eod_probe.runs(where["db"]) == 1


def test_a_run_missed_beyond_the_grace_time_is_skipped_with_a_warning(where):
    config = EodConfig(misfire_grace_seconds=60)
    _miss_a_run(where, ago=timedelta(hours=2), config=config)
    sched = _scheduler(where, config)
    sched.start()
    try:
        assert _wait(lambda: len(_alerts(where["db"], "warning")) == 1)
        time.sleep(0.3)
    finally:
        sched.shutdown()
    assert eod_probe.runs(where["db"]) == 0
    (warning,) = _alerts(where["db"], "warning")
    assert "missed" in warning.message and "60 s" in warning.message
    assert warning.details["job_id"] == JOB_ID


def test_a_bad_days_expression_is_a_config_error(where):
    with pytest.raises(ConfigError, match="mon-fri"):
        _scheduler(where, EodConfig(days="weekdays"))


def test_a_second_scheduler_on_the_same_store_is_refused(where):
    path = lock_path(where["jobstore"])
    assert path.name == "jobs.sqlite.lock"
    with SchedulerLock(path):
        assert path.read_text().strip() == str(os.getpid())
        with pytest.raises(SchedulerLockedError) as err:
            SchedulerLock(path).acquire()
        assert str(path) in str(err.value) and f"PID {os.getpid()}" in str(err.value)
    with SchedulerLock(path):  # released with the first scheduler
        pass


# ------------------------------------------------------------------ the job itself

def _csv_feed() -> CsvFeed:
    return CsvFeed(ROOT / "data" / "market", timezone="Asia/Kolkata")


def test_data_update_keeps_the_last_fetched_bar_per_symbol(tmp_path):
    state = tmp_path / "state.json"
    csv = _csv_feed()
    full = csv.history_series("TCS", Interval.DAY_1)
    cut = datetime.fromtimestamp(int(full.start_ns[-5]) / 1e9, UTC)
    now = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    older = InMemoryFeed([csv.history_series("TCS", Interval.DAY_1, None, cut)])
    first = update_market_data(["TCS"], Interval.DAY_1, older, state_file=state, now=now)
    assert (first.symbols[0].status, first.symbols[0].new_bars) == ("initialised", 0)
    newer = InMemoryFeed([full])
    second = update_market_data(["TCS"], Interval.DAY_1, newer, state_file=state, now=now)
    assert (second.symbols[0].status, second.symbols[0].new_bars, second.total_new_bars) == ("updated", 5, 5)
    third = update_market_data(["TCS"], Interval.DAY_1, newer, state_file=state, now=now)
    assert (third.symbols[0].status, third.symbols[0].new_bars) == ("up to date", 0)
    saved = json.loads(state.read_text())["symbols"]["TCS@1day"]
    assert datetime.fromisoformat(saved["last_bar_start"]) == full.bars()[-1].start
    # a feed error leaves the state alone and is reported per symbol
    failed = update_market_data(["TCS", "NOPE"], Interval.DAY_1, newer, state_file=state, now=now)
    assert [s.status for s in failed.symbols] == ["up to date", "failed"]
    assert "NOPE" not in "".join(json.loads(state.read_text())["symbols"])


def test_offline_csv_feed_reports_nothing_new(tmp_path):
    state = tmp_path / "state.json"
    now = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    update_market_data(["TCS", "INFY"], Interval.DAY_1, _csv_feed(), state_file=state, now=now)
    again = update_market_data(["TCS", "INFY"], Interval.DAY_1, _csv_feed(), state_file=state, now=now)
    assert [s.status for s in again.symbols] == ["up to date", "up to date"] and again.total_new_bars == 0


def test_the_job_skips_an_nse_holiday_without_touching_data_or_models(tmp_path):
    store = InMemoryEventStore()
    republic_day = datetime(2026, 1, 26, 10, 30, tzinfo=UTC)  # Monday, NSE holiday
    out = run_eod_job(EodConfig(), store=store, registry=ModelRegistry(tmp_path / "reg"),
                      state_file=tmp_path / "state.json", now=republic_day)
    assert out.status == "holiday" and out.session_date == "2026-01-26" and "NSE holiday" in out.message
    events = [r.event for r in store.read_stream(EOD_STREAM)]
    assert len(events) == 1 and events[0].severity == "info" and events[0].message.startswith("skipped: NSE holiday")
    assert not (tmp_path / "state.json").exists() and not list(store.read_all(0, 100))[1:]


def test_the_job_runs_on_a_special_session_update_then_learn(tmp_path):
    store = InMemoryEventStore()
    budget_saturday = datetime(2025, 2, 1, 10, 30, tzinfo=UTC)  # special session (Union Budget)
    config = EodConfig(learning=LearningConfig(symbols=["TCS", "INFY"]))
    out = run_eod_job(config, store=store, registry=ModelRegistry(tmp_path / "reg"),
                      state_file=tmp_path / "state.json", now=budget_saturday)
    assert out.status in ("awaiting_approval", "rejected") and out.data is not None
    assert [s.status for s in out.data.symbols] == ["initialised", "initialised"]
    (update,) = [r.event for r in store.read_stream(EOD_STREAM) if isinstance(r.event, EodDataUpdated)]
    assert set(update.symbols) == {"TCS", "INFY"} and update.total_new_bars == 0 and update.feed == "CsvFeed"
    assert any(isinstance(r.event, ModelTrained) for r in store.read_stream("models"))


def test_the_stored_job_function_records_failures_instead_of_raising(tmp_path, where):
    from applications.roots.eod_scheduler import config_to_dict

    config = config_to_dict(EodConfig(learning=LearningConfig(symbols=["NOSUCH"])))
    kwargs = {"db_url": where["db"], "registry_dir": str(tmp_path / "reg"), "state_file": str(tmp_path / "s.json"),
              "config": config}
    assert scheduled_eod_job(**kwargs, now="2026-01-05T10:30:00+00:00") == "failed"  # a Monday session
    (error,) = _alerts(where["db"], "error")
    assert "NOSUCH" in error.message
    assert scheduled_eod_job(**kwargs, now="2026-01-26T10:30:00+00:00") == "holiday"
    assert [a.message for a in _alerts(where["db"], "info")] == ["skipped: NSE holiday (no session on 2026-01-26)"]


def test_with_a_hybrid_feed_the_update_fetches_only_the_new_range_and_caches_it(tmp_path):
    from adapters.hybrid import CsvBarCache, HybridFeed

    full = _csv_feed().history_series("TCS", Interval.DAY_1)
    first_bar = datetime.fromtimestamp(int(full.start_ns[0]) / 1e9, UTC)
    cut = datetime.fromtimestamp(int(full.start_ns[-3]) / 1e9, UTC)
    now = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    cache = CsvBarCache(tmp_path / "cache")
    api = InMemoryFeed([full])  # stands in for the broker's historical API
    feed = HybridFeed(cache, api, cache_writer=cache)
    feed.history("TCS", Interval.DAY_1, first_bar, cut)  # what an earlier fetch left in the cache
    state = tmp_path / "state.json"
    base = update_market_data(["TCS"], Interval.DAY_1, feed, state_file=state, now=cut)
    assert base.symbols[0].status == "initialised" and base.feed == "HybridFeed"
    upd = update_market_data(["TCS"], Interval.DAY_1, feed, state_file=state, now=now)
    assert (upd.symbols[0].status, upd.symbols[0].new_bars) == ("updated", 3)
    assert feed.last_report is not None and feed.last_report.from_api == 3
    assert len(cache.history("TCS", Interval.DAY_1)) == len(full)  # the new range is cached
    again = update_market_data(["TCS"], Interval.DAY_1, feed, state_file=state, now=now)
    assert (again.symbols[0].status, feed.last_report.from_api) == ("up to date", 0)


def test_the_real_stored_job_runs_from_the_job_store_after_a_missed_run(tmp_path, where):
    from zoneinfo import ZoneInfo

    from adapters.csv.calendar import NseCalendar

    config = EodConfig(days="mon-sun", learning=LearningConfig(symbols=["TCS", "INFY"]))
    _miss_a_run(where, ago=timedelta(minutes=5), config=config, func=JOB_FUNC, registry_dir=str(tmp_path / "reg"))

    def done() -> bool:
        events = open_store(where["db"])
        try:
            return any(isinstance(r.event, (EodDataUpdated, AlertRaised)) for r in events.read_stream(EOD_STREAM))
        finally:
            events.close()

    sched = _scheduler(where, config, JOB_FUNC, str(tmp_path / "reg"))
    sched.start()
    try:
        assert _wait(done, timeout=20)
    finally:
        sched.shutdown(wait=True)  # let a started training finish
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    events = open_store(where["db"])
    try:
        written = [r.event for r in events.read_stream(EOD_STREAM)]
        trained = [r.event for r in events.read_stream("models") if isinstance(r.event, ModelTrained)]
    finally:
        events.close()
    if NseCalendar().is_session(today):
        assert isinstance(written[0], EodDataUpdated) and set(written[0].symbols) == {"TCS", "INFY"}
        assert trained  # the chain went on to teacher + student training
    else:
        assert [e.message for e in written] == [f"skipped: NSE holiday (no session on {today.isoformat()})"]
        assert not trained


def test_the_job_says_which_data_source_it_chose(tmp_path, monkeypatch):
    import applications.wiring.breeze as breeze_wiring

    for name in ("BREEZE_API_KEY", "BREEZE_API_SECRET", "BREEZE_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(breeze_wiring, "project_root", lambda: tmp_path)  # no .env there
    config = EodConfig(learning=LearningConfig(symbols=["TCS"]))
    out = run_eod_job(config, store=InMemoryEventStore(), registry=ModelRegistry(tmp_path / "reg"),
                      state_file=tmp_path / "state.json", now=datetime(2025, 2, 1, 10, 30, tzinfo=UTC))
    assert out.data is not None and out.data.source_note.startswith("data source: csv (no BREEZE_* credentials")
