"""The ``LiveBarSource`` port over the replay adapter: closed bars, time order, tie order, bounds."""

from __future__ import annotations

from datetime import datetime, timezone

from adapters.csv import CsvFeed
from adapters.simulated import ReplayBarSource, SimulatedClock
from applications.wiring.store import project_root
from core.model import Interval
from ports.market_data import LiveBarSource


def make_source(speed: float = 0.0, start=None, end=None) -> ReplayBarSource:
    feed = CsvFeed(project_root() / "data" / "market", timezone="Asia/Kolkata")
    return ReplayBarSource(feed, SimulatedClock(datetime(2030, 1, 1, tzinfo=timezone.utc)), speed=speed,
                           start=start, end=end)


def test_replay_implements_the_port() -> None:
    assert isinstance(make_source(), LiveBarSource)


def test_closed_bars_in_time_order_with_ties_in_the_requested_symbol_order() -> None:
    start = datetime(2019, 1, 1, tzinfo=timezone.utc)
    end = datetime(2019, 3, 1, tzinfo=timezone.utc)
    bars = list(make_source(start=start, end=end).stream(["WIPRO", "INFY"], Interval.parse("1day")))
    assert bars and all(start <= b.start < end for b in bars)
    keys = [(b.start, ["WIPRO", "INFY"].index(b.symbol)) for b in bars]
    assert keys == sorted(keys)
    assert {b.symbol for b in bars} == {"WIPRO", "INFY"}
    assert all(b.interval is Interval.parse("1day") and b.low <= min(b.open, b.close) for b in bars)
