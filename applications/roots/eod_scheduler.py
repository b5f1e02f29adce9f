"""The EOD scheduler: a persistent APScheduler job at 16:00 IST on NSE trading days.

What one scheduled run does (``run_eod_job``), in order:

1. **Trading-day check.** The job fires on ``EodConfig.days`` (mon-fri) at ``EodConfig.at``
   IST; the job itself asks the NSE calendar (``adapters.csv.calendar.NseCalendar``:
   pandas-market-calendars plus the shipped special sessions in ``data/calendar``) whether
   today (IST) is a session. On a holiday it records ``AlertRaised(severity="info",
   message="skipped: NSE holiday ...")`` in the ``eod`` stream and stops. Special sessions the
   calendar knows (weekday Muhurat, Budget Saturdays) are sessions; weekend ones are only
   reached when the job fires on weekends too (``--days mon-sun``).
2. **Incremental data update** (``update_market_data``). Per-symbol state "last bar fetched"
   lives in a JSON file next to the job store (``<jobstore dir>/eod_data_state.json``), not in
   events: it is a cursor of this scheduler, rewritten atomically after every update, and
   deleting it only costs one re-baseline. For every symbol the feed is asked for the bars
   after the last fetched bar up to now. The default CSV feed has no new data offline, so
   it honestly reports "up to date" (0 new bars); a hybrid Breeze feed fetches the missing
   range and caches it itself (``HybridFeed`` with a cache writer). The first run of a
   symbol (no state) records the feed's last bar as the baseline ("initialised"). Counts go
   into the outcome and an ``EodDataUpdated`` event.
3. **The learning chain** (``applications.services.eod.run_eod``): teacher labels and student
   retrain (``train_models``), backtest validation, gate, optional promotion/rollback.

The scheduler (``build_persistent_scheduler``):

- **Persistent job store**: ``SQLAlchemyJobStore`` on ``runs_dir()/scheduler/jobs.sqlite``
  by default (any SQLAlchemy URL allowed). The job is stored by its import path
  ``applications.roots.eod_scheduler:scheduled_eod_job`` with plain JSON-able kwargs (event-store URL,
  registry folder, state file, the config as a dict), under the stable id ``eod-learning``
  with ``replace_existing=True``: restarting the scheduler updates the job, never duplicates it.
- **Misfires**: ``coalesce=True`` and ``misfire_grace_time`` (``EodConfig.misfire_grace_seconds``,
  default 3600 s). A run missed (scheduler down, machine asleep) by less than the grace time
  runs exactly once when the scheduler starts again; an older one is skipped, logged, and
  recorded as ``AlertRaised(severity="warning")`` in the event store.
- **One scheduler per store**: ``SchedulerLock`` holds an exclusive, non-blocking
  ``fcntl.flock`` on ``<jobstore file>.lock`` (PID written inside) for the scheduler's
  lifetime; a second scheduler on the same store gets ``SchedulerLockedError`` naming the
  lock file and the PID holding it. The OS drops the lock when the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import cattrs

from adapters.ml.registry import ModelRegistry
from adapters.sql import sqlite_file
from applications.services.eod import IST_ZONE, EodConfig, EodOutcome, run_eod
from applications.services.learning import default_feed, default_registry_dir, utc_now
from applications.wiring.feeds import select_feed
from applications.wiring.store import open_store, runs_dir
from core.errors import ConcurrencyError, ConfigError, SchedulerLockedError, SenseQuantError
from core.events.base import NewEvent
from core.events.catalog import AlertRaised, EodDataUpdated
from core.model import Interval
from ports.event_store import EventStore
from ports.market_data import MarketDataFeed

log = logging.getLogger("sensequant.eod")

JOB_ID = "eod-learning"
JOB_FUNC = "applications.roots.eod_scheduler:scheduled_eod_job"
EOD_STREAM = "eod"
EOD_RUN_ID = "eod-scheduler"
STATE_FILE_NAME = "eod_data_state.json"
_IST = ZoneInfo(IST_ZONE)
_config_converter = cattrs.Converter()


# ----------------------------------------------------------------------------- locations


def default_jobstore_url() -> str:
    """``sqlite:///<runs_dir>/scheduler/jobs.sqlite``."""
    folder = runs_dir() / "scheduler"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'jobs.sqlite'}"


def jobstore_folder(url: str) -> Path:
    """The folder of a SQLite job store; for server databases ``runs_dir()/scheduler``."""
    file = sqlite_file(url)
    folder = file.parent if file is not None else runs_dir() / "scheduler"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def lock_path(url: str) -> Path:
    """``<jobstore file>.lock``; for a server job store a lock named after the URL's hash."""
    file = sqlite_file(url)
    if file is not None:
        return file.with_name(file.name + ".lock")
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return jobstore_folder(url) / f"jobstore-{digest}.lock"


def state_path(url: str) -> Path:
    """The incremental-update state file next to the job store."""
    return jobstore_folder(url) / STATE_FILE_NAME


# ----------------------------------------------------------------------------- the lock


class SchedulerLock:
    """An exclusive OS lock (``fcntl.flock``) on ``path`` for one scheduler's lifetime.

    Use as a context manager. The holder's PID is written into the file so a refused
    second scheduler can say who holds it. The OS releases the lock if the process dies.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh: Any = None

    def acquire(self) -> SchedulerLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held for the scheduler's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise SchedulerLockedError(
                f"another EOD scheduler already runs on this job store: lock file {self.path} is held by "
                f"PID {holder}; stop that scheduler first (or use another --jobstore)") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            try:
                self._fh.seek(0)
                self._fh.truncate()
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            finally:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> SchedulerLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# ----------------------------------------------------------------------------- events


def record_event(store: EventStore, event: Any, *, at: datetime) -> None:
    """Append one event to the ``eod`` stream (retrying once on a concurrent writer)."""
    for attempt in (1, 2):
        try:
            store.append(EOD_STREAM, store.stream_version(EOD_STREAM), [NewEvent(event=event, occurred_at=at)],
                         run_id=EOD_RUN_ID)
            return
        except ConcurrencyError:
            if attempt == 2:
                raise


def alert(store: EventStore, severity: str, message: str, *, at: datetime, **details: Any) -> None:
    record_event(store, AlertRaised(severity=severity, source="eod-scheduler", message=message, details=details),
                 at=at)


# ----------------------------------------------------------------------------- data update


@attrs.frozen(kw_only=True)
class SymbolUpdate:
    symbol: str
    status: str  # "updated" | "up to date" | "initialised" | "failed"
    new_bars: int
    last_bar_start: str | None
    error: str = ""


@attrs.frozen(kw_only=True)
class DataUpdate:
    feed: str
    interval: str
    symbols: tuple[SymbolUpdate, ...]
    # which data source the job chose and why (``applications.wiring.feeds.select_feed``)
    source_note: str = ""

    @property
    def total_new_bars(self) -> int:
        return sum(s.new_bars for s in self.symbols)

    def as_dict(self) -> dict[str, Any]:
        return {s.symbol: {"status": s.status, "new_bars": s.new_bars, "last_bar_start": s.last_bar_start,
                           "error": s.error} for s in self.symbols}


def _read_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("EOD data state %s unreadable (%s); every symbol is re-baselined", path, exc)
        return {}
    return data.get("symbols", {}) if isinstance(data, dict) else {}


def _write_state(path: Path, symbols: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"version": 1, "symbols": symbols}, indent=2, sort_keys=True))
    os.replace(tmp, path)


def update_market_data(symbols: Sequence[str], interval: Interval, feed: MarketDataFeed, *, state_file: Path,
                       now: datetime) -> DataUpdate:
    """Fetch, per symbol, the bars after the last fetched bar (state in ``state_file``).

    A symbol without state is baselined at the feed's newest bar (``initialised``, 0 new
    bars). A feed error for one symbol marks it ``failed`` and leaves its state unchanged.
    """
    state = _read_state(state_file)
    key_of = {s: f"{s}@{interval.value}" for s in symbols}
    results = []
    for symbol in symbols:
        key = key_of[symbol]
        last_text = (state.get(key) or {}).get("last_bar_start")
        last = datetime.fromisoformat(last_text) if last_text else None
        try:
            start = last + timedelta(microseconds=1) if last is not None else None
            bars = feed.history(symbol, interval, start, now)
        except SenseQuantError as exc:
            results.append(SymbolUpdate(symbol=symbol, status="failed", new_bars=0, last_bar_start=last_text,
                                        error=str(exc)))
            continue
        newest = bars[-1].start.isoformat() if len(bars) else last_text
        if last is None:
            status, count = "initialised", 0
        else:
            count = len(bars)
            status = "updated" if count else "up to date"
        state[key] = {"last_bar_start": newest, "checked_at": now.isoformat()}
        results.append(SymbolUpdate(symbol=symbol, status=status, new_bars=count, last_bar_start=newest))
    _write_state(state_file, state)
    return DataUpdate(feed=type(feed).__name__, interval=interval.value, symbols=tuple(results))


# ----------------------------------------------------------------------------- one job run


@attrs.frozen(kw_only=True)
class EodJobOutcome:
    status: str  # "holiday" | "failed" | the EodOutcome status
    message: str
    session_date: str
    data: DataUpdate | None = None
    eod: EodOutcome | None = None


def run_eod_job(config: EodConfig, *, store: EventStore, registry: ModelRegistry, state_file: Path,
                feed: MarketDataFeed | None = None, calendar: Any = None, now: datetime | None = None,
                force: bool = False, check_calendar: bool = True,
                progress: Callable[[str, int, int], None] | None = None,
                data_source: str = "auto") -> EodJobOutcome:
    """One run: NSE-session check -> incremental data update -> ``run_eod``.

    ``check_calendar=False`` (``sensequant eod run-now``) runs on any day. Without ``feed``
    the data source is ``data_source`` (default ``auto``: hybrid, i.e. the bar cache plus
    Breeze history, when the BREEZE_* credentials exist, CSV otherwise; the outcome's
    ``data.source_note`` says which).
    """
    now = now or utc_now()
    today = now.astimezone(_IST).date()
    if check_calendar and calendar is None:
        from adapters.csv.calendar import NseCalendar
        calendar = NseCalendar()
    if check_calendar and not calendar.is_session(today):
        message = f"skipped: NSE holiday (no session on {today.isoformat()})"
        log.info("EOD job %s", message)
        alert(store, "info", message, at=now, session_date=today.isoformat())
        return EodJobOutcome(status="holiday", message=message, session_date=today.isoformat())
    note = "data source: the feed passed in"
    if feed is None:
        feed, note = select_feed(data_source, csv_feed=lambda: default_feed(config.learning),
                                 symbols=config.learning.symbols, intervals=[Interval.parse(config.learning.interval)])
    log.warning("EOD job: %s", note)
    data = update_market_data(config.learning.symbols, Interval.parse(config.learning.interval), feed,
                              state_file=state_file, now=now)
    data = attrs.evolve(data, source_note=note)
    record_event(store, EodDataUpdated(feed=data.feed, interval=data.interval, symbols=data.as_dict(),
                                       total_new_bars=data.total_new_bars), at=now)
    eod = run_eod(config, store=store, registry=registry, feed=feed, now=now, force=force, progress=progress)
    return EodJobOutcome(status=eod.status, message=eod.message, session_date=today.isoformat(), data=data, eod=eod)


def config_to_dict(config: EodConfig) -> dict[str, Any]:
    """The config as plain JSON-able data (what the persistent job store keeps)."""
    return _config_converter.unstructure(config)


def config_from_dict(data: dict[str, Any]) -> EodConfig:
    return _config_converter.structure(data, EodConfig)


def scheduled_eod_job(*, db_url: str | None, registry_dir: str | None, state_file: str,
                      config: dict[str, Any], now: str | None = None) -> str:
    """The function the job store references (by import path). Never raises: a failure is
    logged and recorded as ``AlertRaised(severity="error")`` so the scheduler stays up.
    ``now`` (ISO 8601) replaces the wall clock, for replays and tests."""
    eod_config = config_from_dict(config)
    moment = datetime.fromisoformat(now) if now else utc_now()
    store = open_store(db_url)
    try:
        registry = ModelRegistry(Path(registry_dir) if registry_dir else default_registry_dir())
        try:
            outcome = run_eod_job(eod_config, store=store, registry=registry, state_file=Path(state_file),
                                  now=moment)
        except Exception as exc:  # keep the scheduler alive
            log.exception("EOD job failed")
            alert(store, "error", f"EOD job failed: {type(exc).__name__}: {exc}", at=moment)
            return "failed"
        log.warning("EOD job: %s: %s", outcome.status, outcome.message)
        return outcome.status
    finally:
        store.close()


# ----------------------------------------------------------------------------- scheduler


def build_persistent_scheduler(config: EodConfig, *, jobstore_url: str | None = None, db_url: str | None = None,
                               registry_dir: str | None = None, blocking: bool = True,
                               func: str = JOB_FUNC, paused: bool = False):
    """A scheduler whose ``eod-learning`` job lives in a persistent SQLAlchemy job store.

    The job is (re)installed with ``replace_existing=True`` when the scheduler starts. The
    caller holds ``SchedulerLock(lock_path(jobstore_url))`` around the scheduler's life.
    Runs missed beyond the grace time are logged and recorded as warnings in the event store.
    ``func`` is the import path of the job function (tests substitute a probe).
    """
    from apscheduler.events import EVENT_JOB_MISSED
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    url = jobstore_url or default_jobstore_url()
    jobstore_folder(url)
    hh, mm = (int(x) for x in config.at.split(":"))
    jobstore = SQLAlchemyJobStore(url=url)
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(
        timezone=IST_ZONE, jobstores={"default": jobstore},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": config.misfire_grace_seconds})

    def on_missed(event: Any) -> None:
        when = event.scheduled_run_time
        message = (f"EOD run scheduled for {when.isoformat()} was missed by more than the grace time "
                   f"({config.misfire_grace_seconds} s) and is skipped")
        log.warning(message)
        try:
            store = open_store(db_url)
            try:
                alert(store, "warning", message, at=utc_now(), job_id=event.job_id,
                      scheduled_run_time=when.isoformat())
            finally:
                store.close()
        except Exception:
            log.exception("could not record the missed EOD run")

    scheduler.add_listener(on_missed, EVENT_JOB_MISSED)
    kwargs = {"db_url": db_url, "registry_dir": registry_dir, "state_file": str(state_path(url)),
              "config": config_to_dict(config)}
    try:
        trigger = CronTrigger(day_of_week=config.days, hour=hh, minute=mm, timezone=IST_ZONE)
    except ValueError as exc:
        raise ConfigError(f"EOD days {config.days!r} is not a cron day-of-week expression ({exc}); "
                          "use e.g. mon-fri or mon-sun") from None
    # ``replace_existing`` alone would overwrite the stored next run time with the next future
    # fire time and so forget a run missed while the scheduler was down. Keep the stored one
    # when the schedule is unchanged; APScheduler then applies coalesce + grace time on start.
    keep: dict[str, Any] = {}
    jobstore.start(scheduler, "default")
    stored = jobstore.lookup_job(JOB_ID)
    if stored is not None and str(stored.trigger) == str(trigger) and stored.next_run_time is not None:
        keep["next_run_time"] = stored.next_run_time
    scheduler.add_job(func, trigger, **keep,
                      id=JOB_ID, name="EOD data update + teacher-student learning", kwargs=kwargs,
                      replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=config.misfire_grace_seconds)
    return scheduler
