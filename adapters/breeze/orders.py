"""Client order id <-> Breeze order id records, persisted so a restart can resume safely.

Breeze has no client-order-id field. The broker adapter keeps one ``OrderRecord`` per
client id, writes it *before* sending anything (so a crash between send and answer leaves
a record to reconcile), and tags the Breeze order with ``user_remark`` so the order list
can be searched for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Protocol

import attrs

_REMARK_OK = re.compile(r"^[A-Za-z0-9]{1,20}$")


def remark_for(client_order_id: str) -> str:
    """A ``user_remark`` identifying the order: the id itself if short and alphanumeric, else a hash."""
    if _REMARK_OK.match(client_order_id):
        return client_order_id
    return "SQ" + hashlib.sha256(client_order_id.encode("utf-8")).hexdigest()[:16].upper()


@attrs.define(kw_only=True)
class OrderRecord:
    """What we know about one order. ``status`` uses ``core.orders.OrderStatus`` values."""

    client_order_id: str
    remark: str
    symbol: str
    side: str
    quantity: int
    order_type: str
    price_paise: int | None = None
    stop_paise: int | None = None
    broker_order_id: str | None = None
    status: str = "SUBMITTED"
    reason: str = ""
    attempts: int = 0
    last_attempt_at: str | None = None
    filled_quantity: int = 0
    trade_ids: list[str] = attrs.Factory(list)
    product: str = "intraday"
    fill_reason: str = "market"
    stop_loss_paise: int | None = None
    take_profit_paise: int | None = None
    parent_id: str | None = None
    legs_placed: bool = False
    # IST date of the last placement: Breeze equity orders are valid for the day only.
    placed_on: str | None = None
    # How often a protective leg was re-placed at a later session's open (each placement
    # gets its own ``user_remark``, so the order book search finds the current one).
    renewals: int = 0
    # Set (to the lapsed placement's date) while a protective leg waits to be placed again.
    lapsed_on: str | None = None
    # Every execution seen, so fills the event log never applied (a crash between the
    # broker seeing them and the engine recording them) can be reported again.
    fills: list[dict[str, Any]] = attrs.Factory(list)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "OrderRecord":
        known = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class OrderRecordRepository(Protocol):
    """Where order records live between restarts."""

    def load_all(self) -> dict[str, OrderRecord]:
        ...

    def save(self, record: OrderRecord) -> None:
        ...


class InMemoryOrderRecords:
    """Records in a dict (paper runs and tests)."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}

    def load_all(self) -> dict[str, OrderRecord]:
        return {k: OrderRecord.from_json(dict(v)) for k, v in self._records.items()}

    def save(self, record: OrderRecord) -> None:
        self._records[record.client_order_id] = json.loads(json.dumps(record.to_json()))


class JsonFileOrderRecords:
    """Records in one JSON file, replaced atomically (write temp, fsync, rename) on every save."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                self._records = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                from core.errors import DataError
                raise DataError(f"order record file is not valid JSON ({exc}); restore it from a backup or "
                                "reconcile with the Breeze order book before deleting it", path=str(self.path)) from None

    def load_all(self) -> dict[str, OrderRecord]:
        return {k: OrderRecord.from_json(dict(v)) for k, v in self._records.items()}

    def save(self, record: OrderRecord) -> None:
        self._records[record.client_order_id] = record.to_json()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(self._records, fh, sort_keys=True, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
