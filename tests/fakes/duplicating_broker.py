"""A ``Broker`` wrapper that reports every fill twice (a venue re-sending fills after a reconnect)."""

from __future__ import annotations

from collections.abc import Sequence

from core.model import Bar
from core.orders import Fill, OrderAck, OrderRequest
from ports.broker import Broker


class DuplicatingBroker:
    """Delegates to ``inner``; ``advance`` returns each fill twice, in place."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.duplicates_sent = 0

    def submit(self, order: OrderRequest) -> OrderAck:
        return self.inner.submit(order)

    def cancel(self, client_order_id: str) -> OrderAck:
        return self.inner.cancel(client_order_id)

    def advance(self, bar: Bar) -> Sequence[Fill]:
        out: list[Fill] = []
        for fill in self.inner.advance(bar):
            out.extend((fill, fill))
            self.duplicates_sent += 1
        return out

    def open_order_ids(self) -> list[str]:
        return self.inner.open_order_ids()

    def positions(self) -> dict[str, int]:
        return self.inner.positions()
