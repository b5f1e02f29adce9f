"""The simulated venue used by backtests and validation (implements ``ports.broker.Broker``).

Matching rules, applied per symbol each time ``advance(bar)`` is called:

1. **Market orders** fill in full at the open of the *next* bar of their symbol (the first
   bar of that symbol processed after submission), moved against the order by
   ``slippage_bps`` and rounded onto the tick in the adverse direction (buys up, sells
   down). Fill reason ``"market"``.
   *Session gap:* an INTRADAY-product market order whose next bar belongs to a later
   session (IST date) than the last bar seen before submission cannot have traded at that
   open: the position would have been squared off at the close. It fills at the last
   seen close of the symbol (same slippage and rounding), stamped with that bar's start,
   reason ``"session_close"``. This needs the venue to have seen the bar the order was
   decided on: when ``submitted_at`` is later than the end of the last bar it was given
   (the caller skipped bars), that close is unknown and the order fills at the next open
   as an ordinary market order. Give the venue every bar of a symbol with an open
   position for exact square-offs; ``advance`` is cheap when nothing is working.
2. **Limit orders** fill when the bar trades through the limit: at the open when it
   gaps through (better than the limit), otherwise at the limit. No slippage.
   **Stop orders** trigger when the bar touches the stop: at the open when it gaps
   through, otherwise at the stop; slippage only if ``slippage_on_stops``.
3. **Brackets:** an entry carrying ``stop_loss_paise``/``take_profit_paise`` gets a
   one-cancels-other pair as soon as it fills: a stop ``<entry id>-SL`` (reason
   ``"stop_loss"``) and a limit ``<entry id>-TP`` (reason ``"take_profit"``) for the
   filled quantity on the opposite side. They are checked on the rest of the entry's bar
   (its range after the open) and on every later bar. When one bar touches both, the
   stop wins (the conservative assumption). When one fills the other is cancelled.
   ``cancel("<id>-SL")`` cancels one leg; ``cancel("<id>")`` cancels a working entry
   with its pending bracket, or the live bracket of a filled entry.
4. Within one bar, orders are processed in submission order; bracket legs attached
   during the bar are processed after the orders already working.

Orders are good till cancelled and fill in one piece (no volume model). Levels are moved
onto the tick of the bar's session date before matching: stops adversely (buy stops up,
sell stops down), limits never past the limit (buy limits down, sell limits up).
Every fill is stamped with the start time of the bar it happened on (the intrabar time
is unknown). Trade ids are ``<client_order_id>-F<n>``; broker ids ``SIM-<n>``; both are
deterministic for the same sequence of calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import attrs

from core.costs import round_paise_to_tick, round_to_tick, tick_size_paise
from core.errors import ConfigError
from core.model import Bar, Side
from core.orders import Fill, OrderAck, OrderRequest, OrderStatus, OrderType, Product

IST = timezone(timedelta(hours=5, minutes=30), "IST")
TickRule = Callable[[int, date], int]

SL_SUFFIX = "-SL"
TP_SUFFIX = "-TP"


def _non_negative(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not (value == value) or value < 0:
        raise ConfigError(f"BrokerConfig.{attribute.name} must be a number >= 0, got {value!r}")


@attrs.frozen(kw_only=True, slots=True)
class BrokerConfig:
    """Simulated execution parameters.

    ``slippage_bps``: adverse move applied to market fills (and to stop fills when
    ``slippage_on_stops``), in basis points of the price (5 = 0.05%).
    """

    slippage_bps: float = attrs.field(default=0.0, validator=_non_negative)
    slippage_on_stops: bool = False


SlippageConfig = BrokerConfig  # the same object under the name the issue uses


def _session(moment: datetime) -> date:
    return moment.astimezone(IST).date()


@attrs.define(kw_only=True, slots=True)
class _Order:
    request: OrderRequest
    broker_id: str
    seq: int                       # creation order, for deterministic processing
    active_after_bar: int          # symbol bar counter at creation; eligible on later bars
    last_session: date | None      # session of the symbol's last bar at submission
    last_close: float | None
    last_bar_start: datetime | None
    reason: str = "market"         # fill reason
    parent_id: str | None = None   # bracket legs: the entry's id
    status: OrderStatus = OrderStatus.ACCEPTED
    fills: int = 0

    @property
    def working(self) -> bool:
        return self.status in (OrderStatus.ACCEPTED, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


@attrs.define(slots=True)
class _SymbolState:
    bars: int = 0
    last_session: date | None = None
    last_close: float | None = None
    last_start: datetime | None = None
    last_end: datetime | None = None


class SimulatedBroker:
    """Bar-driven matching engine with slippage, ticks and OCO brackets (see module doc)."""

    def __init__(self, config: BrokerConfig | None = None, *, tick_rule: TickRule = tick_size_paise) -> None:
        self.config = config or BrokerConfig()
        self.tick_rule = tick_rule
        self._orders: dict[str, _Order] = {}
        self._working: dict[str, dict[str, _Order]] = {}   # symbol -> working orders by id
        self._seq = 0
        self._symbols: dict[str, _SymbolState] = {}
        self._positions: dict[str, int] = {}
        self._fills: list[Fill] = []

    # ------------------------------------------------------------------ port

    def submit(self, order: OrderRequest) -> OrderAck:
        cid = order.client_order_id
        problem = self._validate(order)
        if problem:
            return OrderAck(client_order_id=cid, status=OrderStatus.REJECTED, reason=problem)
        state = self._symbols.get(order.symbol, _SymbolState())
        new = self._new_order(
            order, active_after_bar=state.bars, state=state,
            reason={OrderType.MARKET: "market", OrderType.LIMIT: "limit", OrderType.STOP: "stop"}[order.order_type])
        return OrderAck(client_order_id=cid, status=OrderStatus.ACCEPTED, broker_order_id=new.broker_id)

    def cancel(self, client_order_id: str) -> OrderAck:
        order = self._orders.get(client_order_id)
        if order is None:
            return OrderAck(client_order_id=client_order_id, status=OrderStatus.REJECTED,
                            reason=f"unknown order {client_order_id!r}")
        legs = [self._orders[lid] for lid in (client_order_id + SL_SUFFIX, client_order_id + TP_SUFFIX)
                if lid in self._orders]
        if order.working:
            self._finish(order, OrderStatus.CANCELLED)
            return OrderAck(client_order_id=client_order_id, status=OrderStatus.CANCELLED,
                            broker_order_id=order.broker_id, reason="cancelled")
        live_legs = [leg for leg in legs if leg.working]
        for leg in live_legs:
            self._finish(leg, OrderStatus.CANCELLED)
        if live_legs:
            names = ", ".join(leg.request.client_order_id for leg in live_legs)
            return OrderAck(client_order_id=client_order_id, status=order.status, broker_order_id=order.broker_id,
                            reason=f"order already {order.status.value.lower()}; cancelled bracket {names}")
        return OrderAck(client_order_id=client_order_id, status=order.status, broker_order_id=order.broker_id,
                        reason=f"order already {order.status.value.lower()}; nothing to cancel")

    def advance(self, bar: Bar) -> Sequence[Fill]:
        state = self._symbols.setdefault(bar.symbol, _SymbolState())
        state.bars += 1
        bar_no = state.bars
        session = _session(bar.start)
        fills: list[Fill] = []
        working = self._working.get(bar.symbol)
        queue = [o for o in working.values() if o.active_after_bar < bar_no] if working else []
        # market orders first (they trade at the open), then resting orders, then new legs
        queue.sort(key=lambda o: (o.request.order_type is not OrderType.MARKET, o.seq))
        i = 0
        while i < len(queue):
            order = queue[i]
            i += 1
            if not order.working:
                continue  # cancelled by its OCO sibling earlier in this bar
            fill = self._match(order, bar, session)
            if fill is None:
                continue
            fills.append(fill)
            queue.extend(self._after_fill(order, fill, bar_no))
        state.last_session = session
        state.last_close = bar.close
        state.last_start = bar.start
        state.last_end = bar.end
        self._fills.extend(fills)
        return fills

    def fill_at_last_close(self, client_order_ids: Sequence[str], reason: str = "backtest_end") -> list[Fill]:
        """Fill these working market orders at their symbol's last close (with the usual
        slippage and tick rounding), stamped at that last bar's start: how a backtest
        closes what is still open when its data ends, since no next bar will come."""
        fills = []
        for cid in client_order_ids:
            order = self._orders.get(cid)
            state = self._symbols.get(order.request.symbol) if order is not None else None
            if order is None or not order.working or order.request.order_type is not OrderType.MARKET:
                continue
            if state is None or state.last_close is None or state.last_start is None or state.last_session is None:
                continue
            price = self._slipped(state.last_close, order.request.side, state.last_session, True)
            fills.append(self._fill(order, price, state.last_start, reason))
        self._fills.extend(fills)
        return fills

    def open_order_ids(self) -> list[str]:
        live = [o for orders in self._working.values() for o in orders.values()]
        return [o.request.client_order_id for o in sorted(live, key=lambda o: o.seq)]

    def positions(self) -> dict[str, int]:
        return {s: q for s, q in sorted(self._positions.items()) if q != 0}

    # -------------------------------------------------------------- recovery

    def restore(self, orders: Sequence[tuple[OrderRequest, str, str | None]], positions: dict[str, int],
                last_bars: dict[str, Bar], orders_created: int = 0) -> None:
        """Rebuild a fresh venue from the event log after a restart (paper sessions).

        ``orders`` are the working orders in creation order as ``(request, fill reason,
        bracket parent id or None)``: accepted submissions not filled or cancelled, and
        the OCO legs of filled entries (``core.engine.state.EngineState.venue_orders``).
        ``last_bars`` is the last bar the venue saw per symbol with working orders; a
        market order decided on that bar keeps its session-gap square-off price, one
        decided later is stale exactly as it was before the restart. Every restored
        order is eligible from the next bar on (the bar it was placed on is done).
        ``orders_created`` continues the ``SIM-<n>`` broker ids.
        """
        if self._orders:
            raise ValueError("restore() needs a fresh SimulatedBroker")
        for symbol, bar in last_bars.items():
            self._symbols[symbol] = _SymbolState(bars=0, last_session=_session(bar.start), last_close=bar.close,
                                                 last_start=bar.start, last_end=bar.end)
        for request, reason, parent_id in orders:
            state = self._symbols.get(request.symbol, _SymbolState())
            self._new_order(request, active_after_bar=state.bars, state=state, reason=reason, parent_id=parent_id)
        self._positions = {s: q for s, q in positions.items() if q}
        self._seq = max(self._seq, orders_created)

    # ------------------------------------------------------------ inspection

    def order_status(self, client_order_id: str) -> OrderStatus | None:
        order = self._orders.get(client_order_id)
        return None if order is None else order.status

    @property
    def fills(self) -> list[Fill]:
        """Every fill so far, in the order it happened."""
        return list(self._fills)

    # -------------------------------------------------------------- helpers

    def _new_order(self, request: OrderRequest, *, active_after_bar: int, state: _SymbolState, reason: str,
                   parent_id: str | None = None) -> _Order:
        self._seq += 1
        stale = (request.submitted_at is not None and state.last_end is not None
                 and request.submitted_at > state.last_end)
        order = _Order(request=request, broker_id=f"SIM-{self._seq:06d}", seq=self._seq,
                       active_after_bar=active_after_bar, last_session=None if stale else state.last_session,
                       last_close=None if stale else state.last_close,
                       last_bar_start=None if stale else state.last_start,
                       reason=reason, parent_id=parent_id)
        self._orders[request.client_order_id] = order
        self._working.setdefault(request.symbol, {})[request.client_order_id] = order
        return order

    def _finish(self, order: _Order, status: OrderStatus) -> None:
        order.status = status
        working = self._working.get(order.request.symbol)
        if working is not None:
            working.pop(order.request.client_order_id, None)

    def _validate(self, order: OrderRequest) -> str:
        cid = order.client_order_id
        if not cid:
            return "client_order_id is empty"
        if cid in self._orders:
            return f"duplicate client_order_id {cid!r}"
        if cid.endswith((SL_SUFFIX, TP_SUFFIX)):
            return f"client ids ending in {SL_SUFFIX}/{TP_SUFFIX} are reserved for bracket legs"
        if order.order_type is OrderType.LIMIT and not (order.limit_price_paise and order.limit_price_paise > 0):
            return "a LIMIT order needs a positive limit_price_paise"
        if order.order_type is OrderType.STOP and not (order.stop_price_paise and order.stop_price_paise > 0):
            return "a STOP order needs a positive stop_price_paise"
        sl, tp = order.stop_loss_paise, order.take_profit_paise
        for name, level in (("stop_loss_paise", sl), ("take_profit_paise", tp)):
            if level is not None and level <= 0:
                return f"{name} must be positive, got {level}"
        if sl is not None and tp is not None:
            if order.side is Side.BUY and not sl < tp:
                return f"a long entry needs stop_loss < take_profit, got {sl} >= {tp}"
            if order.side is Side.SELL and not sl > tp:
                return f"a short entry needs stop_loss > take_profit, got {sl} <= {tp}"
        return ""

    def _tick(self, price_paise: int, session: date) -> int:
        return self.tick_rule(max(price_paise, 1), session)

    def _slipped(self, price: float | Decimal, side: Side, session: date, apply: bool) -> int:
        """A market-like price moved adversely by the slippage and rounded adversely onto the tick."""
        exact = price if isinstance(price, Decimal) else Decimal(repr(float(price)))
        if apply and self.config.slippage_bps:
            exact = exact * (1 + side.sign * Decimal(repr(float(self.config.slippage_bps))) / 10_000)
        tick = self._tick(int(exact * 100), session)
        return max(round_to_tick(exact, tick, side), tick)

    def _level(self, level_paise: int, side: Side, session: date, *, limit: bool) -> int:
        """A stop/limit level on the tick: stops adverse, limits never past the limit."""
        tick = self._tick(level_paise, session)
        if limit:  # a buy limit may only pay less, a sell limit only get more
            direction = Side.SELL if side is Side.BUY else Side.BUY
        else:
            direction = side
        return max(round_paise_to_tick(level_paise, tick, direction), tick)

    def _match(self, order: _Order, bar: Bar, session: date) -> Fill | None:
        req = order.request
        side = req.side
        if req.order_type is OrderType.MARKET:
            if (req.product is Product.INTRADAY and order.last_session is not None
                    and order.last_close is not None and session != order.last_session):
                price = self._slipped(order.last_close, side, order.last_session, True)
                assert order.last_bar_start is not None
                return self._fill(order, price, order.last_bar_start, "session_close")
            return self._fill(order, self._slipped(bar.open, side, session, True), bar.start, order.reason)

        open_paise = round_to_tick(bar.open, 1)
        high_paise = round_to_tick(bar.high, 1)
        low_paise = round_to_tick(bar.low, 1)
        if req.order_type is OrderType.LIMIT:
            assert req.limit_price_paise is not None
            level = self._level(req.limit_price_paise, side, session, limit=True)
            if side is Side.BUY:
                if open_paise <= level:
                    price = min(self._slipped(bar.open, side, session, False), level)
                elif low_paise <= level:
                    price = level
                else:
                    return None
            else:
                if open_paise >= level:
                    price = max(self._slipped(bar.open, side, session, False), level)
                elif high_paise >= level:
                    price = level
                else:
                    return None
            return self._fill(order, price, bar.start, order.reason)

        assert req.stop_price_paise is not None
        level = self._level(req.stop_price_paise, side, session, limit=False)
        slip = self.config.slippage_on_stops
        if side is Side.BUY:
            if open_paise >= level:
                price = self._slipped(bar.open, side, session, slip)
            elif high_paise >= level:
                price = self._slipped(Decimal(level) / 100, side, session, slip)
            else:
                return None
        else:
            if open_paise <= level:
                price = self._slipped(bar.open, side, session, slip)
            elif low_paise <= level:
                price = self._slipped(Decimal(level) / 100, side, session, slip)
            else:
                return None
        return self._fill(order, price, bar.start, order.reason)

    def _fill(self, order: _Order, price_paise: int, at: datetime, reason: str) -> Fill:
        req = order.request
        order.fills += 1
        self._finish(order, OrderStatus.FILLED)
        self._positions[req.symbol] = self._positions.get(req.symbol, 0) + req.side.sign * req.quantity
        return Fill(client_order_id=req.client_order_id, trade_id=f"{req.client_order_id}-F{order.fills}",
                    symbol=req.symbol, side=req.side, quantity=req.quantity, price_paise=price_paise,
                    filled_at=at, reason=reason)

    def _after_fill(self, order: _Order, fill: Fill, bar_no: int) -> list[_Order]:
        """Cancel an OCO sibling; attach a bracket to a filled entry. Returns new working legs."""
        if order.parent_id is not None:
            own = order.request.client_order_id
            for sibling_id in (order.parent_id + SL_SUFFIX, order.parent_id + TP_SUFFIX):
                sibling = self._orders.get(sibling_id)
                if sibling_id != own and sibling is not None and sibling.working:
                    self._finish(sibling, OrderStatus.CANCELLED)
            return []
        req = order.request
        if req.stop_loss_paise is None and req.take_profit_paise is None:
            return []
        exit_side = Side.SELL if req.side is Side.BUY else Side.BUY
        state = self._symbols[req.symbol]
        legs = []
        for suffix, level, kind, reason in ((SL_SUFFIX, req.stop_loss_paise, OrderType.STOP, "stop_loss"),
                                            (TP_SUFFIX, req.take_profit_paise, OrderType.LIMIT, "take_profit")):
            if level is None:
                continue
            leg_request = OrderRequest(
                client_order_id=req.client_order_id + suffix, symbol=req.symbol, side=exit_side,
                quantity=fill.quantity, order_type=kind, product=req.product,
                stop_price_paise=level if kind is OrderType.STOP else None,
                limit_price_paise=level if kind is OrderType.LIMIT else None,
                submitted_at=fill.filled_at)
            leg = self._new_order(leg_request, active_after_bar=bar_no - 1, state=state, reason=reason,
                                  parent_id=req.client_order_id)
            legs.append(leg)
        return legs


__all__ = ["BrokerConfig", "SimulatedBroker", "SlippageConfig", "TickRule"]
