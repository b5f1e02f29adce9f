"""The apprise alert sink against a real local HTTP webhook: routing per severity, retries with
back-off, failures reported (never raised) with secrets scrubbed."""

from __future__ import annotations

import logging

import pytest

from adapters.alerts import AppriseAlertSink, parse_alert_urls, scrub
from ports.alerts import AlertMessage, AlertSink
from tests.fakes.webhook import WebhookServer


@pytest.fixture
def server():
    s = WebhookServer().start()
    yield s
    s.stop()


def message(severity: str = "critical", alert_id: str = "a1") -> AlertMessage:
    return AlertMessage(alert_id=alert_id, kind="raised", severity=severity, rule="heartbeat_lapsed",
                        title="[CRITICAL] heartbeat_lapsed", body=f"session frozen\nidempotency key: {alert_id}")


def test_routes_by_severity_and_posts_json(server):
    routes = parse_alert_urls(f"critical={server.url('crit')}  warning|critical={server.url('warn')};"
                              f"{server.url('all')}")
    assert [r.severities for r in routes] == [("critical",), ("warning", "critical"), ("info", "warning", "critical")]
    sink = AppriseAlertSink(routes, backoff_seconds=0.01)
    assert isinstance(sink, AlertSink)
    report = sink.send(message("critical"))
    assert report.delivered and report.attempts == 1 and report.channels == ("json#1", "json#2", "json#3")
    assert sorted(server.paths) == ["/all", "/crit", "/warn"]
    assert server.posts[0]["title"] == "[CRITICAL] heartbeat_lapsed" and "idempotency key: a1" in server.posts[0]["message"]
    assert server.posts[0]["type"] == "failure"
    server.paths.clear()
    assert sink.send(message("info")).channels == ("json#3",) and server.paths == ["/all"]


def test_retries_then_delivers(server):
    server.fail_first = 2
    report = AppriseAlertSink(parse_alert_urls(server.url()), attempts=3, backoff_seconds=0.01).send(message())
    assert report.delivered and report.attempts == 3 and len(server.posts) == 1


def test_failure_is_reported_not_raised_and_secrets_never_show(caplog):
    secret_url = "json://user:s3cr3t-token@127.0.0.1:9/hook"  # nothing listens on port 9
    sink = AppriseAlertSink(parse_alert_urls(secret_url), attempts=2, backoff_seconds=0.01, timeout_seconds=1)
    with caplog.at_level(logging.DEBUG):
        report = sink.send(message())
    assert not report.delivered and report.attempts == 2 and "json#1" in report.reason
    assert "s3cr3t" not in report.reason + caplog.text + repr(sink.routes)
    assert scrub("posting to slack://T/B/C failed", []) == "posting to slack://*** failed"
