"""A paper session with injected faults, run as its own process by the monitor e2e test.

``python -m tests.e2e.paper_with_faults DB_URL RUN_ID``:

* the production model in the log was trained 10 days ago (stale);
* the only sentiment provider always fails (its circuit opens);
* the daily-loss cap is tiny, so the circuit breaker trips on the first losing day;
* the bar source goes quiet for 2.5 s halfway (stale after 1 s: reduce-only, then back).

Heartbeats go out on every bar (``heartbeat_seconds=0``) so the monitor sees every state.
"""

from __future__ import annotations

import sys
import time
from datetime import date, datetime, timedelta, timezone

import attrs

from adapters.sentiment import SentimentRegistry
from adapters.system import WallClock
from applications.roots.paper import PaperOptions, run_paper
from applications.services.books import BacktestConfig
from applications.services.session.watch import HealthInbox, WatchSettings
from applications.wiring.adapters import default_feed
from applications.wiring.store import open_store
from core.events.base import NewEvent
from core.events.catalog import ModelPromoted, ModelTrained
from core.model import Interval
from core.risk import RiskConfig

CONFIG = BacktestConfig(strategy="intraday", start="2024-01-01", end="2024-01-03",
                        risk=RiskConfig(daily_loss_cap=0.0005))


class AlwaysFails:
    name = "flaky-news"

    def score(self, symbol, as_of):
        raise ConnectionError("news API unreachable")


class QuietHalfway:
    def __init__(self, bars, quiet: float, pace: float) -> None:
        self.bars, self.quiet, self.pace = bars, quiet, pace

    def stream(self, symbols, interval):
        half = len(self.bars) // 2
        for k, bar in enumerate(self.bars):
            if k == half:
                time.sleep(self.quiet)
            time.sleep(self.pace)
            yield bar


def stale_model(store) -> None:
    trained = datetime.now(timezone.utc) - timedelta(days=10)
    events = [NewEvent(event=ModelTrained(
        model_id="student-old", role="student", algorithm="lightgbm", feature_names=["rsi_14"],
        training_window_start=trained - timedelta(days=30), training_window_end=trained, data_fingerprint="f",
        n_samples=100, label_config={}, params={}, seed=1, training_seconds=1.0), occurred_at=trained),
        NewEvent(event=ModelPromoted(model_id="student-old", previous_model_id=None, registry="models"),
                 occurred_at=trained)]
    store.append("models:fixture", 0, events, run_id="models-fixture")


def main(db_url: str, run_id: str) -> None:
    store = open_store(db_url, durable=True)
    stale_model(store)
    feed = default_feed(CONFIG)
    bars = [b for b in feed.history("TCS", Interval.parse("1minute")) if date(2024, 1, 4) <= b.start.date()][:750]
    health = HealthInbox()
    registry = SentimentRegistry(WallClock(), failure_threshold=2, on_health=health.report)
    registry.register(AlwaysFails())
    options = PaperOptions(replay_speed=0, watch=WatchSettings(heartbeat_seconds=0.0, feed_stale_seconds=1.0))
    result = run_paper(attrs.evolve(CONFIG), store=store, feed=feed, source=QuietHalfway(bars, 2.5, 0.004),
                       sentiment=registry, options=options, run_id=run_id, health=health)
    store.close()
    print(result.status, result.bars, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
