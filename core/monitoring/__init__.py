"""Monitoring: alert rules as pure folds of the event log, and the engine that turns their
decisions into alert events with suppression, TTL and acknowledgement (no I/O, no clock)."""

from __future__ import annotations

from datetime import timedelta

import attrs

from core.monitoring.engine import DEFAULT_POLICIES, AlertEngine, AlertPolicy, OpenAlert, alert_id, rule_of
from core.monitoring.release_rule import ReleaseUnderperformingRule
from core.monitoring.rules import (
    AccuracyRule,
    CircuitBreakerRule,
    Clear,
    ConnectivityRule,
    DailyLossRule,
    Decision,
    ForwardedAlertRule,
    HeartbeatRule,
    LatencyRule,
    Raise,
    Rule,
    SentimentFailuresRule,
    StaleModelRule,
    histogram_quantile,
    sessions_between,
)


@attrs.frozen(kw_only=True)
class RuleSettings:
    """Thresholds of the built-in rules: the ``[monitor]`` section of ``monitor run --config``,
    ``SENSEQUANT_MONITOR__<FIELD>`` and the command's flags, in that order of precedence."""

    daily_loss_alert_share: float = 0.8
    sentiment_failures_threshold: int = 1
    sentiment_failures_window_minutes: float = 60.0
    model_max_age_sessions: int = 3
    heartbeat_lapse_seconds: float = 30.0
    latency_p95_threshold_ms: float = 1000.0
    latency_window_minutes: int = 5
    accuracy_window: int = 100
    precision_threshold: float = 0.55
    sharpe_threshold: float = 0.5


def default_rules(settings: RuleSettings = RuleSettings()) -> list[Rule]:
    """The seven rules of the spec, the dashboard's accuracy rules, forwarded ad-hoc alerts and the
    release's heightened-monitoring rule."""
    return [
        CircuitBreakerRule(),
        DailyLossRule(share=settings.daily_loss_alert_share),
        SentimentFailuresRule(threshold=settings.sentiment_failures_threshold,
                              window=timedelta(minutes=settings.sentiment_failures_window_minutes)),
        StaleModelRule(max_sessions=settings.model_max_age_sessions),
        HeartbeatRule(lapse=timedelta(seconds=settings.heartbeat_lapse_seconds)),
        ConnectivityRule(),
        LatencyRule(threshold_ms=settings.latency_p95_threshold_ms, window_minutes=settings.latency_window_minutes),
        AccuracyRule(window=settings.accuracy_window, precision_threshold=settings.precision_threshold,
                     sharpe_threshold=settings.sharpe_threshold),
        ForwardedAlertRule(),
        ReleaseUnderperformingRule(),
    ]


__all__ = [
    "AccuracyRule", "AlertEngine", "AlertPolicy", "CircuitBreakerRule", "Clear", "ConnectivityRule",
    "DEFAULT_POLICIES", "DailyLossRule", "Decision", "ForwardedAlertRule", "HeartbeatRule", "LatencyRule", "OpenAlert",
    "Raise", "ReleaseUnderperformingRule", "Rule", "RuleSettings", "SentimentFailuresRule", "StaleModelRule", "alert_id", "default_rules",
    "histogram_quantile", "rule_of", "sessions_between",
]
