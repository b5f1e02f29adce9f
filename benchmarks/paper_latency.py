"""Paper session latency and memory: bar-to-decision p50/p99 and steady RSS.

A paper session (intraday book, shipped TCS 1-minute bars, headline sentiment on when
the shipped news is present) replays bars as fast as possible into a fresh SQLite
event store opened durably, exactly as `sensequant paper` does. For every bar the
time from its arrival to the end of ``engine.step`` is measured; bars that recorded
events include their durable commit (checkpoint + fsync), so the tail is the commit.
RSS is sampled every 0.2 s during the session; "steady" is the median of the samples
taken in the second half of the session.

Targets (issue): p99 <= 5 ms, steady RSS <= 150 MB.

Usage: .venv/bin/python benchmarks/paper_latency.py [--start 2024-01-01 --end 2024-02-23] [--no-sentiment]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from adapters.simulated import SimulatedClock  # noqa: E402
from adapters.sql import open_sql_store  # noqa: E402
from applications.services.books import BacktestConfig, SentimentSettings
from applications.roots.paper import PaperOptions, run_paper
from core.telemetry import TelemetryConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--end", default="2024-02-23")
    parser.add_argument("--no-sentiment", action="store_true")
    args = parser.parse_args()
    config = BacktestConfig(strategy="intraday", start=args.start, end=args.end,
                            sentiment=SentimentSettings(enabled=not args.no_sentiment))
    proc = psutil.Process()
    baseline = proc.memory_info().rss / 2**20  # interpreter + imported libraries, before any data
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), proc.memory_info().rss))
            stop.wait(0.2)

    with tempfile.TemporaryDirectory() as tmp:
        store = open_sql_store(f"sqlite:///{Path(tmp) / 'paper.db'}", durable=True)
        sampler = threading.Thread(target=sample, daemon=True)
        t0 = time.perf_counter()
        sampler.start()
        try:
            result = run_paper(config, store=store, clock=SimulatedClock(),
                               sentiment="default" if not args.no_sentiment else None,
                               options=PaperOptions(replay_speed=0, measure_latency=True,
                                                    telemetry=TelemetryConfig(enabled=True, sample_rate=0.1)))
        finally:
            stop.set()
            sampler.join()
            store.close()
        t1 = time.perf_counter()
    lat = sorted(result.latencies_s)
    if not lat:
        raise SystemExit("no bars were processed")
    decision = sorted(t - c for t, c in zip(result.latencies_s, result.commit_s))
    commits = sorted(c for c in result.commit_s if c > 0)

    def pct(p: float, values: list[float] = lat) -> float:
        return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000

    half = samples[len(samples) // 2:] or samples
    steady = statistics.median(r for _, r in half) / 2**20
    peak = max(r for _, r in samples) / 2**20
    book = result.books[0]
    print(f"paper session: {result.bars:,} bars, {book.trades_closed} trades, {book.events_appended:,} events "
          f"in {t1 - t0:.2f} s (durable SQLite, sentiment {'off' if args.no_sentiment else 'on'})")
    print(f"bar-to-decision latency (decision taken, order handed to the venue): p50 {pct(50, decision):.3f} ms, "
          f"p99 {pct(99, decision):.3f} ms, max {decision[-1] * 1000:.3f} ms   (target p99 <= 5 ms)")
    print(f"bar-to-durable latency (including the fsync'd commit of the bar's events): p50 {pct(50):.3f} ms, "
          f"p90 {pct(90):.3f} ms, p99 {pct(99):.3f} ms, max {lat[-1] * 1000:.3f} ms")
    if commits:
        print(f"durable commits: {len(commits):,} of {len(lat):,} bars, p50 {pct(50, commits):.3f} ms, "
              f"p99 {pct(99, commits):.3f} ms")
    print(f"RSS: steady {steady:.1f} MB, peak {peak:.1f} MB   (target steady <= 150 MB); "
          f"{baseline:.1f} MB of it is the interpreter and imported libraries before any data")
    print(f"telemetry: {result.telemetry}")


if __name__ == "__main__":
    main()
