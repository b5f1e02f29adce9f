"""`sensequant paper` as a user runs it: kill -9 mid-session and --resume, SIGTERM, and `live` refusals."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from applications.services.books import BacktestConfig, SentimentSettings
from applications.cli.main import cli
from applications.roots.paper import PaperOptions, run_paper
from applications.wiring.store import open_store
from core.events.base import RunStatus
from core.events.codec import converter
from tests.fakes.crashing_clock import CrashingClock

ROOT = Path(__file__).resolve().parents[2]
START, END = "2024-01-01", "2024-01-05"
RANGE = ["--start", START, "--end", END]
BOOK_TYPES = None  # compare every event of the book stream


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SENSEQUANT_RUNS_DIR"] = str(tmp_path / "runs")
    env.pop("SENSEQUANT_DB_URL", None)
    return env


def _paper_cmd(db: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "applications", "paper", "--db", db, *RANGE, "--no-sentiment", "--json",
            *extra]


def _book_events(db: str, run_id: str, book: str = "intraday") -> list[tuple[str, dict]]:
    store = open_store(db)
    try:
        return [(r.type, converter.unstructure(r.event)) for r in store.read_stream(f"{run_id}:{book}")]
    finally:
        store.close()


def _only_run(db: str) -> str:
    store = open_store(db)
    try:
        runs = store.list_runs(mode="paper")
    finally:
        store.close()
    assert len(runs) == 1, runs
    return runs[0].run_id


def _wait_for_run(db: str, proc: subprocess.Popen, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()
        if Path(db.removeprefix("sqlite:///")).exists():
            store = open_store(db)
            try:
                runs = store.list_runs(mode="paper")
            finally:
                store.close()
            if runs:
                return runs[0].run_id
        time.sleep(0.05)
    raise AssertionError("the paper session did not start")


def kill9_and_resume(tmp_path: Path, kills: int, seed: int, speed: str = "60000") -> tuple[str, str, int]:
    """Run a paper session, kill -9 it ``kills`` times at random moments, resume each time to the end."""
    env = _env(tmp_path)
    rng = random.Random(seed)
    db = f"sqlite:///{tmp_path / 'killed.db'}"
    run_id = None
    killed = 0
    for attempt in range(kills + 1):
        cmd = _paper_cmd(db, "--replay-speed", speed, *(["--resume", run_id] if run_id else []))
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if attempt < kills:
            if run_id is None:  # the first kill lands once the session has started trading
                run_id = _wait_for_run(db, proc)
            deadline = time.monotonic() + rng.uniform(0.3, 1.5) + (0.0 if attempt == 0 else 1.0)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            out, err = proc.communicate(timeout=60)
            if proc.returncode == 0:
                break  # finished before the kill
            assert proc.returncode == -signal.SIGKILL, err.decode()
        else:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
        if run_id is None:
            run_id = _only_run(db)
    assert run_id is not None
    return db, run_id, killed


def reference_session(tmp_path: Path) -> tuple[list[tuple[str, dict]], int]:
    """The same session uninterrupted (in process, same config as the CLI builds)."""
    config = BacktestConfig(strategy="intraday", start=START, end=END, sentiment=SentimentSettings(enabled=False))
    db = f"sqlite:///{tmp_path / 'reference.db'}"
    store = open_store(db)
    try:
        result = run_paper(config, store=store, sentiment=None, clock=CrashingClock(), run_id="reference",
                           options=PaperOptions(replay_speed=0))
    finally:
        store.close()
    return _book_events(db, "reference"), result.books[0].final_equity_paise


def test_kill_dash_9_and_resume_five_times_gives_the_uninterrupted_session(tmp_path):
    expected, final_equity = reference_session(tmp_path)
    db, run_id, killed = kill9_and_resume(tmp_path, kills=5, seed=7)
    assert killed >= 3, "the session finished before most kills; slow the replay down"
    got = _book_events(db, run_id)
    # Same decisions, orders, fills, trades, snapshots and checkpoints, in the same order.
    assert got == expected
    submitted = [p["client_order_id"] for t, p in got if t == "order.submitted"]
    assert len(submitted) == len(set(submitted)), "a client order id was submitted twice"
    filled = [p["client_order_id"] for t, p in got if t == "order.filled"]
    assert len(filled) == len(set(filled)), "an order was filled twice"
    assert len({p["trade_id"] for t, p in got if t == "order.filled"}) == len(filled)
    store = open_store(db)
    try:
        run_events = store.read_stream(f"{run_id}:run")
        assert store.get_run(run_id).status == RunStatus.COMPLETED
    finally:
        store.close()
    recon = [r.event for r in run_events if r.type == "reconciliation.completed"]
    assert recon and all(e.ok for e in recon)
    final = [r.event for r in run_events if r.type == "run.completed"][-1]
    assert final.final_equity_paise == final_equity


def test_sigterm_stops_new_entries_squares_off_flushes_and_exits_zero(tmp_path):
    env = _env(tmp_path)
    db = f"sqlite:///{tmp_path / 'term.db'}"
    proc = subprocess.Popen(_paper_cmd(db, "--replay-speed", "20000"), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_run(db, proc)
    time.sleep(0.4)
    assert proc.poll() is None, proc.communicate()[1].decode()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["status"] == RunStatus.INTERRUPTED
    run_id = result["run_id"]
    events = _book_events(db, run_id)
    last_position = {}
    for t, p in events:
        if t == "position.changed":
            last_position[p["symbol"]] = p["quantity"]
    assert all(q == 0 for q in last_position.values()), "intraday positions must be squared off"
    assert events[-1][0] == "engine.checkpointed"
    # An interrupted run may be resumed and finishes cleanly; a completed one may not.
    config = BacktestConfig(strategy="intraday", start=START, end=END, sentiment=SentimentSettings(enabled=False))
    store = open_store(db, durable=True)
    try:
        done = run_paper(config, store=store, sentiment=None, clock=CrashingClock(), resume=run_id,
                         options=PaperOptions(replay_speed=0))
        assert done.status == RunStatus.COMPLETED and done.reconciliation["intraday"]["ok"]
    finally:
        store.close()
    again = subprocess.run(_paper_cmd(db, "--replay-speed", "0", "--resume", run_id), cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode != 0
    assert "already completed" in again.stderr


@pytest.fixture()
def no_breeze_env(monkeypatch, tmp_path):
    for name in ("BREEZE_API_KEY", "BREEZE_API_SECRET", "BREEZE_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SENSEQUANT_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


def test_live_refuses_without_confirm_live(no_breeze_env):
    result = CliRunner().invoke(cli, ["--db", "memory://", "live"])
    assert result.exit_code != 0
    assert "--confirm-live" in result.output
    assert "breeze_connect" not in sys.modules


def test_live_refuses_without_credentials_even_when_confirmed(no_breeze_env, monkeypatch):
    import applications.wiring.breeze as breeze_data
    monkeypatch.setattr(breeze_data, "project_root", lambda: no_breeze_env)  # no .env there
    result = CliRunner().invoke(cli, ["--db", "memory://", "live", "--confirm-live"])
    assert result.exit_code != 0
    for name in ("BREEZE_API_KEY", "BREEZE_API_SECRET", "BREEZE_SESSION_TOKEN"):
        assert name in result.output
    assert "breeze_connect" not in sys.modules
