"""Orders and fills exchanged between the engine and a broker port."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from core.model import Side


class OrderType(str, enum.Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"


class Product(str, enum.Enum):
    """Cost and settlement treatment: intraday (MIS-like) or delivery (CNC-like)."""

    INTRADAY = "intraday"
    DELIVERY = "delivery"


@attrs.frozen(kw_only=True, slots=True)
class OrderRequest:
    """What the engine asks a broker to do.

    ``stop_loss_paise``/``take_profit_paise`` on an entry ask the broker to attach a
    one-cancels-other bracket once the entry fills.
    """

    client_order_id: str
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.MARKET
    product: Product = Product.INTRADAY
    limit_price_paise: int | None = None
    stop_price_paise: int | None = None
    stop_loss_paise: int | None = None
    take_profit_paise: int | None = None
    submitted_at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"order {self.client_order_id}: quantity must be positive, got {self.quantity}")


class OrderStatus(str, enum.Enum):
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


@attrs.frozen(kw_only=True, slots=True)
class OrderAck:
    """The broker's answer to a submission."""

    client_order_id: str
    status: OrderStatus
    broker_order_id: str | None = None
    reason: str = ""


@attrs.frozen(kw_only=True, slots=True)
class Fill:
    """Shares that changed hands. ``price_paise`` is already on the exchange tick."""

    client_order_id: str
    trade_id: str
    symbol: str
    side: Side
    quantity: int
    price_paise: int
    filled_at: datetime
    reason: str = "market"
