"""A minimal in-test ``Broker``: market orders only, filled at the next bar's open, no costs.

Public lists record what happened (``submitted``, ``cancelled``, ``fills``) so tests can
assert on them; ``reject_next`` makes the next submission come back REJECTED.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.model import Bar, rupees_to_paise
from core.orders import Fill, OrderAck, OrderRequest, OrderStatus, OrderType


class FakeBroker:
    """``ports.broker.Broker`` double: next-open market fills, everything else rejected."""

    def __init__(self) -> None:
        self.submitted: list[OrderRequest] = []
        self.cancelled: list[str] = []
        self.fills: list[Fill] = []
        self.reject_next: str | None = None
        self._status: dict[str, OrderStatus] = {}
        self._working: dict[str, tuple[OrderRequest, int]] = {}
        self._bars_seen: dict[str, int] = {}
        self._positions: dict[str, int] = {}

    def submit(self, order: OrderRequest) -> OrderAck:
        cid = order.client_order_id
        reason = ""
        if self.reject_next is not None:
            reason, self.reject_next = self.reject_next, None
        elif cid in self._status:
            reason = f"duplicate client_order_id {cid!r}"
        elif order.order_type is not OrderType.MARKET:
            reason = "the fake broker fills market orders only"
        if reason:
            return OrderAck(client_order_id=cid, status=OrderStatus.REJECTED, reason=reason)
        self.submitted.append(order)
        self._status[cid] = OrderStatus.ACCEPTED
        self._working[cid] = (order, self._bars_seen.get(order.symbol, 0))
        return OrderAck(client_order_id=cid, status=OrderStatus.ACCEPTED, broker_order_id=f"FAKE-{len(self.submitted)}")

    def cancel(self, client_order_id: str) -> OrderAck:
        status = self._status.get(client_order_id)
        if status is None:
            return OrderAck(client_order_id=client_order_id, status=OrderStatus.REJECTED, reason="unknown order")
        if client_order_id in self._working:
            del self._working[client_order_id]
            self._status[client_order_id] = OrderStatus.CANCELLED
            self.cancelled.append(client_order_id)
            return OrderAck(client_order_id=client_order_id, status=OrderStatus.CANCELLED)
        return OrderAck(client_order_id=client_order_id, status=status, reason="already done")

    def advance(self, bar: Bar) -> Sequence[Fill]:
        seen = self._bars_seen.get(bar.symbol, 0) + 1
        self._bars_seen[bar.symbol] = seen
        out = []
        for cid, (order, submitted_after) in list(self._working.items()):
            if order.symbol != bar.symbol or submitted_after >= seen:
                continue
            del self._working[cid]
            self._status[cid] = OrderStatus.FILLED
            self._positions[order.symbol] = self._positions.get(order.symbol, 0) + order.side.sign * order.quantity
            fill = Fill(client_order_id=cid, trade_id=f"{cid}-F1", symbol=order.symbol, side=order.side,
                        quantity=order.quantity, price_paise=int(rupees_to_paise(bar.open)), filled_at=bar.start)
            out.append(fill)
        self.fills.extend(out)
        return out

    def open_order_ids(self) -> list[str]:
        return list(self._working)

    def positions(self) -> dict[str, int]:
        return {s: q for s, q in sorted(self._positions.items()) if q != 0}
