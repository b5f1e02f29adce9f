"""Benchmark: fault -> delivered alert delay, and the monitor's CPU and memory while it follows
a 10 bars/s paper session (target: delay p99 <= 5 s).

Three processes share one SQLite event store, as a user runs them: `sensequant paper
--replay-speed 600` (1-minute bars at 10 bars/s), `sensequant monitor run` (default poll
interval) delivering through apprise to a local JSON webhook served here, and this script,
which injects ``--faults`` feed outages (``FeedHealthChanged(status="down")``, each on its own
feed so each is a new alert) at random moments. The delay of a fault is the webhook's receipt
time minus the wall time just before its event was appended. The monitor's CPU (user+system
seconds / wall seconds) and peak RSS come from psutil over the measured period.

Run: .venv/bin/python benchmarks/alert_delay.py [--faults 40] [--seconds 40] [--db URL]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from applications.wiring.store import open_store  # noqa: E402
from core.events.base import NewEvent  # noqa: E402
from core.events.catalog import FeedHealthChanged  # noqa: E402
from tests.fakes.webhook import WebhookServer  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q * (len(ordered) - 1)))))
    return ordered[k]


def last_heartbeat(store):
    """(time, event) of the newest session heartbeat in the log, or None."""
    from core.events.monitoring import SessionHeartbeat
    runs = store.list_runs(mode="paper", limit=1)
    if not runs:
        return None
    stream = f"{runs[0].run_id}:health"
    tail = store.read_stream(stream, from_version=max(1, store.stream_version(stream) - 5))
    beats = [(r.occurred_at, r.event) for r in tail if isinstance(r.event, SessionHeartbeat)]
    return beats[-1] if beats else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=40.0, help="how long faults are injected")
    parser.add_argument("--db", help="event store URL (default: a fresh SQLite file)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="sq-alert-delay-"))
    db = args.db or f"sqlite:///{tmp / 'events.db'}"
    hook = WebhookServer().start()
    env = {**os.environ, "SENSEQUANT_RUNS_DIR": str(tmp / "runs"), "SENSEQUANT_ALERT_URLS": hook.url("bench")}
    env.pop("SENSEQUANT_DB_URL", None)
    subprocess.run([sys.executable, "-m", "applications", "db", "upgrade", "--db", db], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    paper = subprocess.Popen([sys.executable, "-m", "applications", "--db", db, "paper", "--replay-speed", "600",
                              "--start", "2024-01-01", "--end", "2024-03-31", "--no-sentiment"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    monitor = subprocess.Popen([sys.executable, "-m", "applications", "--db", db, "monitor", "run"], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = open_store(db)
    injected: dict[str, float] = {}
    try:
        up = time.monotonic() + 60
        while last_heartbeat(store) is None and time.monotonic() < up:  # the session is trading
            time.sleep(0.2)
        time.sleep(3.0)  # and the monitor has caught up
        proc = psutil.Process(monitor.pid)
        cpu0, wall0 = sum(proc.cpu_times()[:2]), time.monotonic()
        rss_peak = proc.memory_info().rss
        bars0 = store.last_seq()
        beats0 = last_heartbeat(store)
        rng = random.Random(7)
        gaps = sorted(rng.uniform(0, args.seconds) for _ in range(args.faults))
        start = time.monotonic()
        for k, at in enumerate(gaps):
            while time.monotonic() - start < at:
                time.sleep(0.01)
                rss_peak = max(rss_peak, proc.memory_info().rss)
            stream = f"bench:{k}"
            t = time.time()
            recorded = store.append(stream, 0, [NewEvent(event=FeedHealthChanged(
                feed=f"bench.feed{k}", status="down", reason="injected"), occurred_at=datetime.now(timezone.utc))],
                run_id="bench")
            injected[f"bench.feed{k}"] = t
            _ = recorded
        deadline = time.monotonic() + 15
        while len(hook.posts) < args.faults and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu1, wall1 = sum(proc.cpu_times()[:2]), time.monotonic()
        rss_peak = max(rss_peak, proc.memory_info().rss)
        events_seen = store.last_seq() - bars0
        beats1 = last_heartbeat(store)
    finally:
        for p in (paper, monitor):
            p.terminate()
        for p in (paper, monitor):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        hook.stop()

    # map each delivered notice back to its fault (the alert message names the feed)
    delays = []
    arrived: dict[str, float] = {}
    for post, at in zip(hook.posts, hook.received_at):
        if post["title"].startswith("[CRITICAL]") and "bench.feed" in post["message"]:
            feed = post["message"].split("feed ", 1)[1].split(" ", 1)[0]
            arrived.setdefault(feed, at)
    delays = [arrived[feed] - t for feed, t in injected.items() if feed in arrived]
    store.close()
    wall = wall1 - wall0
    print(f"faults injected: {len(injected)}, alerts delivered: {len(delays)}")
    if delays:
        print(f"alert delay (fault -> webhook): p50 {percentile(delays, 0.5):.3f} s, p99 {percentile(delays, 0.99):.3f} s, "
              f"max {max(delays):.3f} s")
    print(f"monitor CPU: {(cpu1 - cpu0) / wall:.1%} of one core over {wall:.1f} s; peak RSS {rss_peak / 2**20:.1f} MiB")
    print(f"log events written meanwhile: {events_seen:,} ({events_seen / wall:,.0f}/s)")
    if beats0 and beats1:
        bars = beats1[1].bars_processed - beats0[1].bars_processed
        span = (beats1[0] - beats0[0]).total_seconds()
        print(f"paper session followed: {bars:,} bars in {span:.1f} s ({bars / span:.1f} bars/s)")
    ok = len(delays) == len(injected) and delays and percentile(delays, 0.99) <= 5.0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
