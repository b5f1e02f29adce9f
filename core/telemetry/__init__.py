"""Prediction traces: one per closed trade, sampled with a seeded generator."""

from core.telemetry.traces import TelemetryConfig, TraceSampler, actual_direction

__all__ = ["TelemetryConfig", "TraceSampler", "actual_direction"]
