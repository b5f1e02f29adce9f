"""Cost of tamper evidence and leases (issue 19).

1. Hash chain on the 1M-bar reference backtest (SMA crossover, synthetic minute bars,
   SQLite file): bars/s with the chain vs with the chain hook neutralised (no head
   lookup, no hashing, no event_hashes insert), alternating runs, medians.
2. ``runs show`` of that run: time of the summary alone vs the chain verification it
   now does first.
3. Lease takeover: a holder that stops heartbeating (TTL given) vs a holder process
   killed on this host (taken over at once).

Usage: .venv/bin/python benchmarks/integrity.py [--bars 1000000] [--repeat 2] [--ttl 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.memory import InMemoryFeed  # noqa: E402
from adapters.simulated.synthetic import synthetic_minute_series  # noqa: E402
from adapters.sql import create_engine, integrity, open_sql_store  # noqa: E402
from adapters.sql.event_store import SqlEventStore  # noqa: E402
from applications.services.backtest import run_backtest  # noqa: E402
from applications.services.books import BacktestConfig, ReferenceBookConfig, SentimentSettings  # noqa: E402
from applications.services.run_summary import summarize_run  # noqa: E402
from core.errors import LeaseHeldError  # noqa: E402
from core.events.base import RunInfo  # noqa: E402
from core.telemetry import TelemetryConfig  # noqa: E402


def one_run(series, db: str, chained: bool) -> tuple[float, int, int, str]:
    config = BacktestConfig(strategy="sma_cross", sentiment=SentimentSettings(enabled=False),
                            telemetry=TelemetryConfig(enabled=True),
                            reference=ReferenceBookConfig(symbols=[series.symbol], initial_cash_rupees=100_000_000))
    store = open_sql_store(db)
    saved = integrity.chain
    try:
        if not chained:
            store._sql_chain_head = "SELECT NULL WHERE 0 = ?"
            integrity.chain = lambda _previous, _rows: []  # type: ignore[assignment]
        result = run_backtest(config, store=store, feed=InMemoryFeed([series]), sentiment=None)
    finally:
        integrity.chain = saved  # type: ignore[assignment]
        store.close()
    return result.seconds_running, result.bars, result.events, result.run_id


def _hold_and_die(url: str, ready) -> None:
    store = open_sql_store(url)
    store.start_run(RunInfo(run_id="killed", mode="paper", config_hash="c", code_version="v",
                            data_fingerprint="d", started_at=datetime.now(timezone.utc)))
    ready.set()
    time.sleep(60)


def takeover_seconds(url: str, ttl: float) -> tuple[float, float]:
    open_sql_store(url).close()
    hung = SqlEventStore(create_engine(url), lease_ttl_s=ttl)
    taker = open_sql_store(url)
    try:
        hung.start_run(RunInfo(run_id="hung", mode="paper", config_hash="c", code_version="v",
                               data_fingerprint="d", started_at=datetime.now(timezone.utc)))
        hung._heartbeat_stop.set()
        t0 = time.perf_counter()
        while True:
            try:
                taker.claim_run("hung")
                break
            except LeaseHeldError:
                time.sleep(0.01)
        expired = time.perf_counter() - t0
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        proc = ctx.Process(target=_hold_and_die, args=(url, ready))
        proc.start()
        ready.wait(60)
        os.kill(proc.pid, 9)
        proc.join()
        t0 = time.perf_counter()
        while True:
            try:
                taker.claim_run("killed")
                break
            except LeaseHeldError:
                time.sleep(0.01)
        killed = time.perf_counter() - t0
    finally:
        hung.close()
        taker.close()
    return expired, killed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--ttl", type=float, default=2.0)
    args = parser.parse_args()
    series = synthetic_minute_series(args.bars, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        on, off = [], []
        for i in range(args.repeat):
            seconds, bars, events, run_id = one_run(series, f"sqlite:///{tmp}/on{i}.db", chained=True)
            on.append(seconds)
            seconds, bars, _, _ = one_run(series, f"sqlite:///{tmp}/off{i}.db", chained=False)
            off.append(seconds)
        med_on, med_off = statistics.median(on), statistics.median(off)
        print(f"1. backtest, {bars:,} bars, {events:,} events per run")
        print(f"   chained  : median {med_on:.3f} s -> {bars / med_on:,.0f} bars/s ({', '.join(f'{s:.2f}' for s in on)})")
        print(f"   unchained: median {med_off:.3f} s -> {bars / med_off:,.0f} bars/s "
              f"({', '.join(f'{s:.2f}' for s in off)})")
        print(f"   chain overhead: {100 * (med_on / med_off - 1):+.1f} %")
        store = open_sql_store(f"sqlite:///{tmp}/on0.db")
        try:
            run_id = store.list_runs(limit=1)[0].run_id
            t0 = time.perf_counter()
            report = store.verify(run_id)
            verify_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            summarize_run(store, run_id)
            summary_s = time.perf_counter() - t0
        finally:
            store.close()
        print(f"2. runs show: summary {summary_s:.3f} s, verification {verify_s:.3f} s "
              f"({report.events_checked:,} events, ok={report.ok}) -> +{100 * verify_s / summary_s:.0f} %")
        expired, killed = takeover_seconds(f"sqlite:///{tmp}/lease.db", args.ttl)
        print(f"3. lease takeover: holder stopped heartbeating (TTL {args.ttl:g} s): {expired:.2f} s; "
              f"holder process killed on this host: {killed:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
