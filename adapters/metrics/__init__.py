"""Prometheus metrics of the monitor (prometheus-client): P&L, positions, latency, events/s, alerts."""

from adapters.metrics.prometheus import MonitorMetrics

__all__ = ["MonitorMetrics"]
