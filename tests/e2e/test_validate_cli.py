"""`sensequant validate --walk-forward` (and its argument checks) as a user runs it.

Real CSV feed (shipped daily bars), real LightGBM, real SQLite event store, real registry folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from applications.cli.main import cli
from applications.wiring.store import open_store
from core.events.catalog import PromotionDecided, WalkForwardWindowScored

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not list((ROOT / "data" / "market").glob("*_1day.csv*")),
                                reason="no shipped daily bars in data/market")

WALK = ["validate", "--walk-forward", "--symbols", "TCS,INFY", "--train-months", "12", "--test-months", "3",
        "--end", "2017-09-30"]


def flat(result) -> str:
    return " ".join(result.output.split())


def test_walk_forward_json_writes_reports_and_records_events(tmp_path):
    db = f"sqlite:///{tmp_path / 'events.db'}"
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["--db", db, *WALK, "--registry", str(tmp_path / "reg"), "--out", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert len(doc["windows"]) == 3 and doc["verdict"] in ("PROMOTE", "REJECT")
    assert doc["config"]["step_months"] == 3 and doc["config"]["symbols"] == ["TCS", "INFY"]
    assert json.loads((out / "walk_forward.json").read_text(encoding="utf-8"))["run_id"] == doc["run_id"]
    assert "## Promotion checklist" in (out / "walk_forward.md").read_text(encoding="utf-8")
    store = open_store(db)
    try:
        recorded = [r.event for r in store.read_all(0, 1_000_000)]
    finally:
        store.close()
    scored = [e for e in recorded if isinstance(e, WalkForwardWindowScored)]
    assert [e.window for e in scored] == [1, 2, 3]
    assert [e.candidate_model_id for e in scored] == [w["candidate_model_id"] for w in doc["windows"]]
    decided = [e for e in recorded if isinstance(e, PromotionDecided)]
    assert decided[-1].verdict == doc["verdict"] and decided[-1].candidate_model_id == scored[-1].candidate_model_id


def test_walk_forward_text_output_with_expanding_windows(tmp_path):
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'e.db'}", *WALK, "--expanding",
                                      "--step-months", "6", "--registry", str(tmp_path / "reg")])
    assert result.exit_code == 0, result.output
    text = flat(result)
    assert "expanding: train 12 months, test 3, step 6" in text
    assert "Promotion gate (pooled uplift)" in text and ("PROMOTE" in text or "REJECT" in text)


def test_candidate_and_walk_forward_modes_are_told_apart(tmp_path):
    db = f"sqlite:///{tmp_path / 'e.db'}"
    missing = CliRunner().invoke(cli, ["--db", db, "validate"])
    assert missing.exit_code == 2 and "--walk-forward" in missing.output
    both = CliRunner().invoke(cli, ["--db", db, "validate", "some-model", "--walk-forward"])
    assert both.exit_code == 2 and "drop CANDIDATE_ID" in flat(both)
    short = CliRunner().invoke(cli, ["--db", db, "validate", "--walk-forward", "--symbols", "TCS",
                                     "--end", "2016-06-30", "--registry", str(tmp_path / "reg")])
    assert short.exit_code != 0 and "--train-months" in flat(short)


def test_walk_forward_on_two_dask_workers_prints_what_one_process_prints(tmp_path):
    def walk(name: str, *extra: str) -> dict:
        result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / name}.db", *WALK, "--registry",
                                          str(tmp_path / name), "--json", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    serial, parallel = walk("serial"), walk("parallel", "--workers", "2")
    for doc in (serial, parallel):
        for w in doc["windows"]:  # differ by nature: ids, run ids, wall time
            for key in ("candidate_model_id", "teacher_model_id", "training_seconds", "backtest_seconds"):
                w.pop(key, None)
            for who in ("candidate", "champion"):
                w[who].pop("run_id", None)
    assert [w["candidate"] for w in parallel["windows"]] == [w["candidate"] for w in serial["windows"]]
    assert parallel["verdict"] == serial["verdict"] and parallel["overall"] == serial["overall"]


def test_workers_need_walk_forward_and_csv_data(tmp_path):
    db = f"sqlite:///{tmp_path / 'e.db'}"
    alone = CliRunner().invoke(cli, ["--db", db, "validate", "some-model", "--workers", "2"])
    assert alone.exit_code == 2 and "add --walk-forward" in flat(alone)
    hybrid = CliRunner().invoke(cli, ["--db", db, *WALK, "--workers", "2", "--data-source", "hybrid"])
    assert hybrid.exit_code == 2 and "--data-source csv" in flat(hybrid)
    shared = CliRunner().invoke(cli, ["--db", db, *WALK, "--scheduler", "tcp://10.255.255.1:8786"])
    assert shared.exit_code == 2 and "cannot be shared by a multi-host Dask cluster" in flat(shared)
