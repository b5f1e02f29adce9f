"""Venue rules in one place: what Breeze cash refuses, and the engine consulting them before an entry."""

from __future__ import annotations

import uuid

import pytest

from adapters.memory import InMemoryEventStore
from adapters.simulated import BrokerConfig, SimulatedBroker
from applications.services.books import BacktestConfig, check_books_against_venue, entry_directions, plan_books
from applications.wiring.adapters import default_feed
from core.costs import FlatPercentCosts
from core.engine.engine import EngineSettings, TradingEngine
from core.engine.recorder import EventRecorder
from core.errors import ConfigError
from core.events.catalog import EntryRejected, OrderSubmitted, SignalGenerated
from core.model import Direction
from core.orders import Product
from core.portfolio import Portfolio
from core.risk import RiskConfig, RiskManager
from core.sizing import PositionSizer, SizingConfig
from core.telemetry import TelemetryConfig
from core.venue import BREEZE_CASH, UNRESTRICTED, venue_rules
from tests.unit.test_engine import books
from tests.fakes.strategies import ScriptedStrategy, long, short


def test_breeze_cash_describes_itself_in_one_line():
    assert BREEZE_CASH.describe() == ("Breeze cash: no short selling, no intraday margin product, 10 orders/s, "
                                      "limit orders only")
    assert BREEZE_CASH.entry_refusal(Direction.LONG) is None
    assert "no short selling" in BREEZE_CASH.entry_refusal(Direction.SHORT)
    assert UNRESTRICTED.entry_refusal(Direction.SHORT) is None
    assert venue_rules("breeze_cash") is BREEZE_CASH
    with pytest.raises(ConfigError, match="unknown venue rules"):
        venue_rules("nyse")


def test_a_book_that_can_only_short_is_refused_naming_the_setting():
    message = BREEZE_CASH.book_refusal("bear", {Direction.SHORT}, "bear.strategy.direction")
    assert message and "bear.strategy.direction" in message and "SHORT" in message
    assert BREEZE_CASH.book_refusal("intraday", {Direction.LONG, Direction.SHORT}, "x") is None
    warning = BREEZE_CASH.book_warning("intraday", {Direction.LONG, Direction.SHORT}, "intraday.strategy.allow_short")
    assert warning and "intraday.strategy.allow_short" in warning
    assert BREEZE_CASH.book_warning("swing", {Direction.LONG}, "swing.strategy.allow_short") is None


def test_live_wiring_refuses_a_short_only_book_before_trading():
    plans = plan_books(BacktestConfig(strategy="intraday", start="2024-01-01", end="2024-01-02"),
                       default_feed(BacktestConfig()))
    assert entry_directions(plans[0]) == (frozenset({Direction.LONG, Direction.SHORT}),
                                          "intraday.strategy.allow_short")
    notes: list[str] = []
    check_books_against_venue(plans, BREEZE_CASH, notes.append)
    assert notes and "allow_short" in notes[0]

    class ShortOnly(ScriptedStrategy):
        entry_directions = frozenset({Direction.SHORT})

    import attrs
    bear = attrs.evolve(plans[0], name="bear", strategy=ShortOnly({}, name="bear"))
    with pytest.raises(ConfigError, match="can only enter SHORT"):
        check_books_against_venue([bear], BREEZE_CASH)


def _engine(script, venue):
    store = InMemoryEventStore()
    recorder = EventRecorder(store, stream_id="r:book", run_id="r", namespace=uuid.UUID(int=2), batch_size=50)
    engine = TradingEngine(
        strategy=ScriptedStrategy(script), portfolio=Portfolio(10_000_000_00, FlatPercentCosts(0.001)),
        risk=RiskManager(RiskConfig(gross_exposure_enabled=False, position_limit_enabled=False,
                                    circuit_breaker_enabled=False)),
        sizer=PositionSizer(SizingConfig(method="fixed_quantity", fixed_quantity=10, scale_by_confidence=False)),
        broker=SimulatedBroker(BrokerConfig(), tick_rule=lambda _p, _d: 1), recorder=recorder,
        telemetry=TelemetryConfig(), settings=EngineSettings(product=Product.INTRADAY, venue=venue))
    return engine, store


def test_the_engine_turns_a_refused_short_into_entry_rejected_and_sends_nothing():
    _series, bk = books(200)
    script = {("SYN", 5): short(), ("SYN", 50): long()}
    engine, store = _engine(script, BREEZE_CASH)
    engine.run(bk)
    events = [r.event for r in store.read_all(0, 10_000)]
    rejected = [e for e in events if isinstance(e, EntryRejected)]
    assert len(rejected) == 1 and rejected[0].direction == "SHORT" and rejected[0].requested_quantity == 0
    assert rejected[0].reason == BREEZE_CASH.entry_refusal(Direction.SHORT)
    signals = [e for e in events if isinstance(e, SignalGenerated)]
    assert signals[0].action == "suppressed" and signals[0].reason == "venue"
    submitted = [e for e in events if isinstance(e, OrderSubmitted)]
    assert submitted and submitted[0].side == "BUY"  # the long still went through
    research, research_store = _engine(script, None)
    research.run(bk)
    first = [e for e in (r.event for r in research_store.read_all(0, 10_000)) if isinstance(e, OrderSubmitted)][0]
    assert first.side == "SELL"
