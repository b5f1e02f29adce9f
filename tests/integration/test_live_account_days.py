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

from datetime import datetime, timedelta, timezone

import pytest

from adapters.breeze.historical import _to_bars, bars_to_series
from adapters.memory import InMemoryEventStore, InMemoryFeed
from applications.roots.live import LiveOptions, run_live
from applications.roots.paper import PaperOptions, run_paper
from applications.services.books import BacktestConfig, SentimentSettings, SlippageSettings, SwingBookConfig
from core.errors import ReconciliationError
from core.model import Interval
from tests.fakes.breeze_sdk import FakeBreezeSDK, next_day_candle, swing_setup_candles

IST = timezone(timedelta(hours=5, minutes=30))
CREDS = {"BREEZE_API_KEY": "key-abc", "BREEZE_API_SECRET": "secret-xyz", "BREEZE_SESSION_TOKEN": "token-123"}
FRIDAY, DAY1, DAY2, DAY3 = datetime(2025, 6, 6), datetime(2025, 6, 9), datetime(2025, 6, 10), datetime(2025, 6, 11)
CONFIG = BacktestConfig(strategy="swing", swing=SwingBookConfig(symbols=["TCS"]),
                        sentiment=SentimentSettings(enabled=False), slippage=SlippageSettings(bps=0.0),
                        corporate_actions_file="")


class Killed(BaseException):
    """kill -9 as seen from inside: nothing after it runs, nothing more is written."""


class DayClock:
    """IST wall clock of one trading day: every ``now()`` moves on ``step``; optionally dies after ``die_at``."""

    def __init__(self, day: datetime, *, die_at: datetime | None = None, step: timedelta = timedelta(seconds=20)):
        self._now = day.replace(hour=9, minute=10, tzinfo=IST)
        self._step, self._die_at = step, die_at

    def now(self) -> datetime:
        self._now += self._step
        if self._die_at is not None and self._now >= self._die_at:
            raise Killed()
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


def candles() -> list[dict]:
    rows = swing_setup_candles(FRIDAY)
    rows.append(next_day_candle(rows[-1], DAY1, change=0.004, low=0.003))    # the stop holds on day 1
    rows.append(next_day_candle(rows[-1], DAY2, change=-0.05, low=0.06))     # and breaks on day 2
    return rows


def paper_replay() -> InMemoryEventStore:
    """The same daily bars, Friday's to day 2's, traded by paper on the simulated venue."""
    series = bars_to_series("TCS", Interval.DAY_1, _to_bars("TCS", Interval.DAY_1, candles(), "TCS"))
    store = InMemoryEventStore()
    run_paper(CONFIG, store=store, feed=InMemoryFeed([series]), sentiment=None, run_id="P",
              options=PaperOptions(replay_speed=0.0))
    return store


class Exchange:
    """The exchange behind the fake SDK: fills the entry at the day's open and the carried
    stop, once re-placed on day 2, at its price at 11:05 (prices from the paper replay)."""

    def __init__(self, sdk: FakeBreezeSDK, entry_price: float, stop_price: float) -> None:
        self.sdk, self.entry_price, self.stop_price = sdk, entry_price, stop_price
        self.day = DAY1
        self.stop_hit_at: str | None = None
        self._trade = 0
        sdk.on_place = self.on_place

    def _fill(self, order_id: str, price: float, when: str) -> None:
        self._trade += 1
        order = self.sdk.orders[order_id]
        self.sdk.execute(order_id, int(order["quantity"]), price, f"T{self._trade}", when)

    def on_place(self, order_id: str, order: dict) -> None:
        if order["action"] == "Buy" and order["order_type"] == "Limit" and self.day == DAY1:
            self._fill(order_id, self.entry_price, self.day.strftime("%d-%b-%Y") + " 09:15:05")

    def stop_hit(self) -> None:
        """Day 2, 11:05: the price trades through the re-placed stop."""
        for order_id, order in self.sdk.orders.items():
            if order["order_type"] == "Stoploss" and order["status"] == "Ordered":
                self.stop_hit_at = order_id
                self._fill(order_id, self.stop_price, self.day.strftime("%d-%b-%Y") + " 11:05:00")


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


def _orders(store, stream):
    return [(e.client_order_id, e.side, e.quantity, e.stop_loss_paise, e.take_profit_paise)
            for e in (r.event for r in store.read_stream(stream) if r.type == "order.submitted")]


def _trades(store, stream):
    return [(e.symbol, e.direction, e.quantity, e.entry_price_paise, e.exit_price_paise, e.exit_reason,
             e.net_pnl_paise) for e in (r.event for r in store.read_stream(stream) if r.type == "trade.closed")]


@pytest.mark.parametrize("day1_end", ["killed_after_close", "session_closed"])
def test_a_swing_position_is_carried_over_three_live_days_and_matches_paper(tmp_path, open_day_store, day1_end):
    paper = paper_replay()
    fills = [r.event for r in paper.read_stream("P:swing") if r.type == "order.filled"]
    entry_fill, stop_fill = fills[0], fills[1]
    assert stop_fill.fill_reason == "stop_loss"  # the scenario's premise, in paper

    sdk = FakeBreezeSDK(CREDS["BREEZE_API_KEY"])
    sdk.track_positions = True
    sdk.add_candles("TCS", "1day", candles())
    sdk.quotes["TCS"] = {"ltp": entry_fill.price_paise / 100, "upper_circuit": 5000.0, "lower_circuit": 3500.0}
    sdk.funds.update(allocated_equity=2_000_000.0, block_by_trade_equity=0.0)  # capital = the configured cap
    exchange = Exchange(sdk, entry_fill.price_paise / 100, stop_fill.price_paise / 100)
    options = LiveOptions(tick_poll_seconds=0.001)
    common = dict(confirm_live=True, environ=CREDS, dotenv_path=tmp_path / "none.env", sdk_factory=lambda _k: sdk,
                  orders_dir=tmp_path / "orders", sentiment=None, options=options)

    # ---- day 1: a fresh run; the entry decided on Friday's close fills at the open
    store = open_day_store()
    die_at = DAY1.replace(hour=15, minute=31, tzinfo=IST) if day1_end == "killed_after_close" else None
    if die_at is not None:
        with pytest.raises(Killed):
            run_live(CONFIG, store=store, clock=DayClock(DAY1, die_at=die_at), run_id="S", **common)
    else:
        result = run_live(CONFIG, store=store, clock=DayClock(DAY1), run_id="S", **common)
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
    sdk.next_session()
    exchange.day = DAY2
    assert sdk.holdings and sdk.holdings[0]["quantity"] == str(entry_fill.quantity)

    # ---- day 2: a new process resumes the run; the carried stop is re-placed for today
    store = open_day_store()
    day2 = DayClock(DAY2)
    original_call = sdk.get_trade_list

    def trade_list_with_the_stop_hit(*args, **kwargs):
        if day2._now >= DAY2.replace(hour=11, minute=5, tzinfo=IST) and exchange.stop_hit_at is None:
            exchange.stop_hit()
        return original_call(*args, **kwargs)
    sdk.get_trade_list = trade_list_with_the_stop_hit
    result = run_live(CONFIG, store=store, clock=day2, resume="S", **common)
    assert result.status == "session_closed" and result.reconciliation["swing"]["ok"]
    assert result.reconciliation["swing"]["positions"] == {"TCS": entry_fill.quantity}
    run_events = [r.event for r in store.read_stream("S:run")]
    settled = [e for e in run_events if type(e).__name__ == "DayOrdersRenewed"]
    assert len(settled) == 1
    if day1_end == "session_closed":
        # the legs placed on day 1 lapsed at its close and went out again today, same client ids
        assert sorted(r["client_order_id"] for r in settled[0].renewed) == ["swing-0000001-SL", "swing-0000001-TP"]
        assert all(r["previous_broker_order_id"] != r["broker_order_id"] for r in settled[0].renewed)
    else:
        # killed before the broker was asked again: the fill is learnt now and the legs go out today
        assert settled[0].filled == ["swing-0000001"]
    day2_legs = [o for o in sdk.orders.values() if o["action"] == "Sell" and o["validity"] == "Day"
                 and o["status"] != "Expired"]
    assert sorted(o["order_type"] for o in day2_legs) == ["Limit", "Stoploss"]
    assert exchange.stop_hit_at is not None and sdk.orders[exchange.stop_hit_at]["status"] == "Executed"
    # the one-cancels-other leg was cancelled as soon as the stop filled, on day 2
    assert [o["status"] for o in day2_legs if o["order_type"] == "Limit"] == ["Cancelled"]
    # the entry's fill is applied on Monday's bar, as in paper; the stop's waits for day 2's bar
    assert [e.client_order_id for e in (r.event for r in store.read_stream("S:swing")) if
            type(e).__name__ == "OrderFilled"] == ["swing-0000001"]
    _end_of_process(store)

    # ---- day 3: starts flat once the stop's fill is applied on day 2's bar
    sdk.next_session()
    exchange.day = DAY3
    assert not sdk.holdings
    store = open_day_store()
    result = run_live(CONFIG, store=store, clock=DayClock(DAY3), resume="S", **common)
    assert result.status == "session_closed"
    assert result.reconciliation["swing"] == {"ok": True, "positions": {}, "open_order_ids": []}
    assert _trades(store, "S:swing") == _trades(paper, "P:swing")
    assert len(_trades(store, "S:swing")) == 1 and _trades(store, "S:swing")[0][5] == "stop_loss"
    # every order the paper replay decided, in the same order, with the same size and levels
    assert _orders(store, "S:swing") == _orders(paper, "P:swing")
    # the holding period was counted in sessions across the three processes: one trade, no max_hold
    assert store.verify("S").ok


def test_a_carried_holding_that_differs_from_the_log_refuses_the_next_session(tmp_path, open_day_store):
    paper = paper_replay()
    entry_fill = next(r.event for r in paper.read_stream("P:swing") if r.type == "order.filled")
    sdk = FakeBreezeSDK(CREDS["BREEZE_API_KEY"])
    sdk.track_positions = True
    sdk.add_candles("TCS", "1day", candles())
    sdk.quotes["TCS"] = {"ltp": entry_fill.price_paise / 100, "upper_circuit": 5000.0, "lower_circuit": 3500.0}
    sdk.funds.update(allocated_equity=2_000_000.0, block_by_trade_equity=0.0)
    exchange = Exchange(sdk, entry_fill.price_paise / 100, 1.0)
    common = dict(confirm_live=True, environ=CREDS, dotenv_path=tmp_path / "none.env", sdk_factory=lambda _k: sdk,
                  orders_dir=tmp_path / "orders", sentiment=None, options=LiveOptions(tick_poll_seconds=0.001))
    store = open_day_store()
    run_live(CONFIG, store=store, clock=DayClock(DAY1), run_id="R", **common)
    _end_of_process(store)
    sdk.next_session()
    exchange.day = DAY2
    sdk.holdings[0]["quantity"] = str(entry_fill.quantity - 5)  # 5 shares sold by hand overnight
    store = open_day_store()
    placed_before = len(sdk.calls)
    with pytest.raises(ReconciliationError, match="broker and event log disagree") as refused:
        run_live(CONFIG, store=store, clock=DayClock(DAY2), resume="R", **common)
    assert f"TCS: log holds {entry_fill.quantity} shares, broker holds {entry_fill.quantity - 5}" in str(refused.value)
    # refused before anything was sent: not even the lapsed stop and target went out again
    placed = [kw for m, kw in sdk.calls[placed_before:] if m == "place_order"]
    assert placed == [], placed
    corrected = [r.event for r in store.read_stream("R:run") if r.type == "reconciliation.position_reconciled"]
    assert [(e.symbol, e.log_quantity, e.broker_quantity) for e in corrected] == [
        ("TCS", entry_fill.quantity, entry_fill.quantity - 5)]
    assert not [r for r in store.read_stream("R:swing") if r.type == "order.submitted"
                and r.event.client_order_id != "swing-0000001"]
