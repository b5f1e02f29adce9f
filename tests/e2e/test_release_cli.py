"""`sensequant release` as an operator runs it: audit -> deploy -> paper -> rollback, each step an
event that `events tail` shows (real processes, real SQLite file, real bundle files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CANDIDATE = """strategy = "swing"
start = "2019-01-01"
end = "2019-03-31"
[swing]
symbols = ["INFY", "TCS"]
"""


def cli(*args: str, db: str, runs: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SENSEQUANT_RUNS_DIR": str(runs), "PYTHONHASHSEED": "0"}
    return subprocess.run([sys.executable, "-m", "applications", "--db", db, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_release_path_from_audit_to_rollback(tmp_path):
    db, runs = f"sqlite:///{tmp_path / 'events.db'}", tmp_path / "runs"
    config = tmp_path / "candidate.toml"
    config.write_text(CANDIDATE)
    done = cli("release", "audit", "--config", str(config), "--min-trades", "0", "--max-drawdown", "-99",
               "--json", db=db, runs=runs)
    assert done.returncode == 0, done.stderr
    audit = json.loads(done.stdout)
    release_id = audit["release_id"]
    assert Path(audit["bundle_dir"]).is_relative_to(runs / "releases")
    assert "release_manifest.json" in audit["files"]

    status = json.loads(cli("release", "status", "--json", db=db, runs=runs).stdout)
    assert status["active_release"] is None
    # without --confirm: verified, nothing deployed
    dry = cli("release", "deploy", release_id[:16], "--force", "--reason", "e2e", "--json", db=db, runs=runs)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["deployed"] is False
    assert json.loads(cli("release", "status", "--json", db=db, runs=runs).stdout)["active_release"] is None
    deployed = cli("release", "deploy", release_id, "--confirm", "--force", "--reason", "e2e", "--json",
                   db=db, runs=runs)
    assert deployed.returncode == 0, deployed.stderr
    status = json.loads(cli("release", "status", "--json", db=db, runs=runs).stdout)
    assert status["active_release"] == release_id and status["mode"] == "heightened"

    paper = cli("paper", "--replay-speed", "0", "--no-sentiment", "--json", db=db, runs=runs)
    assert paper.returncode == 0, paper.stderr
    assert f"using release {release_id}" in paper.stderr.replace("\n", " ")
    session = json.loads(paper.stdout)
    assert [b["strategy"] for b in session["books"]] == ["swing"]

    history = json.loads(cli("release", "list", "--json", db=db, runs=runs).stdout)
    assert [h["action"] for h in history] == ["audited", "deployed", "applied"]
    assert history[-1]["run_id"] == session["run_id"]

    back = cli("release", "rollback", "--reason", "e2e", "--json", db=db, runs=runs)
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["to_release_id"] is None
    tail = cli("events", "tail", "--after", "0", "--last", "100000", db=db, runs=runs)
    for kind in ("release.audited", "release.deployed", "release.applied", "release.rolled_back"):
        assert kind in tail.stdout, kind
    again = cli("paper", "--replay-speed", "0", "--no-sentiment", "--start", "2024-01-01", "--end", "2024-01-05",
                "--json", db=db, runs=runs)
    assert again.returncode == 0, again.stderr
    assert "using release" not in again.stderr
    assert [b["strategy"] for b in json.loads(again.stdout)["books"]] == ["intraday"]


def test_deploy_refusals_are_one_line_errors(tmp_path):
    db, runs = f"sqlite:///{tmp_path / 'events.db'}", tmp_path / "runs"
    missing = cli("release", "deploy", "release-nope", "--confirm", db=db, runs=runs)
    assert missing.returncode != 0 and "not in the log" in missing.stderr and "Traceback" not in missing.stderr
    nothing = cli("release", "rollback", db=db, runs=runs)
    assert nothing.returncode != 0 and "nothing to roll back" in nothing.stderr
