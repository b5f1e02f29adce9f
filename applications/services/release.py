"""Release audit, deployment and rollback (spec 002 US-022/023) over the event log.

The ``releases`` stream is the source of truth: ``ReleaseAudited`` (a bundle whose every file is
hashed in ``release_manifest.json``), ``ReleaseDeployed`` (it became production),
``ReleaseRolledBack`` and ``ReleaseApplied`` (a session started with it). The active release is
the fold of that stream, so there is no pointer file to drift from the log; a deploy or a
rollback re-verifies every hash of the bundle it activates (and the model's registry manifest)
and refuses, naming the file, on any difference.

Audits reproduce: the candidate and production configurations come from their TOML files (or
the built-in defaults) without the environment layer, and both are backtested on the same
window in the same store, so the figures compared are the engine's own.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from applications.services.backtest import run_backtest
from applications.services.books import BacktestConfig
from applications.services.learning import ActionRun, latest_decision, promote_model
from applications.services.run_summary import summarize_run
from applications.wiring.config import build_config, read_toml
from core.errors import ConcurrencyError, ConfigError, ModelRegistryError, ReleaseError, ReleaseIntegrityError
from core.events.base import NewEvent, RecordedEvent
from core.events.release import (
    RELEASES_STREAM,
    ReleaseApplied,
    ReleaseAudited,
    ReleaseDeployed,
    ReleaseRolledBack,
)
from core.release import (
    AuditThresholds,
    BookFigures,
    HeightenedThresholds,
    MonitoringWindow,
    deployment_ready,
    risk_flags,
)
from ports.event_store import EventStore

MANIFEST_NAME = "release_manifest.json"
CANDIDATE_CONFIG = "configs/candidate.toml"
PRODUCTION_CONFIG = "configs/production.toml"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------- state


@attrs.frozen(kw_only=True)
class ReleaseRecord:
    audit: ReleaseAudited
    audited_at: datetime
    deployed_at: datetime | None = None
    deployment: ReleaseDeployed | None = None
    rolled_back_at: datetime | None = None


@attrs.frozen(kw_only=True)
class ReleaseState:
    """The fold of the ``releases`` stream."""

    releases: dict[str, ReleaseRecord]
    active: str | None
    history: list[dict[str, Any]]

    def record(self, release_id: str) -> ReleaseRecord:
        matches = [r for r in self.releases if r == release_id or r.startswith(release_id)] if release_id else []
        if len(matches) != 1:
            known = ", ".join(sorted(self.releases)[-5:]) or "none yet"
            what = "is ambiguous" if matches else "is not in the log"
            raise ReleaseError(f"release {release_id!r} {what}; known releases: {known} "
                               "(`sensequant release list`)")
        return self.releases[matches[0]]

    def status(self, now: datetime) -> dict[str, Any]:
        """Active release, its monitoring mode and time left (JSON-ready)."""
        if self.active is None:
            return {"active_release": None, "mode": "normal", "heightened_seconds_left": 0.0,
                    "releases": len(self.releases)}
        rec = self.releases[self.active]
        assert rec.deployed_at is not None and rec.deployment is not None
        window = MonitoringWindow(deployed_at=rec.deployed_at, heightened_hours=rec.deployment.heightened_hours)
        return {"active_release": self.active, "deployed_at": rec.deployed_at.isoformat(),
                "deployer": rec.deployment.deployer, "model_id": rec.audit.model_id,
                "config_sha256": rec.audit.config_sha256, "mode": window.mode_at(now),
                "heightened_until": window.heightened_until.isoformat(),
                "heightened_seconds_left": window.time_left(now).total_seconds(),
                "thresholds": rec.deployment.thresholds, "releases": len(self.releases)}


def release_state(store: EventStore) -> ReleaseState:
    releases: dict[str, ReleaseRecord] = {}
    active: str | None = None
    history: list[dict[str, Any]] = []
    for rec in store.read_stream(RELEASES_STREAM):
        e = rec.event
        if isinstance(e, ReleaseAudited):
            releases[e.release_id] = ReleaseRecord(audit=e, audited_at=rec.occurred_at)
            history.append({"at": rec.occurred_at.isoformat(), "action": "audited", "release_id": e.release_id,
                            "deployment_ready": e.deployment_ready, "seq": rec.seq})
        elif isinstance(e, ReleaseDeployed):
            releases[e.release_id] = attrs.evolve(releases[e.release_id], deployed_at=rec.occurred_at,
                                                  deployment=e, rolled_back_at=None)
            active = e.release_id
            history.append({"at": rec.occurred_at.isoformat(), "action": "deployed", "release_id": e.release_id,
                            "previous_release_id": e.previous_release_id, "forced": e.forced,
                            "deployer": e.deployer, "reason": e.reason, "seq": rec.seq})
        elif isinstance(e, ReleaseRolledBack):
            releases[e.from_release_id] = attrs.evolve(releases[e.from_release_id], rolled_back_at=rec.occurred_at)
            active = e.to_release_id
            if e.to_release_id is not None:
                back = releases[e.to_release_id]
                releases[e.to_release_id] = attrs.evolve(back, deployed_at=rec.occurred_at, rolled_back_at=None)
            history.append({"at": rec.occurred_at.isoformat(), "action": "rolled_back",
                            "release_id": e.from_release_id, "to_release_id": e.to_release_id,
                            "deployer": e.deployer, "reason": e.reason, "seq": rec.seq})
        elif isinstance(e, ReleaseApplied):
            history.append({"at": rec.occurred_at.isoformat(), "action": "applied", "release_id": e.release_id,
                            "run_id": e.run_id, "mode": e.mode, "seq": rec.seq})
    return ReleaseState(releases=releases, active=active, history=history)


def _append(store: EventStore, event: Any, *, at: datetime, run_id: str, attempts: int = 5) -> RecordedEvent:
    for attempt in range(attempts):
        try:
            return store.append(RELEASES_STREAM, store.stream_version(RELEASES_STREAM),
                                [NewEvent(event=event, occurred_at=at)], run_id=run_id)[0]
        except ConcurrencyError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------- audit


@attrs.frozen(kw_only=True)
class AuditRequest:
    config_file: Path | None  # None: the built-in default configuration
    model_id: str | None  # an id, 'production', or None (no model)
    out_dir: Path
    start: str | None = None
    end: str | None = None
    study: str | None = None
    thresholds: AuditThresholds = AuditThresholds()
    deployment_plan: Path | None = None


@attrs.frozen(kw_only=True)
class AuditOutcome:
    release_id: str
    bundle_dir: Path
    deployment_ready: bool
    risk_flags: list[dict[str, str]]
    metrics: dict[str, Any]
    files: list[str]


def load_release_config(config_file: Path | None, *, start: str | None = None, end: str | None = None) -> BacktestConfig:
    layers: list[dict[str, Any]] = []
    if config_file is not None:
        layers.append(read_toml(config_file))
    window = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    return build_config(BacktestConfig, *layers, window, source=f"release configuration {config_file or '(defaults)'}")


def _figures(summary: Any) -> dict[str, BookFigures]:
    return {b.strategy: BookFigures(strategy=b.strategy, sharpe=b.sharpe, total_return_pct=b.total_return_pct,
                                    win_rate_pct=b.win_rate_pct, max_drawdown_pct=b.max_drawdown_pct, trades=b.trades)
            for b in summary.books}


def _study_summary(store: EventStore, study: str | None) -> dict[str, Any] | None:
    """The optimization study's trials, if the log has any (events of type ``optimization.*``)."""
    if not study:
        return None
    trials: list[dict[str, Any]] = []
    after = 0
    while True:
        page = store.read_all(after, 5000)
        if not page:
            break
        for rec in page:
            if rec.event.TYPE.startswith("optimization.") and getattr(rec.event, "study", None) == study:
                from core.events.codec import to_payload
                trials.append(to_payload(rec.event))
        after = page[-1].seq
    if not trials:
        raise ReleaseError(f"no optimization study {study!r} in the log; run `sensequant optimize --study {study}` "
                           "first or leave --from-study out")
    deflated = [t.get("deflated_sharpe") for t in trials if isinstance(t.get("deflated_sharpe"), (int, float))]
    return {"study": study, "events": len(trials), "deflated_sharpe": deflated[-1] if deflated else None}


def _plot_equity(store: EventStore, runs: dict[str, str], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.events.catalog import PortfolioSnapshotted

    fig, ax = plt.subplots(figsize=(9, 4))
    for label, run_id in runs.items():
        curves: dict[str, list[tuple[Any, float]]] = {}
        after = 0
        while True:
            page = store.read_all(after, 10_000, run_id=run_id)
            if not page:
                break
            for rec in page:
                if isinstance(rec.event, PortfolioSnapshotted):
                    book = rec.stream_id.rsplit(":", 1)[-1]
                    curves.setdefault(book, []).append((rec.event.session_date, rec.event.equity_paise / 100))
            after = page[-1].seq
        for book, points in sorted(curves.items()):
            start = points[0][1] or 1.0
            ax.plot([d for d, _ in points], [v / start - 1.0 for _, v in points], label=f"{label} · {book}")
    ax.set_title("Daily equity, candidate vs production (return since the window's first session)")
    ax.set_ylabel("return")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _summary_md(release_id: str, metrics: dict[str, Any], flags: list[dict[str, str]], ready: bool) -> str:
    lines = [f"# Release audit {release_id}", "",
             f"**deployment_ready: {'yes' if ready else 'NO'}** "
             f"({len(flags)} risk flag{'s' if len(flags) != 1 else ''})", "",
             "## Candidate vs production (same window, same store)", "",
             "| book | metric | candidate | production | delta |", "|---|---|---|---|---|"]
    for book, cand in sorted(metrics["candidate"].items()):
        prod = metrics["production"].get(book, {})
        for key in ("total_return_pct", "sharpe", "win_rate_pct", "max_drawdown_pct", "trades"):
            c, p = cand.get(key), prod.get(key)
            delta = f"{c - p:+.2f}" if isinstance(c, (int, float)) and isinstance(p, (int, float)) else "—"
            fmt = (lambda v: f"{v:.2f}" if isinstance(v, float) else ("—" if v is None else str(v)))
            lines.append(f"| {book} | {key} | {fmt(c)} | {fmt(p)} | {delta} |")
    lines += ["", "## Risk register", ""]
    lines += [f"- **{f['severity']}** `{f['code']}`: {f['message']}" for f in flags] or ["- none"]
    lines += ["", "## Model", "", f"- candidate: {metrics['model'].get('candidate') or 'none'}",
              f"- production: {metrics['model'].get('production') or 'none'}",
              f"- latest promotion-gate verdict: {metrics['model'].get('gate_verdict') or 'none recorded'}",
              "", "## Data fingerprints", ""]
    lines += [f"- {k}: `{v}`" for k, v in sorted(metrics["data_fingerprints"].items())]
    lines += ["", "## Approval", "", "| role | name | date | signature |", "|---|---|---|---|",
              "| Engineering lead | | | |", "| Risk manager | | | |", "| Business owner | | | |", ""]
    return "\n".join(lines)


def audit_release(request: AuditRequest, *, store: EventStore, registry: Any, now: datetime,
                  production_config: Path | None, live_check: Callable[[BacktestConfig], str | None] | None = None,
                  progress: Callable[[str], None] = lambda _m: None) -> AuditOutcome:
    """Backtest candidate and production on one window, flag risks, write and hash the bundle,
    and append ``ReleaseAudited``. Nothing is left behind when any step fails."""
    out = request.out_dir
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out} is not an empty folder; give a new folder for the audit bundle")
    candidate_cfg = load_release_config(request.config_file, start=request.start, end=request.end)
    # Like with like: production runs the candidate's books over the candidate's window.
    production_cfg = attrs.evolve(load_release_config(production_config), start=candidate_cfg.start,
                                  end=candidate_cfg.end, strategy=candidate_cfg.strategy)
    if request.deployment_plan is not None and not request.deployment_plan.is_file():
        raise ConfigError(f"deployment plan {request.deployment_plan} does not exist")
    plan = json.loads(request.deployment_plan.read_text(encoding="utf-8")) if request.deployment_plan else None

    model_error: str | None = None
    candidate_model = production_model = None
    model_manifest: dict[str, Any] | None = None
    gate_verdict: str | None = None
    predictor = None
    if registry is not None:
        production_model = registry.champion()
    if request.model_id:
        from adapters.ml.predictor import load_predictor
        from adapters.ml.registry import MANIFEST

        candidate_model = production_model if request.model_id == "production" else registry.resolve(request.model_id)
        if candidate_model is None:
            raise ReleaseError("--model production, but no model is in production; promote one or name an id")
        try:
            record = registry.verify(candidate_model)
            model_manifest = {"model_id": candidate_model,
                              "manifest_sha256": sha256_file(registry.version_dir(candidate_model) / MANIFEST),
                              "data_fingerprint": record.data_fingerprint,
                              "training_window": dict(record.training_window)}
            predictor = load_predictor(registry, candidate_model)
        except ModelRegistryError as exc:
            model_error = str(exc)
        decision = latest_decision(store, candidate_model)
        gate_verdict = decision.verdict if decision is not None else None

    production_predictor = None
    if production_model is not None and production_model != candidate_model:
        from adapters.ml.predictor import load_predictor
        production_predictor = load_predictor(registry, production_model)
    elif production_model is not None:
        production_predictor = predictor

    progress("backtesting the candidate")
    cand_run = run_backtest(candidate_cfg, store=store, predictor=predictor, mode="validation",
                            label="release audit: candidate")
    progress("backtesting production")
    prod_run = run_backtest(production_cfg, store=store, predictor=production_predictor, mode="validation",
                            label="release audit: production")
    cand_summary = summarize_run(store, cand_run.run_id)
    prod_summary = summarize_run(store, prod_run.run_id)
    candidate, production = _figures(cand_summary), _figures(prod_summary)
    study = _study_summary(store, request.study)
    flags = risk_flags(candidate, production, thresholds=request.thresholds, gate_verdict=gate_verdict,
                       deflated_sharpe=study.get("deflated_sharpe") if study else None,
                       live_refusal=live_check(candidate_cfg) if live_check else None,
                       model_integrity_error=model_error)
    flag_dicts = [f.to_dict() for f in flags]
    ready = deployment_ready(flags)
    thresholds = (HeightenedThresholds.from_plan(plan) if plan is not None
                  else HeightenedThresholds.from_audit(candidate))

    stamp = now.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    seed = f"{stamp}:{cand_run.run_id}:{request.config_file}:{candidate_model}"
    release_id = f"release-{stamp}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"
    metrics: dict[str, Any] = {
        "audit_id": release_id, "audit_timestamp": now.isoformat(),
        "window": {"start": candidate_cfg.start, "end": candidate_cfg.end},
        "candidate": {k: attrs.asdict(v) for k, v in candidate.items()},
        "production": {k: attrs.asdict(v) for k, v in production.items()},
        "deltas": {k: {m: round(getattr(v, m) - getattr(production[k], m), 6)
                       for m in ("sharpe", "total_return_pct", "win_rate_pct", "max_drawdown_pct")}
                   for k, v in candidate.items() if k in production},
        "model": {"candidate": candidate_model, "production": production_model, "gate_verdict": gate_verdict,
                  "manifest": model_manifest, "integrity_error": model_error},
        "data_fingerprints": {"candidate_backtest": cand_summary.run.data_fingerprint,
                              "production_backtest": prod_summary.run.data_fingerprint,
                              **({"model_training": model_manifest["data_fingerprint"]} if model_manifest else {})},
        "audit_runs": {"candidate": cand_run.run_id, "production": prod_run.run_id},
        "optimization_study": study,
        "heightened_thresholds": thresholds.to_dict(),
        "risk_flags": flag_dicts, "deployment_ready": ready,
    }

    out = request.out_dir
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".audit-", dir=out.parent))
    try:
        (staging / "configs").mkdir()
        (staging / "plots").mkdir()
        if request.config_file is not None:
            shutil.copyfile(request.config_file, staging / CANDIDATE_CONFIG)
        if production_config is not None:
            shutil.copyfile(production_config, staging / PRODUCTION_CONFIG)
        if request.deployment_plan is not None:
            shutil.copyfile(request.deployment_plan, staging / "deployment_plan.json")
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n",
                                              encoding="utf-8")
        (staging / "summary.md").write_text(_summary_md(release_id, metrics, flag_dicts, ready), encoding="utf-8")
        progress("plotting")
        _plot_equity(store, {"candidate": cand_run.run_id, "production": prod_run.run_id},
                     staging / "plots" / "equity.png")
        files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        manifest = {"release_id": release_id, "created_at": now.isoformat(),
                    "files": [{"path": f, "sha256": sha256_file(staging / f), "bytes": (staging / f).stat().st_size}
                              for f in files],
                    "config": CANDIDATE_CONFIG if request.config_file is not None else None,
                    "model": model_manifest, "deployment_ready": ready}
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    config_sha = sha256_file(out / CANDIDATE_CONFIG) if request.config_file is not None else None
    with ActionRun(store, mode="release", config={"action": "audit", "release_id": release_id},
                   fingerprint=cand_summary.run.data_fingerprint, at=now, label=f"audit {release_id}") as action:
        _append(store, ReleaseAudited(release_id=release_id, bundle_dir=str(out.resolve()),
                                  manifest_sha256=sha256_file(out / MANIFEST_NAME), config_sha256=config_sha,
                                  model_id=candidate_model, deployment_ready=ready, risk_flags=flag_dicts,
                                  metrics=json.loads(json.dumps(metrics, default=str)),
                                  audit_run_ids=[cand_run.run_id, prod_run.run_id]), at=now,
                run_id=action.run_id)
    return AuditOutcome(release_id=release_id, bundle_dir=out, deployment_ready=ready, risk_flags=flag_dicts,
                        metrics=metrics, files=[*files, MANIFEST_NAME])


# ---------------------------------------------------------------------- verification


def verify_release(audit: ReleaseAudited, registry: Any) -> list[str]:
    """Re-hash every file of the bundle and the model's registry manifest; the checked paths.

    Raises ``ReleaseIntegrityError`` naming the first file that differs or is missing.
    """
    bundle = Path(audit.bundle_dir)
    manifest_path = bundle / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ReleaseIntegrityError(f"{manifest_path} is missing: the audit bundle of {audit.release_id} was moved "
                                    "or deleted; restore it or audit again", path=str(manifest_path))
    if sha256_file(manifest_path) != audit.manifest_sha256:
        raise ReleaseIntegrityError(f"{manifest_path} differs from the SHA-256 recorded when {audit.release_id} "
                                    "was audited; the manifest was altered — refusing", path=str(manifest_path))
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    checked = [MANIFEST_NAME]
    for entry in manifest["files"]:
        path = bundle / entry["path"]
        if not path.is_file():
            raise ReleaseIntegrityError(f"{path} is missing from the bundle of {audit.release_id}; refusing",
                                        path=str(path))
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise ReleaseIntegrityError(f"{path} has SHA-256 {actual[:12]}…, but the release manifest records "
                                        f"{entry['sha256'][:12]}…: the file was modified after the audit — refusing "
                                        f"{audit.release_id}; restore the file or audit again", path=str(path))
        checked.append(entry["path"])
    model = manifest.get("model")
    if model:
        from adapters.ml.registry import MANIFEST

        if registry is None:
            raise ReleaseError(f"{audit.release_id} carries model {model['model_id']}, but no registry was given")
        path = registry.version_dir(model["model_id"]) / MANIFEST
        if not path.is_file() or sha256_file(path) != model["manifest_sha256"]:
            raise ReleaseIntegrityError(f"{path} differs from the model manifest hashed at the audit of "
                                        f"{audit.release_id}; the model was altered — refusing", path=str(path))
        try:
            registry.verify(model["model_id"])
        except ModelRegistryError as exc:
            raise ReleaseIntegrityError(str(exc), path=getattr(exc, "path", None)) from None
        checked.append(f"model {model['model_id']}")
    return checked


# ----------------------------------------------------------------- deploy / rollback


@attrs.frozen(kw_only=True)
class DeployOutcome:
    release_id: str
    deployed: bool
    previous_release_id: str | None
    verified: list[str]
    heightened_until: datetime | None
    message: str


def deploy_release(release_id: str, *, store: EventStore, registry: Any, now: datetime, confirm: bool,
                   force: bool = False, reason: str = "", deployer: str = "", heightened_hours: float = 48.0
                   ) -> DeployOutcome:
    """Verify and activate a release. Without ``confirm`` it only verifies and says what it would do."""
    if heightened_hours < 0:
        raise ConfigError("--heightened-hours must be >= 0")
    state = release_state(store)
    rec = state.record(release_id)
    audit = rec.audit
    if state.active == audit.release_id:
        raise ReleaseError(f"{audit.release_id} is already the active release")
    verified = verify_release(audit, registry)
    if not audit.deployment_ready:
        codes = ", ".join(f["code"] for f in audit.risk_flags)
        if not force:
            raise ReleaseError(f"{audit.release_id} is not deployment_ready (risk flags: {codes}); fix them and "
                               "audit again, or pass --force --reason TEXT to deploy it anyway")
        if not reason.strip():
            raise ReleaseError("--force needs --reason TEXT: say why a flagged release goes live")
    if not confirm:
        return DeployOutcome(release_id=audit.release_id, deployed=False, previous_release_id=state.active,
                             verified=verified, heightened_until=None,
                             message="verified; nothing changed (pass --confirm to deploy)")
    previous_model = registry.champion() if registry is not None else None
    if audit.model_id is not None and audit.model_id != previous_model:
        promote_model(audit.model_id, store=store, registry=registry, reason=f"release {audit.release_id}",
                      force=force, now=now)
    thresholds = audit.metrics.get("heightened_thresholds", {})
    with ActionRun(store, mode="release", config={"action": "deploy", "release_id": audit.release_id},
                   fingerprint="", at=now, label=f"deploy {audit.release_id}") as action:
        _append(store, ReleaseDeployed(release_id=audit.release_id, previous_release_id=state.active,
                                   previous_model_id=previous_model, deployer=deployer or "unknown",
                                   reason=reason, forced=bool(force and not audit.deployment_ready),
                                   heightened_hours=float(heightened_hours), thresholds=thresholds), at=now,
                run_id=action.run_id)
    window = MonitoringWindow(deployed_at=now, heightened_hours=heightened_hours)
    return DeployOutcome(release_id=audit.release_id, deployed=True, previous_release_id=state.active,
                         verified=verified, heightened_until=window.heightened_until,
                         message=f"{audit.release_id} is production; heightened monitoring until "
                                 f"{window.heightened_until.isoformat()}")


@attrs.frozen(kw_only=True)
class RollbackOutcome:
    from_release_id: str
    to_release_id: str | None
    restored_model_id: str | None
    verified: list[str]


def rollback_release(*, store: EventStore, registry: Any, now: datetime, to: str | None = None,
                     reason: str = "", deployer: str = "", confirm: bool = True) -> RollbackOutcome:
    """Restore the previous production release (or ``to``), re-verifying its hashes first."""
    state = release_state(store)
    if state.active is None:
        raise ReleaseError("no release is active; nothing to roll back")
    current = state.releases[state.active]
    assert current.deployment is not None
    if to is not None:
        target: str | None = state.record(to).audit.release_id
        if target == state.active:
            raise ReleaseError(f"{target} is already the active release")
    else:
        target = current.deployment.previous_release_id
    verified: list[str] = []
    target_model: str | None
    if target is not None:
        verified = verify_release(state.releases[target].audit, registry)
        target_model = state.releases[target].audit.model_id
    else:
        target_model = current.deployment.previous_model_id
    if target_model is not None and registry is not None:
        from adapters.ml.registry import MANIFEST
        path = registry.version_dir(target_model) / MANIFEST
        if not path.is_file():
            raise ReleaseIntegrityError(f"{path} is missing: cannot restore model {target_model}", path=str(path))
        try:
            registry.verify(target_model)
        except ModelRegistryError as exc:
            raise ReleaseIntegrityError(str(exc), path=getattr(exc, "path", None)) from None
    if not confirm:
        return RollbackOutcome(from_release_id=state.active, to_release_id=target, restored_model_id=target_model,
                               verified=verified)
    if target_model is not None and registry is not None and registry.champion() != target_model:
        promote_model(target_model, store=store, registry=registry, reason=f"rollback of {state.active}",
                      force=True, now=now)
    with ActionRun(store, mode="release", config={"action": "rollback", "release_id": state.active, "to": target},
                   fingerprint="", at=now, label=f"rollback {state.active}") as action:
        _append(store, ReleaseRolledBack(from_release_id=state.active, to_release_id=target,
                                     restored_model_id=target_model, deployer=deployer or "unknown",
                                     reason=reason), at=now, run_id=action.run_id)
    return RollbackOutcome(from_release_id=state.active, to_release_id=target, restored_model_id=target_model,
                           verified=verified)


# --------------------------------------------------------------------- session start


@attrs.frozen(kw_only=True)
class ActiveRelease:
    release_id: str
    config_file: Path | None
    config_sha256: str | None
    model_id: str | None


def active_release(store: EventStore, registry: Any) -> ActiveRelease | None:
    """The verified active release a session start uses (None: no release is deployed)."""
    state = release_state(store)
    if state.active is None:
        return None
    audit = state.releases[state.active].audit
    verify_release(audit, registry)
    config = Path(audit.bundle_dir) / CANDIDATE_CONFIG if audit.config_sha256 is not None else None
    return ActiveRelease(release_id=audit.release_id, config_file=config, config_sha256=audit.config_sha256,
                         model_id=audit.model_id)


def record_applied(store: EventStore, release: ActiveRelease, *, run_id: str, mode: str, now: datetime) -> None:
    _append(store, ReleaseApplied(release_id=release.release_id, run_id=run_id, mode=mode,
                                  config_sha256=release.config_sha256, model_id=release.model_id),
            at=now, run_id=run_id)


def production_config_file(store: EventStore) -> Path | None:
    """The active release's configuration file (what an audit compares a candidate with)."""
    state = release_state(store)
    if state.active is None:
        return None
    audit = state.releases[state.active].audit
    return Path(audit.bundle_dir) / CANDIDATE_CONFIG if audit.config_sha256 is not None else None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


__all__ = ["ActiveRelease", "AuditOutcome", "AuditRequest", "DeployOutcome", "ReleaseState", "RollbackOutcome",
           "active_release", "audit_release", "deploy_release", "load_release_config", "production_config_file",
           "record_applied", "release_state", "rollback_release", "verify_release"]


