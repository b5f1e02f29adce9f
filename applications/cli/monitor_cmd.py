"""`sensequant monitor`: follow the event log, raise and deliver alerts, show sessions and alerts."""

from __future__ import annotations

import getpass
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from applications.cli.output import console, err_console, fail, print_json, print_table
from applications.wiring.store import open_store


def _since(value: str | None) -> datetime | None:
    """``--since``: an ISO date/time, or a duration back from now (``30m``, ``2h``, ``1d``)."""
    if not value:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1] in units and value[:-1].replace(".", "", 1).isdigit():
        return datetime.now(timezone.utc) - timedelta(seconds=float(value[:-1]) * units[value[-1]])
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r}: give an ISO time (2026-12-03T09:15) or a duration (30m, 2h, 1d)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"


def _rupees(paise: int) -> str:
    return f"{paise / 100:+,.2f}"


SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


@click.group("monitor")
def monitor() -> None:
    """Watch running sessions: alert rules, delivery (apprise), status, acknowledgements.

    Start `sensequant monitor run` beside `sensequant paper`/`live` and `sensequant dashboard`;
    alert channels come from SENSEQUANT_ALERT_URLS (environment or .env), e.g.
    "critical=tgram://TOKEN/CHAT warning|critical=slack://T/B/C json://127.0.0.1:8080/hook".
    """


@monitor.command("run")
@click.option("--db", "db_url", metavar="URL", help="Event store URL (overrides the global --db).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML file whose [monitor] section sets rule thresholds (field names of --help below); "
                   "SENSEQUANT_MONITOR__<FIELD> overrides it, flags override both.")
@click.option("--poll-seconds", type=click.FloatRange(0.05), default=0.5, show_default=True,
              help="How often the log is read when there is nothing new.")
@click.option("--heartbeat-lapse", type=click.FloatRange(1), default=None, metavar="SECONDS",
              help="A running session without a heartbeat for this long raises heartbeat_lapsed [30].")
@click.option("--daily-loss-share", type=click.FloatRange(0, 1), default=None,
              help="daily_loss_high fires when the day's loss reaches this share of the daily-loss cap [0.8].")
@click.option("--model-max-age", type=click.IntRange(0), default=None, metavar="SESSIONS",
              help="The production model older than this many sessions raises stale_student_model [3].")
@click.option("--latency-threshold-ms", type=click.FloatRange(0), default=None,
              help="Bar-to-decision latency p95 over 5 minutes above this raises a performance alert [1000].")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Expose Prometheus metrics on http://127.0.0.1:PORT/metrics.")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the JSON log files, one per day (default: data/runs/logs).")
@click.option("--log-retention-days", type=click.IntRange(1), default=14, show_default=True)
@click.pass_obj
def run(obj: dict, db_url: str | None, config_file: Path | None, poll_seconds: float, heartbeat_lapse: float | None,
        daily_loss_share: float | None, model_max_age: int | None, latency_threshold_ms: float | None,
        metrics_port: int | None, log_dir: Path | None, log_retention_days: int) -> None:
    """Follow the event log (every session at once), raise alerts, deliver them; Ctrl-C stops.

    A restart continues where the last monitor stopped (its position is in the database with
    its alerts): nothing is raised or delivered twice, nothing is missed. Rule fields of the
    [monitor] config section: heartbeat_lapse_seconds, daily_loss_alert_share,
    sentiment_failures_threshold, sentiment_failures_window_minutes, model_max_age_sessions,
    latency_p95_threshold_ms, latency_window_minutes, accuracy_window, precision_threshold,
    sharpe_threshold.
    """
    from adapters.system import ShutdownFlag, install_shutdown_handlers
    from applications.roots.monitor import alert_urls, run_monitor
    from applications.services.monitoring import MonitorSettings
    from applications.wiring.logs import configure_logging
    from core.events.monitoring import AlertCleared, AlertDeliveryFailed, MonitorAlertRaised
    from core.monitoring import RuleSettings

    path = configure_logging(log_dir, retention_days=log_retention_days, component="monitor",
                             secrets=[u for u in alert_urls().split() if u])
    flag = ShutdownFlag()
    install_shutdown_handlers(flag)
    from applications.wiring.config import build_config, environment_layer, read_toml
    from applications.wiring.store import project_root

    flags = {k: v for k, v in {"heartbeat_lapse_seconds": heartbeat_lapse, "daily_loss_alert_share": daily_loss_share,
                               "model_max_age_sessions": model_max_age,
                               "latency_p95_threshold_ms": latency_threshold_ms}.items() if v is not None}
    layers = [read_toml(config_file).get("monitor", {}) if config_file else {},
              environment_layer(dotenv_path=project_root() / ".env").get("monitor", {}), flags]
    rules = build_config(RuleSettings, *layers, source="monitor settings")
    settings = MonitorSettings(poll_seconds=poll_seconds, rules=rules)

    def show(event) -> None:
        now = datetime.now(timezone.utc).astimezone().strftime("%H:%M:%S")
        if isinstance(event, MonitorAlertRaised):
            style = SEVERITY_STYLE.get(event.severity, "")
            console.print(f"{now} [{style}]{event.severity.upper():8}[/] {event.rule} {event.alert_id[:8]}  "
                          f"{event.message}")
        elif isinstance(event, AlertCleared):
            console.print(f"{now} [green]CLEARED [/] {event.rule} {event.alert_id[:8]}  {event.reason}")
        elif isinstance(event, AlertDeliveryFailed):
            console.print(f"{now} [red]NOT DELIVERED[/] {event.alert_id[:8]}  {event.reason}")

    store = open_store(db_url or obj.get("db_url"))
    try:
        err_console.print(f"monitor: JSON logs in {path}")
        result = run_monitor(store, should_stop=lambda: flag.requested, settings=settings, metrics_port=metrics_port,
                             on_event=show, log=lambda m: err_console.print(f"monitor: {m}"))
    finally:
        store.close()
    err_console.print(f"monitor stopped at seq {result.position}; {len(result.engine.open)} alert(s) open")


def _status_rows(store):
    from applications.services.monitoring import read_alerts, session_status
    alerts = read_alerts(store, open_only=True)
    return session_status(store, alerts=alerts), alerts


def _print_status(sessions, alerts) -> None:
    if not sessions:
        console.print("no paper or live session in this store yet: start one with `sensequant paper`")
    for s in sessions:
        print_table(f"{s.mode} {s.run_id} ({s.status})", ["heartbeat age", "feed", "bars", "open positions",
                                                          "today's P&L (Rs)", "breaker", "open alerts"],
                    [[_age(s.heartbeat_age_seconds), s.feed_status + (" (reduce-only)" if s.reduce_only else ""),
                      f"{s.bars_processed:,}", s.open_positions, _rupees(s.day_pnl_paise),
                      "TRIPPED" if s.breaker_tripped else "ok", s.open_alerts]])
    system = [a for a in alerts if not a.subject_run_id or a.subject_run_id not in {s.run_id for s in sessions}]
    if system:
        _print_alerts(system, "other open alerts")


def _print_alerts(rows, title: str) -> None:
    print_table(title, ["id", "severity", "status", "rule", "raised", "session", "message"],
                [[r.alert_id[:8], r.severity, r.status + (f" by {r.acknowledged_by}" if r.acknowledged_by else ""),
                  r.rule, r.raised_at.astimezone().strftime("%m-%d %H:%M:%S"), r.subject_run_id[:12], r.message]
                 for r in rows])


@monitor.command("status")
@click.option("--db", "db_url", metavar="URL", help="Event store URL (overrides the global --db).")
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
@click.pass_obj
def status(obj: dict, db_url: str | None, as_json: bool) -> None:
    """One table per running or recent session: heartbeat age, feed, positions, P&L, breaker, alerts."""
    store = open_store(db_url or obj.get("db_url"), must_exist=True)
    try:
        sessions, alerts = _status_rows(store)
    finally:
        store.close()
    if as_json:
        print_json({"sessions": [s.as_dict() for s in sessions], "open_alerts": [a.as_dict() for a in alerts]})
        return
    _print_status(sessions, alerts)


@monitor.command("alerts")
@click.option("--db", "db_url", metavar="URL", help="Event store URL (overrides the global --db).")
@click.option("--open", "open_only", is_flag=True, help="Only alerts not cleared yet (open or acknowledged).")
@click.option("--since", help="Raised after this ISO time or duration back (30m, 2h, 1d).")
@click.option("--run", "run_id", metavar="RUN", help="Only alerts about this session.")
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
@click.pass_obj
def alerts(obj: dict, db_url: str | None, open_only: bool, since: str | None, run_id: str | None,
           as_json: bool) -> None:
    """Alerts the monitor raised, newest first, with their status and delivery."""
    from applications.services.monitoring import read_alerts
    store = open_store(db_url or obj.get("db_url"), must_exist=True)
    try:
        rows = read_alerts(store, open_only=open_only, since=_since(since), run_id=run_id)
    finally:
        store.close()
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    if not rows:
        console.print("no alerts" + (" open" if open_only else ""))
        return
    _print_alerts(rows, f"{len(rows)} alert(s)")


@monitor.command("ack")
@click.argument("alert_id")
@click.option("--note", required=True, help="Why (stored with the acknowledgement).")
@click.option("--by", "by", default=None, help="Who acknowledges (default: the login name).")
@click.option("--hours", type=click.FloatRange(0), default=24.0, show_default=True,
              help="No reminders for this alert for this long (or until it clears).")
@click.option("--db", "db_url", metavar="URL", help="Event store URL (overrides the global --db).")
@click.option("--json", "as_json", is_flag=True, help="Print the acknowledged alert as JSON.")
@click.pass_obj
def ack(obj: dict, alert_id: str, note: str, by: str | None, hours: float, db_url: str | None,
        as_json: bool) -> None:
    """Acknowledge alert ALERT_ID (a unique prefix of its id is enough)."""
    from applications.services.monitoring import acknowledge
    store = open_store(db_url or obj.get("db_url"), must_exist=True)
    try:
        row = acknowledge(store, alert_id, by=by or getpass.getuser(), note=note, hours=hours)
    finally:
        store.close()
    if as_json:
        print_json(row.as_dict())
        return
    console.print(f"acknowledged {row.alert_id[:8]} ({row.rule}) by {row.acknowledged_by}: {row.note}")


@monitor.command("watch")
@click.option("--db", "db_url", metavar="URL", help="Event store URL (overrides the global --db).")
@click.option("--refresh", type=click.FloatRange(0.2), default=1.0, show_default=True, metavar="SECONDS")
@click.option("--once", is_flag=True, help="Draw once and exit (scripts, tests).")
@click.pass_obj
def watch(obj: dict, db_url: str | None, refresh: float, once: bool) -> None:
    """A live-updating terminal view of `monitor status` and the open alerts; Ctrl-C leaves."""
    from rich.console import Group
    from rich.live import Live
    from rich.table import Table

    def render(store):
        sessions, open_alerts = _status_rows(store)
        table = Table(title=f"sessions at {datetime.now().strftime('%H:%M:%S')}", title_justify="left")
        for col in ("run", "mode", "status", "heartbeat", "feed", "positions", "P&L (Rs)", "breaker", "alerts"):
            table.add_column(col)
        for s in sessions:
            table.add_row(s.run_id[:12], s.mode, s.status, _age(s.heartbeat_age_seconds),
                          s.feed_status + (" RO" if s.reduce_only else ""), str(s.open_positions),
                          _rupees(s.day_pnl_paise), "TRIPPED" if s.breaker_tripped else "ok", str(s.open_alerts))
        alerts_table = Table(title=f"{len(open_alerts)} open alert(s)", title_justify="left")
        for col in ("id", "severity", "status", "rule", "message"):
            alerts_table.add_column(col, overflow="fold")
        for a in open_alerts:
            alerts_table.add_row(a.alert_id[:8], f"[{SEVERITY_STYLE.get(a.severity, '')}]{a.severity}[/]", a.status,
                                 a.rule, a.message)
        return Group(table, alerts_table)

    store = open_store(db_url or obj.get("db_url"), must_exist=True)
    try:
        if once:
            console.print(render(store))
            return
        with Live(render(store), console=console, refresh_per_second=4, screen=False) as live:
            try:
                while True:
                    time.sleep(refresh)
                    live.update(render(store))
            except KeyboardInterrupt:
                pass
    finally:
        store.close()


COMMANDS = [monitor]
