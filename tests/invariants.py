"""Checks that must hold for every run's event log, whatever the strategy."""

from __future__ import annotations

from collections import defaultdict

from core.events.base import RecordedEvent
from core.events.catalog import OrderFilled, PortfolioSnapshotted, PositionChanged, RunStarted, TradeClosed


def assert_books_reconcile(events: list[RecordedEvent]) -> int:
    """Replay fills independently and check cash, positions and equity at every event.

    - after every fill, cash = previous cash - side * qty * price - fees (exact paise);
    - every PositionChanged reports that cash and the replayed quantity;
    - every PortfolioSnapshotted has cash + marked positions == equity, and its
      positions match the replayed quantities and its prices;
    - every TradeClosed's net P&L = gross - fees.
    Returns the number of events checked.
    """
    initial: dict[str, int] = {}
    cash: dict[str, int] = {}
    qty: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    checked = 0
    for rec in events:
        ev = rec.event
        book = rec.stream_id.rsplit(":", 1)[-1]
        if isinstance(ev, RunStarted):
            initial.update({k: int(v) for k, v in ev.config["initial_cash_paise_by_book"].items()})
            cash.update(initial)
            continue
        if isinstance(ev, OrderFilled):
            sign = 1 if ev.side == "BUY" else -1
            cash[book] = cash[book] - sign * ev.quantity * ev.price_paise - ev.fees_paise
            qty[book][ev.symbol] += sign * ev.quantity
            parts = {k: v for k, v in ev.fee_breakdown.items() if k != "total"}
            assert ev.fees_paise == sum(parts.values()) == ev.fee_breakdown["total"], rec
        elif isinstance(ev, PositionChanged):
            assert ev.cash_paise == cash[book], (rec, cash[book])
            assert ev.quantity == qty[book][ev.symbol], (rec, qty[book][ev.symbol])
        elif isinstance(ev, PortfolioSnapshotted):
            assert ev.cash_paise == cash[book], (rec, cash[book])
            value = 0
            for symbol, pos in ev.positions.items():
                assert pos["quantity"] == qty[book][symbol], (rec, symbol)
                marked = pos["quantity"] * int(round(ev.prices[symbol] * 100))
                assert pos["market_value_paise"] == marked
                value += marked
            open_symbols = {s for s, q in qty[book].items() if q != 0}
            assert open_symbols == set(ev.positions), (rec, open_symbols)
            assert ev.positions_value_paise == value
            assert ev.cash_paise + ev.positions_value_paise == ev.equity_paise
        elif isinstance(ev, TradeClosed):
            assert ev.net_pnl_paise == ev.gross_pnl_paise - ev.fees_paise
            assert ev.cash_after_paise == cash[book]
        else:
            continue
        checked += 1
    return checked
