"""Backtest throughput on the reference workload, through the CLI path, against peers.

The reference workload: the SMA 10/30 crossover book on 1,000,000 seeded one-minute bars,
written as a ``.csv.gz`` and run by ``sensequant backtest --strategy sma_cross`` in a
child process exactly as a user would (CSV load and validation, features, the engine,
every event committed to a fresh SQLite store, the summary). Telemetry on and off
alternate, ``--repeat`` pairs. Per run it records the whole process's wall time, its
run part (``seconds_running`` of the JSON: the engine plus every event commit) and the
process's peak RSS (``wait4``).

Peers, measured in the same batch on the same bars:
- backtesting.py (whole process: read the CSV with pandas, ``Backtest.run``) when it
  is installed (``pip install -r benchmarks/requirements.txt``); otherwise skipped;
- a plain Python loop and a numpy version of the same strategy (run part only, no log):
  what the engine's bookkeeping and event log cost on top of the bare decisions.

Targets (issue 17): run part >= 500,000 bars/s; whole process >= 3x faster than
backtesting.py; telemetry on vs off <= 2 % apart; peak RSS <= 300 MB.

Usage: .venv/bin/python benchmarks/backtest_engine.py [--bars 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FAST, SLOW, QTY, COMMISSION = 10, 30, 100, 0.001


def run_process(args: list[str]) -> tuple[float, float, str, float]:
    """Run a child; return (wall seconds, peak RSS MB, stdout, CPU seconds)."""
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = child.stdout.read(), child.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args[:6])} ... failed:\n{err.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out.decode(), usage.ru_utime + usage.ru_stime


def sensequant_run(data_dir: Path, db_dir: Path, telemetry: bool, k: int) -> dict:
    db = f"sqlite:///{db_dir / f'run{k}.db'}"
    wall, rss, out, cpu = run_process([sys.executable, "-m", "applications", "--db", db, "backtest",
                                  "--strategy", "sma_cross", "--symbols", "BENCH", "--interval", "1minute",
                                  "--data-dir", str(data_dir), "--no-sentiment",
                                  "--telemetry" if telemetry else "--no-telemetry", "--json"])
    doc = json.loads(out)
    return {"wall": wall, "cpu": cpu, "rss": rss, "run": doc["seconds_running"], "load": doc["seconds_loading"],
            "bars": doc["bars"], "events": doc["events"], "trades": doc["books"][0]["trades"],
            "read_models": doc.get("seconds_read_models", 0.0), "at_end": doc.get("seconds_read_models_at_end", 0.0)}


def peer_process_main(csv_path: str) -> None:
    """Child process: backtesting.py on the CSV, as a user of it would run it."""
    import warnings

    import pandas as pd

    from peer_backtesting import run_peer

    frame = pd.read_csv(csv_path, parse_dates=["timestamp"])
    frame = frame.rename(columns=str.capitalize).set_index("Timestamp")
    frame.index = frame.index.tz_localize(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats, seconds = run_peer(frame[["Open", "High", "Low", "Close", "Volume"]], 100_000_000.0)
    print(json.dumps({"run": seconds, "trades": int(stats["# Trades"])}))


def relation(close: np.ndarray) -> np.ndarray:
    """sign(SMA_fast - SMA_slow) on exact paise sums, NaN in warm-up (as the engine decides)."""
    paise = np.rint(close * 100).astype(np.int64)
    csum = np.concatenate(([0], np.cumsum(paise)))
    out = np.full(len(close), np.nan)
    end = np.arange(SLOW, len(close) + 1)
    out[SLOW - 1:] = np.sign((csum[end] - csum[end - FAST]) * SLOW - (csum[end] - csum[end - SLOW]) * FAST)
    return out


def plain_loop(open_: list[float], rel: list[float]) -> tuple[int, float]:
    """The strategy as a bare Python loop: crossings, fills at the next open, 0.1 % fees."""
    trades, cash, held, entry, pending = 0, 0.0, False, 0.0, 0
    for i in range(1, len(rel)):
        if pending:
            price = open_[i]
            cash += (-price if pending > 0 else price) * QTY - price * QTY * COMMISSION
            held, pending = pending > 0, 0
            if not held:
                trades += 1
            else:
                entry = price
        before, now = rel[i - 1], rel[i]
        if before < 0 < now and not held:
            pending = 1
        elif before > 0 > now and held:
            pending = -1
    return trades, cash + entry * 0


def numpy_version(open_: np.ndarray, rel: np.ndarray) -> int:
    """Vectorised: alternate up/down crossings, pair entries with exits, count round trips."""
    up = np.flatnonzero((rel[:-1] < 0) & (rel[1:] > 0)) + 1
    down = np.flatnonzero((rel[:-1] > 0) & (rel[1:] < 0)) + 1
    events = np.concatenate([up, down])
    kind = np.concatenate([np.ones_like(up), -np.ones_like(down)])
    order = np.argsort(events, kind="stable")
    kind = kind[order]
    # keep a signal only when it changes the (long/flat) state
    keep = np.concatenate(([kind[0] > 0], kind[1:] != kind[:-1])) if kind.size else kind.astype(bool)
    kind = kind[keep]
    if kind.size and kind[0] < 0:
        kind = kind[1:]
    entries = events[order][keep][: kind.size]
    fills = np.minimum(entries + 1, len(open_) - 1)
    prices = open_[fills]
    n = kind.size // 2
    pnl = (prices[1:2 * n:2] - prices[0:2 * n:2]) * QTY - (prices[1:2 * n:2] + prices[0:2 * n:2]) * QTY * COMMISSION
    return int(n) if np.isfinite(pnl.sum()) else -1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="alternating telemetry on/off pairs")
    parser.add_argument("--peer-process", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_process:
        peer_process_main(args.peer_process)
        return 0
    from csv_load import generate

    print(f"machine: {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} at start "
          "(shared machine: compare the ratios and medians, not single figures)")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, db_dir = Path(tmp) / "market", Path(tmp) / "runs"
        data_dir.mkdir()
        db_dir.mkdir()
        csv_path = data_dir / "BENCH_1minute.csv.gz"
        t0 = time.perf_counter()
        generate(csv_path, args.bars)
        print(f"generated {args.bars:,} one-minute bars -> {csv_path.name} in {time.perf_counter() - t0:.1f} s")

        import pandas as pd
        frame = pd.read_csv(csv_path)
        open_np, close_np = frame["open"].to_numpy(float), frame["close"].to_numpy(float)
        rel_np = relation(close_np)
        open_list, rel_list = open_np.tolist(), rel_np.tolist()

        try:
            import backtesting  # noqa: F401
            have_peer = True
        except ImportError:
            have_peer = False
        on, off, peers, loops, vectors = [], [], [], [], []
        for k in range(args.repeat):
            on.append(sensequant_run(data_dir, db_dir, True, 2 * k))
            off.append(sensequant_run(data_dir, db_dir, False, 2 * k + 1))
            t = time.perf_counter()
            loop_trades, _ = plain_loop(open_list, rel_list)
            loops.append(time.perf_counter() - t)
            t = time.perf_counter()
            vector_trades = numpy_version(open_np, rel_np)
            vectors.append(time.perf_counter() - t)
            if have_peer:
                wall, rss, out, cpu = run_process([sys.executable, str(Path(__file__).resolve()),
                                                   "--peer-process", str(csv_path)])
                peers.append({"wall": wall, "cpu": cpu, "rss": rss, **json.loads(out)})
            for db in db_dir.iterdir():
                db.unlink()

    bars = on[0]["bars"]

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(f"bars per run: {bars:,}; events per run: telemetry on {on[0]['events']:,}, off {off[0]['events']:,}; "
          f"trades {on[0]['trades']:,} (plain loop {loop_trades:,}, numpy {vector_trades:,})")
    for label, runs in (("telemetry on ", on), ("telemetry off", off)):
        print(f"{label}: run part median {med(runs, 'run'):.3f} s -> {bars / med(runs, 'run'):>9,.0f} bars/s; "
              f"whole process median {med(runs, 'wall'):.3f} s, {med(runs, 'cpu'):.3f} CPU s "
              f"(load {med(runs, 'load'):.3f} s); "
              f"peak RSS max {max(r['rss'] for r in runs):.0f} MB  (run parts: "
              + ", ".join(f"{r['run']:.3f}" for r in runs) + ")")
    print(f"read models (folded as events commit, applied every 10k events, summary): median "
          f"{med(on, 'read_models'):.3f} s = {100 * med(on, 'read_models') / med(on, 'run'):.1f} % of the run part; "
          f"after the last bar (final flush + summary) {med(on, 'at_end'):.3f} s = "
          f"{100 * med(on, 'at_end') / med(on, 'run'):.1f} % (target for the end-of-run summary: <= 5 %)")
    pairs = [a["run"] / b["run"] for a, b in zip(on, off)]
    print(f"telemetry on vs off (run part): median of pairwise ratios {statistics.median(pairs):.3f} "
          f"({100 * (statistics.median(pairs) - 1):+.1f} %; pairs: " + ", ".join(f"{p:.3f}" for p in pairs) + ")")
    run_on = med(on, "run")
    print(f"plain Python loop (no log): median {statistics.median(loops):.3f} s -> "
          f"{bars / statistics.median(loops):,.0f} bars/s; SenseQuant run part / loop = "
          f"{run_on / statistics.median(loops):.2f}")
    print(f"numpy version (no log): median {statistics.median(vectors) * 1000:.1f} ms; SenseQuant run part / numpy = "
          f"{run_on / statistics.median(vectors):.0f}")
    if not have_peer:
        print("backtesting.py not installed: peer timing skipped (pip install -r benchmarks/requirements.txt)")
        return 0
    print(f"backtesting.py: run part median {med(peers, 'run'):.3f} s, whole process median {med(peers, 'wall'):.3f} s, "
          f"peak RSS {max(p['rss'] for p in peers):.0f} MB, trades {peers[0]['trades']:,}")
    print(f"ratios backtesting.py / SenseQuant: whole process {med(peers, 'wall') / med(on, 'wall'):.2f}x "
          f"(CPU {med(peers, 'cpu') / med(on, 'cpu'):.2f}x), "
          f"run part {med(peers, 'run') / run_on:.2f}x; RSS SenseQuant/backtesting.py "
          f"{max(r['rss'] for r in on) / max(p['rss'] for p in peers):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
