"""`sensequant eod schedule` as a user runs it: a second scheduler on the same job store is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "applications", *args]


def test_a_second_scheduler_on_the_same_job_store_is_refused(tmp_path):
    env = {**os.environ, "SENSEQUANT_RUNS_DIR": str(tmp_path / "runs")}
    jobstore = f"sqlite:///{tmp_path / 'sched' / 'jobs.sqlite'}"
    args = ["--db", f"sqlite:///{tmp_path / 'events.db'}", "eod", "schedule", "--jobstore", jobstore,
            "--registry", str(tmp_path / "reg")]
    lock = tmp_path / "sched" / "jobs.sqlite.lock"
    first = subprocess.Popen(_cli(*args), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and first.poll() is None:
            if lock.is_file() and lock.read_text().strip() == str(first.pid):
                break
            time.sleep(0.1)
        assert first.poll() is None, first.communicate()
        assert lock.read_text().strip() == str(first.pid)
        second = subprocess.run(_cli(*args), cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60)
        assert second.returncode != 0
        said = " ".join((second.stdout + second.stderr).split())
        assert str(lock) in said.replace(" ", ""), said  # (rich may wrap the long path)
        assert f"PID {first.pid}" in said, said
        assert first.poll() is None  # the first scheduler keeps running
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert "EOD job scheduled at 16:00 IST" in " ".join(out.split())
    # the lock went with the first scheduler: a new one may start
    assert lock.read_text().strip() == ""
