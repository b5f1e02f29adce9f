"""The ``WaitableClock`` port (a clock a loop can sleep on) over the wall clock and the simulated clocks."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from adapters.simulated import SimulatedClock
from adapters.system import IST, WallClock
from ports.clock import WaitableClock
from tests.fakes.crashing_clock import CrashingClock

START = datetime(2025, 6, 2, 3, 45, tzinfo=timezone.utc)
CLOCKS = {"wall": WallClock, "simulated": lambda: SimulatedClock(START), "crashing": lambda: CrashingClock()}


@pytest.fixture(params=sorted(CLOCKS))
def clock(request: pytest.FixtureRequest) -> WaitableClock:
    return CLOCKS[request.param]()


def test_implements_the_port(clock) -> None:
    assert isinstance(clock, WaitableClock)


def test_now_is_aware_utc_and_sleep_lets_that_much_time_pass(clock) -> None:
    before = clock.now()
    assert before.utcoffset() == timedelta(0)
    clock.sleep(0.02)
    assert clock.now() - before >= timedelta(seconds=0.02)


def test_sleeping_zero_or_less_returns_at_once(clock) -> None:
    t0 = time.perf_counter()
    clock.sleep(0)
    clock.sleep(-5)
    assert time.perf_counter() - t0 < 0.01


def test_wall_clock_knows_the_ist_session_date() -> None:
    clock = WallClock()
    assert clock.today_ist() in (datetime.now(IST).date(), clock.now_ist().date())
