"""The trading loop: feed -> features -> strategy -> risk -> sizing -> broker -> portfolio.

One ``TradingEngine`` trades one strategy book (its own portfolio and event stream).
Backtest, paper and live differ only in what is plugged in: the broker port, where the
bars come from, and how often events are flushed. ``step(book, i)`` is the single
per-bar code path every mode uses.

Timing model (documented once, relied on everywhere):
- a decision is taken on the CLOSE of bar ``i`` (its ``occurred_at`` is the bar end);
- a market order fills at the OPEN of the next bar of that symbol (the broker decides);
- SL/TP brackets are attached by the broker when the entry fills.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import attrs
import numpy as np

from core.engine.recorder import EventRecorder
from core.errors import NegativeEquityError
from core.events.safety import BookStopped
from core.engine.state import EngineState
from core.events.account import MarketHalted, MarketResumed
from core.events.catalog import (
    EngineCheckpointed,
    EntryRejected,
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
from core.features.book import FeatureBook
from core.model import Bar, Direction, Side, StrategyKind, datetime_to_ns, ns_to_datetime
from core.orders import Fill, OrderRequest, OrderStatus, OrderType, Product
from core.portfolio import Portfolio
from core.risk import RiskManager
from core.sizing import PositionSizer
from core.strategies.base import FLAT_POSITION, PositionView, Signal, Strategy
from core.telemetry.traces import TelemetryConfig, TraceSampler, actual_direction
from core.venue import VenueRules
from core.venue.halts import band_refusal
from ports.halts import MarketHalts
from ports.broker import Broker
from ports.predictor import Predictor
from ports.sentiment import SentimentProvider

# The engine's name for the shared conversion (used by other modules too).
ts_to_datetime = ns_to_datetime


@attrs.define
class _OpenTrade:
    """What the engine remembers about a position from its entry until it is flat."""

    direction: Direction
    entry_time: datetime
    entry_index: int
    entry_session: int
    entry_price_paise: int
    quantity: int
    entry_fees_paise: int
    signal: Signal
    cash_before_paise: int
    equity_before_paise: int
    stop_loss_paise: int | None
    take_profit_paise: int | None
    entry_bar_ns: int = 0
    exit_reason: str = ""
    exit_fees_paise: int = 0
    gross_pnl_paise: int = 0
    exit_value_paise: int = 0


@attrs.frozen(kw_only=True)
class EngineSettings:
    """Per-book engine settings. ``product`` decides cost treatment (intraday vs delivery).

    ``checkpoint_bars`` (paper/live): every bar that recorded anything ends its batch with
    an ``EngineCheckpointed`` event and flushes it, so the log always ends on a whole bar
    and a restart can fold the state back (``core.engine.state``).
    """

    product: Product
    record_signals: bool = True
    checkpoint_bars: bool = False
    # What the venue allows (``core.venue``); None: no venue rules (research, the shipped
    # backtest). A refused entry becomes ``EntryRejected`` with the venue's reason.
    venue: VenueRules | None = None


@attrs.frozen(kw_only=True)
class BookResult:
    """Summary of one book after a run (everything else is in the event log)."""

    strategy: str
    bars_processed: int
    final_equity_paise: int
    cash_paise: int
    trades_closed: int
    fees_paid_paise: int
    events_appended: int
    traces_emitted: int


class TradingEngine:
    """Runs one strategy book over bars, recording every decision as an event."""

    def __init__(self, *, strategy: Strategy, portfolio: Portfolio, risk: RiskManager, sizer: PositionSizer,
                 broker: Broker, recorder: EventRecorder, telemetry: TelemetryConfig,
                 settings: EngineSettings, sentiment: SentimentProvider | None = None,
                 predictor: Predictor | None = None,
                 trace_sink: Callable[[PredictionTraced], None] | None = None,
                 halts: MarketHalts | None = None) -> None:
        self.strategy = strategy
        self.portfolio = portfolio
        self.risk = risk
        self.sizer = sizer
        self.broker = broker
        self.recorder = recorder
        self.settings = settings
        self.sentiment = sentiment
        self.predictor = predictor
        # Price bands and market-wide halts (live: from Breeze quotes); None: never halted.
        self.halts = halts
        self.market_halted = False
        self._telemetry = telemetry
        self._trace_sink = trace_sink
        self._sampler = TraceSampler(telemetry)
        self._threshold = (telemetry.intraday_threshold_pct if strategy.kind is StrategyKind.INTRADAY
                           else telemetry.swing_threshold_pct)
        self._order_seq = 0
        self._intraday = settings.product is Product.INTRADAY
        # Marking every open position on every bar is only needed to watch the daily loss
        # cap; otherwise positions are marked when equity is needed (sizing, snapshots).
        self._watch_daily_loss = bool(getattr(risk.config, "circuit_breaker_enabled", True))
        self._session: int | None = None
        self._session_first_ts: int | None = None
        self._working: dict[str, set[str]] = {}
        self._pending_entry: dict[str, tuple[Signal, int, int]] = {}
        self._pending_exit: dict[str, str] = {}
        self._open: dict[str, _OpenTrade] = {}
        self._position_views: dict[str, PositionView] = {}
        self._last_sentiment: dict[str, tuple[float, datetime]] = {}
        self._last_close: dict[str, float] = {}
        self._books: dict[str, FeatureBook] = {}
        self._last_ts_ns = 0
        self._venue_seen: dict[str, int] = {}
        self._seen_trade_ids: set[str] = set()
        self.duplicate_fills_ignored = 0
        self.telemetry_failures = 0
        self.entries_stopped = False
        self.last_step: tuple[FeatureBook, int] | None = None
        self.bars_processed = 0
        self.trades_closed = 0
        if settings.checkpoint_bars:
            self.step = self._step_checkpointed  # type: ignore[method-assign]
        # Running win/loss statistics of closed trades, for Kelly sizing.
        self._wins = 0
        self._losses = 0
        self._win_sum = 0.0
        self._loss_sum = 0.0

    # ------------------------------------------------------------------ main loop

    def run(self, books: Mapping[str, FeatureBook], progress: Callable[[int], None] | None = None,
            progress_every: int = 50_000) -> BookResult:
        """Backtest: step through every bar of ``books`` in time order, then finish."""
        self.run_bars(books, progress, progress_every)
        return self.finish()

    def run_bars(self, books: Mapping[str, FeatureBook], progress: Callable[[int], None] | None = None,
                 progress_every: int = 50_000) -> None:
        """Step through every bar of ``books`` in time order (``finish`` is the caller's)."""
        order = merge_order(books)
        names = list(books)
        book_list = [books[n] for n in names]
        step = self.step
        if len(book_list) == 1 and self._can_skip_quiet_bars():
            self._run_skipping_quiet_bars(book_list[0], progress, progress_every)
        elif len(book_list) == 1:
            only = book_list[0]
            for done, i in enumerate(range(len(only)), start=1):
                step(only, i)
                if progress is not None and done % progress_every == 0:
                    progress(progress_every)
        else:
            which, index = order
            for done, (b, i) in enumerate(zip(which.tolist(), index.tolist()), start=1):
                step(book_list[b], i)
                if progress is not None and done % progress_every == 0:
                    progress(progress_every)

    def _can_skip_quiet_bars(self) -> bool:
        # Sentiment and predictions are read (and recorded) on every bar, and a
        # checkpointed step records per bar: only a pure per-bar decision can be skipped.
        # A market-wide halt is checked (and recorded) on every bar too.
        return (getattr(self.strategy, "decision_bars", None) is not None and self.sentiment is None
                and self.predictor is None and not self.settings.checkpoint_bars and self.halts is None)

    def _run_skipping_quiet_bars(self, book: FeatureBook, progress: Callable[[int], None] | None,
                                 progress_every: int) -> None:
        """``step`` on every bar where something can happen; the same events as stepping all.

        A bar is quiet when no order works for the symbol, no open position needs the bar
        (intraday venue, daily-loss watch), it opens no new session and the strategy's
        ``decision_bars`` says ``decide`` returns None there. Stepping a quiet bar would
        only move the last close, the last time and the bar count, so runs of quiet bars
        are applied as that, at once.
        """
        import bisect

        n = len(book)
        session = np.asarray(book.session, dtype=np.int64)
        wake = self.strategy.decision_bars(book).copy()  # type: ignore[attr-defined]
        if n:
            wake[0] = True
            wake[1:] |= session[1:] != session[:-1]
        wake_at = np.flatnonzero(wake).tolist()
        symbol = book.symbol
        step = self.step
        close, ts_ns = book.close, book.ts_ns
        working, opened = self._working, self._open
        pending_entry, pending_exit = self._pending_entry, self._pending_exit
        needs_open_bars = self._intraday or self._watch_daily_loss
        reported = 0
        i = 0
        while i < n:
            if not (working.get(symbol) or symbol in pending_entry or symbol in pending_exit
                    or (needs_open_bars and symbol in opened)):
                k = bisect.bisect_left(wake_at, i)
                j = wake_at[k] if k < len(wake_at) else n
                if j > i:
                    self.bars_processed += j - i
                    self._last_close[symbol] = close[j - 1]
                    self._last_ts_ns = ts_ns[j - 1]
                    i = j
            if i < n:
                step(book, i)
                i += 1
            if progress is not None:
                while i - reported >= progress_every:
                    reported += progress_every
                    progress(progress_every)

    def _step_checkpointed(self, book: FeatureBook, i: int) -> None:
        """``step`` plus, when the bar recorded anything, a checkpoint and a durable flush."""
        before = self.recorder.version
        TradingEngine.step(self, book, i)
        self.last_step = (book, i)
        if self.recorder.version != before:
            self.recorder.record(self.checkpoint_event(book, i), self._bar_end(book, i))
            self.recorder.flush()

    def checkpoint_event(self, book: FeatureBook, i: int) -> EngineCheckpointed:
        """The facts no domain event holds, as of the end of bar ``book[i]``."""
        open_trades = {
            sym: {"entry_bar_start": ts_to_datetime(t.entry_bar_ns).isoformat(),
                  "equity_before_paise": t.equity_before_paise}
            for sym, t in sorted(self._open.items())}
        venue = {sym: ts_to_datetime(ts).isoformat() for sym, ts in sorted(self._venue_seen.items())}
        return EngineCheckpointed(symbol=book.symbol, bar_start=ts_to_datetime(book.ts_ns[i]),
                                  bars_processed=self.bars_processed, open_trades=open_trades, venue_bars=venue)

    def step(self, book: FeatureBook, i: int) -> None:
        """Process the bar at ``book[i]``, which has just closed."""
        symbol = book.symbol
        ts = book.ts_ns[i]
        self._last_ts_ns = ts
        self.bars_processed += 1
        session = book.session[i]
        if session != self._session:
            self._roll_session(session, ts)
        # The venue sees every bar of a symbol while orders work there and, for intraday
        # positions, while the position is open (an intraday exit that meets a session
        # change fills at the last close the venue saw).
        if self._working.get(symbol) or (self._intraday and symbol in self._open):
            self._venue_seen[symbol] = ts
            fills = self.broker.advance(self._bar(book, i))
            for fill in fills:
                self._on_fill(book, i, fill)
        close = book.close[i]
        self._last_close[symbol] = close
        if self.halts is not None and self._market_paused(book, i):
            return
        if self._watch_daily_loss and symbol in self._open:
            self.portfolio.mark(symbol, close)
            tripped = self.risk.update(self.portfolio.equity_paise(), self._session_date())
            if tripped is not None:
                self.recorder.record(tripped, self._bar_end(book, i))
        position = self._position_views.get(symbol, FLAT_POSITION)
        if symbol in self._pending_entry or symbol in self._pending_exit:
            return
        if self.entries_stopped and symbol not in self._open:
            return
        sentiment = self._sentiment_for(symbol, book, i) if self.sentiment is not None else None
        prediction = self.predictor.predict(book.features_at(i)) if self.predictor is not None else None
        signal = self.strategy.decide(book, i, position, sentiment, prediction)
        if signal is not None:
            self._act(book, i, position, signal)

    def finish(self) -> BookResult:
        """Snapshot the last session and flush every buffered event."""
        if self._session is not None:
            self._snapshot(self._session, self._last_ts_ns)
        if self.settings.checkpoint_bars and self.last_step is not None:
            book, i = self.last_step
            self.recorder.record(self.checkpoint_event(book, i), self._bar_end(book, i))
        self.recorder.flush()
        return self.result()

    def result(self) -> BookResult:
        """The book's summary as of now, recording nothing."""
        return BookResult(
            strategy=self.strategy.name, bars_processed=self.bars_processed,
            final_equity_paise=self.portfolio.equity_paise(), cash_paise=self.portfolio.cash_paise,
            trades_closed=self.trades_closed, fees_paid_paise=self.portfolio.fees_paid_paise,
            events_appended=self.recorder.appended, traces_emitted=self._sampler.emitted)

    def telemetry_counts(self) -> dict[str, int]:
        """Closed-trade traces emitted, skipped (sampling/throttle) and failed (never fatal)."""
        return {"emitted": self._sampler.emitted - self.telemetry_failures, "skipped": self._sampler.skipped,
                "failed": self.telemetry_failures}

    # ------------------------------------------------------------------ recovery

    def restore(self, state: EngineState, books: Mapping[str, FeatureBook]) -> None:
        """Continue from a folded ``EngineState``; ``books`` hold every bar up to the checkpoint.

        The engine must be fresh, built with the portfolio the state was folded into.
        """
        import bisect
        import random

        if state.portfolio is not self.portfolio:
            raise ValueError("restore() needs the engine built with state.portfolio")
        self._order_seq = state.order_seq
        self.trades_closed = state.trades_closed
        self._wins, self._losses = state.wins, state.losses
        self._win_sum, self._loss_sum = state.win_sum, state.loss_sum
        self._working = {s: set(ids) for s, ids in state.working.items()}
        self._seen_trade_ids = set(state.seen_trade_ids)
        self._last_sentiment = dict(state.last_sentiment)
        for symbol, book in books.items():
            if len(book):
                self._last_close[symbol] = book.close[-1]
        for symbol, signal in state.pending_entry.items():
            book = books[symbol]
            self._pending_entry[symbol] = (signal, len(book) - 1, book.session[-1] if len(book) else 0)
        self._pending_exit = dict(state.pending_exit)
        self.market_halted = state.market_halted
        for symbol, t in state.open.items():
            book = books[symbol]
            index = bisect.bisect_left(book.ts_ns, t.entry_bar_ns)
            session = book.session[index] if index < len(book) else book.session[-1]
            self._open[symbol] = _OpenTrade(
                direction=t.direction, entry_time=t.entry_time, entry_index=index, entry_session=session,
                entry_price_paise=t.entry_price_paise, quantity=t.quantity, entry_fees_paise=t.entry_fees_paise,
                signal=t.signal, cash_before_paise=t.cash_before_paise, equity_before_paise=t.equity_before_paise,
                stop_loss_paise=t.stop_loss_paise, take_profit_paise=t.take_profit_paise, entry_bar_ns=t.entry_bar_ns,
                exit_fees_paise=t.exit_fees_paise, gross_pnl_paise=t.gross_pnl_paise,
                exit_value_paise=t.exit_value_paise)
            self._position_views[symbol] = PositionView(direction=t.direction, quantity=t.quantity,
                                                        entry_price=t.entry_price_paise / 100, entry_index=index,
                                                        entry_session=session)
            self.portfolio.mark(symbol, self._last_close[symbol])
        cp = state.checkpoint
        if cp is not None:
            for symbol, start in cp.venue_bars.items():
                self._venue_seen[symbol] = datetime_to_ns(datetime.fromisoformat(start))
            self.bars_processed = cp.bars_processed
            last_ns = datetime_to_ns(cp.bar_start)
            cp_book = books[cp.symbol]
            self.last_step = (cp_book, bisect.bisect_left(cp_book.ts_ns, last_ns))
            self._last_ts_ns = last_ns
            session = books[cp.symbol].session[bisect.bisect_left(books[cp.symbol].ts_ns, last_ns)]
            self._session = session
            self.risk.start_session(date.fromordinal(session), state.start_equity(date.fromordinal(session)))
            if date.fromordinal(session) in state.tripped_sessions:
                # replay the trip so the risk manager blocks entries for the rest of the session
                self.risk._tripped = True  # noqa: SLF001 - restoring state the manager itself set
        # the sampler: one draw per closed trade, the throttle's last emission
        sampler = self._sampler
        sampler._rng = random.Random(self._telemetry.seed)  # noqa: SLF001
        for _ in range(state.trades_closed):
            sampler._rng.random()  # noqa: SLF001
        sampler.emitted = state.traces_emitted
        sampler.skipped = state.trades_closed - state.traces_emitted
        sampler._last_emit_s = state.last_trace_s  # noqa: SLF001

    def venue_bar(self, book: FeatureBook, ts_ns: int) -> Bar | None:
        """The bar of ``book`` starting at ``ts_ns`` (what the venue last saw), if present."""
        import bisect
        k = bisect.bisect_left(book.ts_ns, ts_ns)
        if k < len(book) and book.ts_ns[k] == ts_ns:
            return self._bar(book, k)
        return None

    # ------------------------------------------------------------------ shutdown

    def stop_entries(self) -> None:
        """No new entries from now on (exits, stops and targets still work)."""
        self.entries_stopped = True

    def square_off(self, books: Mapping[str, FeatureBook], reason: str = "shutdown") -> list[str]:
        """Submit market exits for every open position without an exit working; returns the order ids."""
        ids = []
        for symbol in sorted(self._open):
            if symbol in self._pending_exit or symbol not in books or not len(books[symbol]):
                continue
            book = books[symbol]
            before = self._order_seq
            self._exit(book, len(book) - 1, reason)
            if self._order_seq != before:
                ids.append(f"{self.strategy.name}-{self._order_seq:07d}")
        return ids

    def exits_at_end(self, books: Mapping[str, FeatureBook], reason: str = "backtest_end") -> list[str]:
        """The data has ended: submit market exits for every open position (``square_off``)
        and return every working exit order's id, including exits decided on the last bar,
        for the venue to fill at the last close."""
        self.square_off(books, reason)
        return sorted(cid for symbol in sorted(self._pending_exit) for cid in self._working.get(symbol, ()))

    def on_fills(self, book: FeatureBook, fills: Sequence[Fill]) -> None:
        """Apply fills the venue reported outside ``step`` (e.g. a square-off at shutdown)."""
        for fill in fills:
            self._on_fill(book, len(book) - 1, fill)

    @property
    def open_symbols(self) -> list[str]:
        return sorted(self._open)

    @property
    def working_orders(self) -> dict[str, set[str]]:
        return {s: set(ids) for s, ids in self._working.items() if ids}

    # ------------------------------------------------------------------ decisions

    def _act(self, book: FeatureBook, i: int, position: PositionView, signal: Signal) -> None:
        wants = signal.direction
        suppressed = signal.context.get("suppressed")
        if position.is_flat:
            if wants is Direction.FLAT:
                return
            if suppressed:
                self._record_signal(book, i, signal, "suppressed")
                return
            self._enter(book, i, signal)
        elif wants is not position.direction:
            self._record_signal(book, i, signal, "exit")
            self._exit(book, i, signal.reason or "signal")

    def _enter(self, book: FeatureBook, i: int, signal: Signal) -> None:
        symbol = book.symbol
        close = book.close[i]
        price_paise = int(round(close * 100))
        decided_at = self._bar_end(book, i)
        if self.risk.entries_blocked:
            self._record_signal(book, i, signal, "suppressed", reason="circuit_breaker")
            self.recorder.record(EntryRejected(symbol=symbol, strategy=self.strategy.name,
                                               direction=signal.direction.value,
                                               reason="circuit breaker tripped for this session",
                                               requested_quantity=0), decided_at)
            return
        refusal = None if self.settings.venue is None else self.settings.venue.entry_refusal(signal.direction)
        reason = "venue"
        if refusal is None and self.halts is not None:
            refusal = band_refusal(symbol, signal.direction, price_paise, self.halts.band(symbol, decided_at))
            reason = "price_band"
        if refusal is not None:
            cause = self._record_signal(book, i, signal, "suppressed", reason=reason)
            self.recorder.record(EntryRejected(symbol=symbol, strategy=self.strategy.name,
                                               direction=signal.direction.value, reason=refusal,
                                               requested_quantity=0), decided_at, causation_id=cause)
            return
        self._mark_open_positions()
        atr = signal.features.get("atr_14")
        win_rate, payoff = self._trade_stats()
        quantity = self.sizer.size(equity_paise=self.portfolio.equity_paise(), price_paise=price_paise,
                                   confidence=signal.confidence, atr=atr, win_rate=win_rate,
                                   payoff_ratio=payoff)
        decision = self.risk.check_entry(symbol=symbol, quantity=quantity, price_paise=price_paise,
                                         portfolio=self.portfolio)
        cause = self._record_signal(book, i, signal, "enter")
        if decision.allowed_quantity <= 0:
            self.recorder.record(EntryRejected(symbol=symbol, strategy=self.strategy.name,
                                               direction=signal.direction.value,
                                               reason=decision.reason or "size rounds to zero shares",
                                               requested_quantity=quantity), decided_at, causation_id=cause)
            return
        side = Side.BUY if signal.direction is Direction.LONG else Side.SELL
        stop = None if signal.stop_loss is None else int(round(signal.stop_loss * 100))
        take = None if signal.take_profit is None else int(round(signal.take_profit * 100))
        order = OrderRequest(client_order_id=self._next_order_id(), symbol=symbol, side=side,
                             quantity=decision.allowed_quantity, order_type=OrderType.MARKET,
                             product=self.settings.product, stop_loss_paise=stop, take_profit_paise=take,
                             submitted_at=decided_at)
        if self._submit(order, decided_at, signal.reason, cause, decision_price_paise=price_paise):
            self._pending_entry[symbol] = (signal, i, book.session[i])

    def _market_paused(self, book: FeatureBook, i: int) -> bool:
        """True while a market-wide halt lasts; its start and end are recorded once each."""
        assert self.halts is not None
        at = self._bar_end(book, i)
        reason = self.halts.market_halt(at)
        if reason is not None and not self.market_halted:
            self.market_halted = True
            self.recorder.record(MarketHalted(strategy=self.strategy.name, reason=reason), at)
        elif reason is None and self.market_halted:
            self.market_halted = False
            self.recorder.record(MarketResumed(strategy=self.strategy.name), at)
        return self.market_halted

    def _exit(self, book: FeatureBook, i: int, reason: str) -> None:
        symbol = book.symbol
        trade = self._open[symbol]
        decided_at = self._bar_end(book, i)
        for child in sorted(self._working.get(symbol, ())):
            self._cancel(child, decided_at, f"position exit: {reason}")
        side = Side.SELL if trade.direction is Direction.LONG else Side.BUY
        quantity = abs(self.portfolio.positions[symbol].quantity)
        order = OrderRequest(client_order_id=self._next_order_id(), symbol=symbol, side=side,
                             quantity=quantity, order_type=OrderType.MARKET, product=self.settings.product,
                             submitted_at=decided_at)
        decision_price = int(round(book.close[i] * 100))
        if self._submit(order, decided_at, reason, None, decision_price_paise=decision_price):
            self._pending_exit[symbol] = reason

    def _submit(self, order: OrderRequest, at: datetime, reason: str, cause: uuid.UUID | None, *,
                decision_price_paise: int | None = None) -> bool:
        submitted = self.recorder.record(OrderSubmitted(
            client_order_id=order.client_order_id, symbol=order.symbol, side=order.side.value,
            quantity=order.quantity, order_type=order.order_type.value, strategy=self.strategy.name,
            product=order.product.value, limit_price_paise=order.limit_price_paise,
            stop_loss_paise=order.stop_loss_paise, take_profit_paise=order.take_profit_paise,
            reason=reason, decision_price_paise=decision_price_paise), at, causation_id=cause)
        ack = self.broker.submit(order)
        if ack.status is OrderStatus.REJECTED:
            self.recorder.record(OrderRejected(client_order_id=order.client_order_id, reason=ack.reason), at,
                                 causation_id=submitted)
            return False
        self._working.setdefault(order.symbol, set()).add(order.client_order_id)
        return True

    def _cancel(self, client_order_id: str, at: datetime, reason: str) -> None:
        self.broker.cancel(client_order_id)
        for ids in self._working.values():
            ids.discard(client_order_id)
        self.recorder.record(OrderCancelled(client_order_id=client_order_id, reason=reason), at)

    # ---------------------------------------------------------------------- fills

    def _on_fill(self, book: FeatureBook, i: int, fill: Fill) -> None:
        if fill.trade_id in self._seen_trade_ids:
            # A venue may report a fill twice (reconnects, polling overlap): apply it once.
            self.duplicate_fills_ignored += 1
            return
        self._seen_trade_ids.add(fill.trade_id)
        symbol = fill.symbol
        trade = self._open.get(symbol)
        cash_before = self.portfolio.cash_paise
        self.portfolio.mark(symbol, fill.price_paise / 100)
        equity_before = self.portfolio.equity_paise()
        outcome = self.portfolio.apply_fill(fill, product=self.settings.product, strategy=self.strategy.name)
        at = fill.filled_at
        fill_id = self.recorder.record(OrderFilled(
            client_order_id=fill.client_order_id, trade_id=fill.trade_id, symbol=symbol, side=fill.side.value,
            quantity=fill.quantity, price_paise=fill.price_paise, fees_paise=outcome.fees.total,
            fee_breakdown=outcome.fees.as_dict(), product=self.settings.product.value,
            fill_reason=fill.reason), at)
        position = outcome.position_after
        self.recorder.record(PositionChanged(
            symbol=symbol, strategy=self.strategy.name, quantity=position.quantity,
            average_price_paise=position.average_price_paise, realized_pnl_paise=outcome.realized_pnl_paise,
            cash_paise=outcome.cash_after_paise), at, causation_id=fill_id)
        self._refuse_negative_equity(symbol, at)
        working = self._working.setdefault(symbol, set())
        working.discard(fill.client_order_id)
        if fill.reason in ("stop_loss", "take_profit"):
            # One-cancels-other: the broker cancelled the sibling; mirror that here.
            parent = fill.client_order_id.rsplit("-", 1)[0]
            working.discard(f"{parent}-SL")
            working.discard(f"{parent}-TP")
        if trade is None:
            signal, _, _ = self._pending_entry.pop(symbol)
            direction = Direction.LONG if fill.side is Side.BUY else Direction.SHORT
            request_stop = None
            request_take = None
            if signal.stop_loss is not None:
                request_stop = int(round(signal.stop_loss * 100))
                working.add(f"{fill.client_order_id}-SL")
            if signal.take_profit is not None:
                request_take = int(round(signal.take_profit * 100))
                working.add(f"{fill.client_order_id}-TP")
            self._open[symbol] = _OpenTrade(
                direction=direction, entry_time=at, entry_index=i, entry_session=book.session[i],
                entry_price_paise=fill.price_paise, quantity=fill.quantity, entry_fees_paise=outcome.fees.total,
                signal=signal, cash_before_paise=cash_before, equity_before_paise=equity_before,
                stop_loss_paise=request_stop, take_profit_paise=request_take, entry_bar_ns=book.ts_ns[i])
            self._position_views[symbol] = PositionView(direction=direction, quantity=fill.quantity,
                                                        entry_price=fill.price_paise / 100, entry_index=i,
                                                        entry_session=book.session[i])
            return
        trade.exit_fees_paise += outcome.fees.total
        trade.gross_pnl_paise += outcome.realized_pnl_paise
        trade.exit_value_paise += fill.price_paise * fill.quantity
        if position.quantity != 0:
            return
        exit_reason = self._pending_exit.pop(symbol, None) or fill.reason
        for child in sorted(working):
            self._cancel(child, at, "position closed")
        self._close_trade(symbol, trade, fill, exit_reason, cash_before, equity_before)

    def _close_trade(self, symbol: str, trade: _OpenTrade, fill: Fill, exit_reason: str, cash_before: int,
                     equity_before: int) -> None:
        del self._open[symbol]
        self._position_views.pop(symbol, None)
        self.trades_closed += 1
        at = fill.filled_at
        exit_price = trade.exit_value_paise // trade.quantity if trade.quantity else fill.price_paise
        fees = trade.entry_fees_paise + trade.exit_fees_paise
        net = trade.gross_pnl_paise - fees
        sign = 1 if trade.direction is Direction.LONG else -1
        move_pct = (exit_price - trade.entry_price_paise) / trade.entry_price_paise * 100
        trade_return_pct = sign * move_pct
        if trade_return_pct > 0:
            self._wins += 1
            self._win_sum += trade_return_pct
        elif trade_return_pct < 0:
            self._losses += 1
            self._loss_sum -= trade_return_pct
        trade_id = f"{self.strategy.name}:{symbol}:{self.trades_closed}"
        self.recorder.record(TradeClosed(
            trade_id=trade_id, symbol=symbol, strategy=self.strategy.name, direction=trade.direction.value,
            quantity=trade.quantity, entry_time=trade.entry_time, exit_time=at,
            entry_price_paise=trade.entry_price_paise, exit_price_paise=exit_price,
            gross_pnl_paise=trade.gross_pnl_paise, fees_paise=fees, net_pnl_paise=net, exit_reason=exit_reason,
            cash_before_paise=trade.cash_before_paise, cash_after_paise=self.portfolio.cash_paise,
            equity_before_paise=trade.equity_before_paise, equity_after_paise=self.portfolio.equity_paise()), at)
        if not self._sampler.should_trace(at.timestamp()):
            return
        try:
            self._trace(symbol, trade, at, exit_price, exit_reason, fees, net, move_pct, trade_return_pct)
        except Exception:
            # Telemetry never stops trading: count the failure and carry on.
            self.telemetry_failures += 1

    def _trace(self, symbol: str, trade: _OpenTrade, at: datetime, exit_price: int, exit_reason: str, fees: int,
               net: int, move_pct: float, trade_return_pct: float) -> None:
        holding_minutes = int((at - trade.entry_time).total_seconds() // 60)
        trace = PredictionTraced(
            timestamp=trade.entry_time, symbol=symbol, strategy=self.strategy.kind.value,
            predicted_direction=trade.direction.value,
            actual_direction=actual_direction(move_pct, self._threshold),
            predicted_confidence=round(trade.signal.confidence, 6),
            entry_price=trade.entry_price_paise / 100, exit_price=exit_price / 100,
            holding_period_minutes=holding_minutes, realized_return_pct=round(trade_return_pct, 6),
            features=trade.signal.features,
            metadata={
                "strategy_name": self.strategy.name,
                "exit_reason": exit_reason,
                "sl_hit": exit_reason == "stop_loss",
                "tp_hit": exit_reason == "take_profit",
                "max_hold_hit": exit_reason == "max_hold",
                "entry_fees": trade.entry_fees_paise / 100,
                "exit_fees": trade.exit_fees_paise / 100,
                "total_fees": fees / 100,
                "position_value": trade.entry_price_paise * trade.quantity / 100,
                "gross_pnl": trade.gross_pnl_paise / 100,
                "net_pnl": net / 100,
                "price_move_pct": round(move_pct, 6),
                "quantity": trade.quantity,
                "entry_time": trade.entry_time.isoformat(),
                "exit_time": at.isoformat(),
                "stop_loss": None if trade.stop_loss_paise is None else trade.stop_loss_paise / 100,
                "take_profit": None if trade.take_profit_paise is None else trade.take_profit_paise / 100,
                "reason": trade.signal.reason,
            },
            signals=trade.signal.signals, context=trade.signal.context)
        self.recorder.record(trace, at)
        if self._trace_sink is not None:
            self._trace_sink(trace)

    # ------------------------------------------------------------------- sessions

    def _roll_session(self, session: int, ts_ns: int) -> None:
        if self._session is not None:
            self._snapshot(self._session, ts_ns)
        self._session = session
        self.risk.start_session(date.fromordinal(session), self.portfolio.equity_paise())

    def _session_date(self) -> date:
        assert self._session is not None
        return date.fromordinal(self._session)

    def _refuse_negative_equity(self, symbol: str, at: datetime) -> None:
        """Equity below zero is no trading result: record why and stop the book (never report it silently)."""
        equity = self.portfolio.equity_paise()
        if equity >= 0:
            return
        message = (f"{self.strategy.name} book stopped: after the {symbol} fill its equity would be "
                   f"{equity} paise (cash {self.portfolio.cash_paise}); check the prices and the cost settings")
        self.recorder.record(BookStopped(reason="negative_equity", symbol=symbol, equity_paise=equity,
                                         cash_paise=self.portfolio.cash_paise, message=message), at)
        self.recorder.flush()
        raise NegativeEquityError(message)

    def _snapshot(self, session: int, ts_ns: int) -> None:
        for symbol, close in self._last_close.items():
            if symbol in self.portfolio.positions:
                self.portfolio.mark(symbol, close)
        positions = {
            sym: {"quantity": pos.quantity, "average_price_paise": pos.average_price_paise,
                  "market_value_paise": pos.quantity * int(round(self._last_close.get(sym, 0.0) * 100))}
            for sym, pos in sorted(self.portfolio.positions.items()) if pos.quantity != 0}
        cash = self.portfolio.cash_paise
        value = self.portfolio.positions_value_paise()
        self.recorder.record(PortfolioSnapshotted(
            session_date=date.fromordinal(session), cash_paise=cash, positions_value_paise=value,
            equity_paise=cash + value, realized_pnl_paise=self.portfolio.realized_pnl_paise,
            unrealized_pnl_paise=self.portfolio.unrealized_pnl_paise(),
            fees_paid_paise=self.portfolio.fees_paid_paise, positions=positions,
            prices={s: self._last_close[s] for s in sorted(self._last_close)}),
            ts_to_datetime(self._last_ts_ns if ts_ns >= self._last_ts_ns else ts_ns))

    # -------------------------------------------------------------------- helpers

    def _record_signal(self, book: FeatureBook, i: int, signal: Signal, action: str,
                       reason: str | None = None) -> uuid.UUID | None:
        if not self.settings.record_signals:
            return None
        return self.recorder.record(SignalGenerated(
            symbol=book.symbol, strategy=self.strategy.name, bar_start=ts_to_datetime(book.ts_ns[i]),
            direction=signal.direction.value, action=action, confidence=round(signal.confidence, 6),
            reason=reason or signal.reason, features=signal.features, signals=signal.signals,
            context=signal.context), self._bar_end(book, i))

    def _sentiment_for(self, symbol: str, book: FeatureBook, i: int) -> float | None:
        as_of = self._bar_end(book, i)
        reading = self.sentiment.score(symbol, as_of)  # type: ignore[union-attr]
        if reading is None:
            return None
        last = self._last_sentiment.get(symbol)
        if last is None or last[0] != reading.score or last[1] != reading.as_of:
            self._last_sentiment[symbol] = (reading.score, reading.as_of)
            self.recorder.record(SentimentScored(symbol=symbol, score=reading.score, as_of=reading.as_of,
                                                 provider=reading.provider, sample_size=reading.sample_size,
                                                 confidence=reading.confidence), as_of)
        return reading.score

    def _mark_open_positions(self) -> None:
        for symbol in self._open:
            close = self._last_close.get(symbol)
            if close is not None:
                self.portfolio.mark(symbol, close)

    def _trade_stats(self) -> tuple[float | None, float | None]:
        """Win rate and payoff ratio of closed trades so far (None until 10 trades with both signs)."""
        if self.trades_closed < 10 or not self._wins or not self._losses:
            return None, None
        payoff = (self._win_sum / self._wins) / (self._loss_sum / self._losses)
        return self._wins / self.trades_closed, payoff

    def _next_order_id(self) -> str:
        self._order_seq += 1
        return f"{self.strategy.name}-{self._order_seq:07d}"

    def _bar_end(self, book: FeatureBook, i: int) -> datetime:
        return ts_to_datetime(book.ts_ns[i]) + book.interval.duration

    @staticmethod
    def _bar(book: FeatureBook, i: int) -> Bar:
        volume = book.volume[i]
        return Bar(symbol=book.symbol, interval=book.interval, start=ts_to_datetime(book.ts_ns[i]),
                   open=book.open[i], high=book.high[i], low=book.low[i], close=book.close[i],
                   volume=None if math.isnan(volume) else int(volume))


def merge_order(books: Mapping[Any, FeatureBook]) -> tuple[np.ndarray, np.ndarray]:
    """(book number, bar index) pairs of all bars in the order they close; ties by book order.

    By bar end, not start: a daily bar closes after that day's minute bars (books of one
    interval come out in start order, as the end is the start plus the same duration)."""
    names = list(books)
    if not names:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    ts = np.concatenate([np.asarray(books[n].ts_ns, dtype=np.int64)
                         + int(books[n].interval.duration.total_seconds() * 1e9) for n in names])
    which = np.concatenate([np.full(len(books[n]), k, dtype=np.int64) for k, n in enumerate(names)])
    index = np.concatenate([np.arange(len(books[n]), dtype=np.int64) for n in names])
    order = np.lexsort((which, ts))
    return which[order], index[order]


def describe(values: Sequence[Any]) -> str:  # pragma: no cover - debugging aid
    return ", ".join(map(str, values))
