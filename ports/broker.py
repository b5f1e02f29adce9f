"""Where orders go: the simulated venue, the paper venue, or ICICI Breeze."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from core.model import Bar
from core.orders import Fill, OrderAck, OrderRequest


@runtime_checkable
class Broker(Protocol):
    """Accepts orders and reports fills.

    ``advance(bar)`` tells the venue that ``bar`` has completed; a simulated venue matches
    resting orders against it, a real venue returns the fills it reported since the
    previous call. Fills come back in the order they happened.
    """

    def submit(self, order: OrderRequest) -> OrderAck:
        """Send an order. Must not raise for business rejections: return REJECTED."""
        ...

    def cancel(self, client_order_id: str) -> OrderAck:
        """Cancel a resting order (no-op ack if it is already done)."""
        ...

    def advance(self, bar: Bar) -> Sequence[Fill]:
        """Process a completed bar; return the fills it produced."""
        ...

    def open_order_ids(self) -> list[str]:
        """Client ids of orders still working."""
        ...

    def positions(self) -> dict[str, int]:
        """Net shares per symbol as the venue sees them."""
        ...


@runtime_checkable
class CarriedAccountBroker(Protocol):
    """A real venue whose account outlives the process (Breeze): it keeps every execution it
    saw, so fills can reach the log after a restart, and they are reported on the next bar."""

    def requeue_unapplied(self, applied_trade_ids: set[str]) -> int:
        """Report again (on the next ``advance``) every execution not in ``applied_trade_ids``."""
        ...

    def pending_fills(self) -> list[Fill]:
        """Executions seen and not yet reported by ``advance``."""
        ...
