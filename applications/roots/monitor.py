"""Composition root of the monitor: the event store, the apprise alert sink from the environment,
optional Prometheus metrics, and the ``Monitor`` loop of ``applications.services.monitoring``.

``run_monitor`` is a separate process beside the sessions: it only reads the log and appends to
``monitor:alerts``, so a slow channel or a crash of the monitor never touches trading.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from applications.services.monitoring import MONITOR_RUN_ID, Monitor, MonitorSettings
from applications.services.projections import TailProjection
from applications.wiring.store import project_root, read_models_for
from core.events.base import Event
from ports.alerts import AlertSink
from ports.event_store import EventStore

ALERT_URLS_ENV = "SENSEQUANT_ALERT_URLS"


def alert_urls(environ: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> str:
    """``SENSEQUANT_ALERT_URLS`` from the environment, else from ``.env`` (the value is a secret)."""
    env = os.environ if environ is None else environ
    if env.get(ALERT_URLS_ENV):
        return env[ALERT_URLS_ENV]
    path = dotenv_path if dotenv_path is not None else project_root() / ".env"
    if path.is_file():
        from dotenv import dotenv_values
        return dotenv_values(path).get(ALERT_URLS_ENV) or ""
    return ""


def build_alert_sink(environ: Mapping[str, str] | None = None, dotenv_path: Path | None = None,
                     attempts: int = 3, backoff_seconds: float = 0.5) -> AlertSink | None:
    """The apprise sink over the configured channels; None when no channel is configured."""
    from adapters.alerts import AppriseAlertSink, parse_alert_urls

    routes = parse_alert_urls(alert_urls(environ, dotenv_path))
    if not routes:
        return None
    return AppriseAlertSink(routes, attempts=attempts, backoff_seconds=backoff_seconds)


def run_monitor(store: EventStore, *, should_stop: Callable[[], bool], settings: MonitorSettings = MonitorSettings(),
                sink: AlertSink | None | str = "environment", metrics_port: int | None = None,
                on_event: Callable[[Event], None] = lambda _e: None, log: Callable[[str], None] = lambda _m: None,
                environ: Mapping[str, str] | None = None) -> Monitor:
    """Follow ``store`` until ``should_stop()``; returns the monitor (for its counters)."""
    channel = build_alert_sink(environ) if sink == "environment" else sink
    if channel is None:
        log(f"no alert channel configured ({ALERT_URLS_ENV} is empty): alerts are recorded and shown only")
    else:
        labels: Any = getattr(channel, "channels", [])
        log(f"delivering alerts to {len(labels)} channel(s): {', '.join(labels)}")
    metrics = None
    if metrics_port is not None:
        from adapters.metrics import MonitorMetrics
        metrics = MonitorMetrics()
        metrics.serve(metrics_port)
        log(f"Prometheus metrics on http://127.0.0.1:{metrics_port}/metrics")

    # The read models of the sessions it watches and of its own alerts are kept current as
    # it tails (each step reads only what is new to them).
    projection = TailProjection(store, read_models_for(store), always=[MONITOR_RUN_ID], log=log)

    def observed(rec: Any) -> None:
        if metrics is not None:
            metrics.observe(rec)
        projection.observe(rec)

    def written(event: Event) -> None:
        if metrics is not None:
            metrics.open_alerts(a.severity for a in monitor.engine.open.values())
        on_event(event)

    monitor = Monitor(store, channel, settings=settings, on_event=written, on_recorded=observed,
                      on_polled=projection.step)
    monitor.start()
    log(f"following the event log after seq {monitor.position}; {len(monitor.engine.open)} alert(s) open")
    monitor.run(should_stop, log=log)
    return monitor


__all__ = ["ALERT_URLS_ENV", "alert_urls", "build_alert_sink", "run_monitor"]
