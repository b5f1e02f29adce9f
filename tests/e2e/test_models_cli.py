"""`sensequant models train|list|show|gate|promote|rollback` as a user runs them, on the shipped data.

Real CSV feed, real LightGBM, real SQLite event store, real registry folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from applications.cli.main import cli
from applications.wiring.store import open_store
from core.events.catalog import (
    ModelEvaluated,
    ModelPromoted,
    ModelRolledBack,
    ModelTrained,
    PromotionDecided,
    RunCompleted,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not list((ROOT / "data" / "market").glob("*_1day.csv*")),
                                reason="no shipped daily bars in data/market")


def flat(result) -> str:
    """Output with rich's line wrapping undone (terminal width varies)."""
    return " ".join(result.output.split())


def run(args: list[str], *, db: str, registry: Path, ok: bool = True):
    result = CliRunner().invoke(cli, ["--db", db, "models", "--registry", str(registry), *args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    db, registry = f"sqlite:///{tmp / 'store.db'}", tmp / "registry"
    outs = []
    for seed in (1, 2):
        res = run(["train", "--json", "--symbols", "RELIANCE,TCS,INFY", "--seed", str(seed)], db=db,
                  registry=registry)
        outs.append(json.loads(res.output))
    return db, registry, outs


def test_train_registers_teacher_and_student_and_records_events(trained):
    db, registry, (first, _second) = trained
    assert first["teacher"]["model_id"].startswith("teacher-lightgbm-")
    assert first["student"]["model_id"].startswith("student-lightgbm-")
    assert first["train_rows"] > 1000 and first["test_rows"] > 300
    m = first["teacher"]["metrics"]["test"]
    assert m["class_labels"] == ["LONG", "SHORT", "NOOP"] and 0 <= m["auc_macro"] <= 1
    listed = json.loads(run(["list", "--json"], db=db, registry=registry).output)
    assert len(listed["models"]) == 4 and listed["champion"] is None
    store = open_store(db)
    try:
        types = [type(r.event) for r in store.read_stream("models")]
        run_events = store.read_stream(f"{first['run_id']}:run")
    finally:
        store.close()
    assert types.count(ModelTrained) == 4 and types.count(ModelEvaluated) == 4
    assert isinstance(run_events[-1].event, RunCompleted) and run_events[-1].event.status == "completed"


def test_gate_promote_and_rollback_restores_the_previous_champion(trained, tmp_path):
    db, registry, (first, second) = trained
    a, b = first["student"]["model_id"], second["student"]["model_id"]
    res = run(["promote", a, "--json"], db=db, registry=registry)
    assert json.loads(res.output) == {"champion": a, "previous": None, "registry": str(registry)}
    md = tmp_path / "checklist.md"
    gate = json.loads(run(["gate", b, "--json", "--markdown", str(md)], db=db, registry=registry).output)
    assert gate["champion_model"] == a and gate["recommendation"] in ("PROMOTE", "REJECT")
    assert [c["name"] for c in gate["checks"]] == ["precision", "hit_ratio", "sharpe_ratio"]
    assert md.read_text().startswith(f"# Promotion checklist: {b}")
    if gate["recommendation"] == "REJECT":
        refused = run(["promote", b], db=db, registry=registry, ok=False)
        assert refused.exit_code != 0 and "--force" in flat(refused)
        run(["promote", b, "--force", "--reason", "e2e"], db=db, registry=registry)
    else:
        run(["promote", b], db=db, registry=registry)
    shown = json.loads(run(["show", b, "--json"], db=db, registry=registry).output)
    assert shown["status"] == "champion" and shown["integrity"] == "verified"
    assert json.loads(run(["show", a, "--json"], db=db, registry=registry).output)["status"] == "archived"
    back = json.loads(run(["rollback", "--json", "--reason", "drawdown"], db=db, registry=registry).output)
    assert back == {"champion": a, "replaced": b, "registry": str(registry)}
    listed = json.loads(run(["list", "--json"], db=db, registry=registry).output)
    assert listed["champion"] == a
    again = run(["rollback"], db=db, registry=registry, ok=False)
    assert again.exit_code != 0 and "no previous champion" in flat(again)
    store = open_store(db)
    try:
        events = [r.event for r in store.read_stream("models")]
    finally:
        store.close()
    decided = [e for e in events if isinstance(e, PromotionDecided)]
    assert decided[-1].candidate_model_id == b and decided[-1].checklist["recommendation"] == gate["recommendation"]
    promoted = [e for e in events if isinstance(e, ModelPromoted)]
    assert [(p.model_id, p.previous_model_id) for p in promoted] == [(a, None), (b, a)]
    rolled = [e for e in events if isinstance(e, ModelRolledBack)]
    assert [(r.from_model_id, r.to_model_id, r.reason) for r in rolled] == [(b, a, "drawdown")]


def test_a_tampered_model_is_refused_with_a_clear_error(trained):
    db, registry, (_first, second) = trained
    teacher = second["teacher"]["model_id"]
    path = registry / "versions" / teacher / "model.txt"
    original = path.read_bytes()
    try:
        path.write_bytes(original.replace(b"num_class=3", b"num_class=3 "))
        res = run(["show", teacher], db=db, registry=registry, ok=False)
        assert res.exit_code == 2
        assert "ModelIntegrityError" in flat(res) and "model.txt" in "".join(res.output.split())
        res = run(["promote", teacher], db=db, registry=registry, ok=False)
        assert "ModelIntegrityError" in flat(res)
        listed = json.loads(run(["list", "--json"], db=db, registry=registry).output)  # list still works
        status = {m["model_id"]: m["integrity"] for m in listed["models"]}
        assert status[teacher].startswith("FAILED") and "model.txt" in status[teacher]
        assert sum(v == "verified" for v in status.values()) == len(status) - 1
    finally:
        path.write_bytes(original)
    assert run(["show", teacher, "--json"], db=db, registry=registry).exit_code == 0


def test_helpful_errors_for_unknown_ids_and_symbols(trained, tmp_path):
    db, registry, _ = trained
    res = run(["show", "no-such-model"], db=db, registry=registry, ok=False)
    assert res.exit_code == 2 and "ModelNotFoundError" in flat(res) and "models list" in flat(res)
    res = run(["train", "--symbols", "NOPE"], db=db, registry=tmp_path / "r", ok=False)
    assert res.exit_code == 2 and "NOPE" in flat(res)


def test_validate_backtests_candidate_and_champion_and_records_the_decision(trained, tmp_path):
    db, registry, (first, second) = trained
    md = tmp_path / "validate.md"
    res = CliRunner().invoke(cli, ["--db", db, "validate", second["student"]["model_id"], "--registry", str(registry),
                                   "--champion", first["student"]["model_id"], "--folds", "2", "--json",
                                   "--markdown", str(md)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["champion"]["model_id"] == first["student"]["model_id"]
    assert len(out["candidate"]["folds"]) == 2
    assert out["checklist"]["recommendation"] in ("PROMOTE", "REJECT")
    assert "### Candidate folds" in md.read_text()
    store = open_store(db)
    try:
        runs = {r.run_id for r in store.list_runs(mode="validation")}
        decided = [r.event for r in store.read_stream("models") if isinstance(r.event, PromotionDecided)]
    finally:
        store.close()
    assert {out["candidate"]["run_id"], out["champion"]["run_id"]} <= runs
    assert decided[-1].checklist["context"]["candidate_run"] == out["candidate"]["run_id"]
    text = CliRunner().invoke(cli, ["--db", db, "validate", second["student"]["model_id"], "--registry",
                                    str(registry), "--folds", "1"])
    assert text.exit_code == 0 and "Promotion gate" in text.output


def test_eod_run_once_trains_validates_and_waits_for_approval(tmp_path):
    db, registry = f"sqlite:///{tmp_path / 'eod.db'}", tmp_path / "reg"
    args = ["--db", db, "eod", "run", "--registry", str(registry), "--symbols", "TCS,INFY", "--json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["status"] in ("awaiting_approval", "rejected") and out["promoted"] is None
    assert out["candidate"].startswith("student-") and out["checklist"]["candidate_model"] == out["candidate"]
    again = json.loads(CliRunner().invoke(cli, args).output)
    assert again["status"] == "skipped"
