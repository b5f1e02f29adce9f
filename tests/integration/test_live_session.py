"""`run_live` end to end over the fake Breeze SDK: warm-up from history, websocket bars, real-order adapter."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.memory import InMemoryEventStore
from applications.services.books import BacktestConfig, SentimentSettings
from applications.roots.live import LiveNotConfirmedError, LiveOptions, run_live
from applications.roots.paper import PaperOptions, run_paper_on_live_data
from core.errors import ConfigError
from tests.fakes.breeze_sdk import FakeBreezeSDK, minute_candles

IST = timezone(timedelta(hours=5, minutes=30))
CREDS = {"BREEZE_API_KEY": "key-abc", "BREEZE_API_SECRET": "secret-xyz", "BREEZE_SESSION_TOKEN": "token-123"}


class TickingClock:
    """Every ``now()`` moves time on by ``step`` (the live loop polls the clock between ticks)."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self._now, self._step = start, step

    def now(self) -> datetime:
        self._now += self._step
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request, tmp_path):
    """The event store the live scenarios run on: in memory, SQLite and PostgreSQL (own schema)."""
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    from applications.wiring.store import open_store
    url = f"sqlite:///{tmp_path / 'live.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = open_store(url, durable=True)
    yield opened
    opened.close()


def fake_sdk(day: datetime) -> FakeBreezeSDK:
    sdk = FakeBreezeSDK(CREDS["BREEZE_API_KEY"])
    for back in (5, 4, 3):
        sdk.add_candles("TCS", "1minute", minute_candles(day - timedelta(days=back), code="TCS", start_price=3800.0))
    sdk.ticks_on_subscribe = [dict(row, interval="1minute") for row in minute_candles(day, code="TCS",
                                                                                       start_price=3790.0)]
    sdk.quotes["TCS"] = {"ltp": 3790.0, "upper_circuit": 4169.0, "lower_circuit": 3411.0}
    return sdk


def test_live_session_warms_up_from_history_and_trades_websocket_bars(tmp_path):
    day = datetime(2025, 6, 9)
    sdk = fake_sdk(day)
    config = BacktestConfig(strategy="intraday")  # live sentiment: the registry (headlines + neutral fallback)
    store = InMemoryEventStore()
    clock = TickingClock(datetime(2025, 6, 9, 9, 10, tzinfo=IST), timedelta(seconds=40))
    result = run_live(config, store=store, confirm_live=True, environ=CREDS, dotenv_path=tmp_path / "none.env",
                      sdk_factory=lambda _key: sdk, clock=clock, run_id="L",
                      orders_dir=tmp_path / "orders", options=LiveOptions(warmup_days=6, tick_poll_seconds=0.001))
    assert result.status == "completed"
    assert result.bars >= 300  # the live day's bars were traded (the warm-up ones were not)
    events = store.read_stream("L:intraday")
    assert events and events[-1].type == "engine.checkpointed"
    assert sdk.count("get_historical_data_v2") >= 1 and sdk.subscribed == []  # unsubscribed on the way out
    submitted = [r.event for r in events if r.type == "order.submitted"]
    assert submitted and not [r for r in events if r.type == "order.rejected"]
    # the entry reached Breeze once, as an aggressive limit tagged with our client id; the unfilled
    # entry stays pending, so no second order was sent for the same position
    assert len(sdk.orders) == len(submitted) == 1
    placed = next(iter(sdk.orders.values()))
    assert placed["order_type"] == "Limit" and placed["user_remark"]
    assert "breeze_connect" not in __import__("sys").modules


def test_live_refusals_come_before_any_network_call(tmp_path):
    config = BacktestConfig(strategy="intraday", sentiment=SentimentSettings(enabled=False))
    calls = []
    with pytest.raises(LiveNotConfirmedError, match="--confirm-live"):
        run_live(config, store=InMemoryEventStore(), confirm_live=False, environ=CREDS,
                 sdk_factory=lambda key: calls.append(key))
    with pytest.raises(ConfigError, match="BREEZE_SESSION_TOKEN"):
        run_live(config, store=InMemoryEventStore(), confirm_live=True,
                 environ={k: v for k, v in CREDS.items() if k != "BREEZE_SESSION_TOKEN"},
                 dotenv_path=tmp_path / "none.env", sdk_factory=lambda key: calls.append(key))
    assert calls == []


def test_paper_on_live_breeze_data_simulates_fills_and_sends_no_order(tmp_path):
    day = datetime(2025, 6, 9)
    sdk = fake_sdk(day)
    config = BacktestConfig(strategy="intraday", sentiment=SentimentSettings(enabled=False))
    store = InMemoryEventStore()
    clock = TickingClock(datetime(2025, 6, 9, 9, 10, tzinfo=IST), timedelta(seconds=40))
    result = run_paper_on_live_data(config, store=store, warmup_days=6, clock=clock, sdk_factory=lambda _key: sdk,
                                    environ=CREDS, dotenv_path=tmp_path / "none.env", tick_poll_seconds=0.001,
                                    sentiment=None, run_id="P", options=PaperOptions(replay_speed=0))
    assert result.status == "completed" and result.bars >= 300
    kinds = [r.type for r in store.read_stream("P:intraday")]
    assert kinds.count("order.filled") >= 2 and "trade.closed" in kinds  # simulated venue on live prices
    assert sdk.orders == {} and sdk.count("place_order") == 0


def falling_minute_candles(day: datetime, code: str, start_price: float) -> list[dict]:
    """The mirror image of ``minute_candles``: a gentle deterministic fall (the intraday rule's short setup)."""
    rows = minute_candles(day, code=code, start_price=start_price)
    out, price = [], start_price
    for row in rows:
        o = price
        c = round(o - (float(row["close"]) - float(row["open"])), 2)
        out.append(dict(row, open=o, high=max(o, c) + 0.2, low=min(o, c) - 0.3, close=c))
        price = c
    return out


def test_a_short_signal_in_live_is_rejected_with_the_venue_reason_and_never_sent(tmp_path, store):
    day = datetime(2025, 6, 9)
    sdk = FakeBreezeSDK(CREDS["BREEZE_API_KEY"])
    for back in (5, 4, 3):
        sdk.add_candles("TCS", "1minute", falling_minute_candles(day - timedelta(days=back), "TCS", 3800.0))
    sdk.ticks_on_subscribe = [dict(row, interval="1minute") for row in falling_minute_candles(day, "TCS", 3790.0)]
    sdk.quotes["TCS"] = {"ltp": 3790.0, "upper_circuit": 4169.0, "lower_circuit": 3411.0}
    config = BacktestConfig(strategy="intraday", sentiment=SentimentSettings(enabled=False))
    logged: list[str] = []
    clock = TickingClock(datetime(2025, 6, 9, 9, 10, tzinfo=IST), timedelta(seconds=40))
    result = run_live(config, store=store, confirm_live=True, environ=CREDS, dotenv_path=tmp_path / "none.env",
                      sdk_factory=lambda _key: sdk, clock=clock, run_id="S", sentiment=None, log=logged.append,
                      orders_dir=tmp_path / "orders", options=LiveOptions(warmup_days=6, tick_poll_seconds=0.001))
    assert result.status == "completed"
    events = store.read_stream("S:intraday")
    rejected = [r.event for r in events if r.type == "risk.entry_rejected"]
    assert rejected, "the falling day should have produced a short setup"
    assert all(e.direction == "SHORT" for e in rejected)
    assert "Breeze cash: no short selling" in rejected[0].reason
    assert sdk.count("place_order") == 0 and not [r for r in events if r.type == "order.submitted"]
    # the start warned that this book's short entries will be rejected, naming the setting
    assert any("intraday.strategy.allow_short" in line for line in logged)
    started = [r.event for r in store.read_stream("S:run") if r.type == "run.started"][0]
    assert started.config["venue_rules"] == "breeze_cash"


def test_live_scores_decisions_with_the_champion_fixed_at_the_session_start(tmp_path):
    from tests.fakes.predictor import FakePredictor

    day = datetime(2025, 6, 9)
    sdk = fake_sdk(day)
    champion = FakePredictor(model_id="student-champion")
    asked: list[str] = []
    store = InMemoryEventStore()
    clock = TickingClock(datetime(2025, 6, 9, 9, 10, tzinfo=IST), timedelta(seconds=40))
    result = run_live(BacktestConfig(strategy="intraday", sentiment=SentimentSettings(enabled=False)), store=store,
                      confirm_live=True, environ=CREDS, dotenv_path=tmp_path / "none.env", sdk_factory=lambda _k: sdk,
                      clock=clock, run_id="M", orders_dir=tmp_path / "orders", model="production",
                      model_loader=lambda requested: asked.append(requested) or champion,
                      options=LiveOptions(warmup_days=6, tick_poll_seconds=0.001))
    assert result.status == "completed" and asked == ["production"] and champion.calls
    selected = [r.event for r in store.read_stream("M:run") if r.type == "session.model_selected"]
    assert [(e.requested, e.model_id) for e in selected] == [("production", "student-champion")]
    signals = [r.event for r in store.read_stream("M:intraday") if r.type == "signal.generated"]
    assert signals and all(s.signals["model_id"] == "student-champion" for s in signals)


def test_a_fresh_live_session_refuses_to_start_on_holdings_it_did_not_open(tmp_path, store):
    from core.errors import ReconciliationError

    day = datetime(2025, 6, 9)
    sdk = fake_sdk(day)
    # documented get_portfolio_holdings rows: settled delivery shares, numbers as strings
    sdk.holdings = [{"stock_code": "TCS", "exchange_code": "NSE", "quantity": "7", "average_price": "3701.25",
                     "current_market_price": "3790.00", "booked_profit_loss": "0"},
                    {"stock_code": "ITC", "exchange_code": "NSE", "quantity": "100", "average_price": "420.00",
                     "current_market_price": "421.00", "booked_profit_loss": "0"}]
    clock = TickingClock(datetime(2025, 6, 9, 9, 10, tzinfo=IST), timedelta(seconds=40))
    with pytest.raises(ReconciliationError, match="already holds positions") as refused:
        run_live(BacktestConfig(strategy="intraday", sentiment=SentimentSettings(enabled=False)), store=store,
                 confirm_live=True, environ=CREDS, dotenv_path=tmp_path / "none.env", sdk_factory=lambda _k: sdk,
                 clock=clock, run_id="H", orders_dir=tmp_path / "orders",
                 options=LiveOptions(warmup_days=6, tick_poll_seconds=0.001))
    assert "TCS: log holds 0 shares, broker holds 7" in str(refused.value)
    assert "ITC" not in str(refused.value)  # a stock no book trades is the owner's business
    assert sdk.count("place_order") == 0
    run_events = [r for r in store.read_stream("H:run")]
    corrected = [r.event for r in run_events if r.type == "reconciliation.position_reconciled"]
    assert [(e.symbol, e.log_quantity, e.broker_quantity) for e in corrected] == [("TCS", 0, 7)]
    assert "did not open" in corrected[0].action
    done = [r.event for r in run_events if r.type == "reconciliation.completed"]
    assert done and done[-1].ok is False
    # nothing was traded
    assert not [r for r in store.read_stream("H:intraday") if r.type == "order.submitted"]


def test_live_sizes_from_the_brokers_available_funds_capped_by_the_configured_capital(tmp_path, store):
    day = datetime(2025, 6, 9)

    def start(sdk, run_id):
        clock = TickingClock(datetime(2025, 6, 9, 9, 10, tzinfo=IST), timedelta(seconds=40))
        return run_live(BacktestConfig(strategy="intraday", sentiment=SentimentSettings(enabled=False)), store=store,
                        confirm_live=True, environ=CREDS, dotenv_path=tmp_path / "none.env",
                        sdk_factory=lambda _k: sdk, clock=clock, run_id=run_id, orders_dir=tmp_path / "orders",
                        options=LiveOptions(warmup_days=6, tick_poll_seconds=0.001))

    sdk = fake_sdk(day)  # allocated equity Rs 50,000.00, Rs 1,200.50 blocked by trades
    start(sdk, "F")
    observed = [r.event for r in store.read_stream("F:run") if r.type == "account.funds_observed"]
    assert [(e.available_paise, e.cap_paise, e.trading_capital_paise) for e in observed] == [
        (4_879_950, 100_000_000, 4_879_950)]
    started = [r.event for r in store.read_stream("F:run") if r.type == "run.started"][0]
    assert started.config["initial_cash_paise_by_book"] == {"intraday": 4_879_950}
    rich = fake_sdk(day)
    rich.funds.update(allocated_equity=5_000_000.0, block_by_trade_equity=0.0)
    start(rich, "G")
    assert [r.event.trading_capital_paise for r in store.read_stream("G:run")
            if r.type == "account.funds_observed"] == [100_000_000]  # capped at the configured Rs 10 lakh
    broke = fake_sdk(day)
    broke.funds.update(allocated_equity=0.0, block_by_trade_equity=0.0)
    with pytest.raises(ConfigError, match="allocate funds to equity"):
        start(broke, "Z")
    assert broke.count("place_order") == 0


def test_a_market_wide_halt_pauses_the_live_session_and_is_recorded(tmp_path, store):
    day = datetime(2025, 6, 9)
    sdk = fake_sdk(day)
    # NIFTY 10.2 % down at the open: 45 min halt + 15 min pre-open (documented quote fields)
    sdk.quotes["NIFTY"] = {"ltp": 22000.0, "previous_close": 24500.0, "upper_circuit": 0, "lower_circuit": 0}
    clock = TickingClock(datetime(2025, 6, 9, 9, 10, tzinfo=IST), timedelta(seconds=40))
    run_live(BacktestConfig(strategy="intraday", sentiment=SentimentSettings(enabled=False)), store=store,
             confirm_live=True, environ=CREDS, dotenv_path=tmp_path / "none.env", sdk_factory=lambda _k: sdk,
             clock=clock, run_id="W", orders_dir=tmp_path / "orders",
             options=LiveOptions(warmup_days=6, tick_poll_seconds=0.001))
    events = store.read_stream("W:intraday")
    halted = [r for r in events if r.type == "halt.market_halted"]
    resumed = [r for r in events if r.type == "halt.market_resumed"]
    assert len(halted) == 1 and "10 %" in halted[0].event.reason and len(resumed) == 1
    assert resumed[0].occurred_at - halted[0].occurred_at >= timedelta(minutes=60)
    paused = [r for r in events if r.type in ("signal.generated", "order.submitted")
              and halted[0].occurred_at <= r.occurred_at < resumed[0].occurred_at]
    assert paused == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_second_live_process_on_the_same_account_is_refused_before_any_network_call(tmp_path, request, backend):
    """One process per account: the first live session's account lease (held by another store,
    i.e. another process) refuses a second session on the same credentials — a new run, not
    a resume — naming the holder, before the Breeze session opens; other credentials trade."""
    from adapters.breeze.credentials import BreezeCredentials
    from applications.wiring.store import open_store
    from core.errors import LeaseHeldError

    url = f"sqlite:///{tmp_path / 'live.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    first, second = open_store(url), open_store(url)
    try:
        account = BreezeCredentials(api_key=CREDS["BREEZE_API_KEY"], api_secret="", session_token="").account_id
        assert account.startswith("breeze-") and CREDS["BREEZE_API_KEY"] not in account
        first.claim_account(account, "first-run")
        calls = []
        config = BacktestConfig(strategy="intraday", sentiment=SentimentSettings(enabled=False))
        with pytest.raises(LeaseHeldError, match=rf"broker account {account} is being traded by .*:{__import__('os').getpid()}:"):
            run_live(config, store=second, confirm_live=True, environ=CREDS, dotenv_path=tmp_path / "none.env",
                     sdk_factory=lambda key: calls.append(key), run_id="second-run")
        assert calls == []
        # The refusal names the account by its non-secret id only.
        other = BreezeCredentials(api_key="another-key", api_secret="", session_token="").account_id
        assert other != account
        second.claim_account(other, "other-run")
        # Once the first process stops (its store closes), the account is free.
        first.close()
        second.claim_account(account, "second-run")
    finally:
        first.close()
        second.close()
