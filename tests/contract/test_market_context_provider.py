"""The ``MarketContextProvider`` port contract over the NIFTY 50 daily-close adapter (shipped
bars and synthetic closes): flat float dicts, point in time, empty outside the data."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from adapters.market_context import IndexDailyContext
from applications.wiring.adapters import default_market_context
from ports.market_context import MarketContextProvider

IST = timezone(timedelta(hours=5, minutes=30))


def _synthetic() -> IndexDailyContext:
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(60)]
    return IndexDailyContext(days, 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, 60))))


@pytest.fixture(params=["shipped", "synthetic"])
def provider(request) -> tuple[MarketContextProvider, date, date]:
    if request.param == "shipped":
        p = default_market_context()
    else:
        p = _synthetic()
    return p, p.first_session, p.last_session


def test_is_the_port(provider):
    p, _, _ = provider
    assert isinstance(p, MarketContextProvider) and isinstance(p.name, str) and p.name


def test_flat_finite_floats_known_before_the_moment(provider):
    p, first, last = provider
    probe = first + (last - first) / 2
    when = datetime(probe.year, probe.month, probe.day, 11, 0, tzinfo=IST)
    ctx = p.context_at(when)
    assert ctx and all(isinstance(k, str) and isinstance(v, float) and math.isfinite(v) for k, v in ctx.items())
    # Same IST day, any time: the same answer (the day's own close is never used).
    assert p.context_at(when.replace(hour=0, minute=1)) == ctx == p.context_at(when.replace(hour=23, minute=59))


def test_nothing_outside_the_data(provider):
    p, first, last = provider
    assert p.context_at(datetime(first.year, first.month, first.day, 12, 0, tzinfo=IST)) == {}
    far = last + timedelta(days=60)
    assert p.context_at(datetime(far.year, far.month, far.day, 12, 0, tzinfo=IST)) == {}
