"""Backtest engine throughput: the reference SMA crossover on seeded synthetic minute bars.

Every event is committed to an SQLite event store (a fresh file), exactly as
`sensequant backtest` does. Prints bars/s (data load excluded, event commits
included), peak RSS, telemetry on vs off, and backtesting.py's time on the same data
when it is installed (`pip install -r benchmarks/requirements.txt`).

Targets (issue): >= 300,000 bars/s, peak RSS <= 400 MB, telemetry on <= 1 % slower.

Usage: .venv/bin/python benchmarks/backtest_engine.py [--bars 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.memory import InMemoryFeed  # noqa: E402
from adapters.simulated.synthetic import synthetic_minute_series  # noqa: E402
from adapters.sql import open_sql_store  # noqa: E402
from applications.services.books import BacktestConfig, ReferenceBookConfig, SentimentSettings
from applications.services.backtest import run_backtest
from core.telemetry import TelemetryConfig  # noqa: E402


def one_run(series, telemetry: bool) -> tuple[float, int, int]:
    config = BacktestConfig(strategy="sma_cross", sentiment=SentimentSettings(enabled=False),
                            telemetry=TelemetryConfig(enabled=telemetry),
                            reference=ReferenceBookConfig(symbols=[series.symbol], initial_cash_rupees=100_000_000))
    with tempfile.TemporaryDirectory() as tmp:
        store = open_sql_store(f"sqlite:///{tmp}/bench.db")
        try:
            gc.collect()
            result = run_backtest(config, store=store, feed=InMemoryFeed([series]), sentiment=None)
        finally:
            store.close()
    return result.seconds_running, result.bars, result.events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="alternating telemetry on/off pairs")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    t0 = time.perf_counter()
    series = synthetic_minute_series(args.bars, seed=args.seed)
    print(f"generated {len(series):,} synthetic 1-minute bars in {time.perf_counter() - t0:.2f} s (not timed below)")

    on, off = [], []
    events = 0
    for _ in range(args.repeat):
        seconds, bars, events = one_run(series, telemetry=True)
        on.append(seconds)
        seconds, bars, _ = one_run(series, telemetry=False)
        off.append(seconds)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    med_on, med_off = statistics.median(on), statistics.median(off)
    print(f"events per run (telemetry on): {events:,}")
    print(f"telemetry on : median {med_on:.3f} s -> {bars / med_on:,.0f} bars/s  (runs: "
          + ", ".join(f"{s:.3f}" for s in on) + ")")
    print(f"telemetry off: median {med_off:.3f} s -> {bars / med_off:,.0f} bars/s  (runs: "
          + ", ".join(f"{s:.3f}" for s in off) + ")")
    print(f"telemetry overhead: {100 * (med_on / med_off - 1):+.2f} %  (pairwise ratios on/off: "
          + ", ".join(f"{a / b:.3f}" for a, b in zip(on, off)) + ")")
    print(f"peak RSS of this process: {rss_mb:,.0f} MB")
    try:
        from backtesting import Backtest  # noqa: F401
    except ImportError:
        print("backtesting.py not installed: skip the peer timing")
        return 0
    from benchmarks_peer import peer_seconds  # type: ignore[import-not-found]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = peer_seconds(series)
    print(f"backtesting.py on the same bars: {peer:.3f} s -> {bars / peer:,.0f} bars/s; "
          f"ratio SenseQuant/backtesting.py time = {med_on / peer:.3f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import importlib

    sys.modules["benchmarks_peer"] = importlib.import_module("peer_backtesting")
    sys.modules["benchmarks_peer"].peer_seconds = lambda s: sys.modules["benchmarks_peer"].run_peer(  # type: ignore
        sys.modules["benchmarks_peer"].to_frame(s), 100_000_000.0)[1]
    raise SystemExit(main())
