"""The trading loop with scripted decisions: timing, accounting, events, determinism."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from adapters.memory import InMemoryEventStore
from adapters.simulated import BrokerConfig, SimulatedBroker
from adapters.simulated.synthetic import synthetic_minute_series
from core.costs import FlatPercentCosts
from core.engine.engine import EngineSettings, TradingEngine
from core.engine.recorder import EventRecorder
from core.events.catalog import (
    OrderFilled,
    OrderSubmitted,
    PortfolioSnapshotted,
    PredictionTraced,
    SignalGenerated,
    TradeClosed,
)
from core.events.codec import encode_payload
from core.features.book import FeatureBook
from core.orders import Product
from core.portfolio import Portfolio
from core.risk import RiskConfig, RiskManager
from core.sizing import PositionSizer, SizingConfig
from core.telemetry import TelemetryConfig
from tests.fakes.strategies import ScriptedStrategy, flat, long, short

NO_LIMITS = RiskConfig(gross_exposure_enabled=False, position_limit_enabled=False, circuit_breaker_enabled=False)


def make_engine(script, *, store=None, telemetry=TelemetryConfig(), stop=None, cash=10_000_000_00):
    store = store or InMemoryEventStore()
    recorder = EventRecorder(store, stream_id="run1:book", run_id="run1", namespace=uuid.UUID(int=1),
                             batch_size=7)
    engine = TradingEngine(
        strategy=ScriptedStrategy(script), portfolio=Portfolio(cash, FlatPercentCosts(0.001)),
        risk=RiskManager(NO_LIMITS), sizer=PositionSizer(SizingConfig(method="fixed_quantity", fixed_quantity=100,
                                                                      scale_by_confidence=False)),
        broker=SimulatedBroker(BrokerConfig(), tick_rule=lambda _p, _d: 1), recorder=recorder,
        telemetry=telemetry, settings=EngineSettings(product=Product.DELIVERY))
    return engine, store


def books(n=800, seed=3):
    series = synthetic_minute_series(n, seed=seed, symbol="SYN")
    return series, {"SYN": FeatureBook.from_series(series, [])}


def test_market_orders_fill_at_next_bar_open_and_trade_pnl_is_exact():
    series, bk = books()
    engine, store = make_engine({("SYN", 5): long(), ("SYN", 20): flat()})
    result = engine.run(bk)
    events = [r.event for r in store.read_all(0, 10_000)]
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert [f.price_paise for f in fills] == [round(series.open[6] * 100), round(series.open[21] * 100)]
    trade = next(e for e in events if isinstance(e, TradeClosed))
    gross = (fills[1].price_paise - fills[0].price_paise) * 100
    assert trade.gross_pnl_paise == gross
    assert trade.fees_paise == fills[0].fees_paise + fills[1].fees_paise
    assert trade.net_pnl_paise == gross - trade.fees_paise
    assert result.final_equity_paise == 10_000_000_00 + trade.net_pnl_paise
    assert result.trades_closed == 1


def test_every_event_reconciles_cash_positions_and_equity():
    from tests.invariants import assert_books_reconcile
    from core.events.catalog import RunStarted
    from core.events.base import NewEvent
    from datetime import datetime, timezone

    series, bk = books(2000)
    script = {}
    for k, i in enumerate(range(10, 1900, 37)):
        script[("SYN", i)] = (long() if k % 3 else short()) if k % 2 == 0 else flat()
    store = InMemoryEventStore()
    store.append("run1:run", 0, [NewEvent(event=RunStarted(
        mode="backtest", config={"initial_cash_paise_by_book": {"book": 10_000_000_00}}, config_hash="x",
        code_version="x", data_fingerprint="x", symbols=["SYN"], strategies=["book"],
        initial_cash_paise=10_000_000_00, seed=1), occurred_at=datetime(2015, 1, 1, tzinfo=timezone.utc))],
        run_id="run1")
    engine, _ = make_engine(script, store=store)
    engine.run(bk)
    events = store.read_all(0, 100_000)
    assert sum(isinstance(r.event, TradeClosed) for r in events) >= 20
    assert assert_books_reconcile(events) > 100
    snapshots = [r.event for r in events if isinstance(r.event, PortfolioSnapshotted)]
    assert len(snapshots) == len(set(bk["SYN"].session))


def test_stream_versions_are_contiguous_and_decisions_precede_orders():
    _, bk = books()
    engine, store = make_engine({("SYN", 5): long(), ("SYN", 30): flat()})
    engine.run(bk)
    recs = store.read_stream("run1:book")
    assert [r.stream_version for r in recs] == list(range(1, len(recs) + 1))
    types = [type(r.event).__name__ for r in recs]
    assert types.index("SignalGenerated") < types.index("OrderSubmitted") < types.index("OrderFilled")
    submitted = next(r for r in recs if isinstance(r.event, OrderSubmitted))
    signal = next(r for r in recs if isinstance(r.event, SignalGenerated))
    assert submitted.causation_id == signal.event_id


def test_stop_loss_bracket_closes_the_trade_with_reason():
    series, bk = books()
    entry_open = series.open[6]
    script = {("SYN", 5): long(stop_loss=entry_open - 0.5, take_profit=entry_open + 1000)}
    engine, store = make_engine(script)
    engine.run(bk)
    trades = [r.event for r in store.read_all(0, 10_000) if isinstance(r.event, TradeClosed)]
    assert len(trades) == 1 and trades[0].exit_reason == "stop_loss"
    assert trades[0].exit_price_paise <= round((entry_open - 0.5) * 100)


def test_same_inputs_give_byte_identical_payloads_and_sampling_is_seeded():
    _, bk = books(3000)
    script = {("SYN", i): (long() if (i // 40) % 2 == 0 else flat()) for i in range(10, 2900, 40)}

    def digest(seed):
        engine, store = make_engine(script, telemetry=TelemetryConfig(sample_rate=0.5, seed=seed))
        engine.run(bk)
        recs = store.read_all(0, 100_000)
        traces = [r.event.timestamp for r in recs if isinstance(r.event, PredictionTraced)]
        return hashlib.sha256(b"".join(encode_payload(r.event).encode() for r in recs)).hexdigest(), traces

    first, traces_a = digest(11)
    second, traces_b = digest(11)
    other, traces_c = digest(12)
    assert first == second and traces_a == traces_b
    assert 0 < len(traces_a) < 36
    assert traces_c != traces_a


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_telemetry_rate_bounds(rate):
    _, bk = books()
    engine, store = make_engine({("SYN", 5): long(), ("SYN", 20): flat()},
                                telemetry=TelemetryConfig(sample_rate=rate))
    engine.run(bk)
    traces = [r.event for r in store.read_all(0, 10_000) if isinstance(r.event, PredictionTraced)]
    assert len(traces) == int(rate)
    if traces:
        t = traces[0]
        assert t.metadata["exit_reason"] == "scripted exit"
        assert t.metadata["total_fees"] == pytest.approx(t.metadata["entry_fees"] + t.metadata["exit_fees"])


def test_daily_loss_breaker_trips_once_blocks_entries_for_the_session_and_resets_next_session():
    from core.events.catalog import CircuitBreakerTripped, EntryRejected

    series, bk = books(3 * 375, seed=11)
    book = bk["SYN"]
    first_day = [i for i in range(len(book)) if book.session[i] == book.session[0]]
    second_day_start = first_day[-1] + 1
    # A big long early on day 1, then keep asking for entries all day and on day 2.
    script = {("SYN", 5): long(stop_loss=None)}
    script.update({("SYN", i): long() for i in range(200, 370, 10)})
    script[("SYN", 100)] = flat()
    script.update({("SYN", second_day_start + 5): long()})
    store = InMemoryEventStore()
    recorder = EventRecorder(store, stream_id="run1:book", run_id="run1", namespace=uuid.UUID(int=2), batch_size=50)
    engine = TradingEngine(
        strategy=ScriptedStrategy(script), portfolio=Portfolio(100_000_00, FlatPercentCosts(0.001)),
        # A 0.01 % daily-loss cap on a position of almost the whole account trips quickly.
        risk=RiskManager(RiskConfig(max_gross_exposure=1.0, max_position_fraction=1.0, daily_loss_cap=0.0001)),
        sizer=PositionSizer(SizingConfig(method="fixed_fraction", fraction=0.9, scale_by_confidence=False)),
        broker=SimulatedBroker(BrokerConfig(), tick_rule=lambda _p, _d: 1), recorder=recorder,
        telemetry=TelemetryConfig(), settings=EngineSettings(product=Product.INTRADAY))
    engine.run(bk)
    recs = store.read_all(0, 100_000)
    trips = [r for r in recs if isinstance(r.event, CircuitBreakerTripped)]
    sessions = [r.event.session_date for r in trips]
    assert trips and len(sessions) == len(set(sessions)), "the breaker trips at most once per session"
    tripped_at = trips[0].occurred_at
    rejected = [r for r in recs if isinstance(r.event, EntryRejected)]
    day1_rejections = [r for r in rejected if r.occurred_at.date() == tripped_at.date() and r.occurred_at > tripped_at]
    assert day1_rejections and all("circuit breaker" in r.event.reason for r in day1_rejections)
    later_entries = [r for r in recs if isinstance(r.event, OrderSubmitted) and r.occurred_at.date() > tripped_at.date()]
    assert later_entries, "entries are allowed again in the next session"


def test_intraday_book_on_shipped_tcs_never_holds_a_position_overnight():
    from pathlib import Path

    from adapters.csv import CsvFeed
    from core.model import Interval
    from core.strategies import IntradayConfig, IntradayStrategy, SentimentGateConfig
    from zoneinfo import ZoneInfo

    root = Path(__file__).resolve().parents[2] / "data" / "market"
    series = CsvFeed(root).history_series("TCS", Interval.MINUTE_1)
    strategy = IntradayStrategy(IntradayConfig(), SentimentGateConfig())
    book = {"TCS": FeatureBook.from_series(series, list(strategy.feature_spec().values()))}
    store = InMemoryEventStore()
    recorder = EventRecorder(store, stream_id="r:intraday", run_id="r", namespace=uuid.UUID(int=3), batch_size=500)
    engine = TradingEngine(
        strategy=strategy, portfolio=Portfolio(10_00_000_00, FlatPercentCosts(0.0003)), risk=RiskManager(NO_LIMITS),
        sizer=PositionSizer(SizingConfig()), broker=SimulatedBroker(BrokerConfig(slippage_bps=2)),
        recorder=recorder, telemetry=TelemetryConfig(), settings=EngineSettings(product=Product.INTRADAY))
    engine.run(book)
    ist = ZoneInfo("Asia/Kolkata")
    trades = [r.event for r in store.read_all(0, 1_000_000) if isinstance(r.event, TradeClosed)]
    assert len(trades) > 50
    for t in trades:
        entry, exit_ = t.entry_time.astimezone(ist), t.exit_time.astimezone(ist)
        assert entry.date() == exit_.date(), t
        assert (exit_.hour, exit_.minute) <= (15, 29), t
    snapshots = [r.event for r in store.read_all(0, 1_000_000) if isinstance(r.event, PortfolioSnapshotted)]
    assert all(not s.positions for s in snapshots), "every session ends flat"
