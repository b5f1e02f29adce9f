"""`kill -9` of a real `sensequant paper` process at every phase of a session, then `--resume`.

Each phase (before the first checkpoint, mid-bar, during the square-off of a clean stop,
at the close) is reached deterministically by ``tests.fakes.kill_at``; the resumed run
must end with exactly the book stream of an uninterrupted run and be completed.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from applications.wiring.store import open_store
from core.events.base import RunStatus
from tests.e2e.test_paper_cli import ROOT, _book_events, _env, _only_run, _paper_cmd, reference_session

# phase -> which occurrence of its seam kills the process
KILLS = {"before-checkpoint": 1, "mid-bar": 3, "square-off": 2, "close": 1}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_session(tmp_path_factory.mktemp("reference"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'killed.db'}"
    return request.getfixturevalue("pg_url")


@pytest.mark.parametrize("phase", list(KILLS))
def test_kill_dash_9_at_each_phase_then_resume_gives_the_uninterrupted_log(phase, reference, db, tmp_path):
    expected, final_equity = reference
    env = _env(tmp_path)
    args = _paper_cmd(db, "--replay-speed", "0")[3:]  # drop "python -m applications"
    killed = subprocess.run([sys.executable, "-m", "tests.fakes.kill_at", phase, str(KILLS[phase]), "--", *args],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_id = _only_run(db)
    before = _book_events(db, run_id)
    if phase == "before-checkpoint":
        assert before == [], "the kill was meant to land before the first checkpoint"
    else:
        assert 0 < len(before) <= len(expected)
    resumed = subprocess.run(_paper_cmd(db, "--replay-speed", "0", "--resume", run_id), cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert _book_events(db, run_id) == expected
    store = open_store(db)
    try:
        assert store.get_run(run_id).status == RunStatus.COMPLETED
        run_events = [r.event for r in store.read_stream(f"{run_id}:run")]
    finally:
        store.close()
    assert [e for e in run_events if type(e).__name__ == "RunCompleted"][-1].final_equity_paise == final_equity
