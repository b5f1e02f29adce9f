"""What a trading session is told (SessionSettings, the StopSignal) and what it returns (SessionResult)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import attrs

from core.engine.engine import BookResult
from core.features.book import FeatureBook
from core.orders import Fill
from ports.broker import Broker

class StopSignal(Protocol):
    """Anything with a ``requested`` flag (``adapters.system.ShutdownFlag``)."""

    @property
    def requested(self) -> bool: ...


class _NeverStop:
    requested = False


@attrs.frozen(kw_only=True)
class SessionSettings:
    """How a paper/live session runs (the trading config is the shared ``BacktestConfig``)."""

    square_off_on_stop: bool = True
    event_batch_size: int = 10_000
    measure_latency: bool = False
    # Live venues may not report bracket legs as orders; paper's simulated venue does.
    compare_bracket_legs: bool = True
    # Read the bar stream on a helper thread so a stop request is seen within
    # ``stop_poll_seconds`` even while no bar arrives (a quiet websocket, a slow replay).
    interruptible_stream: bool = True
    stop_poll_seconds: float = 0.2
    # The reader hands over one bar at a time and waits until it is traded (see ``_interruptible``).
    lockstep_stream: bool = False
    # A replay's warm-up feed holds the very bars the stream will trade: it may only warm
    # the books up to a resume point. When some book never reached a checkpoint before a
    # crash there is none, so nothing is warmed up and the stream starts from its beginning
    # (books that did checkpoint catch up without trading). A live warm-up feed is history
    # before the stream and is always loaded.
    warmup_is_replay: bool = False
    # A fresh session first checks the broker holds nothing in its books' symbols (live: the
    # account's holdings and positions), refusing to start on anything it cannot explain.
    reconcile_at_start: bool = False
    # The books trade one account: one risk manager (daily-loss cap, gross exposure) for all
    # of them (``core.risk.AccountRisk``) instead of one per book.
    shared_account: bool = False
    # The run outlives the session (a live account carried from day to day): when the bar
    # stream ends at the close, the run is marked ``session_closed`` (resumable next
    # session) instead of ``completed``.
    continues_next_session: bool = False


@attrs.frozen(kw_only=True)
class SessionResult:
    run_id: str
    resumed: bool
    status: str
    books: list[BookResult]
    bars: int
    telemetry: dict[str, dict[str, int]]
    duplicate_fills_ignored: int
    reconciliation: dict[str, dict[str, Any]]
    latencies_s: list[float] = attrs.Factory(list)
    commit_s: list[float] = attrs.Factory(list)


#: How a stopping session squares off a book: the fills its broker gives for the book's positions.
SquareOffFills = Callable[[Broker, FeatureBook], Sequence[Fill]]
