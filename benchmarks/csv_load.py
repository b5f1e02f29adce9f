"""Benchmark: load 1,000,000 one-minute bars from a ``.csv.gz`` into a validated ``BarSeries``.

Generates a realistic file (NSE sessions from the calendar, 375 bars a day, ISO-8601
timestamps with +05:30, random-walk OHLCV) into a temporary directory, then times
``CsvFeed(dir).history_series(...)`` end to end: gzip inflate, CSV parse, every validation
check, session filtering, calendar/gap/big-move report. Prints rows/s and peak RSS.

    .venv/bin/python benchmarks/csv_load.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.csv import CsvFeed, NseCalendar  # noqa: E402
from adapters.csv.calendar import day_number  # noqa: E402
from core.model import IST_OFFSET_NS, NS_PER_DAY, NS_PER_MINUTE, Interval  # noqa: E402


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write ``rows`` one-minute bars of a fake symbol on real NSE sessions."""
    from datetime import date

    cal = NseCalendar()
    sessions = cal.sessions_between(day_number(date(2005, 1, 3)), day_number(date(2030, 12, 31)))
    _, opens, closes, kinds = cal.lookup(sessions)
    regular = sessions[(opens == 9 * 60 + 15) & (closes == 15 * 60 + 30)]
    days_needed = -(-rows // 375)
    days = regular[:days_needed]
    minutes = np.arange(375, dtype=np.int64) * NS_PER_MINUTE + (9 * 60 + 15) * NS_PER_MINUTE
    start = (days[:, None] * NS_PER_DAY + minutes[None, :]).ravel()[:rows] - IST_OFFSET_NS
    rng = np.random.default_rng(seed)
    close = 1000 * np.exp(np.cumsum(rng.normal(0, 0.0005, rows)))
    open_ = np.concatenate([[1000.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.0004, rows)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.integers(100, 50_000, rows)
    ist = (start + IST_OFFSET_NS).astype("datetime64[ns]").astype("datetime64[s]").astype(str)
    import pandas as pd
    frame = pd.DataFrame({
        "timestamp": np.char.add(ist.astype("U19"), "+05:30"),
        "symbol": "BENCH",
        "open": np.round(open_, 2), "high": np.round(high, 2), "low": np.round(low, 2),
        "close": np.round(close, 2), "volume": volume,
    })
    with gzip.open(path, "wt", compresslevel=6) as fh:
        frame.to_csv(fh, index=False)


def peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "BENCH_1minute.csv.gz"
        t0 = time.perf_counter()
        # generate in a child process so the peak RSS below is the loader's alone
        import multiprocessing
        child = multiprocessing.get_context("spawn").Process(target=generate, args=(path, args.rows))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit("generating the benchmark file failed")
        print(f"generated {args.rows:,} rows -> {path.name} ({path.stat().st_size / 1e6:.1f} MB gz) "
              f"in {time.perf_counter() - t0:.1f}s")
        calendar = NseCalendar()
        calendar.lookup(np.array([0]))  # build the calendar once, outside the timing
        rss_before = peak_rss_mb()
        best = float("inf")
        for i in range(args.repeat):
            feed = CsvFeed(root, calendar=calendar)  # fresh feed: no cache
            t = time.perf_counter()
            series = feed.history_series("BENCH", Interval.MINUTE_1)
            dt = time.perf_counter() - t
            best = min(best, dt)
            report = feed.reports("BENCH", Interval.MINUTE_1)[0]
            assert report.ok and len(series) == args.rows, (report.errors, len(series))
            print(f"run {i + 1}: {len(series):,} bars in {dt:.3f}s = {len(series) / dt:,.0f} rows/s")
        print(f"best: {args.rows / best:,.0f} rows/s end-to-end (.csv.gz -> validated BarSeries)")
        print(f"peak RSS: {peak_rss_mb():.0f} MB (after imports and calendar, before loading: {rss_before:.0f} MB)")
        import os
        print(f"machine: {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} (timings are noisy "
              f"when other work shares the cores)")


if __name__ == "__main__":
    main()
