"""``MonitorMetrics``: what the monitor reads, exposed for Prometheus on ``--metrics-port``.

Series (labels ``run``, ``book``, ``severity``):

* ``sensequant_day_pnl_rupees`` / ``sensequant_equity_rupees`` / ``sensequant_open_positions``
  (gauges, from the last heartbeat of each book);
* ``sensequant_heartbeat_timestamp_seconds`` (gauge: alert on ``time() - x``);
* ``sensequant_bar_latency_ms`` (histogram: the sessions' per-minute rollups added up);
* ``sensequant_events_total`` (counter by event type: ``rate()`` gives events/s);
* ``sensequant_open_alerts`` (gauge by severity).

Each instance has its own registry, so tests can build several.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import HistogramMetricFamily

from core.events.base import RecordedEvent
from core.events.monitoring import LatencyRolledUp, SessionHeartbeat


class _LatencyCollector:
    def __init__(self) -> None:
        self.bounds: list[float] = []
        self.counts: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}

    def add(self, run_id: str, ev: LatencyRolledUp) -> None:
        if self.bounds and list(ev.bucket_bounds_ms) != self.bounds:
            return  # one bucket layout per process; a session with another layout is skipped
        self.bounds = list(ev.bucket_bounds_ms)
        counts = self.counts.setdefault(run_id, [0] * (len(self.bounds) + 1))
        for i, n in enumerate(ev.bucket_counts):
            counts[i] += n
        # the exact sum is not rolled up; p50 x count is its estimate
        self.sums[run_id] = self.sums.get(run_id, 0.0) + ev.p50_ms * ev.count

    def collect(self) -> Iterable[HistogramMetricFamily]:
        family = HistogramMetricFamily("sensequant_bar_latency_ms", "Bar-to-decision latency of paper/live sessions",
                                       labels=["run"])
        for run_id, counts in self.counts.items():
            cumulative, buckets = 0, []
            for bound, n in zip([*map(str, self.bounds), "+Inf"], counts):
                cumulative += n
                buckets.append((bound, cumulative))
            family.add_metric([run_id], buckets, self.sums.get(run_id, 0.0))
        yield family


class MonitorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.day_pnl = Gauge("sensequant_day_pnl_rupees", "Day P&L of a book", ["run", "book"], registry=self.registry)
        self.equity = Gauge("sensequant_equity_rupees", "Equity of a book", ["run", "book"], registry=self.registry)
        self.positions = Gauge("sensequant_open_positions", "Open positions of a book", ["run", "book"],
                               registry=self.registry)
        self.heartbeat = Gauge("sensequant_heartbeat_timestamp_seconds", "Last heartbeat of a session", ["run"],
                               registry=self.registry)
        self.events = Counter("sensequant_events", "Events read from the log", ["type"], registry=self.registry)
        self.alerts = Gauge("sensequant_open_alerts", "Open alerts", ["severity"], registry=self.registry)
        self._latency = _LatencyCollector()
        self.registry.register(self._latency)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        start_http_server(port, addr=addr, registry=self.registry)

    def observe(self, rec: RecordedEvent) -> None:
        ev = rec.event
        self.events.labels(type=ev.TYPE).inc()
        if isinstance(ev, SessionHeartbeat):
            self.heartbeat.labels(run=rec.run_id).set(rec.occurred_at.timestamp())
            for book, state in ev.books.items():
                self.day_pnl.labels(run=rec.run_id, book=book).set(int(state.get("day_pnl_paise", 0)) / 100)
                self.equity.labels(run=rec.run_id, book=book).set(int(state.get("equity_paise", 0)) / 100)
                self.positions.labels(run=rec.run_id, book=book).set(int(state.get("open_positions", 0)))
        elif isinstance(ev, LatencyRolledUp):
            self._latency.add(rec.run_id, ev)

    def open_alerts(self, severities: Iterable[str]) -> None:
        counts = {"info": 0, "warning": 0, "critical": 0}
        for s in severities:
            counts[s] = counts.get(s, 0) + 1
        for severity, n in counts.items():
            self.alerts.labels(severity=severity).set(n)
