"""`optimize` end to end on the shipped swing data: Optuna studies whose trials run on Dask and
land in the event log, on SQLite and PostgreSQL, with 1 and 2 workers, resumed, and with a
worker killed in the middle of a trial.

The data is kept small (two symbols, 2018-2019, no headline sentiment) so that the whole
module stays within a minute or so on a shared two-core machine.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import cloudpickle
import optuna
import pytest
from distributed import Client, LocalCluster

from applications.roots.optimize import optuna_storage
from applications.services.books import BacktestConfig
from applications.services.optimization.artifacts import write_artifacts
from applications.services.optimization.objective import parse_objective
from applications.services.optimization.run import baseline_config
from applications.services.optimization.space import parse_space
from applications.services.optimization.study import StudySettings, run_study
from applications.services.optimization.trials import TrialTask, execute_trial
from applications.wiring.store import close_worker_stores
from applications.services.optimization.walkforward import walk_forward_optimize
from applications.wiring.cluster import check_store_for_cluster, resolve_db_url
from applications.wiring.config import build_config, read_toml
from applications.wiring.store import open_store
from core.errors import ConfigError
from core.events.optimization import TrialCompleted

# Worker processes cannot import this test module by name: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

LAYERS = [{"start": "2018-01-01", "end": "2019-12-31", "swing": {"symbols": ["TCS", "INFY"]},
           "sentiment": {"enabled": False}}]
GRID = """
[params.rsi_entry_max]
type = "float"
low = 30.0
high = 40.0
step = 10.0
[params.sma_slow]
type = "categorical"
choices = [50, 80]
"""
SPACE = parse_space(tomllib.loads(GRID), "swing")
OBJECTIVE = parse_objective(None, {}, {"min_trades": 3})
BASELINE = SPACE.baseline(baseline_config("swing", LAYERS))


@pytest.fixture(autouse=True)
def _close_cached_stores():
    yield
    close_worker_stores()


def study(url: str, client, *, name: str = "grid", sampler: str = "grid", trials: int = 10, resume: bool = False,
          space=SPACE, trial_function=execute_trial, retries: int = 1):
    settings = StudySettings(name=name, book="swing", layers=LAYERS, db_url=url, sampler=sampler, trials=trials,
                             retries=retries)
    store = open_store(url)
    storage = optuna_storage(url)
    try:
        return run_study(settings, space, OBJECTIVE, storage=storage, client=client, store=store,
                         baseline_params=space.baseline(baseline_config("swing", LAYERS)), resume=resume,
                         trial_function=trial_function), storage
    finally:
        store.close()


def ranking(outcome) -> list[tuple]:
    """What must not depend on workers or databases: parameters, values and metrics in rank order."""
    return [(tuple(sorted(t.params.items())), tuple(round(v, 12) for v in t.values), t.metrics["trades"],
             t.metrics["net_pnl_paise"], t.baseline) for t in outcome.trials]


def in_process(workers: int) -> Client:
    return Client(processes=False, n_workers=workers, threads_per_worker=1, dashboard_address=":0")


def trial_events(url: str) -> list[TrialCompleted]:
    store = open_store(url)
    try:
        out, after = [], 0
        while page := store.read_all(after_seq=after, limit=10_000):
            out += [r.event for r in page if isinstance(r.event, TrialCompleted)]
            after = page[-1].seq
        return out
    finally:
        store.close()


def test_a_grid_ranks_the_same_on_one_and_two_workers_and_every_trial_is_recorded(sqlite_url, tmp_path):
    with in_process(1) as client:
        one, _ = study(sqlite_url, client, name="one")
    with in_process(2) as client:
        two, storage = study(sqlite_url, client, name="two")
    assert len(one.trials) == 5 and all(t.state == "complete" for t in one.trials)   # baseline + 2 x 2 grid
    assert ranking(one) == ranking(two)
    baseline = [t for t in one.trials if t.baseline]
    assert [t.number for t in baseline] == [0]
    assert baseline[0].params == {"swing.strategy.rsi_entry_max": 40.0, "swing.strategy.sma_slow": 50}
    # Every trial is an optimization-mode run, linked to its study and trial number.
    store = open_store(sqlite_url)
    runs = {r.run_id: r for r in store.list_runs(mode="optimization", limit=100)}
    store.close()
    assert {t.run_id for t in one.trials + two.trials} <= set(runs)
    assert runs[one.trials[0].run_id].label == f"study=one trial={one.trials[0].number}"
    events = trial_events(sqlite_url)
    assert sorted((e.study, e.trial) for e in events) == sorted([("one", i) for i in range(5)] + [("two", i) for i in range(5)])
    first = next(e for e in events if e.study == "one" and e.trial == 0)
    assert first.baseline and first.state == "complete" and first.objectives == ["composite"]
    assert first.values == [pytest.approx(first.metrics["composite"])]
    # The study's statistics exist and are probabilities.
    assert 0.0 <= one.pbo <= 1.0 and 0.0 <= one.deflated_sharpe <= 1.0

    paths = write_artifacts(one, tmp_path / "out", book="swing", base_layer=LAYERS[0],
                            study=optuna.load_study(study_name="one", storage=storage))
    for name in ("configs.json", "ranked_results.csv", "baseline_metrics.json", "accuracy_report.md",
                 "best_config.toml", "deployment_plan.md", "deployment_plan.json", "optimization_history.png"):
        assert (tmp_path / "out" / name).is_file(), name
    # best_config.toml is a `backtest --config` file that builds the best trial's configuration.
    config = build_config(BacktestConfig, read_toml(paths["best_config"]))
    best = one.best_trial
    assert config.strategy == "swing" and config.swing.symbols == ["TCS", "INFY"]
    assert config.swing.strategy.rsi_entry_max == best.params["swing.strategy.rsi_entry_max"]
    assert config.swing.strategy.sma_slow == best.params["swing.strategy.sma_slow"]
    report = (tmp_path / "out" / "accuracy_report.md").read_text()
    assert "Baseline (trial 0" in report and "Deflated Sharpe Ratio" in report


def test_a_resumed_study_continues_where_it_stopped(sqlite_url):
    with in_process(1) as client:
        first, _ = study(sqlite_url, client, name="r", sampler="random", trials=3)
        with pytest.raises(ConfigError, match="already exists"):
            study(sqlite_url, client, name="r", sampler="random", trials=3)
        with pytest.raises(ConfigError, match="no study 'missing'"):
            study(sqlite_url, client, name="missing", sampler="random", trials=3, resume=True)
        resumed, _ = study(sqlite_url, client, name="r", sampler="random", trials=5, resume=True)
    assert sorted(t.number for t in first.trials) == [0, 1, 2]
    assert sorted(t.number for t in resumed.trials) == [0, 1, 2, 3, 4]
    before = {t.number: t.params for t in first.trials}
    assert {t.number: t.params for t in resumed.trials if t.number < 3} == before
    assert sorted(e.trial for e in trial_events(sqlite_url)) == [0, 1, 2, 3, 4]


def test_an_invalid_combination_is_pruned_and_recorded(sqlite_url):
    space = parse_space(tomllib.loads("[params.sma_fast]\ntype='categorical'\nchoices=[20, 60]"), "swing")
    with in_process(1) as client:
        outcome, _ = study(sqlite_url, client, name="p", space=space)
    states = {t.params["swing.strategy.sma_fast"]: t.state for t in outcome.trials if not t.baseline}
    assert states == {20: "complete", 60: "pruned"}   # sma_fast 60 >= sma_slow 50: the config rejects it
    pruned = [e for e in trial_events(sqlite_url) if e.state == "pruned"]
    assert len(pruned) == 1 and "sma_fast" in pruned[0].message


class FailTrial:
    """The backtest of ``trial`` raises on every attempt."""

    def __init__(self, trial: int) -> None:
        self.trial = trial

    def __call__(self, task: TrialTask):
        if task.trial == self.trial:
            raise RuntimeError("broken data on this worker")
        return execute_trial(task)


def test_a_trial_failing_on_every_attempt_is_marked_failed_and_the_study_goes_on(sqlite_url):
    with in_process(1) as client:
        outcome, _ = study(sqlite_url, client, name="f", trial_function=FailTrial(1))
    states = {t.number: t.state for t in outcome.trials}
    assert states[1] == "failed" and sum(s == "complete" for s in states.values()) >= 4
    failed = [e for e in trial_events(sqlite_url) if e.state == "failed"]
    assert [e.trial for e in failed] == [1] and "broken data on this worker" in failed[0].message
    assert outcome.trials[-1].number == 1   # ranked after every complete trial


class KillFirstAttempt:
    """Kills the worker process running ``trial`` the first time (a marker file remembers)."""

    def __init__(self, marker: Path, trial: int) -> None:
        self.marker = marker
        self.trial = trial

    def __call__(self, task: TrialTask):
        if task.trial == self.trial and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)
        return execute_trial(task)


def _cluster_study(url: str, tmp_path: Path):
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as client:
        outcome, _ = study(url, client, name="cluster", trial_function=KillFirstAttempt(tmp_path / "killed", 2))
    return outcome


def _check_cluster_outcome(outcome, url: str, tmp_path: Path) -> None:
    assert (tmp_path / "killed").exists(), "the worker of trial 2 was not killed"
    assert [t.state for t in sorted(outcome.trials, key=lambda t: t.number)] == ["complete"] * 5
    assert sorted(e.trial for e in trial_events(url)) == [0, 1, 2, 3, 4]


def test_a_local_cluster_of_two_processes_writes_one_sqlite_file_and_retries_a_killed_worker(sqlite_url, tmp_path):
    outcome = _cluster_study(sqlite_url, tmp_path)
    _check_cluster_outcome(outcome, sqlite_url, tmp_path)
    with in_process(1) as client:
        reference, _ = study(sqlite_url, client, name="reference")
    assert ranking(outcome) == ranking(reference)


@pytest.mark.postgres
def test_a_local_cluster_of_two_processes_writes_postgresql_and_ranks_like_sqlite(pg_url, sqlite_url, tmp_path):
    outcome = _cluster_study(pg_url, tmp_path)
    _check_cluster_outcome(outcome, pg_url, tmp_path)
    with in_process(1) as client:
        on_sqlite, _ = study(sqlite_url, client, name="reference")
    assert ranking(outcome) == ranking(on_sqlite)


def test_walk_forward_reports_the_in_and_out_of_sample_gap(sqlite_url):
    from datetime import date

    settings = StudySettings(name="wf", book="swing", layers=LAYERS, db_url=sqlite_url, sampler="grid", trials=10)
    store, storage = open_store(sqlite_url), optuna_storage(sqlite_url)
    try:
        with in_process(1) as client:
            result = walk_forward_optimize(settings, SPACE, OBJECTIVE, span=(date(2018, 1, 1), date(2019, 12, 31)),
                                           train_months=12, test_months=6, storage=storage, client=client,
                                           store=store, baseline_params=BASELINE)
        windows = result["windows"]
        # Out-of-sample runs start early to warm the indicators up; only the window is scored.
        from applications.services.optimization.trials import score_run
        whole, _ = score_run(store, windows[0]["oos_run_id"], "swing")
        scored, daily = score_run(store, windows[0]["oos_run_id"], "swing", since=date(2019, 1, 1))
        assert whole["first_session"] < "2019-01-01" <= scored["first_session"] == daily[0][0]
        assert windows[0]["oos_trades"] == scored["trades"] <= whole["trades"]
    finally:
        store.close()
    assert [(w["train"], w["test"]) for w in windows] == [
        (["2018-01-01", "2018-12-31"], ["2019-01-01", "2019-06-30"]),
        (["2018-07-01", "2019-06-30"], ["2019-07-01", "2019-12-31"])]
    for w in windows:
        assert w["gap"]["composite"] == pytest.approx(w["in_sample"]["composite"] - w["out_of_sample"]["composite"])
    assert isinstance(result["best_beats_baseline_out_of_sample"], bool)
    assert "Overall composite gap" in result["markdown"]


def test_sqlite_is_refused_for_a_multi_host_scheduler_and_memory_always():
    with pytest.raises(ConfigError, match="cannot be shared by a multi-host Dask cluster"):
        check_store_for_cluster("sqlite:////tmp/x.db", "tcp://10.1.2.3:8786")
    check_store_for_cluster("sqlite:////tmp/x.db", "tcp://127.0.0.1:8786")
    check_store_for_cluster("postgresql+psycopg://db/x", "tcp://10.1.2.3:8786")
    with pytest.raises(ConfigError, match="memory:// lives in one process"):
        check_store_for_cluster("memory://", None)
    assert resolve_db_url("sqlite:///rel.db") == f"sqlite:///{Path('rel.db').resolve()}"
