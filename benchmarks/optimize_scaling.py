"""Benchmark: how `sensequant optimize` scales with Dask workers, and where the database limits it.

Prints
  1. trials/s of a random-sampler study of the shipped swing strategy with 1 and 2 local
     worker processes (the speed-up ratio), after each worker has loaded its data once;
  2. the per-trial overhead of dispatch: the same study machinery (Optuna RDB storage,
     Dask submit/result, the TrialCompleted append) around a trial that does no work;
  3. the event-log append rate with N concurrent writer processes (what a large cluster
     of workers writing their backtests into one database would see), and the trials/s
     ceiling it implies.

How a 100-core cluster is expected to scale: trials share nothing but the database. Each
worker loads the bars once, then a trial is CPU-bound in its own process, so trials/s grows
with workers until the event store's append rate is reached: a shipped swing trial appends
about 6,300 events (every signal, order, fill, snapshot and trace), so the ceiling is the
measured append rate / 6,300 trials/s. SQLite serialises writers (one write lock), so its
ceiling does not grow with writers and it is for one machine; PostgreSQL takes a table lock
per append too (the global sequence), so large clusters should lower what each trial records
(e.g. ``record_signals = false``, telemetry sampling) or shard studies across databases.
The driver's Optuna bookkeeping (the dispatch overhead above) caps one driver at about
1 / overhead trials/s; several drivers can join one study.

Run: .venv/bin/python benchmarks/optimize_scaling.py [--trials 12] [--db-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
import tomllib
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distributed import Client, LocalCluster  # noqa: E402

from applications.roots.optimize import optuna_storage  # noqa: E402
from applications.services.optimization.objective import parse_objective  # noqa: E402
from applications.services.optimization.run import baseline_config  # noqa: E402
from applications.services.optimization.space import parse_space  # noqa: E402
from applications.services.optimization.study import StudySettings, run_study  # noqa: E402
from applications.services.optimization.trials import TrialOutcome, TrialTask, execute_trial  # noqa: E402
from applications.wiring.store import open_store  # noqa: E402
from core.events.base import NewEvent  # noqa: E402
from core.events.optimization import TrialCompleted  # noqa: E402

SPACE = parse_space(tomllib.loads("""
[params.rsi_entry_max]
type = "float"
low = 25.0
high = 45.0
[params.sma_slow]
type = "int"
low = 40
high = 100
"""), "swing")
OBJECTIVE = parse_objective(None, {}, {})
LAYERS: list[dict] = []
EVENTS_PER_SWING_TRIAL = 6_300   # events of one shipped swing backtest (7 symbols, 2016-2020)


def no_work(task: TrialTask) -> TrialOutcome:
    return TrialOutcome(state="complete", run_id="", metrics={"trades": 0, "composite": 0.0}, daily_equity=[],
                        message="", seconds=0.0)


def warm(task: TrialTask) -> int:
    """Load the bars and the sentiment provider into this worker's caches (one trial's worth)."""
    execute_trial(task)
    return 1


def study_rate(db_url: str, workers: int, trials: int, trial_function=execute_trial) -> tuple[float, float]:
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as client:
        t0 = time.perf_counter()
        if trial_function is execute_trial:
            warmup = [TrialTask(study="warmup", trial=i, book="swing", layers=LAYERS, params={}, db_url=db_url)
                      for i in range(workers)]
            # One warm-up trial per worker (Dask spreads them); bars load once per worker.
            client.gather(client.map(warm, warmup, pure=False))
        warm_s = time.perf_counter() - t0
        settings = StudySettings(name=f"bench-{uuid.uuid4().hex[:6]}", book="swing", layers=LAYERS, db_url=db_url,
                                 sampler="random", trials=trials)
        store, storage = open_store(db_url), optuna_storage(db_url)
        try:
            t1 = time.perf_counter()
            run_study(settings, SPACE, OBJECTIVE, storage=storage, client=client, store=store,
                      baseline_params=SPACE.baseline(baseline_config("swing", LAYERS)), trial_function=trial_function)
            seconds = time.perf_counter() - t1
        finally:
            store.close()
            storage.engine.dispose()
    return trials / seconds, warm_s


def _writer(db_url: str, events: int, batch: int, out: mp.Queue) -> None:
    store = open_store(db_url)
    stream = f"bench:{uuid.uuid4().hex}"
    event = TrialCompleted(study="bench", trial=0, run_id="r", state="complete", params={"a": 1}, objectives=["x"],
                           values=[0.1], metrics={"trades": 1}, feasible=True, baseline=False, window=0, message="",
                           seconds=1.0)
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    for version in range(0, events, batch):
        store.append(stream, version, [NewEvent(event=event, occurred_at=now) for _ in range(batch)], run_id="bench")
    out.put(time.perf_counter() - t0)
    store.close()


def append_rate(db_url: str, writers: int, events: int = 5000, batch: int = 500) -> float:
    open_store(db_url).close()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(db_url, events, batch, queue)) for _ in range(writers)]
    for p in procs:
        p.start()
    # Each writer times its own appends (process start-up and imports excluded); they overlap.
    seconds = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return writers * events / max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--db-url", help="Event store for the runs (default: a fresh SQLite file per measurement)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="optimize-bench-"))

    def url(name: str) -> str:
        return args.db_url or f"sqlite:///{tmp / name}.db"

    print(f"swing strategy, 7 symbols x 1,087 daily bars per trial, {args.trials} trials, random sampler")
    rates = {}
    for workers in (1, 2):
        rate, warm_s = study_rate(url(f"w{workers}"), workers, args.trials)
        rates[workers] = rate
        print(f"  {workers} worker(s): {rate:.2f} trials/s ({1 / rate:.2f} s per trial), warm-up {warm_s:.1f} s "
              "(cluster start + data loaded once per worker)")
    print(f"  speed-up 2 vs 1 worker: {rates[2] / rates[1]:.2f}x")
    empty, _ = study_rate(url("overhead"), 1, 40, trial_function=no_work)
    print(f"dispatch overhead (Optuna storage + Dask round trip + TrialCompleted append): {1000 / empty:.1f} ms/trial")
    for writers in (1, 2, 4):
        rate = append_rate(url(f"a{writers}"), writers)
        print(f"event-log append rate, {writers} concurrent writer(s): {rate:,.0f} events/s "
              f"(ceiling ~{rate / EVENTS_PER_SWING_TRIAL:.2f} swing trials/s)")


if __name__ == "__main__":
    main()
