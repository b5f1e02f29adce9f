"""Benchmark: walk-forward validation on the shipped daily bars.

Runs ``applications.services.walkforward.walk_forward`` with the default geometry (train 24 months,
test 6, step 6; seven symbols, 2016-01..2020-05: five windows) into a throw-away SQLite
event store and registry, then prints the time per window (training, both backtests) and
the per-window and overall out-of-sample figures with the gate's verdict.

Run: .venv/bin/python benchmarks/walk_forward.py [--symbols A,B] [--train-months N]
     [--test-months N] [--step-months N] [--expanding] [--memory]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.ml.registry import ModelRegistry  # noqa: E402
from applications.services.learning import SHIPPED_DAILY_SYMBOLS
from applications.services.walkforward import WalkForwardConfig, walk_forward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", default=",".join(SHIPPED_DAILY_SYMBOLS))
    ap.add_argument("--train-months", type=int, default=24)
    ap.add_argument("--test-months", type=int, default=6)
    ap.add_argument("--step-months", type=int, default=None)
    ap.add_argument("--expanding", action="store_true")
    ap.add_argument("--memory", action="store_true", help="in-memory event store instead of SQLite")
    args = ap.parse_args()
    config = WalkForwardConfig(symbols=args.symbols.split(","), train_months=args.train_months,
                               test_months=args.test_months, step_months=args.step_months, expanding=args.expanding)
    with tempfile.TemporaryDirectory() as tmp:
        if args.memory:
            from adapters.memory import InMemoryEventStore
            store = InMemoryEventStore()
        else:
            from applications.wiring.store import open_store
            store = open_store(f"sqlite:///{Path(tmp) / 'events.db'}")
        t0 = time.perf_counter()
        try:
            out = walk_forward(config, store=store, registry=ModelRegistry(Path(tmp) / "models"))
        finally:
            store.close()
        total = time.perf_counter() - t0
    print(f"walk-forward: {len(out.windows)} windows, {len(config.symbols)} symbols, "
          f"{'SQLite' if not args.memory else 'in-memory'} store, {total:.2f} s total")
    print(f"{'#':>2} {'test period':<23} {'train s':>7} {'bt s':>6} {'trades c/ch':>11} "
          f"{'precision c/ch':>15} {'hit c/ch':>15} {'Sharpe c/ch':>15}")

    def f(v: float) -> str:
        return "  n/a" if v != v else f"{v:5.2f}"

    for w in out.windows:
        a, b = w.candidate.overall, w.champion.overall
        print(f"{w.window.index:>2} {w.window.test_start}..{w.window.test_end} {w.training_seconds:7.2f} "
              f"{w.backtest_seconds:6.2f} {a.trades:>5}/{b.trades:<5} "
              + " ".join(f"{f(getattr(a.scorecard, m)):>7}/{f(getattr(b.scorecard, m)):<7}"
                         for m in ("precision", "hit_ratio", "sharpe_ratio")))
    for agg in (out.mean, out.pooled):
        up = agg.uplift()
        print(f"{agg.method:>6}: uplift " + ", ".join(
            f"{m} {'n/a' if up[m] is None else format(up[m], '+.4f')}" for m in ("precision", "hit_ratio",
                                                                                "sharpe_ratio")))
    print(f"verdict ({config.gate_on}): {out.decision.verdict} — {out.decision.reason}")


if __name__ == "__main__":
    main()
