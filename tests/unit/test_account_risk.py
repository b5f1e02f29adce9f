"""Two books trading one account share one risk manager: one daily-loss cap, one exposure cap."""

from __future__ import annotations

import uuid
from datetime import date

from adapters.memory import InMemoryEventStore
from adapters.simulated import BrokerConfig, SimulatedBroker
from adapters.simulated.synthetic import synthetic_minute_series
from core.costs import FlatPercentCosts
from core.engine.engine import EngineSettings, TradingEngine
from core.engine.recorder import EventRecorder
from core.events.catalog import CircuitBreakerTripped, EntryRejected, OrderSubmitted
from core.features.book import FeatureBook
from core.orders import Product
from core.portfolio import Portfolio
from core.risk import AccountRisk, RiskConfig
from core.sizing import PositionSizer, SizingConfig
from core.telemetry import TelemetryConfig
from tests.fakes.strategies import ScriptedStrategy, long

CAP = RiskConfig(gross_exposure_enabled=False, position_limit_enabled=False, daily_loss_cap=0.001)


class Book:
    def __init__(self, name, account, store, script, cash=1_000_000_00):
        self.portfolio = Portfolio(cash, FlatPercentCosts(0.0))
        recorder = EventRecorder(store, stream_id=f"r:{name}", run_id="r", namespace=uuid.UUID(int=3), batch_size=1)
        self.engine = TradingEngine(
            strategy=ScriptedStrategy(script, name=name), portfolio=self.portfolio,
            risk=account.attach(name, self.portfolio),
            sizer=PositionSizer(SizingConfig(method="fixed_quantity", fixed_quantity=2000, scale_by_confidence=False)),
            broker=SimulatedBroker(BrokerConfig(), tick_rule=lambda _p, _d: 1), recorder=recorder,
            telemetry=TelemetryConfig(), settings=EngineSettings(product=Product.INTRADAY))


def test_a_loss_in_one_book_trips_the_account_breaker_and_blocks_entries_in_the_other():
    series = synthetic_minute_series(300, seed=11, symbol="AAA")
    other = synthetic_minute_series(300, seed=11, symbol="BBB")
    # a long that then loses more than Rs 1.5 a share on 2000 shares: more than the Rs 2000 cap
    falling = [i for i in range(5, 200) if min(series.low[i + 2:i + 40]) < series.open[i + 1] - 1.5]
    assert falling, "the synthetic walk needs a fall for this test"
    entry = falling[0]
    account, store = AccountRisk(CAP), InMemoryEventStore()
    a = Book("a", account, store, {("AAA", entry): long()})
    b = Book("b", account, store, {("BBB", entry + 45): long()})
    books_a = {"AAA": FeatureBook.from_series(series, [])}
    books_b = {"BBB": FeatureBook.from_series(other, [])}
    for i in range(len(series)):  # one process: both books step on each bar, in time order
        a.engine.step(books_a["AAA"], i)
        b.engine.step(books_b["BBB"], i)
    a.engine.finish(), b.engine.finish()
    a_events = [r.event for r in store.read_stream("r:a")]
    b_events = [r.event for r in store.read_stream("r:b")]
    trips = [e for e in a_events if isinstance(e, CircuitBreakerTripped)]
    assert len(trips) == 1
    # the limit is the account's: 0.1% of both books' opening equity together
    assert trips[0].limit_paise == 2_000_00
    rejected = [e for e in b_events if isinstance(e, EntryRejected)]
    assert rejected and "circuit breaker" in rejected[0].reason
    assert not [e for e in b_events if isinstance(e, OrderSubmitted)]
    assert not [e for e in b_events if isinstance(e, CircuitBreakerTripped)]


def test_the_account_opens_each_session_with_the_sum_of_the_books_equities():
    account = AccountRisk(CAP)
    p1, p2 = Portfolio(300_00, FlatPercentCosts(0.0)), Portfolio(700_00, FlatPercentCosts(0.0))
    r1, r2 = account.attach("one", p1), account.attach("two", p2)
    r1.start_session(date(2024, 1, 2), 300_00)
    assert account.manager.start_of_day_equity_paise == 1000_00
    r2.start_session(date(2024, 1, 2), 700_00)
    assert account.manager.start_of_day_equity_paise == 1000_00 and not r2.entries_blocked


def test_a_books_view_reports_its_opening_equity_and_the_accounts_loss_limit():
    account = AccountRisk(RiskConfig(daily_loss_cap=0.02))
    a = account.attach("intraday", Portfolio(1_000_000, FlatPercentCosts(0.0)))
    b = account.attach("swing", Portfolio(3_000_000, FlatPercentCosts(0.0)))
    assert a.start_of_day_equity_paise is None
    a.start_session(date(2025, 6, 9), 1_000_000)
    b.start_session(date(2025, 6, 9), 3_000_000)
    assert (a.start_of_day_equity_paise, b.start_of_day_equity_paise) == (1_000_000, 3_000_000)
    assert a.daily_loss_limit_paise() == b.daily_loss_limit_paise() == 80_000   # 2 % of the account's 40,000 Rs
