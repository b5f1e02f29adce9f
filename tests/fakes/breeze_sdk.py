"""A fake ``breeze_connect.BreezeConnect`` built from the documented response shapes.

Used at the SDK edge only (our own ports get hand-written fakes). It mimics what the real
SDK does that matters to the adapters:

* every method answers ``None`` until ``generate_session`` succeeded;
* answers are envelopes ``{"Success": ..., "Status": 200, "Error": None}``; errors are
  ``{"Success": None, "Status": 500, "Error": "..."}``, the daily cap is ``Status 5``;
* transport failures raise ``Exception("Error in <func>(): ...")``;
* ``get_historical_data_v2`` returns at most 1000 candles with float values;
* ``place_order`` answers ``{"order_id": ..., "message": ...}``; ``modify_order`` refuses
  orders that are no longer working; trades come from ``get_trade_list``/``get_trade_detail``;
* ``subscribe_feeds`` returns a string on failure; ticks are pushed with ``push_tick``.

Scripted failures: ``fail_next(method, outcome, ...)`` where an outcome is an exception to
raise, an envelope dict to return, or ``"after"`` + exception (``place_order`` only): place
the order, then raise as if the answer was lost.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any, Callable

IST_FMT = "%Y-%m-%d %H:%M:%S"


def ok(payload: Any) -> dict[str, Any]:
    return {"Success": payload, "Status": 200, "Error": None}


def err(message: str, status: int = 500) -> dict[str, Any]:
    return {"Success": None, "Status": status, "Error": message}


DAILY_CAP = {"Status": 5, "Error": "Limit exceed: API call per day: "}


def _parse_iso(text: str) -> datetime:
    # Breeze reads the time part as IST wall clock; the fake keeps everything naive IST.
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.000Z")


class FakeBreezeSDK:
    """In-memory Breeze: candles, quotes, an order book, a trade book, positions, funds."""

    def __init__(self, api_key: str, *, api_secret: str = "secret-xyz", session_token: str = "token-123",
                 expired: bool = False) -> None:
        self.api_key = api_key
        self._secret = api_secret
        self._token = session_token
        self._expired = expired
        self.session_ok = False
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._failures: dict[str, deque[Any]] = {}
        self.candles: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.quotes: dict[str, dict[str, Any]] = {}
        self.names: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.trades: dict[str, list[dict[str, Any]]] = {}
        self.positions: list[dict[str, Any]] = []
        # settled delivery shares (documented rows of get_portfolio_holdings; numbers as strings)
        self.holdings: list[dict[str, Any]] = []
        self.funds: dict[str, Any] = {"bank_account": "000000000000", "total_bank_balance": 100000.0,
                                      "allocated_equity": 50000.0, "allocated_fno": 0.0,
                                      "block_by_trade_equity": 1200.5, "unallocated_balance": "50000.0"}
        self.on_ticks: Callable[[dict[str, Any]], None] | None = None
        self.subscribed: list[dict[str, Any]] = []
        self.ws_connected = False
        self.subscribe_answer: Any = {"message": "Stock RELIND subscribed successfully"}
        self.ticks_on_subscribe: list[dict[str, Any]] = []
        self._order_seq = 0
        # The exchange side of a scenario: called with (order_id, order row) after each
        # order is booked, e.g. to execute it at once (``execute``).
        self.on_place: Callable[[str, dict[str, Any]], None] | None = None
        # Keep ``positions`` as Breeze reports them: today's net executed quantity per stock.
        self.track_positions = False

    # ------------------------------------------------------------ test controls

    def fail_next(self, method: str, *outcomes: Any) -> None:
        self._failures.setdefault(method, deque()).extend(outcomes)

    def _enter(self, method: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((method, kwargs))
        queue = self._failures.get(method)
        if queue:
            return queue.popleft()
        return None

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)

    def add_candles(self, stock_code: str, interval: str, rows: list[dict[str, Any]]) -> None:
        self.candles.setdefault((stock_code, interval), []).extend(rows)

    def execute(self, order_id: str, quantity: int, price: float, trade_id: str, when: str) -> None:
        """The exchange fills ``quantity`` of an order (``when`` like '08-Jun-2025 14:09:34')."""
        order = self.orders[order_id]
        self.trades.setdefault(order_id, []).append({
            "settlement_id": "2025106", "exchange_trade_id": trade_id, "executed_quantity": str(quantity),
            "action": order["action"][0].upper(), "total_transaction_cost": "0", "brokerage_amount": "0",
            "taxes": "0", "eq_cost": "0", "eq_charges": "0", "execution_price": f"{price:.2f}",
            "exchange_trade_time": when})
        done = sum(int(t["executed_quantity"]) for t in self.trades[order_id])
        order["pending_quantity"] = str(int(order["quantity"]) - done)
        order["status"] = "Executed" if done >= int(order["quantity"]) else "Partially Executed"
        if self.track_positions:
            signed = quantity if order["action"].lower() == "buy" else -quantity
            row = next((p for p in self.positions if p["stock_code"] == order["stock_code"]), None)
            if row is None:
                row = {"segment": "equity", "product_type": "Cash", "exchange_code": "NSE",
                       "stock_code": order["stock_code"], "action": "Buy", "quantity": "0", "price": f"{price:.2f}"}
                self.positions.append(row)
            net = (int(row["quantity"]) if row["action"] == "Buy" else -int(row["quantity"])) + signed
            row["quantity"], row["action"] = str(abs(net)), "Buy" if net >= 0 else "Sell"
            if net == 0:
                self.positions.remove(row)

    def next_session(self) -> None:
        """The exchange's night: today's day orders lapse (status ``Expired``), today's net
        positions settle into holdings (T+1 simplified to overnight), positions start empty."""
        for order in self.orders.values():
            if order["status"] in ("Ordered", "Requested", "Queued", "Open", "Partially Executed"):
                order["status"] = "Expired"
                order["cancelled_quantity"], order["pending_quantity"] = order["pending_quantity"], "0"
        for row in self.positions:
            signed = int(row["quantity"]) * (1 if row["action"] == "Buy" else -1)
            held = next((h for h in self.holdings if h["stock_code"] == row["stock_code"]), None)
            if held is None:
                held = {"stock_code": row["stock_code"], "exchange_code": "NSE", "quantity": "0",
                        "average_price": row.get("price", "0"), "current_market_price": row.get("price", "0"),
                        "booked_profit_loss": "0"}
                self.holdings.append(held)
            held["quantity"] = str(int(held["quantity"]) + signed)
        self.holdings = [h for h in self.holdings if int(h["quantity"]) != 0]
        self.positions = []

    # ------------------------------------------------------------------ session

    def generate_session(self, api_secret: str, session_token: str) -> None:
        self.calls.append(("generate_session", {}))
        if self._expired:
            raise Exception("Unexpected error: Session key is expired.")
        if api_secret != self._secret or session_token != self._token:
            raise Exception("Unexpected error: Could not authenticate credentials. Please check session key.")
        self.session_ok = True

    def _scripted(self, method: str, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        outcome = self._enter(method, kwargs)
        if outcome is None:
            return False, None
        if isinstance(outcome, BaseException):
            raise outcome
        return True, outcome

    # -------------------------------------------------------------------- data

    def get_names(self, exchange_code: str, stock_code: str) -> Any:
        if not self.session_ok:
            return None
        self.calls.append(("get_names", {"exchange_code": exchange_code, "stock_code": stock_code}))
        return self.names.get(stock_code.upper(), {"Status": 500, "Error": "Stock not found"})

    def get_historical_data_v2(self, interval: str, from_date: str, to_date: str, stock_code: str,
                               exchange_code: str, product_type: str = "", expiry_date: str = "", right: str = "",
                               strike_price: str = "") -> Any:
        if not self.session_ok:
            return None
        kwargs = dict(interval=interval, from_date=from_date, to_date=to_date, stock_code=stock_code,
                      exchange_code=exchange_code, product_type=product_type)
        scripted, answer = self._scripted("get_historical_data_v2", kwargs)
        if scripted:
            return answer
        if interval not in ("1second", "1minute", "5minute", "30minute", "1day"):
            return err("Interval should be either '1second','1minute', '5minute', '30minute', or '1day'")
        lo, hi = _parse_iso(from_date), _parse_iso(to_date)
        rows = [r for r in self.candles.get((stock_code, interval), [])
                if lo <= datetime.strptime(r["datetime"], IST_FMT) <= hi]
        rows.sort(key=lambda r: r["datetime"])
        return ok(rows[:1000])

    def get_quotes(self, stock_code: str, exchange_code: str, expiry_date: str = "", product_type: str = "",
                   right: str = "", strike_price: str = "") -> Any:
        if not self.session_ok:
            return None
        scripted, answer = self._scripted("get_quotes", dict(stock_code=stock_code))
        if scripted:
            return answer
        quote = self.quotes.get(stock_code)
        if quote is None:
            return err("No Data Found")
        return ok([{"exchange_code": exchange_code, "product_type": "", "stock_code": stock_code,
                    "expiry_date": None, "right": None, "strike_price": 0, **quote}])

    # ------------------------------------------------------------------ orders

    def place_order(self, stock_code: str, exchange_code: str, product: str, action: str, order_type: str,
                    stoploss: str = "", quantity: str = "", price: str = "", validity: str = "",
                    validity_date: str = "", disclosed_quantity: str = "", expiry_date: str = "", right: str = "",
                    strike_price: str = "", user_remark: str = "", **_: Any) -> Any:
        if not self.session_ok:
            return None
        kwargs = dict(stock_code=stock_code, exchange_code=exchange_code, product=product, action=action,
                      order_type=order_type, stoploss=stoploss, quantity=quantity, price=price, validity=validity,
                      user_remark=user_remark)
        outcome = self._enter("place_order", kwargs)
        if isinstance(outcome, tuple) and outcome and outcome[0] == "after":
            self._book(kwargs)
            raise outcome[1]
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is not None:
            return outcome
        if order_type == "market":
            return err("Market orders are not allowed; use an aggressive limit order")
        order_id = self._book(kwargs)
        if self.on_place is not None:
            self.on_place(order_id, self.orders[order_id])
        return ok({"order_id": order_id, "message": "Equity CASH Order placed successfully through RI reference no "
                   + order_id})

    def _book(self, kwargs: dict[str, Any]) -> str:
        self._order_seq += 1
        order_id = f"20250205N3{self._order_seq:08d}"
        self.orders[order_id] = {
            "order_id": order_id, "exchange_order_id": None, "exchange_code": kwargs["exchange_code"],
            "stock_code": kwargs["stock_code"], "product_type": "Cash", "action": kwargs["action"].title(),
            "order_type": kwargs["order_type"].title(), "stoploss": kwargs["stoploss"] or "0.00",
            "quantity": kwargs["quantity"], "price": kwargs["price"], "validity": "Day", "disclosed_quantity": "0",
            "expiry_date": None, "right": None, "strike_price": 0, "average_price": "0", "cancelled_quantity": "0",
            "pending_quantity": kwargs["quantity"], "status": "Ordered", "user_remark": kwargs["user_remark"],
            "order_datetime": "05-Feb-2025 10:32"}
        return order_id

    def get_order_list(self, exchange_code: str, from_date: str, to_date: str) -> Any:
        if not self.session_ok:
            return None
        scripted, answer = self._scripted("get_order_list", dict(exchange_code=exchange_code))
        if scripted:
            return answer
        if not self.orders:
            return err("No Data Found")
        return ok([dict(o) for o in self.orders.values()])

    def get_order_detail(self, exchange_code: str, order_id: str) -> Any:
        if not self.session_ok:
            return None
        self.calls.append(("get_order_detail", {"order_id": order_id}))
        order = self.orders.get(order_id)
        return ok([dict(order)]) if order else err("No Data Found")

    def modify_order(self, order_id: str, exchange_code: str, order_type: str = "", stoploss: str = "",
                     quantity: str = "", price: str = "", validity: str = "", disclosed_quantity: str = "",
                     validity_date: str = "") -> Any:
        if not self.session_ok:
            return None
        scripted, answer = self._scripted("modify_order", dict(order_id=order_id, quantity=quantity, price=price))
        if scripted:
            return answer
        order = self.orders.get(order_id)
        if order is None:
            return err("No Data Found")
        if order["status"].lower() not in ("ordered", "requested", "partially executed"):
            return err(f"Order cannot be modified as order status is {order['status']}")
        order["quantity"], order["price"] = quantity or order["quantity"], price or order["price"]
        return ok({"order_id": order_id, "message": "Successfully Modified the order"})

    def cancel_order(self, exchange_code: str, order_id: str) -> Any:
        if not self.session_ok:
            return None
        scripted, answer = self._scripted("cancel_order", dict(order_id=order_id))
        if scripted:
            return answer
        order = self.orders.get(order_id)
        if order is None:
            return err("No Data Found")
        if order["status"] in ("Executed", "Cancelled", "Rejected", "Expired"):
            return err(f"Order cannot be cancelled as order status is {order['status']}")
        order["status"] = "Cancelled"
        order["cancelled_quantity"] = order["pending_quantity"]
        order["pending_quantity"] = "0"
        return ok({"order_id": order_id, "message": "Your Order Canceled Successfully"})

    def get_trade_list(self, from_date: str, to_date: str, exchange_code: str, product_type: str = "",
                       action: str = "", stock_code: str = "") -> Any:
        if not self.session_ok:
            return None
        scripted, answer = self._scripted("get_trade_list", {})
        if scripted:
            return answer
        rows = []
        for order_id, trades in self.trades.items():
            order = self.orders[order_id]
            qty = sum(int(t["executed_quantity"]) for t in trades)
            avg = sum(int(t["executed_quantity"]) * float(t["execution_price"]) for t in trades) / qty
            rows.append({"match_account": "8500000000", "order_type": order["order_type"], "trade_date": "05-Feb-2025",
                         "stock_code": order["stock_code"], "action": order["action"], "quantity": str(qty),
                         "average_cost": f"{avg:.2f}", "brokerage_amount": "0.00", "product_type": "Cash",
                         "exchange_code": "NSE", "order_id": order_id, "segment": "N", "settlement_code": "2025106",
                         "dp_id": "", "client_id": "", "ltp": "", "eq_cost": "", "eq_charges": ""})
        return ok(rows) if rows else err("No Data Found")

    def get_trade_detail(self, exchange_code: str, order_id: str) -> Any:
        if not self.session_ok:
            return None
        self.calls.append(("get_trade_detail", {"order_id": order_id}))
        trades = self.trades.get(order_id)
        return ok([dict(t) for t in trades]) if trades else err("No Data Found")

    def get_portfolio_positions(self) -> Any:
        if not self.session_ok:
            return None
        self.calls.append(("get_portfolio_positions", {}))
        return ok([dict(p) for p in self.positions]) if self.positions else err("No Data Found")

    def get_portfolio_holdings(self, exchange_code: str = "", from_date: str = "", to_date: str = "",
                               stock_code: str = "", portfolio_type: str = "") -> Any:
        if not self.session_ok:
            return None
        self.calls.append(("get_portfolio_holdings", {"exchange_code": exchange_code, "stock_code": stock_code}))
        rows = [dict(h) for h in self.holdings if not stock_code or h.get("stock_code") == stock_code]
        return ok(rows) if rows else err("No Data Found")

    def get_funds(self) -> Any:
        if not self.session_ok:
            return None
        scripted, answer = self._scripted("get_funds", {})
        if scripted:
            return answer
        return ok(dict(self.funds))

    # --------------------------------------------------------------- streaming

    def ws_connect(self) -> None:
        self.ws_connected = True

    def ws_disconnect(self) -> None:
        self.ws_connected = False

    def subscribe_feeds(self, **kwargs: Any) -> Any:
        self.subscribed.append(kwargs)
        answer = self.subscribe_answer
        for tick in self.ticks_on_subscribe:
            self.push_tick(tick)
        self.ticks_on_subscribe = []
        return answer

    def unsubscribe_feeds(self, **kwargs: Any) -> Any:
        self.subscribed = [s for s in self.subscribed if s.get("stock_code") != kwargs.get("stock_code")]
        return {"message": "unsubscribed"}

    def push_tick(self, tick: dict[str, Any]) -> None:
        if self.on_ticks is not None:
            self.on_ticks(tick)


def candle(ist: datetime, o: float, h: float, l: float, c: float, v: int, code: str = "RELIND") -> dict[str, Any]:
    """A v2 candle row exactly as Breeze returns it (floats, naive IST datetime text)."""
    return {"close": c, "datetime": ist.strftime(IST_FMT), "exchange_code": "NSE", "high": h, "low": l,
            "open": o, "stock_code": code, "volume": v}


def minute_candles(day: datetime, code: str = "RELIND", start_price: float = 2500.0) -> list[dict[str, Any]]:
    """375 one-minute candles 09:15..15:29 IST of ``day`` (naive), a gentle deterministic walk."""
    rows = []
    price = start_price
    t = day.replace(hour=9, minute=15, second=0, microsecond=0)
    for i in range(375):
        o = price
        c = round(o + (0.5 if i % 3 else -0.7), 2)
        rows.append(candle(t, o, max(o, c) + 0.3, min(o, c) - 0.2, c, 1000 + i, code))
        price = c
        t += timedelta(minutes=1)
    return rows


def swing_setup_candles(last: datetime, code: str = "TCS", days: int = 100) -> list[dict[str, Any]]:
    """Daily candles (weekdays) ending on ``last``: a steady uptrend, then a two-day pullback
    on whose second day the swing book's RSI(5) rule buys at the close (SMA20 above SMA50)."""
    dates: list[datetime] = []
    t = last
    while len(dates) < days:
        if t.weekday() < 5:
            dates.append(t)
        t -= timedelta(days=1)
    dates.reverse()
    rows = []
    price = 3000.0
    for k, d in enumerate(dates):
        o = price
        c = round(o * (0.985 if k >= days - 2 else 1.004), 2)
        rows.append(candle(d.replace(hour=0, minute=0), o, round(max(o, c) * 1.004, 2), round(min(o, c) * 0.996, 2),
                           c, 100000 + k, code))
        price = c
    return rows


def next_day_candle(previous: dict[str, Any], day: datetime, *, change: float, low: float) -> dict[str, Any]:
    """The next daily candle: opens at ``previous``'s close, closes ``change`` away, low ``low`` below the open."""
    o = float(previous["close"])
    c = round(o * (1 + change), 2)
    return candle(day, o, round(max(o, c) * 1.002, 2), round(min(o, c) * (1 - low), 2), c, 100000,
                  previous["stock_code"])
