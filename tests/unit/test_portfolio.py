"""Portfolio accounting: exact paise, longs, shorts, partial closes, flips, DP charge."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest

from core.costs import CostConfig, FeeBreakdown, FlatPercentCosts, NseEquityCosts, ZeroCosts
from core.events import PortfolioSnapshotted, to_payload
from core.model import Side
from core.orders import Fill, Product
from core.portfolio import Portfolio, Position, ist_session_date

IST = timezone(timedelta(hours=5, minutes=30))
T0 = datetime(2025, 6, 2, 9, 15, tzinfo=IST)
_n = 0


def fill(symbol: str, side: Side, qty: int, price_paise: int, at: datetime = T0) -> Fill:
    global _n
    _n += 1
    return Fill(client_order_id=f"o{_n}", trade_id=f"o{_n}-F1", symbol=symbol, side=side, quantity=qty,
                price_paise=price_paise, filled_at=at)


def check_invariants(p: Portfolio) -> None:
    assert p.cash_paise + p.positions_value_paise() == p.equity_paise()
    assert (p.initial_cash_paise + p.realized_pnl_paise - p.fees_paid_paise + p.unrealized_pnl_paise()
            == p.equity_paise())


class TestLong:
    def test_open_add_partial_close_close(self) -> None:
        p = Portfolio(1_000_000_00, ZeroCosts())
        out = p.apply_fill(fill("A", Side.BUY, 10, 100_00), product=Product.DELIVERY, strategy="swing")
        assert out.position_before is None and out.opened_quantity == 10 and out.realized_pnl_paise == 0
        assert out.position_after == Position(symbol="A", quantity=10, cost_basis_paise=1_000_00, strategy="swing",
                                              opened_at=T0, product=Product.DELIVERY)
        assert out.cash_after_paise == 1_000_000_00 - 1_000_00
        p.apply_fill(fill("A", Side.BUY, 5, 103_00), product=Product.DELIVERY, strategy="swing")
        pos = p.positions["A"]
        assert pos.cost_basis_paise == 1_515_00 and pos.average_price_paise == 101_00
        out = p.apply_fill(fill("A", Side.SELL, 3, 110_00), product=Product.DELIVERY, strategy="swing")
        # removed basis 1515.00 * 3/15 = 303.00 -> realized 330 - 303 = 27
        assert out.closed_quantity == 3 and out.closed_basis_paise == 303_00
        assert out.closed_entry_price_paise == 101_00
        assert out.realized_pnl_paise == 27_00
        assert p.positions["A"].quantity == 12 and p.positions["A"].cost_basis_paise == 1_212_00
        out = p.apply_fill(fill("A", Side.SELL, 12, 90_00), product=Product.DELIVERY, strategy="swing")
        assert out.realized_pnl_paise == 12 * 90_00 - 1_212_00
        assert out.position_after.quantity == 0 and "A" not in p.positions
        assert p.realized_pnl_paise == 27_00 + 12 * 90_00 - 1_212_00
        assert p.cash_paise == 1_000_000_00 + p.realized_pnl_paise
        check_invariants(p)

    def test_pro_rata_basis_never_loses_a_paisa(self) -> None:
        p = Portfolio(10_000_00, ZeroCosts())
        p.apply_fill(fill("A", Side.BUY, 3, 100_01), product=Product.INTRADAY, strategy="s")  # basis 300.03
        out1 = p.apply_fill(fill("A", Side.SELL, 1, 100_01), product=Product.INTRADAY, strategy="s")
        out2 = p.apply_fill(fill("A", Side.SELL, 1, 100_01), product=Product.INTRADAY, strategy="s")
        out3 = p.apply_fill(fill("A", Side.SELL, 1, 100_01), product=Product.INTRADAY, strategy="s")
        assert [o.closed_basis_paise for o in (out1, out2, out3)] == [100_01, 100_01, 100_01]
        assert p.realized_pnl_paise == 0 and p.cash_paise == 10_000_00
        p.apply_fill(fill("A", Side.BUY, 3, 100_00), product=Product.INTRADAY, strategy="s")
        p.apply_fill(fill("A", Side.BUY, 4, 100_01), product=Product.INTRADAY, strategy="s")  # basis 700.04
        outs = [p.apply_fill(fill("A", Side.SELL, 2, 100_00), product=Product.INTRADAY, strategy="s")
                for _ in range(3)]
        last = p.apply_fill(fill("A", Side.SELL, 1, 100_00), product=Product.INTRADAY, strategy="s")
        assert sum(o.closed_basis_paise for o in outs) + last.closed_basis_paise == 700_04
        assert p.realized_pnl_paise == -4
        check_invariants(p)


class TestShort:
    def test_short_open_cover_partially_and_fully(self) -> None:
        p = Portfolio(100_000_00, ZeroCosts())
        out = p.apply_fill(fill("B", Side.SELL, 10, 200_00), product=Product.INTRADAY, strategy="intraday")
        assert out.position_after.quantity == -10 and out.position_after.cost_basis_paise == -2_000_00
        assert out.position_after.average_price_paise == 200_00 and out.position_after.is_short
        assert p.cash_paise == 102_000_00
        p.mark("B", 190.0)
        assert p.unrealized_pnl_paise() == 100_00
        assert p.positions_value_paise() == -1_900_00 and p.gross_exposure_paise() == 1_900_00
        check_invariants(p)
        out = p.apply_fill(fill("B", Side.BUY, 4, 180_00), product=Product.INTRADAY, strategy="intraday")
        assert out.realized_pnl_paise == 4 * 20_00
        out = p.apply_fill(fill("B", Side.BUY, 6, 210_00), product=Product.INTRADAY, strategy="intraday")
        assert out.realized_pnl_paise == -6 * 10_00
        assert p.positions == {} and p.realized_pnl_paise == 20_00
        check_invariants(p)


class TestFlip:
    def test_long_to_short_splits_into_close_and_open(self) -> None:
        p = Portfolio(100_000_00, ZeroCosts())
        p.apply_fill(fill("C", Side.BUY, 10, 100_00), product=Product.INTRADAY, strategy="a")
        later = T0 + timedelta(minutes=30)
        out = p.apply_fill(fill("C", Side.SELL, 25, 120_00, at=later), product=Product.DELIVERY, strategy="b")
        assert out.closed_quantity == 10 and out.opened_quantity == 15
        assert out.realized_pnl_paise == 200_00
        after = out.position_after
        assert (after.quantity, after.cost_basis_paise, after.average_price_paise) == (-15, -1_800_00, 120_00)
        # the new position belongs to the fill that opened it
        assert (after.opened_at, after.strategy, after.product) == (later, "b", Product.DELIVERY)
        out = p.apply_fill(fill("C", Side.BUY, 20, 110_00), product=Product.INTRADAY, strategy="a")
        assert out.realized_pnl_paise == 15 * 10_00 and out.position_after.quantity == 5
        assert out.position_after.cost_basis_paise == 5 * 110_00
        check_invariants(p)


class TestFeesAndDp:
    def test_fees_leave_cash_and_are_counted(self) -> None:
        p = Portfolio(1_000_000_00, NseEquityCosts(CostConfig.without_brokerage()))
        buy = p.apply_fill(fill("D", Side.BUY, 100, 1_000_00), product=Product.INTRADAY, strategy="s")
        sell = p.apply_fill(fill("D", Side.SELL, 100, 1_010_00), product=Product.INTRADAY, strategy="s")
        assert buy.fees.total + sell.fees.total == 35_53
        assert p.fees_paid_paise == 35_53 and p.realized_pnl_paise == 1_000_00
        assert p.cash_paise == 1_000_000_00 + 1_000_00 - 35_53
        assert sell.net_realized_pnl_paise == 1_000_00 - sell.fees.total
        check_invariants(p)

    def test_dp_charge_once_per_symbol_per_ist_session(self) -> None:
        p = Portfolio(10_000_000_00, NseEquityCosts(CostConfig.without_brokerage()))
        day1 = datetime(2025, 6, 2, 4, 0, tzinfo=timezone.utc)
        p.apply_fill(fill("E", Side.BUY, 100, 500_00, at=day1 - timedelta(days=3)), product=Product.DELIVERY,
                     strategy="swing")
        p.apply_fill(fill("F", Side.BUY, 100, 500_00, at=day1 - timedelta(days=3)), product=Product.DELIVERY,
                     strategy="swing")
        first = p.apply_fill(fill("E", Side.SELL, 10, 510_00, at=day1), product=Product.DELIVERY, strategy="swing")
        second = p.apply_fill(fill("E", Side.SELL, 10, 510_00, at=day1 + timedelta(hours=2)),
                              product=Product.DELIVERY, strategy="swing")
        other_symbol = p.apply_fill(fill("F", Side.SELL, 10, 510_00, at=day1), product=Product.DELIVERY,
                                    strategy="swing")
        # 20:00 UTC on day1 is 01:30 IST on the next day: a new session
        next_day = p.apply_fill(fill("E", Side.SELL, 10, 510_00, at=day1.replace(hour=20)),
                                product=Product.DELIVERY, strategy="swing")
        assert [o.fees.dp_charge for o in (first, second, other_symbol, next_day)] == [2_000, 0, 2_000, 2_000]
        assert first.dp_charged and not second.dp_charged
        check_invariants(p)

    def test_no_dp_charge_intraday_or_on_short_sells(self) -> None:
        p = Portfolio(10_000_000_00, NseEquityCosts())
        p.apply_fill(fill("G", Side.BUY, 10, 500_00), product=Product.INTRADAY, strategy="s")
        assert p.apply_fill(fill("G", Side.SELL, 10, 500_00), product=Product.INTRADAY,
                            strategy="s").fees.dp_charge == 0
        assert p.apply_fill(fill("G", Side.SELL, 10, 500_00), product=Product.DELIVERY,
                            strategy="s").fees.dp_charge == 0


class TestMarksAndSnapshot:
    def test_mark_rounds_half_up_to_the_paisa(self) -> None:
        p = Portfolio(100_000_00, ZeroCosts())
        p.apply_fill(fill("H", Side.BUY, 3, 100_00), product=Product.INTRADAY, strategy="s")
        p.mark("H", 101.005)
        assert p.mark_price_paise("H") == 101_01
        assert p.positions_value_paise() == 3 * 101_01
        assert p.unrealized_pnl_paise() == 3 * 1_01
        assert p.equity_paise() == 100_000_00 + 3_03
        with pytest.raises(ValueError, match="positive"):
            p.mark("H", float("nan"))

    def test_fill_marks_its_symbol(self) -> None:
        p = Portfolio(100_000_00, ZeroCosts())
        p.mark("I", 99.0)
        p.apply_fill(fill("I", Side.BUY, 1, 100_00), product=Product.INTRADAY, strategy="s")
        assert p.mark_price_paise("I") == 100_00 and p.prices["I"] == 100.0

    def test_snapshot_feeds_the_snapshot_event(self) -> None:
        p = Portfolio(100_000_00, FlatPercentCosts(0.001))
        p.apply_fill(fill("J", Side.BUY, 10, 100_00), product=Product.DELIVERY, strategy="s")
        p.apply_fill(fill("K", Side.SELL, 5, 50_00), product=Product.INTRADAY, strategy="s")
        p.mark("J", 105.0)
        p.mark("K", 40.0)
        snap = p.snapshot()
        assert snap["equity_paise"] == snap["cash_paise"] + snap["positions_value_paise"] == p.equity_paise()
        assert snap["positions"]["K"] == {"quantity": -5, "cost_basis_paise": -250_00,
                                          "average_price_paise": 50_00, "mark_paise": 40_00}
        assert snap["prices"] == {"J": 105.0, "K": 40.0}
        event = PortfolioSnapshotted(session_date=date(2025, 6, 2), **snap)
        assert to_payload(event)["fees_paid_paise"] == p.fees_paid_paise == 1_00 + 25

    def test_bad_inputs(self) -> None:
        with pytest.raises(TypeError):
            Portfolio(100.0, ZeroCosts())  # type: ignore[arg-type]
        p = Portfolio(100, ZeroCosts())
        with pytest.raises(ValueError, match="price"):
            p.apply_fill(fill("L", Side.BUY, 1, 0), product=Product.INTRADAY, strategy="s")


def test_ist_session_date() -> None:
    assert ist_session_date(datetime(2025, 6, 2, 18, 29, tzinfo=timezone.utc)) == date(2025, 6, 2)
    assert ist_session_date(datetime(2025, 6, 2, 18, 30, tzinfo=timezone.utc)) == date(2025, 6, 3)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("cost_model", [ZeroCosts(), FlatPercentCosts(0.001), NseEquityCosts()],
                         ids=["zero", "flat", "nse"])
def test_invariants_hold_under_random_fills(seed: int, cost_model) -> None:
    rng = random.Random(seed)
    initial = rng.randint(1, 50_000_000_00)
    p = Portfolio(initial, cost_model)
    symbols = ["A", "B", "C"]
    fees_seen: list[FeeBreakdown] = []
    realized_seen = 0
    cash_flow = 0
    at = T0
    for _ in range(400):
        at += timedelta(minutes=rng.choice([1, 5, 600]))
        sym = rng.choice(symbols)
        if rng.random() < 0.3:
            p.mark(sym, rng.randint(100, 500_000) / 100 + rng.choice([0.0, 0.005, 0.0049]))
        side = rng.choice([Side.BUY, Side.SELL])
        qty = rng.randint(1, 300)
        price = rng.randint(100, 500_000)
        out = p.apply_fill(fill(sym, side, qty, price, at=at), product=rng.choice(list(Product)), strategy="s")
        fees_seen.append(out.fees)
        realized_seen += out.realized_pnl_paise
        cash_flow += -side.sign * qty * price - out.fees.total
        assert out.cash_after_paise - out.cash_before_paise == -side.sign * qty * price - out.fees.total
        assert out.closed_quantity + out.opened_quantity == qty
        for pos in p.positions.values():
            assert pos.quantity != 0 and (pos.cost_basis_paise > 0) == (pos.quantity > 0)
        check_invariants(p)
    assert p.fees_paid_paise == sum(f.total for f in fees_seen)
    assert p.realized_pnl_paise == realized_seen
    assert p.cash_paise == initial + cash_flow
    # close everything at the marks: realized catches up with unrealized exactly
    equity_before = p.equity_paise()
    fees_before = p.fees_paid_paise
    for sym, pos in p.positions.items():
        mark = p.mark_price_paise(sym)
        assert mark is not None
        p.apply_fill(fill(sym, Side.SELL if pos.quantity > 0 else Side.BUY, abs(pos.quantity), mark, at=at),
                     product=Product.INTRADAY, strategy="s")
    assert p.positions == {} and p.unrealized_pnl_paise() == 0
    assert p.equity_paise() == p.cash_paise == equity_before - (p.fees_paid_paise - fees_before)
    check_invariants(p)
