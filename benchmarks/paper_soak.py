"""Soak test of crash safety: kill -9 a real `sensequant paper` process many times, resume each time.

A paper session over the shipped TCS 1-minute bars (replayed fast into a fresh SQLite
store) is killed with SIGKILL at random moments ``--kills`` times and resumed with
``--resume RUN`` after each kill. At the end its book stream must equal an
uninterrupted session's event for event (decisions, orders, fills, trades, snapshots,
checkpoints), with every client order id submitted once and filled at most once.

Usage: .venv/bin/python benchmarks/paper_soak.py [--kills 30] [--seed 1] [--start 2024-01-01 --end 2024-01-31]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.simulated import SimulatedClock  # noqa: E402
from applications.services.books import BacktestConfig, SentimentSettings
from applications.roots.paper import PaperOptions, run_paper
from applications.wiring.store import open_store
from core.events.codec import converter  # noqa: E402


def events(db: str, run_id: str) -> list[tuple[str, dict]]:
    store = open_store(db)
    try:
        return [(r.type, converter.unstructure(r.event)) for r in store.read_stream(f"{run_id}:intraday")]
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--end", default="2024-01-31")
    parser.add_argument("--speed", default="30000", help="replay speed of the killed sessions")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SENSEQUANT_RUNS_DIR=str(Path(tmp) / "runs"))
        ref_db, db = f"sqlite:///{Path(tmp) / 'ref.db'}", f"sqlite:///{Path(tmp) / 'soak.db'}"
        config = BacktestConfig(strategy="intraday", start=args.start, end=args.end,
                                sentiment=SentimentSettings(enabled=False))
        store = open_store(ref_db)
        try:
            run_paper(config, store=store, sentiment=None, clock=SimulatedClock(), run_id="ref",
                      options=PaperOptions(replay_speed=0))
        finally:
            store.close()
        base = [sys.executable, "-m", "applications", "paper", "--db", db, "--start", args.start, "--end", args.end,
                "--no-sentiment", "--json", "--replay-speed", args.speed]
        run_id, killed, t0 = None, 0, time.perf_counter()
        while True:
            cmd = base + (["--resume", run_id] if run_id else [])
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if killed < args.kills:
                time.sleep(rng.uniform(1.0, 4.0))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    killed += 1
            out, err = proc.communicate()
            if run_id is None:
                s = open_store(db)
                try:
                    runs = s.list_runs(mode="paper")
                finally:
                    s.close()
                run_id = runs[0].run_id if runs else None
            if proc.returncode == 0:
                break
            if proc.returncode != -signal.SIGKILL:
                raise SystemExit(f"paper session failed:\n{err.decode()}")
        got, expected = events(db, run_id), events(ref_db, "ref")
        submitted = [p["client_order_id"] for t, p in got if t == "order.submitted"]
        filled = [p["client_order_id"] for t, p in got if t == "order.filled"]
        print(f"{killed} kill -9 + resume cycles in {time.perf_counter() - t0:.1f} s; "
              f"{len(got):,} events, {len(submitted)} orders, {len(filled)} fills")
        print(f"identical to the uninterrupted session: {got == expected}; "
              f"client ids unique: {len(submitted) == len(set(submitted))}; "
              f"each order filled at most once: {len(filled) == len(set(filled))}")
        if got != expected:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
