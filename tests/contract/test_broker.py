"""The ``Broker`` port contract over every implementation, then the simulated venue's rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.simulated import BrokerConfig, SimulatedBroker, SlippageConfig
from core.errors import ConfigError
from core.model import Bar, Interval, Side
from core.orders import Fill, OrderRequest, OrderStatus, OrderType, Product
from ports.broker import Broker
from tests.fakes.broker import FakeBroker

IST = timezone(timedelta(hours=5, minutes=30))
DAY1 = datetime(2025, 6, 2, 9, 15, tzinfo=IST)
DAY2 = datetime(2025, 6, 3, 9, 15, tzinfo=IST)


def bar(i: int, o: float, h: float, low: float, c: float, *, symbol: str = "X", day: datetime = DAY1) -> Bar:
    return Bar(symbol=symbol, interval=Interval.MINUTE_1, start=day + timedelta(minutes=i),
               open=o, high=h, low=low, close=c, volume=1_000)


def buy(cid: str, qty: int = 10, **kw) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=kw.pop("symbol", "X"), side=Side.BUY, quantity=qty, **kw)


def sell(cid: str, qty: int = 10, **kw) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=kw.pop("symbol", "X"), side=Side.SELL, quantity=qty, **kw)


BROKERS = {
    "simulated": lambda: SimulatedBroker(BrokerConfig()),
    "fake": FakeBroker,
}


@pytest.fixture(params=sorted(BROKERS))
def broker(request: pytest.FixtureRequest) -> Broker:
    return BROKERS[request.param]()


class TestBrokerContract:
    def test_implements_the_port(self, broker: Broker) -> None:
        assert isinstance(broker, Broker)

    def test_accepts_and_lists_working_orders(self, broker: Broker) -> None:
        ack = broker.submit(buy("a"))
        assert ack.status is OrderStatus.ACCEPTED and ack.broker_order_id
        broker.submit(sell("b", symbol="Y"))
        assert broker.open_order_ids() == ["a", "b"]

    def test_business_rejections_do_not_raise(self, broker: Broker) -> None:
        broker.submit(buy("a"))
        dup = broker.submit(buy("a"))
        assert dup.status is OrderStatus.REJECTED and "duplicate" in dup.reason
        no_price = broker.submit(buy("c", order_type=OrderType.LIMIT))
        assert no_price.status is OrderStatus.REJECTED and no_price.reason
        assert broker.open_order_ids() == ["a"]

    def test_market_order_fills_at_the_next_bar_open_of_its_symbol(self, broker: Broker) -> None:
        assert broker.advance(bar(0, 100.0, 101.0, 99.0, 100.5)) == []
        broker.submit(buy("a", 7))
        assert broker.advance(bar(1, 50.0, 51.0, 49.0, 50.0, symbol="Y")) == []  # other symbol
        fills = broker.advance(bar(1, 100.25, 102.0, 100.0, 101.0))
        assert len(fills) == 1
        f = fills[0]
        assert (f.client_order_id, f.symbol, f.side, f.quantity, f.price_paise) == ("a", "X", Side.BUY, 7, 100_25)
        assert f.filled_at == DAY1 + timedelta(minutes=1) and f.trade_id
        assert broker.open_order_ids() == [] and broker.positions() == {"X": 7}

    def test_fills_come_in_submission_order_with_unique_trade_ids(self, broker: Broker) -> None:
        broker.submit(buy("a", 5))
        broker.submit(sell("b", 8))
        broker.submit(buy("c", 1))
        fills = broker.advance(bar(0, 100.0, 100.0, 100.0, 100.0))
        assert [f.client_order_id for f in fills] == ["a", "b", "c"]
        assert len({f.trade_id for f in fills}) == 3
        assert broker.positions() == {"X": -2}

    def test_cancel(self, broker: Broker) -> None:
        broker.submit(buy("a"))
        ack = broker.cancel("a")
        assert ack.status is OrderStatus.CANCELLED and broker.open_order_ids() == []
        assert broker.advance(bar(0, 100.0, 100.0, 100.0, 100.0)) == []
        again = broker.cancel("a")                       # already done: a no-op ack
        assert again.status is OrderStatus.CANCELLED
        unknown = broker.cancel("zzz")
        assert unknown.status is OrderStatus.REJECTED

    def test_cancel_after_fill_is_a_no_op(self, broker: Broker) -> None:
        broker.submit(buy("a"))
        broker.advance(bar(0, 100.0, 100.0, 100.0, 100.0))
        assert broker.cancel("a").status is OrderStatus.FILLED
        assert broker.positions() == {"X": 10}

    def test_flat_symbols_are_not_listed(self, broker: Broker) -> None:
        broker.submit(buy("a"))
        broker.advance(bar(0, 100.0, 100.0, 100.0, 100.0))
        broker.submit(sell("b"))
        broker.advance(bar(1, 100.0, 100.0, 100.0, 100.0))
        assert broker.positions() == {}


# --------------------------------------------------------------- simulated venue rules


def sim(**kw) -> SimulatedBroker:
    tick_rule = kw.pop("tick_rule", None)
    cfg = BrokerConfig(**kw)
    return SimulatedBroker(cfg) if tick_rule is None else SimulatedBroker(cfg, tick_rule=tick_rule)


class TestSlippageAndTicks:
    def test_adverse_bps_then_adverse_tick(self) -> None:
        b = sim(slippage_bps=5)
        b.submit(buy("a"))
        b.submit(sell("s"))
        fills = {f.client_order_id: f for f in b.advance(bar(0, 1000.03, 1001.0, 999.0, 1000.0))}
        # buy: 1000.03 * 1.0005 = 1000.530015 -> Rs1000+ band tick 0.10, up -> 1000.60
        assert fills["a"].price_paise == 100_060
        # sell: 1000.03 * 0.9995 = 999.529985 -> Rs250-1000 band tick 0.05, down -> 999.50
        assert fills["s"].price_paise == 99_950

    def test_tick_rule_uses_the_session_date(self) -> None:
        b = sim()
        b.submit(buy("a"))
        old = datetime(2024, 1, 2, 9, 15, tzinfo=IST)      # before 2024-06-10: Rs0.05 everywhere
        assert b.advance(bar(0, 100.01, 101.0, 99.0, 100.0, day=old))[0].price_paise == 100_05

    def test_custom_tick_rule_and_slippage_alias(self) -> None:
        assert SlippageConfig is BrokerConfig
        b = SimulatedBroker(SlippageConfig(slippage_bps=10), tick_rule=lambda _p, _d: 1)
        b.submit(buy("a"))
        assert b.advance(bar(0, 100.0, 101.0, 99.0, 100.0))[0].price_paise == 100_10

    def test_negative_slippage_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="slippage_bps"):
            BrokerConfig(slippage_bps=-1)


class TestBrackets:
    def test_legs_appear_when_the_entry_fills(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=98_00, take_profit_paise=105_00))
        assert b.open_order_ids() == ["e"]
        fills = b.advance(bar(0, 100.0, 101.0, 99.0, 100.0))
        assert [f.client_order_id for f in fills] == ["e"]
        assert b.open_order_ids() == ["e-SL", "e-TP"]

    def test_stop_on_the_entry_bar_after_the_open(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=98_00, take_profit_paise=105_00))
        fills = b.advance(bar(0, 100.0, 100.5, 97.0, 97.5))
        assert [(f.client_order_id, f.side, f.price_paise, f.reason) for f in fills] == [
            ("e", Side.BUY, 100_00, "market"), ("e-SL", Side.SELL, 98_00, "stop_loss")]
        assert fills[1].trade_id == "e-SL-F1"
        assert b.open_order_ids() == [] and b.order_status("e-TP") is OrderStatus.CANCELLED
        assert b.positions() == {}

    def test_take_profit_on_a_later_bar_cancels_the_stop(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=98_00, take_profit_paise=105_00))
        b.advance(bar(0, 100.0, 101.0, 99.0, 100.0))
        assert b.advance(bar(1, 100.0, 104.0, 99.0, 103.0)) == []
        fills = b.advance(bar(2, 103.0, 106.0, 102.0, 105.5))
        assert [(f.client_order_id, f.price_paise, f.reason) for f in fills] == [("e-TP", 105_00, "take_profit")]
        assert b.order_status("e-SL") is OrderStatus.CANCELLED and b.open_order_ids() == []

    def test_stop_wins_when_one_bar_touches_both(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=98_00, take_profit_paise=105_00))
        b.advance(bar(0, 100.0, 101.0, 99.0, 100.0))
        fills = b.advance(bar(1, 100.0, 106.0, 97.0, 100.0))
        assert [(f.client_order_id, f.price_paise) for f in fills] == [("e-SL", 98_00)]

    def test_gap_through_the_stop_fills_at_the_open(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=98_00, take_profit_paise=105_00))
        b.advance(bar(0, 100.0, 101.0, 99.0, 100.0))
        fills = b.advance(bar(1, 95.0, 96.0, 94.0, 95.5))
        assert [(f.client_order_id, f.price_paise, f.reason) for f in fills] == [("e-SL", 95_00, "stop_loss")]

    def test_gap_through_the_target_fills_at_the_better_open(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=98_00, take_profit_paise=105_00))
        b.advance(bar(0, 100.0, 101.0, 99.0, 100.0))
        fills = b.advance(bar(1, 107.0, 108.0, 106.0, 107.5))
        assert [(f.client_order_id, f.price_paise, f.reason) for f in fills] == [("e-TP", 107_00, "take_profit")]

    def test_short_bracket(self) -> None:
        b = sim()
        b.submit(sell("e", stop_loss_paise=102_00, take_profit_paise=95_00))
        b.advance(bar(0, 100.0, 101.0, 99.0, 100.0))
        assert b.positions() == {"X": -10}
        fills = b.advance(bar(1, 100.0, 100.5, 94.0, 94.5))
        assert [(f.client_order_id, f.side, f.price_paise, f.reason) for f in fills] == [
            ("e-TP", Side.BUY, 95_00, "take_profit")]
        b.submit(sell("f", stop_loss_paise=102_00, take_profit_paise=95_00))
        b.advance(bar(2, 100.0, 101.0, 99.0, 100.0))
        fills = b.advance(bar(3, 103.0, 103.5, 102.5, 103.0))  # gap up through the stop
        assert [(f.client_order_id, f.price_paise, f.reason) for f in fills] == [("f-SL", 103_00, "stop_loss")]
        assert b.positions() == {}

    def test_bracket_legs_only_for_the_given_levels(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=98_00))
        b.advance(bar(0, 100.0, 101.0, 99.0, 100.0))
        assert b.open_order_ids() == ["e-SL"]

    def test_bracket_levels_are_validated(self) -> None:
        b = sim()
        assert b.submit(buy("e", stop_loss_paise=105_00, take_profit_paise=98_00)).status is OrderStatus.REJECTED
        assert b.submit(sell("f", stop_loss_paise=95_00, take_profit_paise=98_00)).status is OrderStatus.REJECTED
        assert b.submit(buy("g", stop_loss_paise=0)).status is OrderStatus.REJECTED
        reserved = b.submit(buy("h-SL"))
        assert reserved.status is OrderStatus.REJECTED and "reserved" in reserved.reason

    def test_cancel_one_leg(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=98_00, take_profit_paise=105_00))
        b.advance(bar(0, 100.0, 101.0, 99.0, 100.0))
        assert b.cancel("e-SL").status is OrderStatus.CANCELLED
        assert b.open_order_ids() == ["e-TP"]
        assert b.advance(bar(1, 100.0, 100.0, 90.0, 91.0)) == []   # no stop any more

    def test_cancelling_a_filled_entry_cancels_its_bracket(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=98_00, take_profit_paise=105_00))
        b.advance(bar(0, 100.0, 101.0, 99.0, 100.0))
        ack = b.cancel("e")
        assert ack.status is OrderStatus.FILLED and "e-SL" in ack.reason and "e-TP" in ack.reason
        assert b.open_order_ids() == []
        assert b.advance(bar(1, 100.0, 110.0, 90.0, 100.0)) == []

    def test_cancelling_a_working_entry_means_no_bracket(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=98_00, take_profit_paise=105_00))
        b.cancel("e")
        assert b.advance(bar(0, 100.0, 110.0, 90.0, 100.0)) == [] and b.open_order_ids() == []

    def test_levels_move_onto_the_tick(self) -> None:
        b = sim()  # price Rs250-1000 from 2025-04-15: tick Rs0.05
        b.submit(buy("e", stop_loss_paise=499_97, take_profit_paise=520_03))
        b.advance(bar(0, 500.0, 501.0, 500.0, 500.5))
        # a sell stop moves down (adverse) to 499.95; a sell limit moves up (never below the limit) to 520.05
        assert b.advance(bar(1, 500.0, 500.0, 499.96, 499.98)) == []
        fills = b.advance(bar(2, 500.0, 500.0, 499.90, 499.95))
        assert fills[0].price_paise == 499_95

    def test_limit_levels_never_move_past_the_limit(self) -> None:
        b = sim()
        b.submit(buy("e", stop_loss_paise=499_97, take_profit_paise=520_03))
        b.advance(bar(0, 500.0, 501.0, 500.0, 500.5))
        assert b.advance(bar(1, 510.0, 520.04, 510.0, 515.0)) == []   # target is 520.05 on the tick
        fills = b.advance(bar(2, 515.0, 520.05, 515.0, 515.0))
        assert [(f.client_order_id, f.price_paise) for f in fills] == [("e-TP", 520_05)]


class TestRestingOrders:
    def test_buy_limit(self) -> None:
        b = sim()
        b.submit(buy("l", order_type=OrderType.LIMIT, limit_price_paise=99_00))
        assert b.advance(bar(0, 100.0, 101.0, 99.5, 100.0)) == []
        assert b.open_order_ids() == ["l"]
        fills = b.advance(bar(1, 100.0, 100.0, 98.0, 99.0))
        assert [(f.price_paise, f.reason) for f in fills] == [(99_00, "limit")]

    def test_limit_gap_fills_at_the_better_open(self) -> None:
        b = sim(slippage_bps=50)  # no slippage on limits
        b.submit(buy("l", order_type=OrderType.LIMIT, limit_price_paise=99_00))
        b.submit(sell("m", order_type=OrderType.LIMIT, limit_price_paise=90_00))
        fills = {f.client_order_id: f.price_paise for f in b.advance(bar(0, 97.0, 98.0, 96.0, 97.0))}
        assert fills == {"l": 97_00, "m": 97_00}

    def test_sell_limit_at_the_level(self) -> None:
        b = sim()
        b.submit(sell("m", order_type=OrderType.LIMIT, limit_price_paise=102_00))
        assert b.advance(bar(0, 100.0, 103.0, 99.0, 101.0))[0].price_paise == 102_00

    def test_stops_trigger_at_the_level_or_the_gap(self) -> None:
        b = sim(slippage_bps=100)
        b.submit(buy("s1", order_type=OrderType.STOP, stop_price_paise=102_00))
        b.submit(sell("s2", order_type=OrderType.STOP, stop_price_paise=99_00))
        fills = {f.client_order_id: (f.price_paise, f.reason) for f in b.advance(bar(0, 100.0, 102.5, 98.0, 100.0))}
        assert fills == {"s1": (102_00, "stop"), "s2": (99_00, "stop")}
        b.submit(buy("s3", order_type=OrderType.STOP, stop_price_paise=102_00))
        assert b.advance(bar(1, 104.0, 105.0, 103.0, 104.0))[0].price_paise == 104_00

    def test_slippage_on_stops_when_asked(self) -> None:
        b = sim(slippage_bps=100, slippage_on_stops=True, tick_rule=lambda _p, _d: 1)
        b.submit(sell("s", order_type=OrderType.STOP, stop_price_paise=99_00))
        assert b.advance(bar(0, 100.0, 100.0, 98.0, 98.5))[0].price_paise == 98_01  # 99 * 0.99

    def test_stop_entry_gets_its_bracket_on_the_same_bar(self) -> None:
        b = sim()
        b.submit(buy("e", order_type=OrderType.STOP, stop_price_paise=101_00, stop_loss_paise=99_00,
                     take_profit_paise=110_00))
        fills = b.advance(bar(0, 100.0, 102.0, 98.0, 99.0))
        assert [(f.client_order_id, f.price_paise) for f in fills] == [("e", 101_00), ("e-SL", 99_00)]


class TestSessions:
    def test_intraday_market_order_across_a_session_gap_fills_at_last_close(self) -> None:
        b = sim(slippage_bps=0)
        b.advance(bar(374, 100.0, 101.0, 99.0, 100.55))          # 15:29 on day 1
        b.submit(sell("x", product=Product.INTRADAY))
        fills = b.advance(bar(0, 90.0, 91.0, 89.0, 90.0, day=DAY2))
        assert [(f.price_paise, f.reason, f.filled_at) for f in fills] == [
            (100_55, "session_close", DAY1 + timedelta(minutes=374))]

    def test_session_close_needs_the_decision_bar(self) -> None:
        seen = bar(374, 100.0, 101.0, 99.0, 100.55)
        b = sim()
        b.advance(seen)
        b.submit(sell("x", product=Product.INTRADAY, submitted_at=seen.end))
        assert b.advance(bar(0, 90.0, 91.0, 89.0, 90.0, day=DAY2))[0].reason == "session_close"
        b = sim()
        b.advance(bar(60, 100.0, 101.0, 99.0, 100.55))          # the venue missed later bars
        b.submit(sell("x", product=Product.INTRADAY, submitted_at=seen.end))
        fills = b.advance(bar(0, 90.0, 91.0, 89.0, 90.0, day=DAY2))
        assert [(f.price_paise, f.reason) for f in fills] == [(90_00, "market")]

    def test_delivery_market_order_across_a_session_gap_fills_at_the_open(self) -> None:
        b = sim()
        b.advance(bar(374, 100.0, 101.0, 99.0, 100.55))
        b.submit(sell("x", product=Product.DELIVERY))
        fills = b.advance(bar(0, 90.0, 91.0, 89.0, 90.0, day=DAY2))
        assert [(f.price_paise, f.reason) for f in fills] == [(90_00, "market")]

    def test_first_order_without_history_fills_at_the_open(self) -> None:
        b = sim()
        b.submit(buy("x", product=Product.INTRADAY))
        assert b.advance(bar(0, 90.0, 91.0, 89.0, 90.0, day=DAY2))[0].reason == "market"


def test_same_calls_give_identical_fills() -> None:
    def run() -> list[Fill]:
        b = sim(slippage_bps=3)
        out: list[Fill] = []
        for i in range(30):
            price = 100 + (i * 7 % 11) - 5
            if i % 5 == 0:
                b.submit(buy(f"e{i}", stop_loss_paise=(price - 3) * 100, take_profit_paise=(price + 4) * 100))
            out += b.advance(bar(i, price, price + 2.0, price - 2.5, price + 0.5))
        return out

    first, second = run(), run()
    assert first == second and len(first) > 6
    assert len({f.trade_id for f in first}) == len(first)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_bracketed_trading_keeps_the_venue_consistent(seed: int) -> None:
    """Random walk, random entries with brackets: fills lie inside their bar, one leg per entry."""
    import random

    rng = random.Random(seed)
    b = sim(tick_rule=lambda _p, _d: 1)
    price = 500.0
    bars_by_start: dict[datetime, Bar] = {}
    all_fills: list[Fill] = []
    for i in range(600):
        o = round(price, 2)
        h = round(o + abs(rng.gauss(0, 2)), 2)
        low = round(o - abs(rng.gauss(0, 2)), 2)
        c = round(rng.uniform(low, h), 2)
        price = max(c + rng.gauss(0, 1.5), 10.0)
        b_ = bar(i, o, h, low, c)
        bars_by_start[b_.start] = b_
        all_fills += b.advance(b_)
        if not b.open_order_ids() and rng.random() < 0.3:
            p = int(c * 100)
            if rng.random() < 0.5:
                b.submit(buy(f"e{i}", rng.randint(1, 50), stop_loss_paise=p - rng.randint(50, 400),
                             take_profit_paise=p + rng.randint(50, 400)))
            else:
                b.submit(sell(f"e{i}", rng.randint(1, 50), stop_loss_paise=p + rng.randint(50, 400),
                              take_profit_paise=p - rng.randint(50, 400)))
    net: dict[str, int] = {}
    exits: dict[str, list[str]] = {}
    for f in all_fills:
        src = bars_by_start[f.filled_at]
        assert round(src.low * 100) <= f.price_paise <= round(src.high * 100), f
        net[f.symbol] = net.get(f.symbol, 0) + f.side.sign * f.quantity
        if f.reason in ("stop_loss", "take_profit"):
            exits.setdefault(f.client_order_id[:-3], []).append(f.reason)
    assert {s: q for s, q in net.items() if q} == b.positions()
    assert exits and all(len(v) == 1 for v in exits.values())
    assert len({f.trade_id for f in all_fills}) == len(all_fills)
