"""JSON log lines (rotating file, secrets scrubbed in file and terminal) and the monitor's Prometheus metrics."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone

from prometheus_client import generate_latest

from adapters.metrics import MonitorMetrics
from applications.wiring.logs import configure_logging, reset_logging
from core.events.base import RecordedEvent
from core.events.monitoring import LatencyRolledUp, SessionHeartbeat

T0 = datetime(2026, 12, 3, 4, 0, tzinfo=timezone.utc)


def test_json_lines_with_run_id_and_fields_and_no_secrets(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BREEZE_SESSION_TOKEN", "tok-987654")
    path = configure_logging(tmp_path / "logs", component="paper", run_id="R1",
                             secrets=["json://user:hunter22@host/hook"])
    log = logging.getLogger("sensequant.test")
    try:
        log.warning("posting to json://user:hunter22@host/hook with tok-987654", extra={"fields": {"bars": 3}})
        try:
            raise ValueError("token tok-987654 rejected")
        except ValueError:
            log.exception("login failed")
        for handler in logging.getLogger().handlers:
            handler.flush()
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        mine = [line for line in lines if line["logger"] == "sensequant.test"]
        assert [m["level"] for m in mine] == ["WARNING", "ERROR"]
        assert mine[0]["run_id"] == "R1" and mine[0]["fields"] == {"bars": 3}
        assert set(mine[0]) == {"time", "level", "logger", "run_id", "message", "fields"}
        assert "ValueError" in mine[1]["fields"]["exception"]
        text = path.read_text(encoding="utf-8") + capsys.readouterr().err
        assert "hunter22" not in text and "tok-987654" not in text and "***" in text
    finally:
        reset_logging()


def recorded(event, run_id="R1", seq=1):
    return RecordedEvent(seq=seq, event_id=uuid.uuid4(), stream_id=f"{run_id}:health", stream_version=seq,
                         run_id=run_id, occurred_at=T0, recorded_at=T0, correlation_id=None, causation_id=None,
                         event=event)


def test_prometheus_metrics_from_heartbeats_and_rollups():
    metrics = MonitorMetrics()
    metrics.observe(recorded(SessionHeartbeat(
        mode="paper", sequence=1, bars_processed=10, last_bar_start=T0, seconds_since_bar=0.1, feed_status="ok",
        reduce_only=False, books={"intraday": {"equity_paise": 100_050_00, "day_pnl_paise": -2500,
                                               "loss_limit_paise": 1, "breaker_tripped": False, "open_positions": 2}})))
    for seq in (2, 3):
        metrics.observe(recorded(LatencyRolledUp(minute_start=T0, count=10, p50_ms=2.0, p95_ms=4.0, max_ms=9.0,
                                                 bucket_bounds_ms=[1.0, 5.0], bucket_counts=[3, 6, 1]), seq=seq))
    metrics.open_alerts(["critical", "warning", "warning"])
    text = generate_latest(metrics.registry).decode()
    assert 'sensequant_day_pnl_rupees{book="intraday",run="R1"} -25.0' in text
    assert 'sensequant_open_positions{book="intraday",run="R1"} 2.0' in text
    assert 'sensequant_bar_latency_ms_bucket{le="5.0",run="R1"} 18.0' in text
    assert 'sensequant_bar_latency_ms_count{run="R1"} 20.0' in text
    assert 'sensequant_events_total{type="session.latency_rolled_up"} 2.0' in text
    assert 'sensequant_open_alerts{severity="warning"} 2.0' in text
