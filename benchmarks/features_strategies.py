"""Features and strategies: FeatureBook build time, bar-by-bar append cost, decide() cost.

Seeded synthetic 1-minute bars (375 a session, prices on the paisa grid, with volume).
Prints wall-clock seconds for building a 1,000,000-bar book in one vectorised pass
(two SMAs, the SMA-cross reference columns, the intraday strategy's columns, every
indicator), microseconds per bar for ``FeatureBook.append`` (the live path) and for each
strategy's ``decide`` while flat, and checks that the two paths agree to the bit.

Target (issue): 1,000,000 bars with two SMAs well under 1 s.

Usage: .venv/bin/python benchmarks/features_strategies.py [--bars 1000000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.features import (  # noqa: E402
    ATR,
    EMA,
    RSI,
    SMA,
    VWAP,
    FeatureBook,
    RollingPaiseSum,
    RollingReturn,
    RollingVolatility,
)
from core.model import BarSeries, Interval  # noqa: E402
from core.strategies import (  # noqa: E402
    FLAT_POSITION,
    IntradayStrategy,
    SmaCrossStrategy,
    SwingConfig,
    SwingStrategy,
)

IST = timezone(timedelta(hours=5, minutes=30))


def synthetic(n: int, seed: int = 7) -> BarSeries:
    rng = np.random.default_rng(seed)
    close = np.round(1000 * np.exp(np.cumsum(rng.normal(0, 6e-4, n))), 2)
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) + np.round(np.abs(rng.normal(0, 0.3, n)), 2)
    low = np.minimum(open_, close) - np.round(np.abs(rng.normal(0, 0.3, n)), 2)
    day = np.arange(n) // 375
    day = day + (day // 5) * 2
    base = np.int64(int(datetime(2015, 1, 5, 9, 15, tzinfo=IST).timestamp())) * 10**9
    start = base + day.astype(np.int64) * 86_400 * 10**9 + (np.arange(n) % 375).astype(np.int64) * 60 * 10**9
    return BarSeries(symbol="SYN", interval=Interval.MINUTE_1, start_ns=start, open=open_, high=high, low=low,
                     close=close, volume=rng.integers(1, 10_000, n).astype(np.float64))


def best_of(fn, repeat: int) -> tuple[float, list[float], float]:
    """Best and all wall-clock times, and the best CPU time (less sensitive to a busy machine)."""
    times, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del result
    return min(times), times, min(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--live-bars", type=int, default=50_000, help="bars for the append/decide timings")
    args = parser.parse_args()
    series = synthetic(args.bars)
    print(f"{len(series):,} synthetic 1-minute bars")

    sets = {
        "two SMAs (10, 30)": [SMA(10), SMA(30)],
        "SMA cross reference (2 SMA + 2 paise sums)": list(SmaCrossStrategy().feature_spec().values()),
        "intraday strategy (EMA 20/50, RSI, ATR, VWAP)": list(IntradayStrategy().feature_spec().values()),
        "every indicator (10 columns)": [SMA(10), SMA(30), EMA(20), EMA(50), RSI(), ATR(), VWAP(),
                                         RollingReturn(5), RollingVolatility(20), RollingPaiseSum(10)],
    }
    for label, specs in sets.items():
        best, times, cpu = best_of(lambda s=specs: FeatureBook.from_series(series, s), args.repeat)
        print(f"FeatureBook.from_series, {label}: best {best:.3f} s, median {statistics.median(times):.3f} s "
              f"wall; best {cpu:.3f} s CPU")

    m = args.live_bars
    head = BarSeries(symbol="SYN", interval=Interval.MINUTE_1, start_ns=series.start_ns[:m], open=series.open[:m],
                     high=series.high[:m], low=series.low[:m], close=series.close[:m], volume=series.volume[:m])
    bars = head.bars()
    for label, specs in sets.items():
        book = FeatureBook.empty("SYN", Interval.MINUTE_1, specs)
        t0 = time.perf_counter()
        for bar in bars:
            book.append(bar)
        per_bar = (time.perf_counter() - t0) / m * 1e6
        bulk = FeatureBook.from_series(head, specs)
        same = all(np.array_equal(np.array(bulk.features[k]), np.array(book.features[k]), equal_nan=True)
                   for k in bulk.features)
        print(f"FeatureBook.append, {label}: {per_bar:.1f} us/bar; bit-identical to the bulk book: {same}")

    for strategy in (SmaCrossStrategy(), IntradayStrategy(), SwingStrategy(SwingConfig())):
        book = FeatureBook.from_series(head, strategy.feature_spec())
        t0 = time.perf_counter()
        signals = 0
        for i in range(m):
            if strategy.decide(book, i, FLAT_POSITION, 0.1, None) is not None:
                signals += 1
        per_bar = (time.perf_counter() - t0) / m * 1e6
        print(f"{type(strategy).__name__}.decide while flat: {per_bar:.2f} us/bar ({signals:,} signals in {m:,} bars)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
