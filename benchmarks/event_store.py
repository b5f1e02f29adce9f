"""Event store throughput: batched appends (backtests) and durable single appends (live).

Targets (issue 17): batched append >= 250,000 events/s on SQLite and >= 100,000 on
PostgreSQL, read-back/decode >= 300,000 events/s, durable appends >= 10,000 events/s
through group commit (many threads appending single events; each waits for its commit).

Prints events/s for SQLite (a temporary file) and, when reachable, PostgreSQL (a temporary
schema in the database given by --pg-url or SENSEQUANT_TEST_POSTGRES_URL). Events are
built before timing; encoding them (the codec's canonical JSON) is part of what is timed,
as it is part of every append. "cpu" is events per second of this process's CPU time,
which is what the figure would be on an otherwise idle machine for the Python side.

    .venv/bin/python benchmarks/event_store.py [--events 100000] [--batch 1000] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.sql import open_sql_store  # noqa: E402
from core.engine.recorder import EventRecorder  # noqa: E402
from core.events import NewEvent, OrderAccepted, OrderFilled, PositionChanged, SignalGenerated  # noqa: E402

T0 = datetime(2024, 6, 3, 3, 45, tzinfo=timezone.utc)


def backtest_like_events(n: int) -> list[NewEvent]:
    """A mix like a backtest writes: a signal, a fill and a position change per decision."""
    out = []
    for i in range(n):
        at = T0 + timedelta(minutes=5 * (i // 3))
        kind = i % 3
        if kind == 0:
            event = SignalGenerated(symbol="RELIANCE", strategy="intraday_momentum", bar_start=at, direction="long",
                                    action="enter", confidence=0.6875, reason="ema_cross_up",
                                    features={"rsi_14": 58.25, "ema_fast": 2915.5, "atr_14": 12.75},
                                    signals={"ema_cross": "up"}, context={"session_minute": i % 375})
        elif kind == 1:
            event = OrderFilled(client_order_id=f"bt-{i:08d}", trade_id=f"T-{i:08d}", symbol="RELIANCE", side="buy",
                                quantity=34, price_paise=291575, fees_paise=3312,
                                fee_breakdown={"brokerage": 2000, "stt": 0, "exchange": 320, "gst": 418},
                                product="mis", fill_reason="market")
        else:
            event = PositionChanged(symbol="RELIANCE", strategy="intraday_momentum", quantity=34,
                                    average_price_paise=291575, realized_pnl_paise=0, cash_paise=90083138 - i)
        out.append(NewEvent(event=event, occurred_at=at, correlation_id=uuid.uuid4()))
    return out


def small_events(n: int) -> list[NewEvent]:
    """The smallest realistic event (order.accepted): shows the store's own cost per event."""
    return [NewEvent(event=OrderAccepted(client_order_id=f"bt-{i:08d}", broker_order_id=f"SIM-{i:08d}"),
                     occurred_at=T0 + timedelta(minutes=i)) for i in range(n)]


def rate(count: int, wall: float, cpu: float) -> str:
    return f"{count / wall:>10,.0f} events/s  (cpu {count / cpu:>10,.0f}/s, {wall:.2f} s wall)"


def bench(url: str, label: str, n_events: int, batch: int, n_single: int) -> None:
    events = backtest_like_events(n_events)
    store = open_sql_store(url)
    try:
        streams = [f"run-1:{s}" for s in ("intraday_momentum", "swing_mean_reversion", "orders", "portfolio")]
        versions = dict.fromkeys(streams, 0)
        w, c = time.perf_counter(), time.process_time()
        for k, start in enumerate(range(0, n_events, batch)):
            chunk = events[start:start + batch]
            stream = streams[k % len(streams)]
            store.append(stream, versions[stream], chunk, run_id="run-1")
            versions[stream] += len(chunk)
        print(f"{label:<11} batched append ({batch}/txn, synchronous normal): "
              + rate(n_events, time.perf_counter() - w, time.process_time() - c))
        # The path a backtest takes: the engine's EventRecorder (deterministic, per-stream
        # sequential ids, no correlation ids) flushing 5000 events per transaction.
        recorder = EventRecorder(store, stream_id="run-2:intraday", run_id="run-2",
                                 namespace=uuid.UUID(int=2), batch_size=5000, expected_version=0)
        w, c = time.perf_counter(), time.process_time()
        for new in events:
            recorder.record(new.event, new.occurred_at)
        recorder.flush()
        print(f"{label:<11} backtest path (EventRecorder, 5000/txn):         "
              + rate(n_events, time.perf_counter() - w, time.process_time() - c))
        small = small_events(n_events)
        w, c = time.perf_counter(), time.process_time()
        for k, start in enumerate(range(0, n_events, batch)):
            store.append("small", k * batch, small[start:start + batch], run_id="run-1")
        print(f"{label:<11} batched append, small events (order.accepted):  "
              + rate(n_events, time.perf_counter() - w, time.process_time() - c))
        w, c = time.perf_counter(), time.process_time()
        cursor = read = 0
        while page := store.read_all(cursor, 5000):
            cursor = page[-1].seq
            read += len(page)
        print(f"{label:<11} read_all (decode, pages of 5000):            "
              + rate(read, time.perf_counter() - w, time.process_time() - c))
        singles = backtest_like_events(n_single)
        w, c = time.perf_counter(), time.process_time()
        for i, event in enumerate(singles):
            store.append("single", i, [event], run_id="run-1")
        print(f"{label:<11} single append, not durable:                  "
              + rate(n_single, time.perf_counter() - w, time.process_time() - c))
    finally:
        store.close()
    durable = open_sql_store(url, durable=True)
    try:
        singles = backtest_like_events(n_single)
        w, c = time.perf_counter(), time.process_time()
        for i, event in enumerate(singles):
            durable.append("durable", i, [event], run_id="run-1")
        print(f"{label:<11} single append, durable (sync commit each):   "
              + rate(n_single, time.perf_counter() - w, time.process_time() - c))
        small = backtest_like_events(n_single)
        w, c = time.perf_counter(), time.process_time()
        for i in range(0, n_single, 10):
            durable.append("durable-10", i, small[i:i + 10], run_id="run-1")
        print(f"{label:<11} 10-event append, durable:                    "
              + rate(n_single, time.perf_counter() - w, time.process_time() - c))
        for threads in (8, 32):
            appended, commits, wall, cpu = group_commit_run(durable, threads, n_single)
            print(f"{label:<11} group commit, {threads:>2} threads x 1-event appends: "
                  + rate(appended, wall, cpu) + f"  {appended / commits:.1f} appends per fsync")
    finally:
        durable.close()


def group_commit_run(store, threads: int, total: int) -> tuple[int, int, float, float]:
    """``threads`` writers, each appending single events to its own stream, durably.

    Every append still waits for the commit holding it; appends arriving while a commit
    is under way share the next one (the store's group commit)."""
    import threading

    per_thread = max(total // threads, 1)
    tag = uuid.uuid4().hex[:8]
    events = backtest_like_events(per_thread * threads)
    start = threading.Barrier(threads + 1)

    def writer(k: int) -> None:
        start.wait()
        for i in range(per_thread):
            store.append(f"group-{tag}-{k}", i, [events[k * per_thread + i]], run_id="run-1")

    workers = [threading.Thread(target=writer, args=(k,)) for k in range(threads)]
    for t in workers:
        t.start()
    commits_before = store.group_commits
    start.wait()
    w, c = time.perf_counter(), time.process_time()
    for t in workers:
        t.join()
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    return per_thread * threads, store.group_commits - commits_before, wall, cpu


def fsync_latency(folder: str, n: int = 200) -> float:
    """Median seconds of write+fsync on this disk: the floor of one durable commit."""
    path = os.path.join(folder, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    times = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            os.write(fd, b"x" * 512)
            os.fsync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        os.remove(path)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events in the batched run")
    parser.add_argument("--batch", type=int, default=1000, help="events per append in the batched run")
    parser.add_argument("--single", type=int, default=3000, help="appends in the single-append runs")
    parser.add_argument("--pg-url", default=os.environ.get("SENSEQUANT_TEST_POSTGRES_URL"),
                        help="PostgreSQL URL (default: $SENSEQUANT_TEST_POSTGRES_URL); skipped when unset")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        floor = fsync_latency(tmp)
        print(f"fsync median {floor * 1e6:.0f} us: at most {1 / floor:,.0f} durable commits/s on this disk")
        bench(f"sqlite:///{tmp}/bench.db", "SQLite", args.events, args.batch, args.single)
    if not args.pg_url:
        print("PostgreSQL  skipped: give --pg-url or set SENSEQUANT_TEST_POSTGRES_URL")
        return
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    base = make_url(args.pg_url)
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL  skipped: not reachable ({exc.orig})")
        return
    try:
        url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        bench(url, "PostgreSQL", args.events, args.batch, args.single)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
