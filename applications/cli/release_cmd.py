"""`sensequant release ...`: audit a candidate, deploy it with confirmation, watch, roll back.

The path from research to the live account (spec 002 US-022/023): ``audit`` backtests the
candidate configuration/model against production on one window, flags risks and writes a
hashed bundle; ``deploy`` re-verifies every hash and makes it production (the next paper/live
session start picks it up, heightened monitoring for 48 h); ``rollback`` restores the previous
release; ``status``/``list`` show where things stand. Every step is an event (``events tail``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from applications.cli.output import console, err_console, print_json, print_table
from applications.cli.options import OutputFolder


def _registry_option(func):
    return click.option("--registry", "registry_dir", type=OutputFolder(file_okay=False, path_type=Path),
                        metavar="DIR", envvar="SENSEQUANT_MODEL_REGISTRY",
                        help="Model registry folder (default: data/runs/models).")(func)


@click.group("release")
def release() -> None:
    """Release audit, deployment, rollback and status (every step an event in the log)."""


@release.command("audit")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Candidate configuration (TOML, as `backtest --config` takes). Default: the built-in defaults.")
@click.option("--model", "model_id", metavar="ID|production",
              help="Candidate student model (hash-verified); 'production' = the current champion.")
@click.option("--from-study", "study", metavar="NAME",
              help="Include an optimization study's summary (its deflated Sharpe is a risk check).")
@click.option("--deployment-plan", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="deployment_plan.json from `sensequant optimize`: its thresholds drive heightened monitoring.")
@click.option("--start", help="First session of the audit window (YYYY-MM-DD). Default: the config's own.")
@click.option("--end", help="Last session of the audit window (YYYY-MM-DD). Default: the config's own.")
@click.option("--max-drawdown", type=click.FloatRange(max=0), default=-20.0, show_default=True,
              help="Flag a candidate whose max drawdown (%) is deeper than this.")
@click.option("--min-trades", type=click.IntRange(min=0), default=5, show_default=True,
              help="Flag a book with fewer closed trades.")
@click.option("--out", "out_dir", type=OutputFolder(file_okay=False, path_type=Path),
              help="Bundle folder (must be new or empty). Default: data/runs/releases/<release id>.")
@_registry_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def audit(obj: dict, config_file: Path | None, model_id: str | None, study: str | None,
          deployment_plan: Path | None, start: str | None, end: str | None, max_drawdown: float, min_trades: int,
          out_dir: Path | None, registry_dir: Path | None, as_json: bool) -> None:
    """Backtest candidate vs production on one window; write metrics.json, summary.md, plots and
    release_manifest.json (SHA-256 of every file); record ReleaseAudited with the verdict."""
    from applications.roots import release as root
    from applications.services.release import AuditRequest
    from core.release import AuditThresholds

    if out_dir is None:
        out_dir = root.default_bundle_dir() / datetime.now(timezone.utc).strftime("audit-%Y%m%d-%H%M%S")
    request = AuditRequest(config_file=config_file, model_id=model_id, out_dir=out_dir, start=start, end=end,
                           study=study, deployment_plan=deployment_plan,
                           thresholds=AuditThresholds(max_drawdown_pct=max_drawdown, min_trades=min_trades))
    if as_json:
        outcome = root.audit(request, db_url=obj.get("db_url"), registry_dir=registry_dir)
    else:
        with err_console.status("auditing...") as status:
            outcome = root.audit(request, db_url=obj.get("db_url"), registry_dir=registry_dir,
                                 progress=lambda m: status.update(m + "..."))
    if as_json:
        print_json({"release_id": outcome.release_id, "bundle_dir": str(outcome.bundle_dir),
                    "deployment_ready": outcome.deployment_ready, "risk_flags": outcome.risk_flags,
                    "files": outcome.files, "metrics": outcome.metrics})
        return
    rows = []
    for book, cand in sorted(outcome.metrics["candidate"].items()):
        prod = outcome.metrics["production"].get(book, {})
        rows.append([book, f"{cand['total_return_pct']:+.2f}%", f"{prod.get('total_return_pct', 0):+.2f}%",
                     f"{cand['sharpe']:.2f}", f"{prod.get('sharpe', 0):.2f}", cand["trades"], prod.get("trades")])
    print_table(f"Release audit {outcome.release_id}", ["book", "return (cand.)", "return (prod.)",
                                                        "Sharpe (cand.)", "Sharpe (prod.)", "trades (cand.)",
                                                        "trades (prod.)"], rows)
    for flag in outcome.risk_flags:
        console.print(f"  [bold]{flag['severity']}[/] {flag['code']}: {flag['message']}", markup=True)
    verdict = "[green]deployment_ready[/]" if outcome.deployment_ready else "[red]NOT deployment_ready[/]"
    console.print(f"{verdict}; bundle {outcome.bundle_dir}")
    console.print(f"next: sensequant release deploy {outcome.release_id} --confirm")


@release.command("deploy")
@click.argument("release_id")
@click.option("--confirm", is_flag=True, help="Really deploy. Without it the release is only verified.")
@click.option("--force", is_flag=True, help="Deploy a release whose audit is not deployment_ready (needs --reason).")
@click.option("--reason", default="", help="Why (recorded in the event; required with --force).")
@click.option("--heightened-hours", type=click.FloatRange(min=0), default=48.0, show_default=True,
              help="Length of the heightened-monitoring window after the deploy.")
@_registry_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def deploy(obj: dict, release_id: str, confirm: bool, force: bool, reason: str, heightened_hours: float,
           registry_dir: Path | None, as_json: bool) -> None:
    """Verify every hash of RELEASE_ID's bundle (and its model) and make it production.

    The previous production release and model are recorded in ReleaseDeployed, so a rollback
    can restore them; the next paper/live session start uses the new release."""
    from applications.roots import release as root

    outcome = root.deploy(release_id, db_url=obj.get("db_url"), registry_dir=registry_dir, confirm=confirm,
                          force=force, reason=reason, heightened_hours=heightened_hours)
    if as_json:
        print_json({"release_id": outcome.release_id, "deployed": outcome.deployed,
                    "previous_release_id": outcome.previous_release_id, "verified": outcome.verified,
                    "heightened_until": outcome.heightened_until, "message": outcome.message})
        return
    console.print(f"verified {len(outcome.verified)} files of {outcome.release_id}")
    console.print(outcome.message)


@release.command("rollback")
@click.option("--to", "to", metavar="RELEASE_ID", help="Release to restore (default: the one before the active).")
@click.option("--reason", default="", help="Why (recorded in the event).")
@click.option("--confirm/--dry-run", default=True, show_default=True,
              help="--dry-run only verifies what would be restored.")
@_registry_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
def rollback(obj: dict, to: str | None, reason: str, confirm: bool, registry_dir: Path | None,
             as_json: bool) -> None:
    """Restore the previous production release (hashes verified first); record ReleaseRolledBack."""
    from applications.roots import release as root

    outcome = root.rollback(db_url=obj.get("db_url"), registry_dir=registry_dir, to=to, reason=reason,
                            confirm=confirm)
    doc = {"from_release_id": outcome.from_release_id, "to_release_id": outcome.to_release_id,
           "restored_model_id": outcome.restored_model_id, "verified": outcome.verified, "rolled_back": confirm}
    if as_json:
        print_json(doc)
        return
    target = outcome.to_release_id or "the built-in defaults (no release)"
    verb = "rolled back" if confirm else "would roll back"
    console.print(f"{verb} {outcome.from_release_id} -> {target}")


def _status_doc(obj: dict) -> dict[str, Any]:
    from applications.roots import release as root
    return root.state(db_url=obj.get("db_url")).status(datetime.now(timezone.utc))


@release.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status(obj: dict, as_json: bool) -> None:
    """The active release, its monitoring mode (heightened / normal) and the time left."""
    doc = _status_doc(obj)
    if as_json:
        print_json(doc)
        return
    if doc["active_release"] is None:
        console.print("no release is active: sessions use their own --config or the built-in defaults")
        return
    left = doc["heightened_seconds_left"]
    rows = [["active release", doc["active_release"]], ["deployed at", doc["deployed_at"]],
            ["deployer", doc["deployer"]], ["model", doc["model_id"] or "none"],
            ["mode", doc["mode"]], ["heightened left", f"{left / 3600:.1f} h" if left else "—"]]
    print_table("Release status", ["", ""], rows)


@release.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
@click.pass_obj
def list_releases(obj: dict, as_json: bool) -> None:
    """Every audit, deploy, rollback and session start of a release, oldest first."""
    from applications.roots import release as root

    history = root.state(db_url=obj.get("db_url")).history
    if as_json:
        print_json(history)
        return
    print_table("Releases", ["at", "action", "release", "detail"],
                [[h["at"][:19], h["action"], h["release_id"],
                  ", ".join(f"{k}={v}" for k, v in h.items() if k not in ("at", "action", "release_id", "seq"))]
                 for h in history])


COMMANDS = [release]
