"""`sensequant monitor` end to end, real processes on SQLite and PostgreSQL: a paper session with
injected faults (``tests/e2e/paper_with_faults.py``) and `monitor run` beside it delivering through
apprise to a real local HTTP webhook. Exactly the expected alerts arrive, each once; SIGKILL and a
restart of the monitor re-deliver nothing and miss nothing; `monitor ack` records the acknowledgement."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from applications.services.monitoring import ACKS_STREAM, ALERTS_STREAM
from applications.wiring.store import open_store
from core.events.monitoring import AlertAcknowledged, AlertCleared, AlertDelivered, MonitorAlertRaised
from tests.fakes.webhook import WebhookServer

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_RULES = {"stale_student_model", "sentiment_failures_high", "daily_loss_high", "circuit_breaker_triggered",
                  "breeze_connectivity_lost"}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SENSEQUANT_RUNS_DIR"] = str(tmp_path / "runs")
    env.pop("SENSEQUANT_DB_URL", None)
    env.update(extra)
    return env


def _monitor(db: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "applications", "--db", db, "monitor", "run", "--poll-seconds",
                             "0.1", "--heartbeat-lapse", "60"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _lifecycle(db: str):
    store = open_store(db)
    try:
        return [r.event for r in store.read_stream(ALERTS_STREAM)], [r.event for r in store.read_stream(ACKS_STREAM)]
    finally:
        store.close()


def _wait(condition, timeout: float, what: str | None) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            if what is None:
                return False
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)
    return True


def _settled(db: str) -> bool:
    """Every raised/cleared notice in the log has its delivery outcome."""
    events, _ = _lifecycle(db)
    notices = {(e.alert_id, "raised" if isinstance(e, MonitorAlertRaised) else "cleared")
               for e in events if isinstance(e, (MonitorAlertRaised, AlertCleared))}
    done = {(e.alert_id, e.kind) for e in events if isinstance(e, AlertDelivered)}
    return bool(notices) and notices <= done


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return request.getfixturevalue("pg_url")


def test_faults_become_alerts_delivered_once_across_a_monitor_kill(db, tmp_path):
    hook = WebhookServer().start()
    env = _env(tmp_path, SENSEQUANT_ALERT_URLS=hook.url("alerts"))
    subprocess.run([sys.executable, "-m", "applications", "db", "upgrade", "--db", db], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    monitor = _monitor(db, env)
    # the first monitor on a store treats what is already there as history: let it start first
    _wait(lambda: bool(_lifecycle(db)[0]), 60, "the monitor to start")
    paper = subprocess.Popen([sys.executable, "-m", "tests.e2e.paper_with_faults", db, "FAULTS"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the stale model is there from the start: once it is delivered (and nothing is in flight), kill -9
        _wait(lambda: len(hook.posts) >= 1 and _settled(db), 60, "the first delivered alert")
        monitor.send_signal(signal.SIGKILL)
        monitor.wait(10)
        monitor = _monitor(db, env)
        out, err = paper.communicate(timeout=120)
        assert paper.returncode == 0, err
        assert out.startswith("completed"), out

        def all_raised() -> bool:
            events, _ = _lifecycle(db)
            return EXPECTED_RULES <= {e.rule for e in events if isinstance(e, MonitorAlertRaised)} and _settled(db)

        if not _wait(all_raised, 60, None):
            monitor.kill()
            pytest.fail(f"not every expected alert was delivered: {_lifecycle(db)[0]}\n{monitor.communicate()[1]}")
        time.sleep(1.0)  # nothing more may arrive
        events, _ = _lifecycle(db)
        raised = [e for e in events if isinstance(e, MonitorAlertRaised)]
        assert sorted(e.rule for e in raised) == sorted(EXPECTED_RULES)  # each exactly once
        keys = [p["message"].rsplit("idempotency key: ", 1)[1] for p in hook.posts]
        assert [k for k, n in Counter(keys).items() if n > 1] == []  # nothing delivered twice
        notices = {f"{e.alert_id}:raised" for e in raised} | {f"{e.alert_id}:cleared" for e in events
                                                               if isinstance(e, AlertCleared)}
        assert set(keys) == notices  # nothing missed
        assert all(p["type"] in ("warning", "failure") for p in hook.posts)

        breaker = next(e for e in raised if e.rule == "circuit_breaker_triggered")
        ack = subprocess.run([sys.executable, "-m", "applications", "--db", db, "monitor", "ack", breaker.alert_id[:8],
                              "--note", "cap set low on purpose", "--by", "tester", "--json"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert ack.returncode == 0, ack.stderr
        assert json.loads(ack.stdout)["acknowledged_by"] == "tester"
        _, acks = _lifecycle(db)
        assert [(a.alert_id, a.acknowledged_by, a.note) for a in acks if isinstance(a, AlertAcknowledged)] == [
            (breaker.alert_id, "tester", "cap set low on purpose")]
        listed = subprocess.run([sys.executable, "-m", "applications", "--db", db, "monitor", "alerts", "--json"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        rows = {r["alert_id"]: r for r in json.loads(listed.stdout)}
        assert rows[breaker.alert_id]["acknowledged_by"] == "tester"
        status = subprocess.run([sys.executable, "-m", "applications", "--db", db, "monitor", "status", "--json"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        session = json.loads(status.stdout)["sessions"][0]
        assert (session["run_id"], session["status"], session["breaker_tripped"]) == ("FAULTS", "completed", False)
        bad = subprocess.run([sys.executable, "-m", "applications", "--db", db, "monitor", "ack", "nope", "--note", "x"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and "AlertNotFoundError" in bad.stderr and "Traceback" not in bad.stderr

        monitor.send_signal(signal.SIGTERM)
        _, err = monitor.communicate(timeout=30)
        assert monitor.returncode == 0, err
        assert "monitor stopped at seq" in err
        assert hook.url("alerts").split("//", 1)[1] not in err  # the channel URL is a secret
    finally:
        for proc in (monitor, paper):
            if proc.poll() is None:
                proc.kill()
        hook.stop()
