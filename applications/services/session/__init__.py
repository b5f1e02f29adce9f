"""The paper/live trading session shared by ``applications.roots.paper`` and ``applications.roots.live``.

Bars arrive as they close (a ``LiveBarSource``: a replay or the Breeze websocket); each
is appended to its symbol's ``FeatureBook`` (``FeatureBook.empty`` + ``append``) and
handed to the same ``TradingEngine.step`` a backtest uses, with the strategy, risk,
sizing, costs and venue built by ``applications.services.books`` from the same config. The
engine checkpoints every bar that recorded anything and flushes it as one batch to a
store opened with ``durable=True``, so a crash loses at most the bar in flight.

Resuming (``resume=True`` with the run's id):

1. the run must exist, be of the same mode and not be completed;
2. each book stream is folded into an ``EngineState`` (``core.engine.state``); events
   after the last checkpoint would mean a torn batch and refuse the resume;
3. bars are replayed into the books up to each book's checkpoint without stepping
   (warm-up from ``warmup_feed`` and then the stream itself), the engine and the venue
   are restored (a ``SimulatedBroker`` from the log's working orders: ``restore``); a
   book killed before its first checkpoint starts again from its first bar (a replay's
   warm-up is then skipped: ``SessionSettings.warmup_is_replay``), and a book whose log
   already ends with its finish is not finished twice, and
4. the broker is reconciled: positions and open orders from the ``Broker`` port must
   equal the log's; every difference is recorded (``PositionReconciled``), the outcome
   too (``ReconciliationCompleted``, on the run stream), and a mismatch raises
   ``ReconciliationError`` before any order can be sent;
5. the engine continues with the next bar; streams continue at their versions.

Stopping (``shutdown.requested``, set by SIGINT/SIGTERM): no new bar is processed, no
new entries are taken, intraday positions are squared off (``square_off_on_stop``)
through ``square_off_fills``, every book is finished (snapshot + checkpoint + flush)
and the run is marked ``interrupted`` (it may be resumed later).
"""

from __future__ import annotations

from applications.services.session.bars import flat_bar_after, iter_merge, paper_square_off_fills
from applications.services.session.recovery import reconcile
from applications.services.session.runner import BrokerFactory, run_session
from applications.services.session.settings import SessionResult, SessionSettings, SquareOffFills, StopSignal

__all__ = ["BrokerFactory", "SessionResult", "SessionSettings", "SquareOffFills", "StopSignal", "flat_bar_after",
           "iter_merge", "paper_square_off_fills", "reconcile", "run_session"]
