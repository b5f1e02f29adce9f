"""An account that outlives a session: a swing position carried over three live days (fake Breeze SDK).

Day 1 (Mon): the swing book steps on Friday's close, its entry goes out at the open and fills;
the process is killed after the close (or closes the session cleanly). Day 2: a new process
resumes the run, settles the lapsed day orders (the carried position's stop and target are
placed again for today under the same client ids), applies the entry's fill on Monday's bar,
reconciles with the broker's holdings and trades on; the stop is hit intraday. Day 3 starts
flat after the stop's fill, and trades on. The same bars replayed in paper give the same orders
and the same trades. Runs on the in-memory store, SQLite and PostgreSQL (one process per day).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest

from adapters.memory import InMemoryEventStore
from applications.roots.live import LiveOptions, run_live
from core.errors import ReconciliationError
from tests.fakes.breeze_account import (
    CONFIG,
    CREDS,
    DAY1,
    DAY2,
    DAY3,
    IST,
    Exchange,
    book_orders as _orders,
    book_trades as _trades,
    new_account_sdk,
    paper_replay,
    scenario_prices,
)
from tests.fakes.breeze_account import DayClock as _DayClock
from tests.fakes.breeze_sdk import FakeBreezeSDK


class Killed(BaseException):
    """kill -9 as seen from inside: nothing after it runs, nothing more is written."""


def _killed() -> None:
    raise Killed()


class DayClock(_DayClock):
    """The scenario's day clock; ``die_at`` raises ``Killed`` there (an in-process kill)."""

    def __init__(self, day: datetime, *, die_at: datetime | None = None) -> None:
        super().__init__(day, die_at=die_at, on_die=_killed)


def build_account(tmp_path, paper: InMemoryEventStore) -> tuple[FakeBreezeSDK, Exchange, dict]:
    """The fake Breeze account of the scenario and the run_live arguments every day shares."""
    entry, stop, _quantity = scenario_prices(paper)
    sdk = new_account_sdk(FakeBreezeSDK(CREDS["BREEZE_API_KEY"]), entry)
    exchange = Exchange(sdk, entry / 100, stop / 100)
    common = dict(confirm_live=True, environ=CREDS, dotenv_path=tmp_path / "none.env", sdk_factory=lambda _k: sdk,
                  orders_dir=tmp_path / "orders", sentiment=None, options=LiveOptions(tick_poll_seconds=0.001))
    return sdk, exchange, common


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def open_day_store(request, tmp_path):
    """A function giving each day's process its own store connection (memory: the same store)."""
    if request.param == "memory":
        shared = InMemoryEventStore()
        yield lambda: shared
        return
    from applications.wiring.store import open_store
    url = f"sqlite:///{tmp_path / 'account.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = []

    def open_day():
        store = open_store(url, durable=True)
        opened.append(store)
        return store
    yield open_day
    for store in opened:
        store.close()


def _end_of_process(store) -> None:
    """The day's process is gone: its connection (and, as after a lease expiry, its leases) with it."""
    if not isinstance(store, InMemoryEventStore):
        store.close()


@pytest.mark.parametrize("day1_end,day2", [("killed_after_close", "one_process"), ("session_closed", "one_process"),
                                           ("session_closed", "killed_at_10_and_restarted")])
def test_a_swing_position_is_carried_over_three_live_days_and_matches_paper(tmp_path, open_day_store, day1_end,
                                                                            day2):
    paper = paper_replay()
    sdk, exchange, common = build_account(tmp_path, paper)
    quantity = next(r.event for r in paper.read_stream("P:swing") if r.type == "order.filled").quantity

    # ---- day 1: a fresh run; the entry decided on Friday's close fills at the open
    store = open_day_store()
    die_at = DAY1.replace(hour=15, minute=31, tzinfo=IST) if day1_end == "killed_after_close" else None
    clock = DayClock(DAY1, die_at=die_at)
    exchange.now = lambda: clock._now
    if die_at is not None:
        with pytest.raises(Killed):
            run_live(CONFIG, store=store, clock=clock, run_id="S", **common)
    else:
        result = run_live(CONFIG, store=store, clock=clock, run_id="S", **common)
        assert result.status == "session_closed"
        assert store.get_run("S").status == "session_closed"
    entry = [o for o in sdk.orders.values() if o["action"] == "Buy"]
    assert len(entry) == 1 and entry[0]["status"] == "Executed"
    assert _orders(store, "S:swing") == _orders(paper, "P:swing")[:1]
    if day1_end == "session_closed":
        # the poll after the fill placed the protective legs on day 1 already
        assert sorted(o["order_type"] for o in sdk.orders.values() if o["action"] == "Sell") == ["Limit", "Stoploss"]
    _end_of_process(store)

    # ---- night: day orders lapse, the bought shares settle into holdings
    exchange.night(DAY2)
    assert sdk.holdings and sdk.holdings[0]["quantity"] == str(quantity)

    # ---- day 2: a new process resumes the run; the carried stop is placed again for today
    store = open_day_store()
    if day2 == "killed_at_10_and_restarted":
        # killed mid-morning after the day's bar was traded; restarted the same day, with no new bar
        clock = DayClock(DAY2, die_at=DAY2.replace(hour=10, tzinfo=IST))
        exchange.now = lambda: clock._now
        with pytest.raises(Killed):
            run_live(CONFIG, store=store, clock=clock, resume="S", **common)
        _end_of_process(store)
        store = open_day_store()
        clock = DayClock(DAY2)
        clock._now = DAY2.replace(hour=10, minute=5, tzinfo=IST)
    else:
        clock = DayClock(DAY2)
    exchange.now = lambda: clock._now
    result = run_live(CONFIG, store=store, clock=clock, resume="S", **common)
    assert result.status == "session_closed" and result.reconciliation["swing"]["ok"]
    assert result.reconciliation["swing"]["positions"] == {"TCS": quantity}
    run_events = [r.event for r in store.read_stream("S:run")]
    settled = [e for e in run_events if type(e).__name__ == "DayOrdersRenewed"]
    assert len(settled) == 1  # once a day: the restart found today's stop and target already working
    renewed = sorted(r["client_order_id"] for r in settled[0].renewed)
    if day1_end == "session_closed":
        # the legs placed on day 1 lapsed at its close and went out again today, same client ids
        assert renewed == ["swing-0000001-SL", "swing-0000001-TP"]
        assert all(r["previous_broker_order_id"] != r["broker_order_id"] for r in settled[0].renewed)
    else:
        # killed before the broker was asked again: the fill is learnt now and the legs go out today
        assert settled[0].filled == ["swing-0000001"] and renewed == []
    kinds = [type(e).__name__ for e in run_events]
    # the account was reconciled before the stop went out again, and before any bar was traded
    assert kinds.index("ReconciliationCompleted") < kinds.index("DayOrdersRenewed")
    day2_legs = [o for o in sdk.orders.values() if o["action"] == "Sell" and o["status"] != "Expired"]
    assert sorted(o["order_type"] for o in day2_legs) == ["Limit", "Stoploss"]
    assert exchange.stop_hit_at is not None and sdk.orders[exchange.stop_hit_at]["status"] == "Executed"
    # the one-cancels-other leg was cancelled as soon as the stop filled, on day 2
    assert [o["status"] for o in day2_legs if o["order_type"] == "Limit"] == ["Cancelled"]
    # the entry's fill is applied on Monday's bar, as in paper; the stop's waits for day 2's bar
    assert [e.client_order_id for e in (r.event for r in store.read_stream("S:swing")) if
            type(e).__name__ == "OrderFilled"] == ["swing-0000001"]
    _end_of_process(store)

    # ---- day 3: starts flat once the stop's fill is applied on day 2's bar
    exchange.night(DAY3)
    assert not sdk.holdings
    store = open_day_store()
    clock = DayClock(DAY3)
    exchange.now = lambda: clock._now
    result = run_live(CONFIG, store=store, clock=clock, resume="S", **common)
    assert result.status == "session_closed"
    assert result.reconciliation["swing"] == {"ok": True, "positions": {}, "open_order_ids": []}
    assert _trades(store, "S:swing") == _trades(paper, "P:swing")
    assert len(_trades(store, "S:swing")) == 1 and _trades(store, "S:swing")[0][5] == "stop_loss"
    # every order the paper replay decided, in the same order, with the same size and levels
    assert _orders(store, "S:swing") == _orders(paper, "P:swing")
    assert store.verify("S").ok


def test_a_carried_holding_that_differs_from_the_log_refuses_the_next_session(tmp_path, open_day_store):
    paper = paper_replay()
    sdk, exchange, common = build_account(tmp_path, paper)
    quantity = next(r.event for r in paper.read_stream("P:swing") if r.type == "order.filled").quantity
    store = open_day_store()
    run_live(CONFIG, store=store, clock=DayClock(DAY1), run_id="R", **common)
    _end_of_process(store)
    exchange.night(DAY2)
    sdk.holdings[0]["quantity"] = str(quantity - 5)  # 5 shares sold by hand overnight
    store = open_day_store()
    calls_before = len(sdk.calls)
    with pytest.raises(ReconciliationError, match="broker and event log disagree") as refused:
        run_live(CONFIG, store=store, clock=DayClock(DAY2), resume="R", **common)
    assert f"TCS: log holds {quantity} shares, broker holds {quantity - 5}" in str(refused.value)
    # refused before anything was sent: not even the lapsed stop and target went out again
    placed = [kw for m, kw in sdk.calls[calls_before:] if m == "place_order"]
    assert placed == [], placed
    corrected = [r.event for r in store.read_stream("R:run") if r.type == "reconciliation.position_reconciled"]
    assert [(e.symbol, e.log_quantity, e.broker_quantity) for e in corrected] == [("TCS", quantity, quantity - 5)]
    assert not [r for r in store.read_stream("R:swing") if r.type == "order.submitted"
                and r.event.client_order_id != "swing-0000001"]


class AccountClock(DayClock):
    """One clock for a process left running for days: each midnight it crosses is the exchange's night."""

    def __init__(self, exchange: Exchange) -> None:
        super().__init__(DAY1)
        self._exchange = exchange
        exchange.now = lambda: self._now

    def _cross(self, before: datetime) -> None:
        for day in (DAY2, DAY3):
            midnight = day.replace(tzinfo=IST)
            if before < midnight <= self._now:
                self._exchange.night(day)

    def now(self) -> datetime:
        before = self._now
        moment = super().now()
        self._cross(before)
        return moment

    def sleep(self, seconds: float) -> None:
        before = self._now
        super().sleep(seconds)
        self._cross(before)


def test_a_process_left_running_for_three_days_writes_the_log_of_three_morning_starts(tmp_path):
    from applications.roots.live import run_live_days

    paper = paper_replay()
    mornings = InMemoryEventStore()
    sdk, exchange, common = build_account(tmp_path / "mornings", paper)
    for day, resume in ((DAY1, None), (DAY2, "S"), (DAY3, "S")):
        if day != DAY1:
            exchange.night(day)
        clock = DayClock(day)
        exchange.now = lambda: clock._now
        run_live(CONFIG, store=mornings, clock=clock, run_id="S", resume=resume, **common)

    running = InMemoryEventStore()
    sdk, exchange, common = build_account(tmp_path / "running", paper)
    messages: list[str] = []
    results = run_live_days(CONFIG, store=running, clock=AccountClock(exchange), run_id="S", days=3,
                            log=messages.append, **common)
    assert [r.status for r in results] == ["session_closed"] * 3 and exchange.stop_hit_at is not None
    assert any("sleeping until 09:00" in m for m in messages)

    def book_log(store):
        return [(r.type, r.event) for r in store.read_stream("S:swing")]
    assert book_log(running) == book_log(mornings)
    assert _trades(running, "S:swing") == _trades(paper, "P:swing")
    run_kinds = [[r.type for r in store.read_stream("S:run")] for store in (mornings, running)]
    assert run_kinds[0] == run_kinds[1]


def test_a_process_left_running_waits_for_todays_session_token(tmp_path):
    from applications.roots.live import run_live_days

    paper = paper_replay()
    sdk, exchange, common = build_account(tmp_path, paper)
    tokens = iter([Exception("Unexpected error: Session key is expired.")] * 2)
    real_login = sdk.generate_session

    def login(api_secret, session_token):
        failure = next(tokens, None)
        if failure is not None:
            sdk.calls.append(("generate_session", {}))
            raise failure
        return real_login(api_secret, session_token)
    sdk.generate_session = login
    messages: list[str] = []
    results = run_live_days(CONFIG, store=InMemoryEventStore(), clock=AccountClock(exchange), run_id="T", days=1,
                            log=messages.append, login_retry_seconds=60, **common)
    assert [r.status for r in results] == ["session_closed"]
    assert sum("cannot log in yet" in m and "BREEZE_SESSION_TOKEN" in m for m in messages) == 2
    assert sdk.count("place_order") >= 1  # traded once the token was there


def test_intraday_and_swing_trade_one_account_in_one_live_process_with_one_risk_manager(tmp_path, open_day_store):
    """``--strategy both``: one Breeze session and order adapter, each book its own orders and fills,
    one reconciliation of the account, and one gross-exposure cap over both books: on day 2 the
    swing book's carried TCS leaves the intraday book no room, where on day 1 it had room."""
    from applications.services.books import IntradayBookConfig
    from core.risk import RiskConfig
    from tests.fakes.breeze_sdk import minute_candles

    paper = paper_replay()
    sdk, exchange, common = build_account(tmp_path, paper)
    sdk.funds.update(allocated_equity=4_000_000.0)
    for back in (5, 4, 3):
        sdk.add_candles("INFTEC", "1minute", minute_candles(DAY1 - timedelta(days=back), code="INFTEC",
                                                            start_price=3800.0))   # Breeze's code of INFY
    sdk.quotes["INFTEC"] = {"ltp": 3790.0, "upper_circuit": 4169.0, "lower_circuit": 3411.0}
    tcs_entry = exchange.on_place

    def matching(order_id: str, order: dict) -> None:
        """TCS as the scenario's exchange; INFY: a marketable limit fills at the LTP at once."""
        if order["stock_code"] == "TCS":
            return tcs_entry(order_id, order)
        ltp, price = 3790.0, float(order["price"] or 0)
        marketable = (order["order_type"] == "Limit" and
                      (price >= ltp if order["action"] == "Buy" else price <= ltp))
        if marketable:
            exchange._fill(order_id, ltp, exchange.day.strftime("%d-%b-%Y") + " 10:00:00")
    sdk.on_place = matching
    both = attrs.evolve(CONFIG, strategy="both", intraday=IntradayBookConfig(symbols=["INFY"]),
                        risk=RiskConfig(max_gross_exposure=0.04))

    def intraday_day(day: datetime) -> None:
        sdk.ticks_on_subscribe = [dict(row, interval="1minute") for row in minute_candles(day, code="INFTEC",
                                                                                           start_price=3790.0)]

    store = open_day_store()
    intraday_day(DAY1)
    clock = DayClock(DAY1)
    exchange.now = lambda: clock._now
    logins = sdk.count("generate_session")
    day1 = run_live(both, store=store, clock=clock, run_id="B", **common)
    assert sdk.count("generate_session") == logins + 1          # one Breeze session for both books
    assert day1.status == "session_closed" and {b.strategy for b in day1.books} == {"intraday", "swing"}
    assert day1.reconciliation["intraday"] == day1.reconciliation["swing"]  # the account, reconciled once
    day1_intraday = [r.event for r in store.read_stream("B:intraday")]
    assert [e for e in day1_intraday if type(e).__name__ == "OrderSubmitted"], "day 1: the intraday book had room"
    assert all(e.client_order_id.startswith("intraday-") for e in day1_intraday if type(e).__name__ == "OrderFilled")
    assert [e.client_order_id for e in (r.event for r in store.read_stream("B:swing"))
            if type(e).__name__ == "OrderSubmitted"] == ["swing-0000001"]
    _end_of_process(store)

    exchange.night(DAY2)
    # what the websocket traded on day 1 is Breeze history now
    sdk.add_candles("INFTEC", "1minute", minute_candles(DAY1, code="INFTEC", start_price=3790.0))
    intraday_day(DAY2)
    store = open_day_store()
    clock = DayClock(DAY2)
    exchange.now = lambda: clock._now
    day2 = run_live(both, store=store, clock=clock, resume="B", **common)
    assert day2.status == "session_closed" and day2.reconciliation["swing"]["ok"]
    carried = next(e for e in (r.event for r in store.read_stream("B:swing")) if type(e).__name__ == "OrderFilled")
    assert carried.client_order_id == "swing-0000001"
    assert day2.reconciliation["swing"]["positions"] == {"TCS": carried.quantity}
    new_intraday = [r.event for r in store.read_stream("B:intraday")][len(day1_intraday):]
    refused = [e for e in new_intraday if type(e).__name__ == "EntryRejected"]
    assert refused and all("gross exposure cap 0.04" in e.reason for e in refused)
    assert not [e for e in new_intraday if type(e).__name__ == "OrderSubmitted" and e.reason != "square_off"
                and not e.client_order_id.endswith(("-SL", "-TP"))]
    # one daily-loss cap: both books report the account's limit (2 % of the account's opening equity)
    beat = [r.event for r in store.read_stream("B:health") if r.type == "session.heartbeat"][-1].books
    opening = sum(day1.books[k].final_equity_paise for k in range(2))
    assert beat["intraday"]["loss_limit_paise"] == beat["swing"]["loss_limit_paise"] > 0
    assert abs(beat["swing"]["loss_limit_paise"] - opening * 0.02) <= opening * 0.0005
    # the swing book's stop went out again for today through the same adapter
    renewed = [e for e in (r.event for r in store.read_stream("B:run")) if type(e).__name__ == "DayOrdersRenewed"]
    assert len(renewed) == 1 and {r["client_order_id"] for r in renewed[0].renewed} >= {"swing-0000001-SL"}


def test_paper_on_live_data_rehearses_the_carried_swing_account_and_sends_nothing(tmp_path, open_day_store):
    """``paper --live-data --strategy swing`` over the same three days: the daily book steps at the
    open on the bars completed since its checkpoint, each session ends ``session_closed``, the
    simulated venue keeps the stop; the orders and trades equal the paper replay's; no order
    reaches the broker."""
    from applications.roots.paper import PaperOptions, run_paper_on_live_data

    paper = paper_replay()
    sdk, exchange, _common = build_account(tmp_path, paper)
    options = PaperOptions(replay_speed=0.0)
    for day, resume in ((DAY1, None), (DAY2, "L"), (DAY3, "L")):
        if day != DAY1:
            exchange.night(day)
        store = open_day_store()
        clock = DayClock(day)
        exchange.now = lambda: clock._now
        result = run_paper_on_live_data(CONFIG, store=store, clock=clock, sdk_factory=lambda _k: sdk,
                                        environ=CREDS, dotenv_path=tmp_path / "none.env", sentiment=None,
                                        run_id="L", resume=resume, options=options, tick_poll_seconds=0.001)
        assert result.status == "session_closed"
        if day != DAY3:
            _end_of_process(store)
    assert _trades(store, "L:swing") == _trades(paper, "P:swing")
    assert _orders(store, "L:swing") == _orders(paper, "P:swing")
    assert sdk.count("place_order") == 0 and sdk.subscribed == []


def test_a_process_left_running_starts_a_new_intraday_run_each_day_after_a_flat_close(tmp_path):
    """An intraday book closes flat and completes: the next session is a new run, not a resume."""
    from applications.roots.live import run_live_days
    from applications.services.books import BacktestConfig, SentimentSettings
    from tests.fakes.breeze_sdk import minute_candles

    sdk = FakeBreezeSDK(CREDS["BREEZE_API_KEY"])
    for back in (5, 4, 3):
        sdk.add_candles("TCS", "1minute", minute_candles(DAY1 - timedelta(days=back), code="TCS", start_price=3800.0))
    sdk.quotes["TCS"] = {"ltp": 3790.0, "upper_circuit": 4169.0, "lower_circuit": 3411.0}

    class Mornings(DayClock):
        """Day 1's minutes arrive on the websocket; day 2's too (re-armed each morning)."""

        def __init__(self) -> None:
            super().__init__(DAY1)
            self._armed: set = set()

        def now(self) -> datetime:
            moment = super().now()
            day = moment.date()
            if day not in self._armed and moment.hour == 9:
                self._armed.add(day)
                sdk.ticks_on_subscribe = [dict(row, interval="1minute") for row in minute_candles(
                    datetime(day.year, day.month, day.day), code="TCS", start_price=3790.0)]
            return moment

    store = InMemoryEventStore()
    results = run_live_days(BacktestConfig(strategy="intraday", sentiment=SentimentSettings(enabled=False)),
                            store=store, clock=Mornings(), days=2, confirm_live=True, environ=CREDS,
                            dotenv_path=tmp_path / "none.env", sdk_factory=lambda _k: sdk,
                            orders_dir=tmp_path / "orders", sentiment=None,
                            options=LiveOptions(tick_poll_seconds=0.001))
    assert [r.status for r in results] == ["completed", "completed"]
    assert results[0].run_id != results[1].run_id and not results[1].resumed
    assert all(r.bars >= 300 for r in results)
