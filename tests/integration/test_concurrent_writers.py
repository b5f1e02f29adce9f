"""Several real SenseQuant processes writing one store at once (issue 19, part 3).

Each backtest and paper session is its own OS process on the same database; none may
die with "database is locked" (every SQLite write path begins IMMEDIATE, so the busy
timeout applies), and every run must end with its true status in the runs table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from applications.wiring.store import open_store
from core.events.base import RunStatus

ROOT = Path(__file__).resolve().parents[2]
BACKTESTS = 4
PAPER_SESSIONS = 2


@pytest.fixture(params=["sqlite", "postgres"])
def url(request) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SENSEQUANT_RUNS_DIR"] = str(tmp_path / "runs")
    env.pop("SENSEQUANT_DB_URL", None)
    return env


def _commands(url: str) -> list[list[str]]:
    base = [sys.executable, "-m", "applications", "--db", url]
    backtest = [*base, "backtest", "--strategy", "intraday", "--symbols", "TCS", "--start", "2024-02-21",
                "--no-sentiment", "--json"]
    paper = [*base, "paper", "--start", "2024-02-22", "--end", "2024-02-23", "--no-sentiment",
             "--replay-speed", "0", "--json"]
    return [backtest] * BACKTESTS + [paper] * PAPER_SESSIONS


def test_concurrent_backtests_and_paper_sessions_on_one_store(url, tmp_path):
    if url.startswith("sqlite"):  # the schema exists before the race, as in real use
        open_store(url).close()
    env = _env(tmp_path)
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for cmd in _commands(url)]
    outcomes = [(p, *p.communicate(timeout=300)) for p in procs]
    for proc, _out, err in outcomes:
        text = err.decode(errors="replace")
        assert "database is locked" not in text and "Traceback" not in text, text
        assert proc.returncode == 0, text
    run_ids = [json.loads(out)["run_id"] for _proc, out, _err in outcomes]
    store = open_store(url)
    try:
        statuses = {run_id: store.get_run(run_id).status for run_id in run_ids}
    finally:
        store.close()
    assert len(statuses) == BACKTESTS + PAPER_SESSIONS
    assert set(statuses.values()) == {RunStatus.COMPLETED}, statuses
