"""Release events (spec 002 US-022/023): an audited candidate, its deployment, its use by a
session, and its rollback. They live on the ``releases`` stream; the active release is the
fold of that stream (see ``applications.services.release``)."""

from __future__ import annotations

from typing import Any

import attrs

from core.events.base import Event, event_type

RELEASES_STREAM = "releases"


@event_type("release.audited", 1)
@attrs.frozen(kw_only=True)
class ReleaseAudited(Event):
    """A candidate configuration/model was audited; its bundle is hashed in its manifest."""

    release_id: str
    bundle_dir: str
    manifest_sha256: str
    config_sha256: str | None  # None: the built-in default configuration
    model_id: str | None
    deployment_ready: bool
    risk_flags: list[dict[str, Any]]
    metrics: dict[str, Any]
    audit_run_ids: list[str]


@event_type("release.deployed", 1)
@attrs.frozen(kw_only=True)
class ReleaseDeployed(Event):
    """The release became production; the next paper/live session start uses it."""

    release_id: str
    previous_release_id: str | None
    previous_model_id: str | None
    deployer: str
    reason: str
    forced: bool
    heightened_hours: float
    thresholds: dict[str, Any]


@event_type("release.rolled_back", 1)
@attrs.frozen(kw_only=True)
class ReleaseRolledBack(Event):
    """Production went back from ``from_release_id`` to ``to_release_id`` (None: the defaults)."""

    from_release_id: str
    to_release_id: str | None
    restored_model_id: str | None
    deployer: str
    reason: str


@event_type("release.applied", 1)
@attrs.frozen(kw_only=True)
class ReleaseApplied(Event):
    """A paper/live session started with the release's verified configuration and model."""

    release_id: str
    run_id: str
    mode: str
    config_sha256: str | None
    model_id: str | None


__all__ = ["RELEASES_STREAM", "ReleaseApplied", "ReleaseAudited", "ReleaseDeployed", "ReleaseRolledBack"]
