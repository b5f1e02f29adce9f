"""EngineState.from_events: folding a book stream restores an engine that continues identically."""

from __future__ import annotations

import random
import uuid

import pytest

from adapters.memory import InMemoryEventStore
from adapters.simulated import BrokerConfig, SimulatedBroker
from adapters.simulated.synthetic import synthetic_minute_series
from core.costs import FlatPercentCosts
from core.engine.engine import EngineSettings, TradingEngine
from core.engine.recorder import EventRecorder
from core.engine.state import EngineState, StateRebuildError
from core.events.catalog import EngineCheckpointed, OrderFilled
from core.events.codec import converter
from core.features.book import FeatureBook
from core.orders import Product
from core.portfolio import Portfolio
from core.risk import RiskConfig, RiskManager
from core.sizing import PositionSizer, SizingConfig
from core.telemetry import TelemetryConfig
from tests.fakes.strategies import ScriptedStrategy, flat, long, short

CASH = 10_000_000_00
# a tight daily loss cap so the breaker trips on some days
RISK = RiskConfig(gross_exposure_enabled=False, position_limit_enabled=False, daily_loss_cap=0.0005)


def random_script(series, seed: int) -> dict:
    rng = random.Random(seed)
    script = {}
    for i in range(0, len(series), 7):
        roll = rng.random()
        close = float(series.close[i])
        if roll < 0.3:
            script[("SYN", i)] = long(stop_loss=round(close * 0.996, 2), take_profit=round(close * 1.004, 2))
        elif roll < 0.5:
            script[("SYN", i)] = short(stop_loss=round(close * 1.004, 2), take_profit=round(close * 0.996, 2))
        elif roll < 0.65:
            script[("SYN", i)] = flat()
        elif roll < 0.75:
            script[("SYN", i)] = long()
    return script


def make(store, script, product, version=0):
    portfolio = Portfolio(CASH, FlatPercentCosts(0.001))
    recorder = EventRecorder(store, stream_id="r:book", run_id="r", namespace=uuid.UUID(int=5), batch_size=10_000,
                             expected_version=version)
    engine = TradingEngine(
        strategy=ScriptedStrategy(script), portfolio=portfolio, risk=RiskManager(RISK),
        sizer=PositionSizer(SizingConfig(method="fixed_quantity", fixed_quantity=2000, scale_by_confidence=False)),
        broker=SimulatedBroker(BrokerConfig(slippage_bps=2), tick_rule=lambda _p, _d: 5), recorder=recorder,
        telemetry=TelemetryConfig(sample_rate=0.5, min_seconds_between=600),
        settings=EngineSettings(product=product, checkpoint_bars=True))
    return engine, portfolio


def events(store):
    return [(r.type, converter.unstructure(r.event)) for r in store.read_stream("r:book")]


@pytest.mark.parametrize("product", [Product.INTRADAY, Product.DELIVERY])
@pytest.mark.parametrize("seed", [1, 2])
def test_restore_at_any_checkpoint_continues_exactly_like_the_uninterrupted_engine(product, seed):
    series = synthetic_minute_series(3000, seed=seed, symbol="SYN")
    script = random_script(series, seed)
    full_store = InMemoryEventStore()
    engine, _ = make(full_store, script, product)
    book = FeatureBook.from_series(series, [])
    for i in range(len(book)):
        engine.step(book, i)
    engine.finish()
    expected = events(full_store)
    kinds = {t for t, _ in expected}
    assert {"order.filled", "trade.closed", "risk.circuit_breaker_tripped", "prediction.traced"} <= kinds
    checkpoints = [r for r in full_store.read_stream("r:book") if isinstance(r.event, EngineCheckpointed)]
    rng = random.Random(seed)
    for cut in rng.sample(checkpoints, 12):
        # the log as it was right after this checkpoint (a crash at any later point loses nothing else)
        store = InMemoryEventStore()
        prefix = full_store.read_stream("r:book")[:cut.stream_version]
        store.append("r:book", 0, [converter_copy(r) for r in prefix], run_id="r")
        engine2, portfolio = make(store, script, product, version=cut.stream_version)
        state = EngineState.from_events(store.read_stream("r:book"), strategy="scripted", portfolio=portfolio,
                                        product=product)
        last = state.resume_after_ns
        done = [k for k in range(len(series)) if int(series.start_ns[k]) <= last]
        live = FeatureBook.empty("SYN", series.interval, [])
        bars = series.bars()
        for k in done:
            live.append(bars[k])
        engine2.restore(state, {"SYN": live})
        venue = engine2.broker
        venue_bars = {s: engine2.venue_bar(live, _ns(t)) for s, t in state.checkpoint.venue_bars.items()}
        venue.restore([(o.request, o.reason, o.parent_id) for o in state.venue_orders.values()],
                      state.venue_positions, {s: b for s, b in venue_bars.items() if b is not None})
        assert venue.positions() == {s: p.quantity for s, p in portfolio.positions.items() if p.quantity}
        for k in range(len(done), len(series)):
            engine2.step(live, live.append(bars[k]))
        engine2.finish()
        assert events(store) == expected, f"diverged after restoring at v{cut.stream_version}"


def converter_copy(recorded):
    from core.events.base import NewEvent
    return NewEvent(event=recorded.event, occurred_at=recorded.occurred_at, event_id=recorded.event_id,
                    causation_id=recorded.causation_id, correlation_id=recorded.correlation_id)


def _ns(text):
    from datetime import datetime

    from core.engine.state import datetime_to_ns
    return datetime_to_ns(datetime.fromisoformat(text))


def test_duplicate_fill_in_the_log_is_folded_once_and_a_contradiction_is_refused():
    series = synthetic_minute_series(400, seed=9, symbol="SYN")
    store = InMemoryEventStore()
    engine, _ = make(store, {("SYN", 5): long(), ("SYN", 50): flat()}, Product.DELIVERY)
    book = FeatureBook.from_series(series, [])
    for i in range(len(book)):
        engine.step(book, i)
    engine.finish()
    log = store.read_stream("r:book")
    first_fill = next(k for k, r in enumerate(log) if isinstance(r.event, OrderFilled))
    doubled = log[:first_fill + 1] + [log[first_fill]] + log[first_fill + 1:]
    once = EngineState.from_events(log, strategy="scripted", portfolio=Portfolio(CASH, FlatPercentCosts(0.001)),
                                   product=Product.DELIVERY)
    twice = EngineState.from_events(doubled, strategy="scripted",
                                    portfolio=Portfolio(CASH, FlatPercentCosts(0.001)), product=Product.DELIVERY)
    assert twice.portfolio.cash_paise == once.portfolio.cash_paise
    assert once.trades_closed == 1 and once.order_seq == 2 and not once.open
    with pytest.raises(StateRebuildError, match="cost model"):
        EngineState.from_events(log, strategy="scripted", portfolio=Portfolio(CASH, FlatPercentCosts(0.002)),
                                product=Product.DELIVERY)
