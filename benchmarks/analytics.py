"""Benchmark: analyzer metrics over 100,000 prediction traces (target: <= 1 s).

Builds a synthetic traces frame shaped like the projection of real PredictionTraced
events (both strategies, three directions), then times the full analyzer pass:
overall metrics, per-strategy metrics, the intraday-vs-swing comparison (Welch test)
and rolling-vs-all-time degradation for each strategy. Also times the trace CSV
round trip for scale. Prints figures; exits non-zero if the analyzer pass is over 1 s.

Run: .venv/bin/python benchmarks/analytics.py [--traces N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from applications.analytics.metrics import (  # noqa: E402
    compare_strategies,
    compute_metrics,
    detect_degradation,
    metrics_by_strategy,
    rolling_vs_alltime,
)


def synthetic_traces(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    strategy = np.where(rng.random(n) < 0.8, "intraday", "swing")
    predicted = np.where(rng.random(n) < 0.6, "LONG", "SHORT")
    ret = rng.normal(0.02, 0.8, n)
    move = np.where(predicted == "LONG", ret, -ret)
    threshold = np.where(strategy == "intraday", 0.3, 0.5)
    actual = np.where(move > threshold, "LONG", np.where(move < -threshold, "SHORT", "NOOP"))
    start = pd.Timestamp(datetime(2020, 1, 1, tzinfo=timezone.utc))
    return pd.DataFrame({
        "timestamp": start + pd.to_timedelta(np.arange(n) * 7, unit="min"),
        "symbol": rng.choice(["RELIANCE", "TCS", "INFY", "SBIN", "WIPRO"], n),
        "strategy": strategy.astype(object), "predicted_direction": predicted.astype(object),
        "actual_direction": actual.astype(object), "predicted_confidence": rng.uniform(0.5, 1, n),
        "entry_price": 100.0, "exit_price": 100.0 * (1 + move / 100), "holding_period_minutes":
            np.where(strategy == "intraday", rng.integers(5, 375, n), rng.integers(1440, 14400, n)),
        "realized_return_pct": ret, "features": [{}] * n, "metadata": [{}] * n, "signals": [{}] * n,
        "context": [{}] * n,
    })


def analyzer_pass(traces: pd.DataFrame) -> dict:
    overall = compute_metrics(traces)
    per = metrics_by_strategy(traces)
    comparison = compare_strategies(traces)
    alerts = {}
    for name in per:
        rolling, alltime = rolling_vs_alltime(traces[traces["strategy"] == name], window=100)
        alerts[name] = detect_degradation(rolling, alltime)
    return {"overall": overall, "per": per, "comparison": comparison, "alerts": alerts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    t0 = time.perf_counter()
    import sklearn.metrics  # noqa: F401  (first import is a one-off cost, reported apart)
    import scipy.stats  # noqa: F401
    imports = time.perf_counter() - t0
    traces = synthetic_traces(args.traces)
    analyzer_pass(traces.head(1000))  # warm-up
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        result = analyzer_pass(traces)
        times.append(time.perf_counter() - t)
    best, median = min(times), float(np.median(times))
    o = result["overall"]
    print(f"traces: {len(traces):,}  (intraday {result['comparison'].intraday_trades:,}, "
          f"swing {result['comparison'].swing_trades:,})")
    print(f"one-off import of scikit-learn/scipy: {imports:.2f} s")
    print(f"analyzer pass (overall + per strategy + comparison + rolling/degradation): "
          f"best {best * 1000:.0f} ms, median {median * 1000:.0f} ms over {args.repeat} runs")
    t = time.perf_counter()
    compute_metrics(traces)
    print(f"compute_metrics alone: {(time.perf_counter() - t) * 1000:.0f} ms")
    print(f"accuracy {o.accuracy:.3f}, precision LONG {o.precision['LONG']:.3f}, Sharpe {o.sharpe_ratio:.2f}, "
          f"better strategy {result['comparison'].better_strategy}, p={result['comparison'].t_test.p_value:.3g}")

    from applications.analytics.exports.traces import load_traces, write_traces_csv
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        paths = write_traces_csv(traces, Path(tmp), stamp=datetime(2020, 1, 1, tzinfo=timezone.utc), compress=True)
        written = time.perf_counter() - t
        t = time.perf_counter()
        back = load_traces(Path(tmp))
        loaded = time.perf_counter() - t
        size = sum(p.stat().st_size for p in paths)
    print(f"trace CSV.gz: write {written:.2f} s, load {loaded:.2f} s, {size / 1e6:.1f} MB, {len(back):,} rows")
    ok = median <= 1.0
    print(f"target <= 1 s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
