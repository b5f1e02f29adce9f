"""Skipping quiet bars (strategies with ``decision_bars``) records exactly what stepping every bar does."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from adapters.memory import InMemoryEventStore
from adapters.simulated import BrokerConfig, SimulatedBroker
from adapters.simulated.synthetic import synthetic_minute_series
from core.costs import FlatPercentCosts
from core.engine.engine import EngineSettings, TradingEngine
from core.engine.recorder import EventRecorder
from core.events.codec import encode_payload
from core.features.book import FeatureBook
from core.model import Direction
from core.orders import Product
from core.portfolio import Portfolio
from core.risk import RiskConfig, RiskManager
from core.sizing import PositionSizer, SizingConfig
from core.strategies import SmaCrossStrategy
from core.strategies.base import FLAT_POSITION, PositionView
from core.telemetry import TelemetryConfig


class EveryBar:
    """The same strategy without ``decision_bars``: the engine steps every bar."""

    def __init__(self, inner: SmaCrossStrategy) -> None:
        self._inner = inner
        self.name, self.kind = inner.name, inner.kind

    def feature_spec(self):
        return self._inner.feature_spec()

    def decide(self, *args, **kwargs):
        return self._inner.decide(*args, **kwargs)


def run(strategy, product: Product, *, circuit_breaker: bool, n: int = 6000, progress=None):
    series = synthetic_minute_series(n, seed=11, symbol="SYN")
    book = FeatureBook.from_series(series, list(SmaCrossStrategy(fast=5, slow=20).feature_spec().values()))
    store = InMemoryEventStore()
    recorder = EventRecorder(store, stream_id="r:book", run_id="r", namespace=uuid.UUID(int=9), batch_size=97)
    risk = RiskConfig(gross_exposure_enabled=False, position_limit_enabled=False,
                      circuit_breaker_enabled=circuit_breaker)
    engine = TradingEngine(
        strategy=strategy, portfolio=Portfolio(10_000_000_00, FlatPercentCosts(0.001)), risk=RiskManager(risk),
        sizer=PositionSizer(SizingConfig(method="fixed_quantity", fixed_quantity=100, scale_by_confidence=False)),
        broker=SimulatedBroker(BrokerConfig(), tick_rule=lambda _p, _d: 1), recorder=recorder,
        telemetry=TelemetryConfig(), settings=EngineSettings(product=product))
    result = engine.run({"SYN": book}, progress=progress, progress_every=1000)
    stream = [(r.stream_version, r.type, r.occurred_at, r.causation_id, encode_payload(r.event))
              for r in store.read_all(0, 10**6)]
    return result, stream


@pytest.mark.parametrize("product, circuit_breaker", [(Product.DELIVERY, False), (Product.INTRADAY, False),
                                                      (Product.DELIVERY, True)])
def test_skipping_quiet_bars_records_the_same_events_as_stepping_every_bar(product, circuit_breaker):
    fast = SmaCrossStrategy(fast=5, slow=20)
    skipped, events_skipped = run(fast, product, circuit_breaker=circuit_breaker)
    stepped, events_stepped = run(EveryBar(SmaCrossStrategy(fast=5, slow=20)), product,
                                  circuit_breaker=circuit_breaker)
    assert skipped == stepped
    assert events_skipped == events_stepped
    assert skipped.trades_closed > 20 and skipped.bars_processed == 6000


def test_progress_still_counts_every_bar():
    reports: list[int] = []
    run(SmaCrossStrategy(fast=5, slow=20), Product.DELIVERY, circuit_breaker=False, progress=reports.append)
    assert sum(reports) == 6000


def test_decision_bars_marks_every_bar_where_decide_can_signal():
    strategy = SmaCrossStrategy(fast=5, slow=20)
    series = synthetic_minute_series(3000, seed=5, symbol="SYN")
    book = FeatureBook.from_series(series, list(strategy.feature_spec().values()))
    mask = strategy.decision_bars(book)
    long = PositionView(direction=Direction.LONG, quantity=100, entry_price=1.0, entry_index=0, entry_session=0)
    signalled = [i for i in range(len(book))
                 if any(strategy.decide(book, i, pos, None) is not None for pos in (FLAT_POSITION, long))]
    assert signalled and np.flatnonzero(mask).tolist() == signalled
