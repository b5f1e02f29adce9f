"""A paper session's watch: heartbeats while no bar arrives, latency rollups, a stale bar feed making
the session reduce-only (and lifting it when bars resume), adapter health recorded from another thread."""

from __future__ import annotations

import threading
from datetime import date
import time

from adapters.memory import InMemoryEventStore
from applications.roots.paper import PaperOptions, run_paper
from applications.services.books import BacktestConfig, SentimentSettings
from applications.services.session.watch import HealthInbox, WatchSettings
from applications.wiring.adapters import default_feed
from core.events.catalog import FeedHealthChanged
from core.events.monitoring import LatencyRolledUp, SessionHeartbeat, SessionReduceOnlyChanged
from core.model import Interval

CONFIG = BacktestConfig(strategy="intraday", start="2024-01-01", end="2024-01-03",
                        sentiment=SentimentSettings(enabled=False))


class QuietInTheMiddle:
    """A live bar source: some bars, then silence for ``quiet`` seconds, then the rest."""

    def __init__(self, bars, quiet: float, health: HealthInbox) -> None:
        self.bars, self.quiet, self.health = bars, quiet, health

    def stream(self, symbols, interval: Interval):
        half = len(self.bars) // 2
        yield from self.bars[:half]
        # an adapter thread reports a sentiment outage while the feed is quiet
        threading.Thread(target=self.health.report, args=(FeedHealthChanged(
            feed="sentiment.newsapi", status="down", reason="5 consecutive failures"),)).start()
        time.sleep(self.quiet)
        yield from self.bars[half:]


def test_heartbeats_while_quiet_and_reduce_only_on_a_stale_feed():
    feed = default_feed(CONFIG)
    # bars after the configured window: the window itself is the live session's warm-up history
    bars = [b for b in feed.history("TCS", Interval.parse("1minute")) if b.start.date() > date(2024, 1, 4)][:200]
    store, health = InMemoryEventStore(), HealthInbox()
    options = PaperOptions(replay_speed=0, watch=WatchSettings(heartbeat_seconds=0.1, rollup_seconds=0.2,
                                                               feed_stale_seconds=0.5))
    result = run_paper(CONFIG, store=store, feed=feed, source=QuietInTheMiddle(bars, 1.5, health), sentiment=None,
                       options=options, run_id="W", health=health)
    assert result.status == "completed"
    events = [r.event for r in store.read_stream("W:health")]
    beats = [e for e in events if isinstance(e, SessionHeartbeat)]
    quiet = [b for b in beats if b.seconds_since_bar is not None and b.seconds_since_bar > 0.3]
    assert len(quiet) >= 5, "heartbeats must keep coming while no bar arrives"
    assert [b.sequence for b in beats] == list(range(1, len(beats) + 1))
    assert beats[-1].bars_processed == len(bars) and set(beats[-1].books) == {"intraday"}
    assert {"equity_paise", "day_pnl_paise", "loss_limit_paise", "breaker_tripped", "open_positions"} \
        <= set(beats[-1].books["intraday"])
    health_changes = [(e.feed, e.status) for e in events if isinstance(e, FeedHealthChanged)]
    assert ("sentiment.newsapi", "down") in health_changes
    assert health_changes.index(("bars", "degraded")) < health_changes.index(("bars", "ok"))
    switches = [e.reduce_only for e in events if isinstance(e, SessionReduceOnlyChanged)]
    assert switches == [True, False]  # the sentiment outage alone never stops trading
    assert any(b.reduce_only for b in quiet)
    rollups = [e for e in events if isinstance(e, LatencyRolledUp)]
    assert sum(r.count for r in rollups) == len(bars)
    assert all(sum(r.bucket_counts) == r.count for r in rollups)
