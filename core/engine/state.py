"""Engine state as a pure fold over one book stream's events (paper/live crash recovery).

``EngineState.from_events(events, strategy=..., portfolio=...)`` replays the facts a
``TradingEngine`` recorded and rebuilds exactly what the engine held after the last
complete bar batch (every paper/live batch ends with ``EngineCheckpointed``):

* positions, cash, realized P&L, fees and DP charges: every ``OrderFilled`` is applied
  again to a fresh ``Portfolio`` with the same cost model (the same arithmetic gives
  the same paise; ``PositionChanged`` is checked against it);
* working orders per symbol, pending entries (with the signal from the preceding
  ``SignalGenerated(action="enter")`` and the brackets of its ``OrderSubmitted``) and
  pending exits, the order-id counter (highest ``<strategy>-NNNNNNN`` submitted);
* open-trade bookkeeping (entry time, price, fees, cash before; the equity before the
  entry and the entry bar come from the checkpoint, the only values no domain event
  holds), trades closed and the win/loss statistics Kelly sizing reads;
* the circuit breaker: the session's opening equity is the equity of the snapshot taken
  when the session rolled (initial cash for the first session), ``tripped`` if a
  ``CircuitBreakerTripped`` names the current session;
* the trace sampler (one draw per closed trade; the last emitted trace's time for the
  throttle) and the last sentiment reading per symbol;
* the venue's working orders (``venue_orders``) as the simulated broker held them:
  accepted submissions not yet filled or cancelled, plus the OCO legs a filled entry
  with brackets received (the broker's ``-SL``/``-TP`` naming), so a paper session's
  ``SimulatedBroker`` can be rebuilt from the same log.

Events after the last checkpoint belong to a bar whose batch was cut short; a store
appends a batch atomically, so in practice there are none, and they are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import attrs

from core.errors import ResumeError
from core.events.account import MarketHalted, MarketResumed
from core.events.base import RecordedEvent
from core.events.catalog import (
    CircuitBreakerTripped,
    EngineCheckpointed,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PortfolioSnapshotted,
    PositionChanged,
    PredictionTraced,
    SentimentScored,
    SignalGenerated,
    TradeClosed,
)
from core.features.book import ist_session
from core.model import Direction, Side, datetime_to_ns
from core.orders import Fill, OrderRequest, OrderType, Product
from core.portfolio import Portfolio
from core.strategies.base import Signal



class StateRebuildError(ResumeError):
    """The event log contradicts itself (a bug or a foreign write): the engine must not trade on it."""


@attrs.define
class RestoredTrade:
    """An open trade as the fold rebuilt it (mirrors the engine's bookkeeping)."""

    direction: Direction
    entry_time: datetime
    entry_bar_ns: int
    entry_price_paise: int
    quantity: int
    entry_fees_paise: int
    signal: Signal
    cash_before_paise: int
    equity_before_paise: int
    stop_loss_paise: int | None
    take_profit_paise: int | None
    exit_fees_paise: int = 0
    gross_pnl_paise: int = 0
    exit_value_paise: int = 0


@attrs.define
class VenueOrder:
    """A working order at the (simulated) venue: the request, its fill reason and bracket parent."""

    request: OrderRequest
    reason: str
    parent_id: str | None = None


@attrs.define
class EngineState:
    """What a ``TradingEngine`` needs to continue a book (see the module docstring)."""

    strategy: str
    portfolio: Portfolio
    order_seq: int = 0
    trades_closed: int = 0
    wins: int = 0
    losses: int = 0
    win_sum: float = 0.0
    loss_sum: float = 0.0
    working: dict[str, set[str]] = attrs.Factory(dict)
    pending_entry: dict[str, Signal] = attrs.Factory(dict)
    pending_exit: dict[str, str] = attrs.Factory(dict)
    open: dict[str, RestoredTrade] = attrs.Factory(dict)
    seen_trade_ids: set[str] = attrs.Factory(set)
    last_sentiment: dict[str, tuple[float, datetime]] = attrs.Factory(dict)
    session_start_equity: dict[date, int] = attrs.Factory(dict)
    tripped_sessions: set[date] = attrs.Factory(set)
    traces_emitted: int = 0
    last_trace_s: float | None = None
    venue_orders: dict[str, VenueOrder] = attrs.Factory(dict)
    venue_positions: dict[str, int] = attrs.Factory(dict)
    checkpoint: EngineCheckpointed | None = None
    events_folded: int = 0
    stream_version: int = 0
    # The log ends with the book's finish (the last session's snapshot, then the checkpoint
    # of the same bar): a process killed after that but before the run was marked done
    # must not finish the book a second time when nothing new is traded.
    finished: bool = False
    market_halted: bool = False

    @property
    def resume_after_ns(self) -> int | None:
        """Start (epoch ns) of the last fully processed bar, or None for a fresh book."""
        return None if self.checkpoint is None else datetime_to_ns(self.checkpoint.bar_start)

    @property
    def resume_symbol(self) -> str | None:
        return None if self.checkpoint is None else self.checkpoint.symbol

    def start_equity(self, session: date) -> int:
        """Opening equity of ``session`` as the engine set it when the session began."""
        earlier = [d for d in self.session_start_equity if d <= session]
        if not earlier:
            return self.portfolio.initial_cash_paise
        return self.session_start_equity[max(earlier)]

    # ------------------------------------------------------------------ the fold

    @classmethod
    def from_events(cls, events: Iterable[RecordedEvent], *, strategy: str, portfolio: Portfolio,
                    product: Product) -> "EngineState":
        """Fold a book stream (in version order) into the state after its last checkpoint.

        ``portfolio`` must be fresh (initial cash, the book's cost model); it is filled in.
        """
        recorded = list(events)
        last_cp = max((k for k, r in enumerate(recorded) if isinstance(r.event, EngineCheckpointed)), default=-1)
        state = cls(strategy=strategy, portfolio=portfolio)
        prefix = f"{strategy}-"
        enter_signal: dict[str, Signal] = {}
        for rec in recorded[:last_cp + 1]:
            state._apply(rec, prefix, enter_signal, product)
        state.events_folded = last_cp + 1
        state.stream_version = recorded[last_cp].stream_version if last_cp >= 0 else 0
        if last_cp >= 1 and isinstance(recorded[last_cp - 1].event, PortfolioSnapshotted):
            snapshot, checkpoint = recorded[last_cp - 1].event, recorded[last_cp].event
            assert isinstance(checkpoint, EngineCheckpointed)
            # a session roll snapshots the previous session; a finish snapshots the current one
            state.finished = (snapshot.session_date.toordinal()
                              == ist_session(datetime_to_ns(checkpoint.bar_start)))
        if state.checkpoint is not None:
            extras = state.checkpoint.open_trades
            for symbol, trade in state.open.items():
                info = extras.get(symbol)
                if info is None:
                    raise StateRebuildError(f"open trade in {symbol} has no entry in the last checkpoint")
                trade.equity_before_paise = int(info["equity_before_paise"])
                trade.entry_bar_ns = datetime_to_ns(datetime.fromisoformat(info["entry_bar_start"]))
        return state

    def _apply(self, rec: RecordedEvent, prefix: str, enter_signal: dict[str, Signal], product: Product) -> None:
        event = rec.event
        at = rec.occurred_at
        if isinstance(event, SignalGenerated):
            if event.action == "enter":
                enter_signal[event.symbol] = Signal(
                    direction=Direction(event.direction), confidence=event.confidence, reason=event.reason,
                    features=dict(event.features), signals=dict(event.signals), context=dict(event.context))
        elif isinstance(event, OrderSubmitted):
            self._on_submitted(event, at, prefix, enter_signal)
        elif isinstance(event, OrderRejected):
            cid = event.client_order_id
            for symbol, ids in self.working.items():
                if cid in ids:
                    ids.discard(cid)
                    if symbol in self.open:
                        self.pending_exit.pop(symbol, None)
                    else:
                        self.pending_entry.pop(symbol, None)
            self.venue_orders.pop(cid, None)
        elif isinstance(event, OrderCancelled):
            cid = event.client_order_id
            for ids in self.working.values():
                ids.discard(cid)
            self._venue_cancel(cid)
        elif isinstance(event, OrderFilled):
            self._on_filled(event, at, product)
        elif isinstance(event, PositionChanged):
            pos = self.portfolio.position(event.symbol)
            quantity = 0 if pos is None else pos.quantity
            if quantity != event.quantity or self.portfolio.cash_paise != event.cash_paise:
                raise StateRebuildError(
                    f"stream {rec.stream_id} v{rec.stream_version}: PositionChanged says {event.symbol} "
                    f"{event.quantity} shares, cash {event.cash_paise}; replaying the fills gives {quantity} "
                    f"shares, cash {self.portfolio.cash_paise}")
        elif isinstance(event, TradeClosed):
            self.open.pop(event.symbol, None)
            self.trades_closed += 1
            sign = 1 if event.direction == Direction.LONG.value else -1
            move_pct = (event.exit_price_paise - event.entry_price_paise) / event.entry_price_paise * 100
            ret = sign * move_pct
            if ret > 0:
                self.wins += 1
                self.win_sum += ret
            elif ret < 0:
                self.losses += 1
                self.loss_sum -= ret
        elif isinstance(event, PredictionTraced):
            self.traces_emitted += 1
            self.last_trace_s = at.timestamp()
        elif isinstance(event, SentimentScored):
            self.last_sentiment[event.symbol] = (event.score, event.as_of)
        elif isinstance(event, PortfolioSnapshotted):
            # Recorded when a session rolls (and at the end of a run): the next session
            # opens with this equity.
            self.session_start_equity[date.fromordinal(event.session_date.toordinal() + 1)] = event.equity_paise
        elif isinstance(event, CircuitBreakerTripped):
            self.tripped_sessions.add(event.session_date)
        elif isinstance(event, EngineCheckpointed):
            self.checkpoint = event
        elif isinstance(event, MarketHalted):
            self.market_halted = True
        elif isinstance(event, MarketResumed):
            self.market_halted = False

    def _on_submitted(self, event: OrderSubmitted, at: datetime, prefix: str,
                      enter_signal: dict[str, Signal]) -> None:
        cid, symbol = event.client_order_id, event.symbol
        if cid.startswith(prefix):
            tail = cid[len(prefix):]
            if tail.isdigit():
                self.order_seq = max(self.order_seq, int(tail))
        self.working.setdefault(symbol, set()).add(cid)
        if symbol in self.open:
            self.pending_exit[symbol] = event.reason
        else:
            signal = enter_signal.get(symbol) or Signal(direction=Direction.LONG if event.side == Side.BUY.value
                                                        else Direction.SHORT, confidence=0.0, reason=event.reason)
            self.pending_entry[symbol] = attrs.evolve(
                signal,
                stop_loss=None if event.stop_loss_paise is None else event.stop_loss_paise / 100,
                take_profit=None if event.take_profit_paise is None else event.take_profit_paise / 100)
        request = OrderRequest(
            client_order_id=cid, symbol=symbol, side=Side(event.side), quantity=event.quantity,
            order_type=OrderType(event.order_type), product=Product(event.product),
            limit_price_paise=event.limit_price_paise, stop_loss_paise=event.stop_loss_paise,
            take_profit_paise=event.take_profit_paise, submitted_at=at)
        reason = {OrderType.MARKET: "market", OrderType.LIMIT: "limit", OrderType.STOP: "stop"}[request.order_type]
        self.venue_orders[cid] = VenueOrder(request=request, reason=reason)

    def _venue_cancel(self, cid: str) -> None:
        if self.venue_orders.pop(cid, None) is None:
            # cancelling a filled entry cancels its live bracket legs
            self.venue_orders.pop(cid + "-SL", None)
            self.venue_orders.pop(cid + "-TP", None)

    def _on_filled(self, event: OrderFilled, at: datetime, product: Product) -> None:
        if event.trade_id in self.seen_trade_ids:
            return
        self.seen_trade_ids.add(event.trade_id)
        symbol, cid = event.symbol, event.client_order_id
        side = Side(event.side)
        fill = Fill(client_order_id=cid, trade_id=event.trade_id, symbol=symbol, side=side,
                    quantity=event.quantity, price_paise=event.price_paise, filled_at=at, reason=event.fill_reason)
        cash_before = self.portfolio.cash_paise
        self.portfolio.mark(symbol, event.price_paise / 100)
        outcome = self.portfolio.apply_fill(fill, product=product, strategy=self.strategy)
        if outcome.fees.total != event.fees_paise:
            raise StateRebuildError(f"fill {event.trade_id}: recorded fees {event.fees_paise} paise, the cost "
                                    f"model gives {outcome.fees.total}; was the run made with other costs?")
        self.venue_positions[symbol] = self.venue_positions.get(symbol, 0) + side.sign * event.quantity
        # the venue: the order is done; an OCO leg cancels its sibling; an entry gets its legs
        venue = self.venue_orders.pop(cid, None)
        working = self.working.setdefault(symbol, set())
        working.discard(cid)
        if event.fill_reason in ("stop_loss", "take_profit"):
            parent = cid.rsplit("-", 1)[0]
            for leg in (f"{parent}-SL", f"{parent}-TP"):
                working.discard(leg)
                self.venue_orders.pop(leg, None)
        elif venue is not None and venue.parent_id is None:
            req = venue.request
            exit_side = Side.SELL if req.side is Side.BUY else Side.BUY
            for suffix, level, kind, reason in (("-SL", req.stop_loss_paise, OrderType.STOP, "stop_loss"),
                                                ("-TP", req.take_profit_paise, OrderType.LIMIT, "take_profit")):
                if level is None:
                    continue
                leg = OrderRequest(client_order_id=cid + suffix, symbol=symbol, side=exit_side,
                                   quantity=event.quantity, order_type=kind, product=req.product,
                                   stop_price_paise=level if kind is OrderType.STOP else None,
                                   limit_price_paise=level if kind is OrderType.LIMIT else None, submitted_at=at)
                self.venue_orders[leg.client_order_id] = VenueOrder(request=leg, reason=reason, parent_id=cid)
        trade = self.open.get(symbol)
        if trade is None:
            signal = self.pending_entry.pop(symbol, None)
            if signal is None:
                raise StateRebuildError(f"fill {event.trade_id} opens {symbol} but no entry order was pending")
            stop = None if signal.stop_loss is None else int(round(signal.stop_loss * 100))
            take = None if signal.take_profit is None else int(round(signal.take_profit * 100))
            if stop is not None:
                working.add(f"{cid}-SL")
            if take is not None:
                working.add(f"{cid}-TP")
            self.open[symbol] = RestoredTrade(
                direction=Direction.LONG if side is Side.BUY else Direction.SHORT, entry_time=at, entry_bar_ns=0,
                entry_price_paise=event.price_paise, quantity=event.quantity, entry_fees_paise=outcome.fees.total,
                signal=signal, cash_before_paise=cash_before, equity_before_paise=0, stop_loss_paise=stop,
                take_profit_paise=take)
            return
        trade.exit_fees_paise += outcome.fees.total
        trade.gross_pnl_paise += outcome.realized_pnl_paise
        trade.exit_value_paise += event.price_paise * event.quantity
        if outcome.position_after.quantity == 0:
            self.pending_exit.pop(symbol, None)


__all__ = ["EngineState", "RestoredTrade", "StateRebuildError", "VenueOrder"]
