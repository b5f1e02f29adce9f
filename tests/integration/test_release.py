"""Release audit -> deploy -> session -> rollback over a real store (SQLite and PostgreSQL), a real
LightGBM model in a real registry, and real bundle files (tampering is refused, naming the file)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.ml.predictor import load_predictor
from adapters.ml.registry import ModelRegistry
from applications.roots.paper import PaperOptions, run_paper
from applications.services.learning import LearningConfig, train_models
from applications.services.release import (
    AuditRequest,
    active_release,
    audit_release,
    deploy_release,
    load_release_config,
    production_config_file,
    record_applied,
    release_state,
    rollback_release,
)
from applications.wiring.store import open_store
from core.errors import ReleaseError, ReleaseIntegrityError
from core.events.catalog import RunStarted
from core.events.release import RELEASES_STREAM, ReleaseApplied, ReleaseAudited, ReleaseDeployed, ReleaseRolledBack
from core.release import AuditThresholds

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
CANDIDATE = """strategy = "swing"
start = "2019-01-01"
end = "2019-06-30"
sentiment = { enabled = false }
[swing]
symbols = ["INFY", "TCS"]
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="module")
def model_registry(tmp_path_factory):
    """A registry with one real student model (LightGBM), trained once for the module."""
    root = tmp_path_factory.mktemp("registry")
    registry = ModelRegistry(root / "models")
    store = open_store("memory://")
    outcome = train_models(LearningConfig(symbols=["TCS", "INFY"], seed=1), store=store, registry=registry, now=NOW)
    return registry, outcome.student.record.model_id


def audit(store, registry, tmp_path, name: str, *, config_text: str | None = CANDIDATE, model_id=None,
          now=NOW, min_trades: int = 0):
    config = None
    if config_text is not None:
        config = tmp_path / f"{name}.toml"
        config.write_text(config_text)
    request = AuditRequest(config_file=config, model_id=model_id, out_dir=tmp_path / name,
                           start="2019-01-01", end="2019-06-30",
                           thresholds=AuditThresholds(min_trades=min_trades, max_drawdown_pct=-99.0))
    return audit_release(request, store=store, registry=registry, now=now,
                         production_config=production_config_file(store))


def paper_session(store, registry, release):
    config = load_release_config(release.config_file) if release else load_release_config(None)
    from attrs import evolve
    config = evolve(config, start="2019-01-01", end="2019-02-28", strategy="swing")
    predictor = load_predictor(registry, release.model_id) if release and release.model_id else None
    run_id = f"paper-{len(store.list_runs(limit=1000))}"
    if release:
        record_applied(store, release, run_id=run_id, mode="paper", now=NOW)
    result = run_paper(config, store=store, options=PaperOptions(replay_speed=0), predictor=predictor,
                       run_id=run_id, sentiment=None)
    started = next(r.event for r in store.read_all(0, 100_000, run_id=result.run_id)
                   if isinstance(r.event, RunStarted))
    return result, started


def test_audit_deploy_session_rollback_round_trip(store_url, model_registry, tmp_path):
    registry, model_id = model_registry
    store = open_store(store_url)
    outcome = audit(store, registry, tmp_path, "r1", model_id=model_id)
    bundle = outcome.bundle_dir
    for name in ("metrics.json", "summary.md", "plots/equity.png", "configs/candidate.toml",
                 "release_manifest.json"):
        assert (bundle / name).is_file(), name
    audited = [r.event for r in store.read_stream(RELEASES_STREAM)]
    assert isinstance(audited[-1], ReleaseAudited) and audited[-1].model_id == model_id
    # both audit backtests ran on the same window, the candidate with its model
    runs = {r.run_id: r for r in store.list_runs(limit=100)}
    cand_run, prod_run = outcome.metrics["audit_runs"]["candidate"], outcome.metrics["audit_runs"]["production"]
    assert runs[cand_run].mode == runs[prod_run].mode == "validation"
    cand_started = next(r.event for r in store.read_all(0, 10**6, run_id=cand_run) if isinstance(r.event, RunStarted))
    assert cand_started.config["predictor"] == model_id
    assert outcome.metrics["window"] == {"start": "2019-01-01", "end": "2019-06-30"}

    # without --confirm nothing changes
    dry = deploy_release(outcome.release_id, store=store, registry=registry, now=NOW, confirm=False, force=True,
                         reason="test")
    assert not dry.deployed and release_state(store).active is None
    deployed = deploy_release(outcome.release_id, store=store, registry=registry, now=NOW, confirm=True,
                              force=True, reason="integration test", deployer="tester")
    assert deployed.deployed and release_state(store).active == outcome.release_id
    assert registry.champion() == model_id

    release = active_release(store, registry)
    assert release is not None and release.model_id == model_id
    result, started = paper_session(store, registry, release)
    assert started.config["predictor"] == model_id
    assert started.config["swing"]["symbols"] == ["INFY", "TCS"]
    applied = [r.event for r in store.read_stream(RELEASES_STREAM) if isinstance(r.event, ReleaseApplied)]
    assert applied[-1].run_id == result.run_id and applied[-1].release_id == outcome.release_id

    back = rollback_release(store=store, registry=registry, now=NOW + timedelta(hours=1), reason="test")
    assert back.from_release_id == outcome.release_id and back.to_release_id is None
    assert release_state(store).active is None and active_release(store, registry) is None
    _, started = paper_session(store, registry, None)
    assert started.config["predictor"] is None
    assert started.config["swing"]["symbols"] != ["INFY", "TCS"]  # the defaults again
    kinds = [type(r.event).__name__ for r in store.read_stream(RELEASES_STREAM)]
    assert kinds == ["ReleaseAudited", "ReleaseDeployed", "ReleaseApplied", "ReleaseRolledBack"]
    store.close()


def test_tampered_files_are_refused_at_deploy_and_at_rollback(store_url, model_registry, tmp_path):
    registry, _ = model_registry
    store = open_store(store_url)
    first = audit(store, registry, tmp_path, "first")
    second = audit(store, registry, tmp_path, "second", config_text=CANDIDATE.replace('"TCS"', '"WIPRO"'))
    (first.bundle_dir / "configs" / "candidate.toml").write_text(CANDIDATE.replace("2019-06-30", "2019-07-31"))
    with pytest.raises(ReleaseIntegrityError, match="candidate.toml"):
        deploy_release(first.release_id, store=store, registry=registry, now=NOW, confirm=True, force=True,
                       reason="x")
    assert not any(isinstance(r.event, ReleaseDeployed) for r in store.read_stream(RELEASES_STREAM))
    # restore, deploy both in turn, then tamper the first and try to roll back to it
    (first.bundle_dir / "configs" / "candidate.toml").write_text(CANDIDATE)
    for r in (first, second):
        deploy_release(r.release_id, store=store, registry=registry, now=NOW, confirm=True, force=True, reason="x")
    (first.bundle_dir / "metrics.json").write_text("{}")
    with pytest.raises(ReleaseIntegrityError, match="metrics.json"):
        rollback_release(store=store, registry=registry, now=NOW, reason="x")
    assert release_state(store).active == second.release_id
    assert not any(isinstance(r.event, ReleaseRolledBack) for r in store.read_stream(RELEASES_STREAM))
    # a tampered active release is refused at the session start too
    (second.bundle_dir / "summary.md").write_text("edited")
    with pytest.raises(ReleaseIntegrityError, match="summary.md"):
        active_release(store, registry)
    store.close()


def test_a_flagged_release_needs_force_and_a_reason(sqlite_url, model_registry, tmp_path):
    registry, _ = model_registry
    store = open_store(sqlite_url)
    outcome = audit(store, registry, tmp_path, "flagged", min_trades=10_000)
    assert not outcome.deployment_ready and outcome.risk_flags[0]["code"] == "too_few_trades"
    with pytest.raises(ReleaseError, match="not deployment_ready"):
        deploy_release(outcome.release_id, store=store, registry=registry, now=NOW, confirm=True)
    with pytest.raises(ReleaseError, match="--reason"):
        deploy_release(outcome.release_id, store=store, registry=registry, now=NOW, confirm=True, force=True)
    deploy_release(outcome.release_id, store=store, registry=registry, now=NOW, confirm=True, force=True,
                   reason="accepted: research account")
    deployed = [r.event for r in store.read_stream(RELEASES_STREAM) if isinstance(r.event, ReleaseDeployed)]
    assert deployed[-1].forced and deployed[-1].reason == "accepted: research account"
    status = release_state(store).status(NOW + timedelta(hours=47))
    assert status["mode"] == "heightened" and status["heightened_seconds_left"] == pytest.approx(3600)
    assert release_state(store).status(NOW + timedelta(hours=49))["mode"] == "normal"
    store.close()


def test_unknown_release_ids_name_the_known_ones(sqlite_url):
    store = open_store(sqlite_url)
    with pytest.raises(ReleaseError, match="not in the log"):
        deploy_release("release-nope", store=store, registry=None, now=NOW, confirm=True)
    with pytest.raises(ReleaseError, match="nothing to roll back"):
        rollback_release(store=store, registry=None, now=NOW)
    store.close()


def test_bundle_folder_must_be_new(sqlite_url, model_registry, tmp_path):
    registry, _ = model_registry
    store = open_store(sqlite_url)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    from core.errors import ConfigError
    with pytest.raises(ConfigError, match="not an empty folder"):
        audit(store, registry, tmp_path, "busy")
    assert store.read_stream(RELEASES_STREAM) == []
    store.close()


