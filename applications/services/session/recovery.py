"""Resuming a session: restoring a book from the log, and reconciling it with the broker."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timezone
from typing import Any


from core.engine.engine import TradingEngine
from core.engine.recorder import EventRecorder
from core.engine.state import EngineState
from core.model import Side, datetime_to_ns
from core.errors import ReconciliationError, ResumeError
from core.events.catalog import (
    PositionReconciled,
    ReconciliationCompleted,
)
from ports.broker import Broker, CarriedAccountBroker
from applications.services.session.settings import SessionSettings
from applications.services.session.book import _Book

def _restore(b: _Book, run_recorder: EventRecorder, log: Callable[[str], None],
             settings: SessionSettings) -> dict[str, Any]:
    """Restore engine and venue from the folded state, then reconcile with the broker."""
    _restore_state(b)
    assert b.state is not None and b.state.checkpoint is not None
    return reconcile(b.plan.name, [b.engine], b.broker, run_recorder, b.state.checkpoint.bar_start, log,
                     compare_bracket_legs=settings.compare_bracket_legs, symbols=set(b.books))


def account_of(broker: Broker) -> Broker:
    """The venue account behind a book's broker: books whose brokers share one (``.account``) are
    reconciled together, since the venue cannot tell their positions apart."""
    return getattr(broker, "account", broker)


def reconcile_account(books: Sequence[_Book], run_recorder: EventRecorder, log: Callable[[str], None],
                      settings: SessionSettings, *, resumed: bool) -> dict[str, Any]:
    """Reconcile the books of one venue account at once (all restored first when ``resumed``)."""
    if resumed:
        for b in books:
            _restore_state(b)
    after = [b.state.checkpoint.bar_start for b in books if b.state is not None and b.state.checkpoint is not None]
    symbols = {s for b in books for s in b.books}
    return reconcile("+".join(b.plan.name for b in books), [b.engine for b in books], account_of(books[0].broker),
                     run_recorder, min(after) if resumed and after else None, log,
                     compare_bracket_legs=settings.compare_bracket_legs, symbols=symbols)


def _check_reaches_checkpoint(b: _Book) -> None:
    """The warm-up history must hold the checkpointed bar, or the restored state would be wrong."""
    assert b.state is not None and b.state.checkpoint is not None
    cp = b.state.checkpoint
    book = b.books.get(cp.symbol)
    if book is None or not len(book) or book.ts_ns[-1] < datetime_to_ns(cp.bar_start):
        raise ResumeError(f"book {b.plan.name}: the venue's history does not reach the last checkpointed bar "
                          f"({cp.symbol} {cp.bar_start.isoformat()}); nothing was sent. Check the data feed "
                          "(or widen the warm-up) and resume again")


def _restore_state(b: _Book) -> None:
    """Engine and venue as of the book's last checkpoint (nothing compared yet).

    A real venue that keeps its executions (``requeue_unapplied``) reports again the fills
    the log never applied (made while the process was down, or seen just before a crash):
    the engine applies them on the next bar, its duplicate guard drops any it already has.
    """
    state = b.state
    assert state is not None and state.checkpoint is not None
    b.pending_restore = False
    engine = b.engine
    engine.restore(state, b.books)
    restore = getattr(b.broker, "restore", None)
    if callable(restore):
        last_bars = {}
        for symbol, start in state.checkpoint.venue_bars.items():
            bar = engine.venue_bar(b.books[symbol], datetime_to_ns(datetime.fromisoformat(start)))
            if bar is not None:
                last_bars[symbol] = bar
        orders = [(o.request, o.reason, o.parent_id) for o in state.venue_orders.values()]
        restore(orders, dict(state.venue_positions), last_bars, orders_created=_orders_created(state))
    if isinstance(b.broker, CarriedAccountBroker):
        b.broker.requeue_unapplied(set(state.seen_trade_ids))


def _root(client_order_id: str) -> str:
    """The entry a bracket leg belongs to (``<entry>-SL``/``<entry>-TP``), else the id itself."""
    return client_order_id[:-3] if client_order_id.endswith(("-SL", "-TP")) else client_order_id


def _orders_created(state: EngineState) -> int:
    """Continue the venue's ``SIM-<n>`` ids past any used before (an entry creates at most two legs)."""
    return 3 * state.order_seq


def reconcile(name: str, engines: Sequence[TradingEngine], broker: Broker, recorder: EventRecorder,
              resumed_after: datetime | None, log: Callable[[str], None], *,
              compare_bracket_legs: bool = True, symbols: Collection[str] | None = None) -> dict[str, Any]:
    """Compare the engines' positions and working orders (summed: books of one account) with
    the broker's; refuse on any difference.

    ``symbols``: compare only these (a live account may hold other stocks no book trades).
    A fresh session (``resumed_after`` None) starts flat, so any holding the broker reports
    in its symbols is unexplained: it was opened outside this run (by hand, or by an
    earlier run that should be resumed instead).
    """
    at = datetime.now(timezone.utc) if resumed_after is None else resumed_after
    fresh = resumed_after is None

    def traded(symbol: str) -> bool:
        return symbols is None or symbol in symbols

    # fills the broker made that the log has not applied yet (they reach the book on its next
    # bar) belong on the log's side; the orders they touch are compared once they are applied
    pending = broker.pending_fills() if isinstance(broker, CarriedAccountBroker) else []
    expected: dict[str, int] = {}
    for engine in engines:
        for s, p in engine.portfolio.positions.items():
            if p.quantity:
                expected[s] = expected.get(s, 0) + p.quantity
    for fill in pending:
        expected[fill.symbol] = expected.get(fill.symbol, 0) + (fill.quantity if fill.side is Side.BUY
                                                                else -fill.quantity)
    touched = {_root(f.client_order_id) for f in pending}
    log_positions = {s: q for s, q in expected.items() if q and traded(s)}
    venue_positions = {s: q for s, q in broker.positions().items() if q and traded(s)}
    mismatches: list[str] = []
    for symbol in sorted(set(log_positions) | set(venue_positions)):
        mine, theirs = log_positions.get(symbol, 0), venue_positions.get(symbol, 0)
        if mine != theirs:
            text = f"{symbol}: log holds {mine} shares, broker holds {theirs}"
            mismatches.append(text)
            action = ("refused to start: the account holds shares this new session did not open; square "
                      "them off at the broker, or continue the run that opened them with --resume RUN" if fresh else
                      "refused to trade: correct the position by hand or square it off at the broker, then resume")
            recorder.record(PositionReconciled(symbol=symbol, strategy=name, log_quantity=mine,
                                               broker_quantity=theirs, action=action), at)
    def keep(cid: str) -> bool:
        return (compare_bracket_legs or not cid.endswith(("-SL", "-TP"))) and _root(cid) not in touched

    log_orders = sorted(i for engine in engines for ids in engine.working_orders.values() for i in ids if keep(i))
    venue_orders = sorted(i for i in broker.open_order_ids() if keep(i))
    if log_orders != venue_orders:
        mismatches.append(f"open orders differ: log {log_orders}, broker {venue_orders}")
    recorder.record(ReconciliationCompleted(strategy=name, ok=not mismatches,
                                            positions=venue_positions, open_order_ids=venue_orders,
                                            mismatches=mismatches, resumed_after=resumed_after), at)
    recorder.flush()
    log(f"reconciliation {name}: {'ok' if not mismatches else 'FAILED'} "
        f"(positions {venue_positions or 'flat'}, {len(venue_orders)} open orders)")
    if mismatches:
        if fresh:
            raise ReconciliationError(
                f"book {name}: the broker account already holds positions in this book's symbols "
                f"({'; '.join(mismatches)}); a new session starts flat, so no order was sent. Square them off at "
                "the broker, or continue the run that opened them with --resume RUN.")
        raise ReconciliationError(f"book {name}: broker and event log disagree ({'; '.join(mismatches)}); "
                                  "no order was sent. Fix the broker side (or the log) and resume again.")
    return {"ok": True, "positions": venue_positions, "open_order_ids": venue_orders}
