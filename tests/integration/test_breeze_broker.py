"""BreezeBroker over the fake SDK: aggressive limits, client ids, safe resends, fills, queries."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from adapters.breeze import (BreezeBroker, InMemoryOrderRecords, JsonFileOrderRecords, aggressive_limit_paise,
                             symbol_map_for)
from adapters.breeze.orders import remark_for
from adapters.breeze.times import IST
from core.errors import BrokerSessionError
from core.model import Bar, Interval, Side
from core.orders import OrderRequest, OrderStatus, OrderType
from ports.broker import Broker
from tests.fakes.breeze_sdk import FakeBreezeSDK, err
from tests.fakes.manual_clock import ManualClock
from tests.integration.test_breeze_session import KEY, make_session

TIMEOUT = Exception("Error in place_order(): HTTPSConnectionPool(host='api.icicidirect.com'): Read timed out.")
BAR = Bar(symbol="RELIANCE", interval=Interval.MINUTE_1, start=datetime(2025, 2, 5, 4, 0, tzinfo=timezone.utc),
          open=2500, high=2501, low=2499, close=2500, volume=10)


def make_broker(records=None, sdk=None):
    sdk = sdk or FakeBreezeSDK(KEY)
    sdk.quotes["RELIND"] = {"ltp": 2500.0, "upper_circuit": 2750.0, "lower_circuit": 2250.0,
                            "ltt": "05-Feb-2025 10:30:00"}
    session, sdk, time = make_session(sdk)
    clock = ManualClock(datetime(2025, 2, 5, 10, 30, tzinfo=IST))
    broker = BreezeBroker(session, symbol_map_for(session), records or InMemoryOrderRecords(), clock,
                          resubmit_after=timedelta(seconds=30), max_send_attempts=2)
    return broker, sdk, clock


def market(cid="o1", side=Side.BUY, qty=10, symbol="RELIANCE"):
    return OrderRequest(client_order_id=cid, symbol=symbol, side=side, quantity=qty)


def placed(sdk):
    return [kw for m, kw in sdk.calls if m == "place_order"]


def test_is_a_broker_port():
    broker, _, _ = make_broker()
    assert isinstance(broker, Broker)


def test_aggressive_limit_rounding_and_circuit_caps():
    on = date(2025, 6, 2)                                   # NSE price-band ticks
    assert aggressive_limit_paise(Side.BUY, 250000, on=on) == 257500
    assert aggressive_limit_paise(Side.BUY, 255000, on=on, upper_circuit_paise=260000) == 260000
    assert aggressive_limit_paise(Side.SELL, 20037, on=on) == 19436            # 194.3589 -> up to 194.36
    assert aggressive_limit_paise(Side.BUY, 24333, on=on) == 25060             # 250.63 -> 0.05 tick, down
    assert aggressive_limit_paise(Side.SELL, 100000, on=on, lower_circuit_paise=98000) == 98000
    assert aggressive_limit_paise(Side.BUY, 23999, on=date(2024, 7, 1)) == 24718   # 0.01 tick below Rs 250
    assert aggressive_limit_paise(Side.BUY, 23999, on=date(2024, 1, 2)) == 24715   # 0.05 tick before 2024-06-10


def test_market_order_goes_out_as_aggressive_limit_with_client_id_in_remark():
    broker, sdk, _ = make_broker()
    ack = broker.submit(market())
    assert ack.status is OrderStatus.ACCEPTED and ack.broker_order_id
    (sent,) = placed(sdk)
    assert sent["order_type"] == "limit" and sent["price"] == "2575.00" and sent["product"] == "cash"
    assert sent["action"] == "buy" and sent["quantity"] == "10" and sent["user_remark"] == "o1"
    assert broker.open_order_ids() == ["o1"]


def test_limit_and_stop_orders():
    broker, sdk, _ = make_broker()
    broker.submit(OrderRequest(client_order_id="L1", symbol="RELIANCE", side=Side.SELL, quantity=5,
                               order_type=OrderType.LIMIT, limit_price_paise=251000))
    broker.submit(OrderRequest(client_order_id="S1", symbol="RELIANCE", side=Side.SELL, quantity=5,
                               order_type=OrderType.STOP, stop_price_paise=240000))
    limit, stop = placed(sdk)
    assert limit["price"] == "2510.00" and limit["order_type"] == "limit"
    assert stop["order_type"] == "stoploss" and stop["stoploss"] == "2400.00" and stop["price"] == "2328.00"


def test_definite_rejection_is_a_rejected_ack_and_never_resent():
    broker, sdk, clock = make_broker()
    sdk.fail_next("place_order", err("Insufficient balance in the account"))
    ack = broker.submit(market())
    assert ack.status is OrderStatus.REJECTED and "Insufficient balance" in ack.reason
    clock.advance(timedelta(minutes=5))
    assert broker.advance(BAR) == []
    assert "duplicate" in broker.submit(market()).reason
    assert len(placed(sdk)) == 1 and broker.open_order_ids() == []


def test_timeout_after_the_order_was_placed_is_resolved_from_the_order_book_without_resend():
    broker, sdk, clock = make_broker()
    sdk.fail_next("place_order", ("after", TIMEOUT))
    ack = broker.submit(market())
    assert ack.status is OrderStatus.ACCEPTED and ack.broker_order_id in sdk.orders
    clock.advance(timedelta(minutes=5))
    broker.advance(BAR)
    assert len(placed(sdk)) == 1


def test_timeout_before_placement_stays_submitted_then_resends_only_after_the_book_shows_it_absent():
    broker, sdk, clock = make_broker()
    sdk.fail_next("place_order", TIMEOUT)
    first = broker.submit(market())
    assert first.status is OrderStatus.SUBMITTED and first.broker_order_id is None
    assert "order book" in first.reason
    dup = broker.submit(market())                  # the engine retrying: a duplicate, but it triggers a look-up
    assert dup.status is OrderStatus.REJECTED and "duplicate" in dup.reason
    assert broker.order_record("o1").status == "SUBMITTED" and len(placed(sdk)) == 1   # too early to resend
    clock.advance(timedelta(seconds=31))
    broker.advance(BAR)
    record = broker.order_record("o1")
    assert record.status == "ACCEPTED" and record.attempts == 2
    assert [p["user_remark"] for p in placed(sdk)] == ["o1", "o1"]
    assert sdk.count("get_order_list") >= 2


def test_unresolvable_order_is_rejected_after_max_attempts():
    broker, sdk, clock = make_broker()
    sdk.fail_next("place_order", TIMEOUT, TIMEOUT)
    broker.submit(market())
    clock.advance(timedelta(seconds=31))
    broker.advance(BAR)                    # resend #2 also times out
    clock.advance(timedelta(seconds=31))
    broker.advance(BAR)
    assert broker.order_record("o1").status == "REJECTED"
    assert len(placed(sdk)) == 2 and broker.open_order_ids() == []


def test_order_book_query_failing_too_leaves_the_order_submitted():
    broker, sdk, _ = make_broker()
    sdk.fail_next("place_order", TIMEOUT)
    sdk.fail_next("get_order_list", *[Exception("Error in get_order_list(): Read timed out.")] * 4)
    ack = broker.submit(market())
    assert ack.status is OrderStatus.SUBMITTED


def test_records_survive_a_restart_and_long_ids_use_a_hashed_remark(tmp_path):
    path = tmp_path / "orders.json"
    cid = "run-42/RELIANCE/entry-000017"
    broker, sdk, clock = make_broker(JsonFileOrderRecords(path))
    ack = broker.submit(market(cid))
    assert placed(sdk)[0]["user_remark"] == remark_for(cid) != cid
    again, _, _ = make_broker(JsonFileOrderRecords(path), sdk)
    assert again.open_order_ids() == [cid]
    dup = again.submit(market(cid))
    assert dup.status is OrderStatus.REJECTED and dup.broker_order_id == ack.broker_order_id
    assert len(placed(sdk)) == 1 and again.order_record(cid).broker_order_id == ack.broker_order_id


def test_fills_are_reported_once_each_with_partial_then_full():
    broker, sdk, clock = make_broker()
    ack = broker.submit(market(qty=10))
    sdk.execute(ack.broker_order_id, 4, 2501.5, "55704", "05-Feb-2025 10:31:05")
    fills = broker.advance(BAR)
    assert [(f.quantity, f.price_paise, f.side) for f in fills] == [(4, 250150, Side.BUY)]
    assert fills[0].filled_at == datetime(2025, 2, 5, 5, 1, 5, tzinfo=timezone.utc)
    assert fills[0].client_order_id == "o1" and broker.order_record("o1").status == "PARTIALLY_FILLED"
    assert broker.advance(BAR) == []
    sdk.execute(ack.broker_order_id, 6, 2502.0, "55710", "05-Feb-2025 10:32:00")
    fills = broker.advance(BAR)
    assert [(f.quantity, f.trade_id) for f in fills] == [(6, f"{ack.broker_order_id}:55710")]
    assert broker.order_record("o1").status == "FILLED" and broker.open_order_ids() == []
    assert broker.advance(BAR) == []


def test_fills_are_not_repeated_after_a_restart(tmp_path):
    path = tmp_path / "orders.json"
    broker, sdk, _ = make_broker(JsonFileOrderRecords(path))
    ack = broker.submit(market(qty=10))
    sdk.execute(ack.broker_order_id, 10, 2501.5, "1", "05-Feb-2025 10:31:05")
    assert len(broker.advance(BAR)) == 1
    again, _, _ = make_broker(JsonFileOrderRecords(path), sdk)
    assert again.advance(BAR) == []


def test_modify_and_cancel():
    broker, sdk, _ = make_broker()
    ack = broker.submit(market())
    mod = broker.modify("o1", limit_price_paise=255000, quantity=8)
    assert mod.status is OrderStatus.ACCEPTED
    assert sdk.orders[ack.broker_order_id]["price"] == "2550.00" and sdk.orders[ack.broker_order_id]["quantity"] == "8"
    cancel = broker.cancel("o1")
    assert cancel.status is OrderStatus.CANCELLED and sdk.orders[ack.broker_order_id]["status"] == "Cancelled"
    assert broker.modify("o1", quantity=1).status is OrderStatus.REJECTED
    assert broker.cancel("o1").status is OrderStatus.CANCELLED                 # no-op ack
    assert broker.cancel("nope").status is OrderStatus.REJECTED


def test_cancel_of_an_executed_order_is_refused_and_the_fill_still_arrives():
    # FILLED is only reported together with its fills, so a refused cancel keeps the order
    # working until advance() delivers the trade.
    broker, sdk, _ = make_broker()
    ack = broker.submit(market())
    sdk.execute(ack.broker_order_id, 10, 2500, "9", "05-Feb-2025 10:31:05")
    refused = broker.cancel("o1")
    assert refused.status is not OrderStatus.CANCELLED and "Executed" in refused.reason
    (fill,) = broker.advance(BAR)
    assert fill.quantity == 10 and broker.order_record("o1").status == "FILLED"


def test_broker_side_rejection_after_acceptance_closes_the_order():
    broker, sdk, _ = make_broker()
    ack = broker.submit(market())
    sdk.orders[ack.broker_order_id]["status"] = "Rejected"
    assert broker.advance(BAR) == []
    assert broker.order_record("o1").status == "REJECTED" and broker.open_order_ids() == []


def test_positions_and_funds():
    broker, sdk, _ = make_broker()
    sdk.positions = [
        {"segment": "equity", "product_type": "Cash", "exchange_code": "NSE", "stock_code": "RELIND",
         "action": "Buy", "quantity": "10", "average_price": "2500.00", "ltp": "2510"},
        {"segment": "equity", "product_type": "Cash", "exchange_code": "NSE", "stock_code": "TATMOT",
         "action": "Sell", "quantity": "3", "average_price": "700.00", "ltp": "701"},
    ]
    assert broker.positions() == {"RELIANCE": 10, "TATAMOTORS": -3}
    # shares carried from earlier sessions (holdings) add to today's net positions
    sdk.holdings = [{"stock_code": "RELIND", "exchange_code": "NSE", "quantity": "5", "average_price": "2400.00"},
                    {"stock_code": "TATMOT", "exchange_code": "BSE", "quantity": "9", "average_price": "690.00"}]
    assert broker.holdings() == {"RELIANCE": 5}
    assert broker.positions() == {"RELIANCE": 15, "TATAMOTORS": -3}
    funds = broker.funds()
    assert funds.total_bank_balance_paise == 10_000_000 and funds.blocked_equity_paise == 120_050
    assert funds.unallocated_paise == 5_000_000


def test_session_expiry_while_submitting_raises_and_records_nothing_placed():
    broker, sdk, _ = make_broker()
    sdk.fail_next("place_order", Exception("Unexpected error: Session key is expired."))
    with pytest.raises(BrokerSessionError):
        broker.submit(market())
    assert broker.order_record("o1").status == "REJECTED" and placed(sdk)
    assert not sdk.orders


def test_business_rejections_do_not_raise():
    broker, sdk, _ = make_broker()
    no_price = broker.submit(OrderRequest(client_order_id="c", symbol="RELIANCE", side=Side.BUY, quantity=1,
                                          order_type=OrderType.LIMIT))
    assert no_price.status is OrderStatus.REJECTED and no_price.reason
    bad_bracket = broker.submit(OrderRequest(client_order_id="d", symbol="RELIANCE", side=Side.BUY, quantity=1,
                                             stop_loss_paise=260000, take_profit_paise=250000))
    assert bad_bracket.status is OrderStatus.REJECTED and "stop_loss" in bad_bracket.reason
    sdk.quotes.clear()
    no_quote = broker.submit(market("e"))
    assert no_quote.status is OrderStatus.REJECTED and placed(sdk) == []


def test_fill_reasons_follow_the_order_type():
    broker, sdk, _ = make_broker()
    ack = broker.submit(OrderRequest(client_order_id="L", symbol="RELIANCE", side=Side.BUY, quantity=2,
                                     order_type=OrderType.LIMIT, limit_price_paise=249000))
    sdk.execute(ack.broker_order_id, 2, 2490, "1", "05-Feb-2025 10:31:05")
    assert [f.reason for f in broker.advance(BAR)] == ["limit"]


def bracket_entry(broker, sdk, qty=10):
    ack = broker.submit(OrderRequest(client_order_id="e", symbol="RELIANCE", side=Side.BUY, quantity=qty,
                                     stop_loss_paise=245000, take_profit_paise=260000))
    assert ack.status is OrderStatus.ACCEPTED
    return ack


def test_bracket_legs_are_placed_when_the_entry_fills_and_are_one_cancels_other():
    broker, sdk, _ = make_broker()
    ack = bracket_entry(broker, sdk)
    assert broker.open_order_ids() == ["e"] and len(placed(sdk)) == 1
    sdk.execute(ack.broker_order_id, 10, 2500, "1", "05-Feb-2025 10:31:05")
    (fill,) = broker.advance(BAR)
    assert fill.reason == "market" and broker.open_order_ids() == ["e-SL", "e-TP"]
    sl_sent, tp_sent = placed(sdk)[1:]
    assert (sl_sent["action"], sl_sent["order_type"], sl_sent["stoploss"], sl_sent["quantity"]) == \
        ("sell", "stoploss", "2450.00", "10")
    assert (tp_sent["action"], tp_sent["order_type"], tp_sent["price"]) == ("sell", "limit", "2600.00")
    tp_id = broker.order_record("e-TP").broker_order_id
    sdk.execute(tp_id, 10, 2601, "2", "05-Feb-2025 11:00:00")
    (exit_fill,) = broker.advance(BAR)
    assert (exit_fill.client_order_id, exit_fill.side, exit_fill.reason) == ("e-TP", Side.SELL, "take_profit")
    assert broker.order_record("e-SL").status == "CANCELLED" and broker.open_order_ids() == []
    assert sdk.orders[broker.order_record("e-SL").broker_order_id]["status"] == "Cancelled"


def test_cancelling_a_filled_entry_cancels_its_live_bracket():
    broker, sdk, _ = make_broker()
    ack = bracket_entry(broker, sdk)
    sdk.execute(ack.broker_order_id, 10, 2500, "1", "05-Feb-2025 10:31:05")
    broker.advance(BAR)
    result = broker.cancel("e")
    assert result.status is OrderStatus.FILLED and "e-SL" in result.reason and "e-TP" in result.reason
    assert broker.open_order_ids() == []


def test_part_filled_entry_cancelled_gets_legs_for_the_filled_quantity():
    broker, sdk, _ = make_broker()
    ack = bracket_entry(broker, sdk)
    sdk.execute(ack.broker_order_id, 4, 2500, "1", "05-Feb-2025 10:31:05")
    broker.advance(BAR)
    assert broker.open_order_ids() == ["e"]
    broker.cancel("e")
    broker.advance(BAR)
    assert broker.open_order_ids() == ["e-SL", "e-TP"]
    assert [p["quantity"] for p in placed(sdk)[1:]] == ["4", "4"]


def test_order_book_without_remarks_is_matched_by_its_unclaimed_twin():
    broker, sdk, clock = make_broker()
    broker.submit(OrderRequest(client_order_id="other", symbol="RELIANCE", side=Side.BUY, quantity=10,
                               order_type=OrderType.LIMIT, limit_price_paise=257500))
    sdk.fail_next("place_order", ("after", TIMEOUT))
    for order in sdk.orders.values():
        order["user_remark"] = ""                   # as if the book did not echo remarks
    original_book = sdk._book

    def book_without_remark(kwargs):
        return original_book({**kwargs, "user_remark": ""})
    sdk._book = book_without_remark
    ack = broker.submit(market("o1"))               # same code/side/qty/price as "other", which is claimed
    assert ack.status is OrderStatus.ACCEPTED and ack.broker_order_id != broker.order_record("other").broker_order_id
    assert len(placed(sdk)) == 2


def test_two_unclaimed_twins_are_ambiguous_and_never_resent():
    broker, sdk, clock = make_broker()
    sdk.fail_next("place_order", TIMEOUT)
    broker.submit(market("o1"))
    for _ in range(2):                               # placed by hand elsewhere, identical
        sdk._book({"exchange_code": "NSE", "stock_code": "RELIND", "action": "buy", "order_type": "limit",
                   "stoploss": "", "quantity": "10", "price": "2575.00", "user_remark": ""})
    clock.advance(timedelta(minutes=2))
    broker.advance(BAR)
    record = broker.order_record("o1")
    assert record.status == "SUBMITTED" and "by hand" in record.reason and len(placed(sdk)) == 1


def test_bracket_levels_go_out_on_the_nse_tick_stop_adversely_target_never_past_it():
    broker, sdk, _ = make_broker()
    ack = broker.submit(OrderRequest(client_order_id="e", symbol="RELIANCE", side=Side.BUY, quantity=10,
                                     stop_loss_paise=245038, take_profit_paise=260001))
    sdk.execute(ack.broker_order_id, 10, 2500, "1", "05-Feb-2025 10:31:05")
    broker.advance(BAR)
    sl_sent, tp_sent = placed(sdk)[1:]
    assert sl_sent["stoploss"] == "2450.35" and tp_sent["price"] == "2600.05"   # 0.05 tick at these prices


def test_a_fill_the_log_never_applied_is_reported_again_after_a_restart(tmp_path):
    path = tmp_path / "orders.json"
    broker, sdk, _ = make_broker(JsonFileOrderRecords(path))
    ack = broker.submit(market(qty=10))
    sdk.execute(ack.broker_order_id, 10, 2501.5, "1", "05-Feb-2025 10:31:05")
    (seen,) = broker.collect()              # seen by the broker, then the process died
    again, _, _ = make_broker(JsonFileOrderRecords(path), sdk)
    assert again.advance(BAR) == []         # the trade book has nothing new ...
    assert again.requeue_unapplied(set()) == 1 and again.pending_fills() == [seen]
    assert again.advance(BAR) == [seen]     # ... but the records hold it for the log
    assert again.requeue_unapplied({seen.trade_id}) == 0


def test_collect_places_the_legs_at_once_and_keeps_the_fill_for_the_next_bar_of_its_symbol():
    broker, sdk, _ = make_broker()
    ack = bracket_entry(broker, sdk)
    sdk.execute(ack.broker_order_id, 10, 2500, "1", "05-Feb-2025 10:31:05")
    (fill,) = broker.collect()
    assert broker.open_order_ids() == ["e-SL", "e-TP"] and len(placed(sdk)) == 3
    other = Bar(symbol="TCS", interval=Interval.MINUTE_1, start=BAR.start, open=1, high=1, low=1, close=1, volume=1)
    sdk.names["TCS"] = {"exchange_code": "NSE", "exchange_stock_code": "TCS", "isec_stock_code": "TCS",
                        "company name": "TCS"}
    assert broker.advance(other) == [] and broker.advance(BAR) == [fill]


def carried_bracket(broker, sdk, clock, *also: OrderRequest):
    """A bracketed entry (and the orders ``also``) placed on 2025-02-05, the entry filled; the
    night lapses every day order; the clock is at the next day's open. Returns the stop's
    Breeze id of that day and the acks of ``also``."""
    ack = bracket_entry(broker, sdk)
    acks = [broker.submit(order) for order in also]
    sdk.execute(ack.broker_order_id, 10, 2500, "1", "05-Feb-2025 10:31:05")
    broker.advance(BAR)
    old_sl = broker.order_record("e-SL").broker_order_id
    sdk.next_session()
    clock.set(datetime(2025, 2, 6, 9, 15, tzinfo=IST))
    return old_sl, acks


def test_day_orders_of_an_earlier_session_are_settled_then_protective_legs_placed_again():
    broker, sdk, clock = make_broker()
    old_sl, (entry_extra,) = carried_bracket(broker, sdk, clock, OrderRequest(
        client_order_id="x", symbol="RELIANCE", side=Side.BUY, quantity=5, order_type=OrderType.LIMIT,
        limit_price_paise=200000))
    before = len(placed(sdk))
    settled = broker.settle_day_orders()
    assert sorted((o.action, o.client_order_id) for o in settled) == [
        ("expired", "x"), ("lapsed", "e-SL"), ("lapsed", "e-TP")]
    assert len(placed(sdk)) == before       # nothing is sent before the account reconciles
    assert broker.open_order_ids() == ["e-SL", "e-TP"]   # what the log expects as working
    assert broker.order_record("x").status == "CANCELLED" and entry_extra.status is OrderStatus.ACCEPTED
    renewed = broker.renew_lapsed()
    assert [(o.action, o.client_order_id) for o in renewed] == [("renewed", "e-SL"), ("renewed", "e-TP")]
    sl = broker.order_record("e-SL")
    assert sl.broker_order_id != old_sl and sdk.orders[sl.broker_order_id]["status"] == "Ordered"
    assert sl.remark != remark_for("e-SL") and sl.placed_on == "2025-02-06" and sl.renewals == 1
    # the renewed stop fills; its sibling (placed again too) is cancelled at Breeze
    sdk.execute(sl.broker_order_id, 10, 2450, "2", "06-Feb-2025 11:00:00")
    (stop_fill,) = broker.advance(BAR)
    assert stop_fill.client_order_id == "e-SL" and stop_fill.reason == "stop_loss"
    assert sdk.orders[broker.order_record("e-TP").broker_order_id]["status"] == "Cancelled"


def test_a_lapsed_leg_cancelled_before_renewal_sends_nothing_to_breeze():
    broker, sdk, clock = make_broker()
    carried_bracket(broker, sdk, clock)
    broker.settle_day_orders()
    cancels = sdk.count("cancel_order")
    assert broker.cancel("e-TP").status is OrderStatus.CANCELLED and sdk.count("cancel_order") == cancels
    assert [o.client_order_id for o in broker.renew_lapsed()] == ["e-SL"]
