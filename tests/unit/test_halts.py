"""Halts: a stock at its circuit takes no new entry that way; a market-wide halt pauses the book."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from adapters.memory import InMemoryEventStore
from adapters.simulated import BrokerConfig, SimulatedBroker
from core.costs import FlatPercentCosts
from core.engine.engine import EngineSettings, TradingEngine
from core.engine.recorder import EventRecorder
from core.engine.state import EngineState
from core.events.account import MarketHalted, MarketResumed
from core.events.catalog import EntryRejected, OrderSubmitted, SignalGenerated
from core.model import Direction
from core.orders import Product
from core.portfolio import Portfolio
from core.risk import RiskConfig, RiskManager
from core.sizing import PositionSizer, SizingConfig
from core.telemetry import TelemetryConfig
from core.venue.halts import REST_OF_DAY, band_refusal, market_wide_halt
from ports.halts import PriceBand
from tests.fakes.strategies import ScriptedStrategy, long, short
from tests.unit.test_engine import books


@pytest.mark.parametrize("move,minute,expected", [
    (0.099, 600, None), (0.10, 12 * 60, (10, 45)), (-0.10, 13 * 60 + 10, (10, 15)), (0.11, 14 * 60 + 31, None),
    (0.15, 9 * 60 + 30, (15, 105)), (-0.16, 13 * 60 + 30, (15, 45)), (0.15, 14 * 60 + 5, (15, REST_OF_DAY)),
    (0.21, 9 * 60 + 16, (20, REST_OF_DAY)),
])
def test_the_nse_market_wide_circuit_breaker_table(move, minute, expected):
    halt = market_wide_halt(move, minute)
    assert (None if halt is None else (halt.level_pct, halt.minutes)) == expected


def test_a_stock_at_its_circuit_takes_no_new_entry_in_that_direction():
    band = PriceBand(lower_paise=90_00, upper_paise=110_00)
    assert "upper circuit" in band_refusal("X", Direction.LONG, 110_00, band)
    assert band_refusal("X", Direction.SHORT, 110_00, band) is None
    assert "lower circuit" in band_refusal("X", Direction.SHORT, 90_00, band)
    assert band_refusal("X", Direction.LONG, 109_95, band) is None
    assert band_refusal("X", Direction.LONG, 110_00, None) is None


class ScriptedHalts:
    def __init__(self, band=None, halted=()):
        self._band, self._halted = band, list(halted)

    def band(self, symbol, at):
        return self._band

    def market_halt(self, at: datetime):
        return next((reason for start, end, reason in self._halted if start <= at < end), None)


def _engine(script, halts, checkpoint_bars=False):
    store = InMemoryEventStore()
    recorder = EventRecorder(store, stream_id="r:b", run_id="r", namespace=uuid.UUID(int=4), batch_size=50)
    engine = TradingEngine(
        strategy=ScriptedStrategy(script), portfolio=Portfolio(10_000_000_00, FlatPercentCosts(0.0)),
        risk=RiskManager(RiskConfig(gross_exposure_enabled=False, position_limit_enabled=False,
                                    circuit_breaker_enabled=False)),
        sizer=PositionSizer(SizingConfig(method="fixed_quantity", fixed_quantity=10, scale_by_confidence=False)),
        broker=SimulatedBroker(BrokerConfig(), tick_rule=lambda _p, _d: 1), recorder=recorder,
        telemetry=TelemetryConfig(), settings=EngineSettings(product=Product.INTRADAY, checkpoint_bars=checkpoint_bars),
        halts=halts)
    return engine, store


def test_a_long_at_the_upper_circuit_is_rejected_as_an_event():
    series, bk = books(100)
    # the upper circuit is exactly bar 5's close: the long decided there is refused
    engine, store = _engine({("SYN", 5): long(), ("SYN", 6): short()},
                            ScriptedHalts(band=PriceBand(lower_paise=0, upper_paise=int(round(series.close[5] * 100)))))
    engine.run(bk)
    events = [r.event for r in store.read_all(0, 10_000)]
    rejected = [e for e in events if isinstance(e, EntryRejected)]
    assert len(rejected) == 1 and "upper circuit" in rejected[0].reason and rejected[0].direction == "LONG"
    assert [e.reason for e in events if isinstance(e, SignalGenerated)][0] == "price_band"
    assert [e.side for e in events if isinstance(e, OrderSubmitted)][:1] == ["SELL"]  # the short was allowed


def test_a_market_wide_halt_pauses_the_book_and_both_ends_are_events():
    series, bk = books(100)
    start, end = series.bars()[10].end, series.bars()[30].end
    engine, store = _engine({("SYN", 20): long(), ("SYN", 40): long()},
                            ScriptedHalts(halted=[(start, end, "market-wide circuit breaker: index moved 10 %")]),
                            checkpoint_bars=True)
    engine.run(bk)
    events = [r for r in store.read_all(0, 10_000)]
    kinds = [type(r.event) for r in events]
    assert kinds.count(MarketHalted) == 1 and kinds.count(MarketResumed) == 1
    halted_at = next(r.occurred_at for r in events if isinstance(r.event, MarketHalted))
    assert halted_at == start
    submitted = [r for r in events if isinstance(r.event, OrderSubmitted)]
    assert len(submitted) == 1 and submitted[0].occurred_at >= end  # bar 20's signal was never acted on
    # a resume folds the halt: a log that ends inside the halt restores a paused engine
    inside = [r for r in events if r.occurred_at < series.bars()[25].end]
    state = EngineState.from_events(inside, strategy="scripted", portfolio=Portfolio(10_000_000_00,
                                                                                     FlatPercentCosts(0.0)),
                                    product=Product.INTRADAY)
    assert state.market_halted


def test_the_halt_watch_fires_each_level_once_a_day_and_never_past_the_close():
    from datetime import datetime, timedelta, timezone

    from core.venue.halts import MarketHaltWatch

    ist = timezone(timedelta(hours=5, minutes=30))
    watch = MarketHaltWatch()
    at = datetime(2025, 6, 9, 11, 0, tzinfo=ist)
    assert watch.observe(-0.05, at) is None
    reason = watch.observe(-0.11, at)
    assert reason is not None and "45 min" in reason
    assert watch.active(at + timedelta(minutes=59)) == reason and watch.active(at + timedelta(minutes=60)) is None
    assert watch.observe(-0.11, at + timedelta(minutes=61)) is None           # the 10 % level fired today
    late = watch.observe(-0.16, datetime(2025, 6, 9, 14, 10, tzinfo=ist))    # 15 % after 14:00: rest of day
    assert late is not None and "rest of the day" in late
    assert watch.active(datetime(2025, 6, 9, 15, 29, tzinfo=ist)) == late
    assert watch.active(datetime(2025, 6, 9, 15, 30, tzinfo=ist)) is None
    assert watch.observe(-0.11, datetime(2025, 6, 10, 10, 0, tzinfo=ist)) is not None   # a new day
