"""``Broker`` over Breeze orders: place/modify/cancel with client ids, fills from the trade book.

Rules this adapter follows (Breeze, 2026):

* market orders are not allowed: a MARKET order is sent as an aggressive limit at
  LTP +/- 3 % (``aggressive_pct``), rounded to the NSE tick and capped to the circuit limits;
* equity orders use product ``cash`` (margin/intraday leverage via the API is prohibited);
  a same-day round trip is still charged as intraday by the exchange;
* sends are never blindly retried: a timeout or 5xx leaves the order ``SUBMITTED`` and
  the order book is searched for its ``user_remark`` before anything is resent;
* definite rejections (an error answer, status ``Rejected``) become ``REJECTED`` acks;
* a second ``submit`` with a known client id is a ``REJECTED`` duplicate (as on every venue)
  and never sends anything; for an unconfirmed order it triggers the order-book look-up;
* brackets are kept client-side, like the simulated venue: when an entry with
  ``stop_loss_paise``/``take_profit_paise`` is done filling, a stop-loss order ``<id>-SL``
  and a limit ``<id>-TP`` are placed for the filled quantity; when one leg fills
  completely the other is cancelled. (Breeze's own bracket products are not allowed via
  the API any more.) A partial fill of one leg does not shrink the other; both legs can
  execute in a fast market before the cancel lands.
* ``FILLED`` is reported only together with its fills (from ``advance``), never from the
  order book alone, so status and fills never disagree.
* ``collect()`` polls executions between bars (a daily book's session): legs go out as soon
  as an entry is done filling, but the fills wait for the next ``advance`` so the engine
  applies them on a bar, as every venue does. Every execution is kept in the order record;
  after a restart ``requeue_unapplied`` reports again those the event log never applied.
* Breeze equity orders are valid for the day. ``settle_day_orders()`` at a session start
  settles the orders of earlier sessions: executions learnt late are collected, protective
  legs of a position still open are marked lapsed and any other order lapsed unfilled is
  expired; once the session has reconciled the account, ``renew_lapsed()`` places the lapsed
  legs again under the same client ids. For the engine and the log a stop then protects a
  carried position until it fills or is cancelled, as on the simulated venue. A lapsed leg
  still counts as open (``open_order_ids``) between the two calls: it is what the log expects.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import attrs

from adapters.breeze.errors import BreezeTransientError
from adapters.breeze.orders import OrderRecord, OrderRecordRepository, remark_for
from adapters.breeze.session import BreezeSession
from adapters.breeze.symbols import BreezeSymbolMap
from adapters.breeze.times import IST, ist_midnight, parse_ist, to_breeze_iso
from core.costs import round_paise_to_tick, tick_size_paise
from core.errors import BrokerApiError, BrokerDailyLimitError, BrokerSessionError
from core.model import Bar, Side, rupees_to_paise
from core.orders import Fill, OrderAck, OrderRequest, OrderStatus, OrderType, Product
from ports.clock import Clock

log = logging.getLogger(__name__)

SL_SUFFIX = "-SL"
TP_SUFFIX = "-TP"
_TERMINAL = {OrderStatus.FILLED.value, OrderStatus.CANCELLED.value, OrderStatus.REJECTED.value}
_STATUS_MAP = {
    "ordered": OrderStatus.ACCEPTED, "requested": OrderStatus.ACCEPTED, "queued": OrderStatus.ACCEPTED,
    "open": OrderStatus.ACCEPTED, "partially executed": OrderStatus.PARTIALLY_FILLED,
    "executed": OrderStatus.FILLED, "cancelled": OrderStatus.CANCELLED, "canceled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED, "rejected": OrderStatus.REJECTED,
}


def aggressive_limit_paise(side: Side, ltp_paise: int, *, on: date, pct: float = 0.03,
                           upper_circuit_paise: int | None = None, lower_circuit_paise: int | None = None) -> int:
    """LTP +/- ``pct`` on the NSE tick of ``on`` (down for buys, up for sells), inside the circuit limits."""
    raw = int(ltp_paise * (1 + pct)) if side is Side.BUY else int(math.ceil(ltp_paise * (1 - pct) - 1e-9))
    tick = tick_size_paise(raw, on)
    # Rounded towards the LTP: never more aggressive than the 3 % Breeze allows.
    price = round_paise_to_tick(raw, tick, Side.SELL if side is Side.BUY else Side.BUY)
    if side is Side.BUY and upper_circuit_paise:
        price = min(price, upper_circuit_paise)
    if side is Side.SELL and lower_circuit_paise:
        price = max(price, lower_circuit_paise)
    return price


def _bracket_problem(order: OrderRequest) -> str:
    sl, tp = order.stop_loss_paise, order.take_profit_paise
    for name, level in (("stop_loss_paise", sl), ("take_profit_paise", tp)):
        if level is not None and level <= 0:
            return f"{name} must be positive, got {level}"
    if sl is not None and tp is not None:
        if order.side is Side.BUY and sl >= tp:
            return f"a long entry needs stop_loss < take_profit, got {sl} >= {tp}"
        if order.side is Side.SELL and sl <= tp:
            return f"a short entry needs stop_loss > take_profit, got {sl} <= {tp}"
    return ""


def _rupees(paise: int) -> str:
    return f"{paise / 100:.2f}"


def _paise(value: Any) -> int | None:
    if value in (None, "", "0", 0):
        return None
    return rupees_to_paise(str(value).replace(",", ""))


@attrs.frozen(kw_only=True)
class DayOrderOutcome:
    """What ``settle_day_orders`` or ``renew_lapsed`` did with one order of an earlier session."""

    action: str                     # "filled" | "lapsed" | "expired" (settle); "renewed" (renew)
    client_order_id: str
    placed_on: str
    previous_broker_order_id: str = ""
    broker_order_id: str = ""


@attrs.frozen(kw_only=True)
class BrokerFunds:
    """Cash at the broker, in paise."""

    total_bank_balance_paise: int
    allocated_equity_paise: int
    blocked_equity_paise: int
    unallocated_paise: int


class BreezeBroker:
    """ICICI Breeze as a ``Broker`` port."""

    def __init__(self, session: BreezeSession, symbol_map: BreezeSymbolMap, records: OrderRecordRepository,
                 clock: Clock, *, exchange_code: str = "NSE", aggressive_pct: float = 0.03,
                 resubmit_after: timedelta = timedelta(seconds=30), max_send_attempts: int = 2) -> None:
        self._session = session
        self._map = symbol_map
        self._repo = records
        self._clock = clock
        self._exchange = exchange_code
        self._pct = aggressive_pct
        self._resubmit_after = resubmit_after
        self._max_attempts = max_send_attempts
        self._orders: dict[str, OrderRecord] = records.load_all()
        self._unreported: list[Fill] = []

    # ----------------------------------------------------------------- the port

    def submit(self, order: OrderRequest) -> OrderAck:
        existing = self._orders.get(order.client_order_id)
        if existing is not None:
            if existing.broker_order_id is None and existing.status not in _TERMINAL:
                self._resolve_unconfirmed(existing, allow_resend=True)
            return OrderAck(client_order_id=order.client_order_id, status=OrderStatus.REJECTED,
                            broker_order_id=existing.broker_order_id,
                            reason=f"duplicate client_order_id {order.client_order_id!r} (that order is "
                                   f"{existing.status.lower()}); nothing was sent")
        problem = _bracket_problem(order)
        if problem:
            return OrderAck(client_order_id=order.client_order_id, status=OrderStatus.REJECTED, reason=problem)
        return self._place(order, fill_reason={OrderType.MARKET: "market", OrderType.LIMIT: "limit",
                                               OrderType.STOP: "stop"}[order.order_type])

    def _place(self, order: OrderRequest, *, fill_reason: str, parent_id: str | None = None) -> OrderAck:
        record = OrderRecord(client_order_id=order.client_order_id, remark=remark_for(order.client_order_id),
                             symbol=order.symbol.upper(), side=order.side.value, quantity=order.quantity,
                             order_type=order.order_type.value, stop_paise=order.stop_price_paise,
                             product=order.product.value, fill_reason=fill_reason,
                             stop_loss_paise=order.stop_loss_paise, take_profit_paise=order.take_profit_paise,
                             parent_id=parent_id)
        try:
            record.price_paise = self._limit_price(order)
        except BrokerApiError as exc:
            record.status, record.reason = OrderStatus.REJECTED.value, str(exc)
            self._save(record)
            return self._ack(record)
        self._save(record)              # intent on disk before anything leaves the process
        self._send(record)
        return self._ack(record)

    def modify(self, client_order_id: str, *, quantity: int | None = None,
               limit_price_paise: int | None = None) -> OrderAck:
        """Change quantity and/or limit price of a working order (REJECTED ack if Breeze refuses)."""
        record = self._orders.get(client_order_id)
        if record is None:
            return OrderAck(client_order_id=client_order_id, status=OrderStatus.REJECTED, reason="unknown client order id")
        if record.broker_order_id is None:
            self._resolve_unconfirmed(record, allow_resend=False)
        if record.broker_order_id is None or record.status in _TERMINAL:
            return OrderAck(client_order_id=client_order_id, status=OrderStatus.REJECTED,
                            broker_order_id=record.broker_order_id,
                            reason=f"order is {record.status} and cannot be modified")
        new_qty = quantity if quantity is not None else record.quantity
        new_price = limit_price_paise if limit_price_paise is not None else record.price_paise
        try:
            self._session.call("modify_order", order_id=record.broker_order_id, exchange_code=self._exchange,
                               order_type="stoploss" if record.order_type == OrderType.STOP.value else "limit",
                               stoploss=_rupees(record.stop_paise) if record.stop_paise else "",
                               quantity=str(new_qty), price=_rupees(new_price) if new_price else "",
                               validity="day", disclosed_quantity="0", validity_date="")
        except BrokerApiError as exc:
            return OrderAck(client_order_id=client_order_id, status=OrderStatus.REJECTED,
                            broker_order_id=record.broker_order_id, reason=f"modify refused: {exc}")
        except BreezeTransientError as exc:
            return OrderAck(client_order_id=client_order_id, status=OrderStatus(record.status),
                            broker_order_id=record.broker_order_id, reason=f"modify outcome unknown: {exc}")
        record.quantity, record.price_paise = new_qty, new_price
        self._save(record)
        return self._ack(record)

    def cancel(self, client_order_id: str) -> OrderAck:
        record = self._orders.get(client_order_id)
        if record is None:
            return OrderAck(client_order_id=client_order_id, status=OrderStatus.REJECTED, reason="unknown client order id")
        if record.lapsed_on is not None and record.status not in _TERMINAL:
            # lapsed at an earlier close and not placed again: nothing is working at Breeze
            record.status, record.reason, record.lapsed_on = OrderStatus.CANCELLED.value, "cancelled while lapsed", None
            self._save(record)
            return self._ack(record)
        if record.broker_order_id is None and record.status not in _TERMINAL:
            self._resolve_unconfirmed(record, allow_resend=False)
            if record.broker_order_id is None:
                # Never reached Breeze as far as the order book shows: stop any later resend.
                record.status, record.reason = OrderStatus.CANCELLED.value, "cancelled before Breeze confirmed it"
                self._save(record)
                return self._ack(record)
        if record.status in _TERMINAL:
            legs = [self._orders[c] for c in (client_order_id + SL_SUFFIX, client_order_id + TP_SUFFIX)
                    if c in self._orders and self._orders[c].status not in _TERMINAL]
            for leg in legs:
                self.cancel(leg.client_order_id)
            ack = self._ack(record)
            if legs:
                ack = attrs.evolve(ack, reason=f"order already {record.status.lower()}; cancelled bracket "
                                              + ", ".join(leg.client_order_id for leg in legs))
            return ack
        try:
            self._session.call("cancel_order", exchange_code=self._exchange, order_id=record.broker_order_id)
        except BrokerApiError as exc:
            self._refresh_one(record)
            if record.status in _TERMINAL:
                return self._ack(record)
            return OrderAck(client_order_id=client_order_id, status=OrderStatus(record.status),
                            broker_order_id=record.broker_order_id, reason=f"cancel refused: {exc}")
        except BreezeTransientError as exc:
            return OrderAck(client_order_id=client_order_id, status=OrderStatus(record.status),
                            broker_order_id=record.broker_order_id, reason=f"cancel outcome unknown: {exc}")
        record.status, record.reason = OrderStatus.CANCELLED.value, "cancelled"
        self._save(record)
        return self._ack(record)

    def advance(self, bar: Bar, *, owner: str = "") -> Sequence[Fill]:
        """Fills of ``bar``'s symbol Breeze reported since the last call (trade book polling,
        de-duplicated by trade id); other symbols' fills wait for their own bar. ``owner``: only
        orders whose client id starts with it (one book of a shared account, ``BreezeBookOrders``)."""
        self.collect()
        symbol = bar.symbol.upper()

        def mine(f: Fill) -> bool:
            return f.symbol == symbol and f.client_order_id.startswith(owner)
        fills = sorted((f for f in self._unreported if mine(f)), key=lambda f: (f.filled_at, f.trade_id))
        self._unreported = [f for f in self._unreported if not mine(f)]
        return fills

    def collect(self) -> list[Fill]:
        """Poll Breeze for executions now: place or cancel bracket legs at once, keep the fills
        for the next ``advance`` (returned here too, for logging)."""
        for record in list(self._orders.values()):
            if record.broker_order_id is None and record.status not in _TERMINAL:
                self._resolve_unconfirmed(record, allow_resend=True)
        ours = {r.broker_order_id: r for r in self._orders.values() if r.broker_order_id}
        if not ours:
            return []
        now = self._clock.now()
        trades = self._session.call_with_retry(
            "get_trade_list", empty_on=("No Data Found",), from_date=to_breeze_iso(ist_midnight(now)),
            to_date=to_breeze_iso(now), exchange_code=self._exchange, product_type="", action="", stock_code="") or []
        executed: dict[str, int] = {}
        for row in trades:
            oid = str(row.get("order_id", ""))
            if oid in ours:
                executed[oid] = executed.get(oid, 0) + int(float(row.get("quantity") or 0))
        fills: list[Fill] = []
        for oid, qty in executed.items():
            record = ours[oid]
            if qty <= record.filled_quantity:
                continue
            fills.extend(self._new_fills(record))
        self._refresh_statuses()
        for fill in list(fills):
            self._after_fill(self._orders[fill.client_order_id])
        for record in list(self._orders.values()):
            self._after_fill(record)       # entries that ended (e.g. cancelled) part-filled
        self._unreported.extend(fills)
        return fills

    def pending_fills(self) -> list[Fill]:
        """Executions seen (``collect``, ``settle_day_orders``, ``requeue_unapplied``) that the
        next ``advance`` of their symbol reports."""
        return list(self._unreported)

    def requeue_unapplied(self, applied_trade_ids: set[str], *, owner: str = "") -> int:
        """After a restart: report again every execution in the records that the log never
        applied (``applied_trade_ids`` is the log's; ``owner``: only client ids starting with
        it). Returns how many were queued."""
        queued = {f.trade_id for f in self._unreported}
        count = 0
        for record in self._orders.values():
            if not record.client_order_id.startswith(owner):
                continue
            for row in record.fills:
                trade_id = str(row["trade_id"])
                if trade_id in applied_trade_ids or trade_id in queued:
                    continue
                self._unreported.append(Fill(
                    client_order_id=record.client_order_id, trade_id=trade_id, symbol=record.symbol,
                    side=Side(record.side), quantity=int(row["quantity"]), price_paise=int(row["price_paise"]),
                    filled_at=datetime.fromisoformat(str(row["filled_at"])), reason=record.fill_reason))
                queued.add(trade_id)
                count += 1
        return count

    def settle_day_orders(self) -> list[DayOrderOutcome]:
        """At a session start: what became of the orders of earlier sessions (Breeze equity
        orders are valid for the day). Executions learnt only now are collected (reported by
        the next ``advance``); a protective leg of a position still open is marked lapsed, to
        be placed again by ``renew_lapsed`` once the session has reconciled the account; any
        other order that lapsed unfilled is expired. Sends nothing."""
        today = self._session_date()
        for record in self._orders.values():
            if record.placed_on is None and record.last_attempt_at:
                # records written before placement dates were kept: the last send's IST day
                record.placed_on = datetime.fromisoformat(record.last_attempt_at).astimezone(IST).date().isoformat()
        stale = [r for r in self._orders.values() if r.status not in _TERMINAL and r.lapsed_on is None
                 and r.placed_on is not None and date.fromisoformat(r.placed_on) < today]
        outcomes: list[DayOrderOutcome] = []
        for record in stale:
            status = self._final_status(record)
            if status in ("executed", "partially executed"):
                fills = self._new_fills(record)
                self._unreported.extend(fills)
                if fills:
                    outcomes.append(DayOrderOutcome(action="filled", client_order_id=record.client_order_id,
                                                    placed_on=record.placed_on or ""))
            elif status == "cancelled":
                record.status, record.reason = OrderStatus.CANCELLED.value, "cancelled at the broker"
                self._save(record)
        for record in stale:
            if record.parent_id is not None and record.status == OrderStatus.FILLED.value:
                self._after_fill(record)   # one-cancels-other for a leg that filled at its session's end
        for record in stale:
            if record.status in _TERMINAL:
                continue
            placed_on = record.placed_on or ""
            if self._protects_open_position(record):
                record.lapsed_on = placed_on
                self._save(record)
                outcomes.append(DayOrderOutcome(action="lapsed", client_order_id=record.client_order_id,
                                                placed_on=placed_on,
                                                previous_broker_order_id=record.broker_order_id or ""))
                continue
            record.status = OrderStatus.CANCELLED.value
            record.reason = f"expired at the close of {placed_on} (Breeze orders are valid for the day)"
            self._save(record)
            outcomes.append(DayOrderOutcome(action="expired", client_order_id=record.client_order_id,
                                            placed_on=placed_on))
        return outcomes

    def renew_lapsed(self) -> list[DayOrderOutcome]:
        """Place again, for today, every protective leg ``settle_day_orders`` found lapsed, under
        its client id (a new ``user_remark`` per placement). Call once the account reconciles."""
        outcomes = []
        for record in list(self._orders.values()):
            if record.lapsed_on is None or record.status in _TERMINAL:
                continue
            if not self._protects_open_position(record):
                record.status, record.reason = OrderStatus.CANCELLED.value, "position closed before renewal"
                record.lapsed_on = None
                self._save(record)
                continue
            previous, placed_on = record.broker_order_id or "", record.lapsed_on
            record.renewals += 1
            record.remark = remark_for(f"{record.client_order_id}.{record.renewals}")
            record.broker_order_id, record.attempts, record.lapsed_on = None, 0, None
            self._send(record)
            outcomes.append(DayOrderOutcome(action="renewed", client_order_id=record.client_order_id,
                                            placed_on=placed_on, previous_broker_order_id=previous,
                                            broker_order_id=record.broker_order_id or ""))
        return outcomes

    def _protects_open_position(self, record: OrderRecord) -> bool:
        """A bracket leg whose entry filled and of which neither leg has executed anything."""
        parent = self._orders.get(record.parent_id) if record.parent_id else None
        if parent is None or parent.status != OrderStatus.FILLED.value or record.filled_quantity:
            return False
        legs = (parent.client_order_id + SL_SUFFIX, parent.client_order_id + TP_SUFFIX)
        return not any(self._orders[c].filled_quantity for c in legs if c in self._orders)

    def _final_status(self, record: OrderRecord) -> str:
        """Breeze's status text for an order of an earlier session (``get_order_detail``)."""
        if record.broker_order_id is None:
            return "expired"                # never confirmed that day: it cannot be working today
        try:
            rows = self._session.call_with_retry("get_order_detail", exchange_code=self._exchange,
                                                 order_id=record.broker_order_id) or []
        except BrokerApiError:
            return "expired"
        return str(rows[0].get("status", "")).strip().lower() if rows else "expired"

    def open_order_ids(self) -> list[str]:
        return [cid for cid, r in self._orders.items() if r.status not in _TERMINAL]

    def holdings(self) -> dict[str, int]:
        """Delivery shares the account holds from earlier sessions (``get_portfolio_holdings``)."""
        rows = self._session.call_with_retry("get_portfolio_holdings", empty_on=("No Data Found",),
                                             exchange_code=self._exchange, from_date="", to_date="", stock_code="",
                                             portfolio_type="") or []
        held: dict[str, int] = {}
        for row in rows:
            if str(row.get("exchange_code", self._exchange)).upper() not in (self._exchange, ""):
                continue
            symbol = self._map.to_nse(str(row.get("stock_code", "")))
            held[symbol] = held.get(symbol, 0) + int(float(row.get("quantity") or 0))
        return {s: q for s, q in held.items() if q != 0}

    def positions(self) -> dict[str, int]:
        """Shares per symbol: holdings carried from earlier sessions plus today's net positions.

        Verified only against the fake SDK: Breeze's documented shapes say holdings are the
        settled delivery shares and positions today's trades; a broker that also lists
        today's buys under holdings would be double counted (reconciliation then refuses).
        """
        rows = self._session.call_with_retry("get_portfolio_positions", empty_on=("No Data Found",)) or []
        net: dict[str, int] = dict(self.holdings())
        for row in rows:
            if str(row.get("exchange_code", self._exchange)).upper() not in (self._exchange, ""):
                continue
            symbol = self._map.to_nse(str(row.get("stock_code", "")))
            qty = int(float(row.get("quantity") or 0))
            sign = -1 if str(row.get("action", "buy")).lower().startswith("s") else 1
            net[symbol] = net.get(symbol, 0) + sign * qty
        return {s: q for s, q in net.items() if q != 0}

    def funds(self) -> BrokerFunds:
        data = self._session.call_with_retry("get_funds") or {}
        def p(key: str) -> int:
            return _paise(data.get(key)) or 0
        return BrokerFunds(total_bank_balance_paise=p("total_bank_balance"),
                           allocated_equity_paise=p("allocated_equity"),
                           blocked_equity_paise=p("block_by_trade_equity"),
                           unallocated_paise=p("unallocated_balance"))

    def order_record(self, client_order_id: str) -> OrderRecord | None:
        return self._orders.get(client_order_id)

    # ---------------------------------------------------------------- internals

    def _ack(self, record: OrderRecord) -> OrderAck:
        return OrderAck(client_order_id=record.client_order_id, status=OrderStatus(record.status),
                        broker_order_id=record.broker_order_id, reason=record.reason)

    def _save(self, record: OrderRecord) -> None:
        self._orders[record.client_order_id] = record
        self._repo.save(record)

    def _limit_price(self, order: OrderRequest) -> int | None:
        if order.order_type is OrderType.LIMIT:
            if order.limit_price_paise is None:
                raise BrokerApiError("a LIMIT order needs limit_price_paise")
            return order.limit_price_paise
        if order.order_type is OrderType.STOP:
            if order.stop_price_paise is None:
                raise BrokerApiError("a STOP order needs stop_price_paise")
            if order.limit_price_paise is not None:
                return order.limit_price_paise
            return aggressive_limit_paise(order.side, order.stop_price_paise, pct=self._pct, on=self._session_date())
        quote = self._quote(order.symbol)
        ltp = _paise(quote.get("ltp"))
        if ltp is None:
            raise BrokerApiError(f"no last traded price for {order.symbol}; cannot build the aggressive limit "
                                 "Breeze requires instead of a market order")
        return aggressive_limit_paise(order.side, ltp, pct=self._pct, on=self._session_date(),
                                      upper_circuit_paise=_paise(quote.get("upper_circuit")),
                                      lower_circuit_paise=_paise(quote.get("lower_circuit")))

    def _quote(self, symbol: str) -> dict[str, Any]:
        rows = self._session.call_with_retry("get_quotes", stock_code=self._map.to_breeze(symbol),
                                             exchange_code=self._exchange, expiry_date="", product_type="cash",
                                             right="", strike_price="") or []
        for row in rows:
            if str(row.get("exchange_code", self._exchange)).upper() == self._exchange:
                return row
        return rows[0] if rows else {}

    def _send(self, record: OrderRecord) -> None:
        record.attempts += 1
        record.last_attempt_at = self._clock.now().isoformat()
        record.placed_on = self._session_date().isoformat()
        record.status, record.reason = OrderStatus.SUBMITTED.value, ""
        self._save(record)
        is_stop = record.order_type == OrderType.STOP.value
        try:
            answer = self._session.call(
                "place_order", stock_code=self._map.to_breeze(record.symbol), exchange_code=self._exchange,
                product="cash", action=record.side.lower(), order_type="stoploss" if is_stop else "limit",
                stoploss=_rupees(record.stop_paise) if (is_stop and record.stop_paise) else "",
                quantity=str(record.quantity), price=_rupees(record.price_paise) if record.price_paise else "",
                validity="day", user_remark=record.remark)
        except BreezeTransientError as exc:
            record.reason = f"outcome unknown, will check the order book before any resend: {exc}"
            self._save(record)
            try:
                self._resolve_unconfirmed(record, allow_resend=False)
            except Exception as lookup_exc:  # the query can fail the same way; the next advance() retries
                log.warning("order %s unresolved: %s", record.client_order_id, lookup_exc)
            return
        except BrokerApiError as exc:
            record.status, record.reason = OrderStatus.REJECTED.value, str(exc)
            self._save(record)
            return
        except (BrokerSessionError, BrokerDailyLimitError) as exc:
            # Refused before reaching the exchange: nothing was placed. The engine must stop.
            record.status, record.reason = OrderStatus.REJECTED.value, str(exc)
            self._save(record)
            raise
        order_id = (answer or {}).get("order_id") if isinstance(answer, dict) else None
        if not order_id:
            record.status = OrderStatus.REJECTED.value
            record.reason = f"Breeze gave no order id: {answer!r}"
        else:
            record.broker_order_id = str(order_id)
            record.status = OrderStatus.ACCEPTED.value
            record.reason = str((answer or {}).get("message", ""))
        self._save(record)

    def _order_book(self) -> list[dict[str, Any]]:
        now = self._clock.now()
        return self._session.call_with_retry(
            "get_order_list", empty_on=("No Data Found",), exchange_code=self._exchange,
            from_date=to_breeze_iso(ist_midnight(now)), to_date=to_breeze_iso(now)) or []

    def _resolve_unconfirmed(self, record: OrderRecord, *, allow_resend: bool) -> None:
        """Find an order whose send had no definite answer; resend only when the book proves it absent."""
        book = self._order_book()
        row, ambiguous = self._find_in_book(record, book)
        if row is not None:
            record.broker_order_id = str(row["order_id"])
            self._apply_row(record, row)
            self._save(record)
            return
        if ambiguous:
            record.reason = ("an unclaimed order with the same symbol, side, quantity and price is in the book; "
                             "not resending - check the Breeze order book by hand")
            self._save(record)
            return
        if not allow_resend:
            return
        last = datetime.fromisoformat(record.last_attempt_at) if record.last_attempt_at else None
        if last is not None and self._clock.now() - last < self._resubmit_after:
            return                       # the book may lag the send; look again later
        if record.attempts >= self._max_attempts:
            record.status = OrderStatus.REJECTED.value
            record.reason = (f"not in the Breeze order book after {record.attempts} send attempts; "
                             "treated as never placed")
            self._save(record)
            return
        self._send(record)

    def _find_in_book(self, record: OrderRecord, book: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, bool]:
        """The book row of ``record``: by ``user_remark``, else by its unclaimed twin.

        Whether the order list echoes ``user_remark`` is not documented, so when no row
        carries the remark an order nobody claimed with the same code, side, quantity and
        price counts as ours; two or more such twins make the answer ambiguous.
        """
        for row in book:
            if str(row.get("user_remark") or "") == record.remark:
                return row, False
        claimed = {r.broker_order_id for r in self._orders.values() if r.broker_order_id}
        code = self._map.to_breeze(record.symbol)
        price = _rupees(record.price_paise) if record.price_paise else None
        twins = []
        for row in book:
            if str(row.get("order_id")) in claimed or row.get("user_remark"):
                continue
            same = (str(row.get("stock_code", "")).upper() == code
                    and str(row.get("action", "")).lower() == record.side.lower()
                    and int(float(row.get("quantity") or 0)) == record.quantity
                    and (price is None or _paise(row.get("price")) == record.price_paise))
            if same:
                twins.append(row)
        if len(twins) == 1:
            return twins[0], False
        return None, len(twins) > 1

    def _apply_row(self, record: OrderRecord, row: dict[str, Any]) -> None:
        status = _STATUS_MAP.get(str(row.get("status", "")).strip().lower())
        if status is None:
            return
        if status is OrderStatus.FILLED and record.filled_quantity < record.quantity:
            status = OrderStatus.PARTIALLY_FILLED if record.filled_quantity else OrderStatus.ACCEPTED
            # FILLED is set from the trade book in advance(), so fills and status never disagree.
        record.status = status.value
        if status is OrderStatus.REJECTED:
            record.reason = str(row.get("rejection_reason") or row.get("remarks") or "Rejected by Breeze")

    def _refresh_one(self, record: OrderRecord) -> None:
        try:
            rows = self._session.call_with_retry("get_order_detail", exchange_code=self._exchange,
                                                 order_id=record.broker_order_id) or []
        except BrokerApiError:
            return
        if rows:
            self._apply_row(record, rows[0])
            self._save(record)

    def _refresh_statuses(self) -> None:
        working = [r for r in self._orders.values() if r.broker_order_id and r.status not in _TERMINAL]
        if not working:
            return
        by_id = {str(row.get("order_id")): row for row in self._order_book()}
        for record in working:
            row = by_id.get(record.broker_order_id or "")
            if row is not None:
                self._apply_row(record, row)
                self._save(record)

    def _session_date(self) -> date:
        return self._clock.now().astimezone(IST).date()

    def _after_fill(self, record: OrderRecord) -> None:
        """Brackets: legs once an entry is done filling; one-cancels-other between the legs."""
        if record.parent_id is not None:
            if record.status == OrderStatus.FILLED.value:
                for sibling_id in (record.parent_id + SL_SUFFIX, record.parent_id + TP_SUFFIX):
                    sibling = self._orders.get(sibling_id)
                    if sibling is not None and sibling is not record and sibling.status not in _TERMINAL:
                        self.cancel(sibling_id)
            return
        if record.legs_placed or record.filled_quantity <= 0:
            return
        if record.stop_loss_paise is None and record.take_profit_paise is None:
            return
        if record.status not in _TERMINAL:
            return                          # still filling: legs cover the final filled quantity
        record.legs_placed = True
        self._save(record)
        exit_side = Side.SELL if record.side == Side.BUY.value else Side.BUY
        for suffix, level, kind, reason in ((SL_SUFFIX, record.stop_loss_paise, OrderType.STOP, "stop_loss"),
                                            (TP_SUFFIX, record.take_profit_paise, OrderType.LIMIT, "take_profit")):
            if level is None:
                continue
            # on the NSE tick, as the simulated venue does: a stop adversely, a target never past it
            tick = tick_size_paise(level, self._session_date())
            level = max(round_paise_to_tick(level, tick, exit_side if kind is OrderType.STOP else
                                            (Side.BUY if exit_side is Side.SELL else Side.SELL)), tick)
            leg = OrderRequest(client_order_id=record.client_order_id + suffix, symbol=record.symbol, side=exit_side,
                               quantity=record.filled_quantity, order_type=kind, product=Product(record.product),
                               stop_price_paise=level if kind is OrderType.STOP else None,
                               limit_price_paise=level if kind is OrderType.LIMIT else None)
            ack = self._place(leg, fill_reason=reason, parent_id=record.client_order_id)
            if ack.status is OrderStatus.REJECTED:
                log.error("bracket leg %s for %s rejected: %s", leg.client_order_id, record.client_order_id,
                          ack.reason)

    def _new_fills(self, record: OrderRecord) -> list[Fill]:
        rows = self._session.call_with_retry("get_trade_detail", exchange_code=self._exchange,
                                             order_id=record.broker_order_id) or []
        fills = []
        for row in rows:
            trade_id = f"{record.broker_order_id}:{row.get('exchange_trade_id') or row.get('trade_id')}"
            if trade_id in record.trade_ids:
                continue
            qty = int(float(row.get("executed_quantity") or row.get("quantity") or 0))
            price = _paise(row.get("execution_price") or row.get("price"))
            if qty <= 0 or price is None:
                continue
            when = row.get("exchange_trade_time") or row.get("trade_time")
            filled_at = parse_ist(when) if when else self._clock.now()
            fills.append(Fill(client_order_id=record.client_order_id, trade_id=trade_id, symbol=record.symbol,
                              side=Side(record.side), quantity=qty, price_paise=price, filled_at=filled_at,
                              reason=record.fill_reason))
            record.trade_ids.append(trade_id)
            record.fills.append({"trade_id": trade_id, "quantity": qty, "price_paise": price,
                                 "filled_at": filled_at.isoformat()})
            record.filled_quantity += qty
        if fills:
            if record.filled_quantity >= record.quantity:
                record.status = OrderStatus.FILLED.value
            elif record.status not in _TERMINAL:
                record.status = OrderStatus.PARTIALLY_FILLED.value
            self._save(record)
        return fills


class BreezeBookOrders:
    """One book's window on a Breeze account shared by several books (one session, one broker).

    Client ids start with the book's name (``<book>-0000001``), so each book submits,
    cancels and gets fills of its own orders only; ``positions``, ``pending_fills`` of the
    reconciliation and the funds are the account's (``account``: the books of one account
    are reconciled together, since Breeze cannot tell their shares apart).
    """

    def __init__(self, account: BreezeBroker, book: str) -> None:
        self.account = account
        self.book = book
        self._owner = f"{book}-"

    def submit(self, order: OrderRequest) -> OrderAck:
        return self.account.submit(order)

    def cancel(self, client_order_id: str) -> OrderAck:
        return self.account.cancel(client_order_id)

    def advance(self, bar: Bar) -> Sequence[Fill]:
        return self.account.advance(bar, owner=self._owner)

    def open_order_ids(self) -> list[str]:
        return [c for c in self.account.open_order_ids() if c.startswith(self._owner)]

    def positions(self) -> dict[str, int]:
        return self.account.positions()

    def pending_fills(self) -> list[Fill]:
        return [f for f in self.account.pending_fills() if f.client_order_id.startswith(self._owner)]

    def requeue_unapplied(self, applied_trade_ids: set[str]) -> int:
        return self.account.requeue_unapplied(applied_trade_ids, owner=self._owner)
