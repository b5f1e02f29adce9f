"""Composition root of releases: the configured store and model registry handed to the release
service (audit, deploy, rollback, status), and the session-start hook paper/live use."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any

from applications.services import release as svc
from applications.wiring.store import open_store, runs_dir


def open_registry(registry_dir: Path | None) -> Any:
    from adapters.ml.registry import ModelRegistry, default_registry_dir
    return ModelRegistry(registry_dir or default_registry_dir(runs_dir()))


def default_bundle_dir() -> Path:
    return runs_dir() / "releases"


def deployer_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user database entry (containers)
        return "unknown"


def audit(request: svc.AuditRequest, *, db_url: str | None, registry_dir: Path | None,
          progress: Callable[[str], None] = lambda _m: None) -> svc.AuditOutcome:
    store = open_store(db_url)
    try:
        return svc.audit_release(request, store=store, registry=open_registry(registry_dir), now=svc.utc_now(),
                                 production_config=svc.production_config_file(store), progress=progress)
    finally:
        store.close()


def deploy(release_id: str, *, db_url: str | None, registry_dir: Path | None, confirm: bool, force: bool,
           reason: str, heightened_hours: float) -> svc.DeployOutcome:
    store = open_store(db_url, durable=True)
    try:
        return svc.deploy_release(release_id, store=store, registry=open_registry(registry_dir), now=svc.utc_now(),
                                  confirm=confirm, force=force, reason=reason, deployer=deployer_name(),
                                  heightened_hours=heightened_hours)
    finally:
        store.close()


def rollback(*, db_url: str | None, registry_dir: Path | None, to: str | None, reason: str,
             confirm: bool) -> svc.RollbackOutcome:
    store = open_store(db_url, durable=True)
    try:
        return svc.rollback_release(store=store, registry=open_registry(registry_dir), now=svc.utc_now(), to=to,
                                    reason=reason, deployer=deployer_name(), confirm=confirm)
    finally:
        store.close()


def state(*, db_url: str | None) -> svc.ReleaseState:
    store = open_store(db_url)
    try:
        return svc.release_state(store)
    finally:
        store.close()


def session_release(*, db_url: str | None, registry_dir: Path | None) -> svc.ActiveRelease | None:
    """The verified active release a paper/live session starts with (None: none deployed)."""
    store = open_store(db_url)
    try:
        return svc.active_release(store, open_registry(registry_dir))
    finally:
        store.close()


def record_session(release: svc.ActiveRelease, *, db_url: str | None, run_id: str, mode: str) -> None:
    store = open_store(db_url, durable=True)
    try:
        svc.record_applied(store, release, run_id=run_id, mode=mode, now=svc.utc_now())
    finally:
        store.close()
