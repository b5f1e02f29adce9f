"""The ``Clock`` port contract over the simulated clock and the test clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.simulated import SimulatedClock
from ports.clock import Clock
from tests.fakes.manual_clock import ManualClock

IST = timezone(timedelta(hours=5, minutes=30))
START = datetime(2025, 6, 2, 9, 15, tzinfo=IST)

CLOCKS = {"simulated": SimulatedClock, "manual": ManualClock}


@pytest.fixture(params=sorted(CLOCKS))
def clock(request: pytest.FixtureRequest) -> Clock:
    return CLOCKS[request.param](START)


def test_implements_the_port(clock: Clock) -> None:
    assert isinstance(clock, Clock)


def test_now_is_aware_and_moves_only_when_told(clock) -> None:
    assert clock.now() == START and clock.now().utcoffset() is not None
    assert clock.now() == clock.now()
    clock.advance(timedelta(minutes=5))
    assert clock.now() == START + timedelta(minutes=5)
    clock.set(START + timedelta(hours=1))
    assert clock.now() == START + timedelta(hours=1)


class TestSimulatedClock:
    def test_now_is_utc(self) -> None:
        c = SimulatedClock(START)
        assert c.now().tzinfo is timezone.utc and c.now() == START

    def test_never_runs_backwards(self) -> None:
        c = SimulatedClock(START)
        c.set(START)  # same instant is fine (several symbols share a bar time)
        with pytest.raises(ValueError, match="cannot go back"):
            c.set(START - timedelta(seconds=1))
        with pytest.raises(ValueError, match="negative"):
            c.advance(timedelta(seconds=-1))

    def test_rejects_naive_times(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            SimulatedClock(datetime(2025, 1, 1))
        with pytest.raises(ValueError, match="timezone-aware"):
            SimulatedClock(START).set(datetime(2026, 1, 1))

    def test_advance_returns_the_new_time(self) -> None:
        assert SimulatedClock(START).advance(timedelta(days=1)) == START + timedelta(days=1)
