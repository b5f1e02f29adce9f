"""Read models as a user meets them: a backtest process killed with SIGKILL before and after
its projector's first flush, then `runs show` (which catches the read models up from their
stored position), `projections status` and `projections rebuild` — the caught-up rows equal
the rebuilt ones byte for byte."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from applications.services.run_summary import summarize_run
from applications.wiring.store import open_store, read_models_for
from ports.read_models import READ_MODEL_TABLES

ROOT = Path(__file__).resolve().parents[2]
BARS = 150_000  # ~29k events: the projector flushes every 10k


def sensequant(*args: str, db: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "applications", "--db", db, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def minute_bars(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("csv_load", ROOT / "benchmarks" / "csv_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    folder = tmp_path_factory.mktemp("bars")
    module.generate(folder / "BENCH_1minute.csv.gz", BARS)
    return folder


def backtest_args(data_dir: Path) -> list[str]:
    return ["backtest", "--strategy", "sma_cross", "--symbols", "BENCH", "--interval", "1minute",
            "--data-dir", str(data_dir), "--no-sentiment", "--json"]


def dump(db: str, run_id: str) -> bytes:
    store = open_store(db)
    try:
        read_models = read_models_for(store)
        pos = read_models.position(run_id)
        tables = {name: read_models.rows(name, run_id) for name in READ_MODEL_TABLES}
    finally:
        store.close()
    return json.dumps({"position": [pos.seq, pos.events] if pos else None, "tables": tables},
                      sort_keys=True).encode()


def _count(path: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2) as conn:
            return int(conn.execute(sql).fetchone()[0] or 0)
    except sqlite3.Error:
        return 0


def kill_when(db_path: Path, data_dir: Path, ready) -> None:
    child = subprocess.Popen([sys.executable, "-m", "applications", "--db", f"sqlite:///{db_path}",
                              *backtest_args(data_dir)], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                pytest.fail("the backtest finished before it could be killed at the wanted point")
            if ready():
                os.kill(child.pid, signal.SIGKILL)
                child.wait(timeout=30)
                return
            time.sleep(0.005)
        pytest.fail("the wanted point was never reached")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize("phase", ["before the first flush", "after a flush"])
def test_killed_backtest_read_models_catch_up_to_what_a_rebuild_writes(phase, minute_bars, tmp_path):
    db_path = tmp_path / "events.db"
    db = f"sqlite:///{db_path}"
    if phase == "before the first flush":
        ready = lambda: _count(db_path, "SELECT count(*) FROM events") > 2000  # noqa: E731
    else:
        def ready() -> bool:  # a flush applied, and more events committed since
            stored = _count(db_path, "SELECT max(seq) FROM rm_positions")
            return stored > 0 and _count(db_path, "SELECT max(seq) FROM events") > stored + 500
    kill_when(db_path, minute_bars, ready)
    stored = _count(db_path, "SELECT max(seq) FROM rm_positions")
    events = _count(db_path, "SELECT count(*) FROM events")
    assert events > 0
    if phase == "after a flush":
        assert 0 < stored < events  # rows applied, the rest of the run not (folded, lost with the process)
    else:
        assert stored == 0
    run_id = json.loads(sensequant("runs", "list", "--json", db=db).stdout)[0]["run_id"]
    status = json.loads(sensequant("projections", "status", "--json", db=db).stdout)
    assert [(s["run_id"], s["state"]) for s in status] == \
        [(run_id, "behind" if phase == "after a flush" else "not projected")]
    shown = sensequant("runs", "show", run_id, "--json", db=db)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["events"] == events and any("no run.completed" in m for m in doc["missing"])
    store = open_store(db)
    try:
        from_log = summarize_run(store, run_id)
    finally:
        store.close()
    assert doc["books"] == json.loads(json.dumps([__import__("attrs").asdict(b) for b in from_log.books],
                                                 default=str))
    caught_up = dump(db, run_id)
    status = json.loads(sensequant("projections", "status", "--json", db=db).stdout)
    assert status[0]["state"] == "current" and status[0]["events"] == events
    rebuilt = sensequant("projections", "rebuild", run_id[:8], "--json", db=db)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["rebuilt"][0]["events"] == events
    assert dump(db, run_id) == caught_up


def test_a_finished_backtest_has_current_read_models_and_a_rebuild_changes_no_byte(minute_bars, tmp_path):
    db = f"sqlite:///{tmp_path / 'events.db'}"
    done = sensequant(*backtest_args(minute_bars), db=db)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # Kept as the run wrote (never read back): the time after the last bar is small.
    assert result["seconds_read_models_at_end"] <= result["seconds_read_models"] <= result["seconds_running"]
    status = json.loads(sensequant("projections", "status", "--json", db=db).stdout)
    assert [(s["run_id"], s["state"], s["events"]) for s in status] == [(result["run_id"], "current",
                                                                           result["events"])]
    before = dump(db, result["run_id"])
    everything = sensequant("projections", "rebuild", "--json", db=db)
    assert everything.returncode == 0, everything.stderr
    assert [r["run_id"] for r in json.loads(everything.stdout)["rebuilt"]] == [result["run_id"]]
    assert dump(db, result["run_id"]) == before
    shown = json.loads(sensequant("runs", "show", result["run_id"], "--json", db=db).stdout)
    assert shown["books"] == result["books"]


def test_help_and_errors():
    db = "sqlite:////nonexistent-dir/never.db"
    helped = subprocess.run([sys.executable, "-m", "applications", "projections", "rebuild", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "one transaction" in helped.stdout
    missing = sensequant("projections", "status", db=db)
    assert missing.returncode != 0 and "no event store" in missing.stderr and "Traceback" not in missing.stderr
