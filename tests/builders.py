"""Builders of realistic runs for the analytics tests: real events appended to a real store.

``RunBuilder`` keeps a small, exact paise ledger per strategy book (the way the engine
does) and appends the same event types the backtest engine writes: RunStarted,
SignalGenerated, OrderSubmitted, OrderFilled, PositionChanged, TradeClosed,
PredictionTraced (one per closed trade), PortfolioSnapshotted (daily, per book on the
stream ``<run_id>:<strategy>``), EntryRejected, CircuitBreakerTripped, SentimentScored
and RunCompleted. Two ready-made runs: ``build_tiny_run`` (hand-computable figures) and
``build_realistic_run`` (random walk over a few weeks, both strategies).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import numpy as np

from core.events.base import NewEvent, RunInfo, RunStatus
from core.events.catalog import (
    CircuitBreakerTripped,
    EntryRejected,
    OrderFilled,
    OrderSubmitted,
    PortfolioSnapshotted,
    PositionChanged,
    PredictionTraced,
    RunCompleted,
    RunStarted,
    SentimentScored,
    SignalGenerated,
    TradeClosed,
)
from ports.event_store import EventStore

IST = timezone(timedelta(hours=5, minutes=30))
FEE_RATE = 0.0005  # 5 bps a side, enough to make fees visible in every figure


def ist(day: date, hh: int, mm: int = 0) -> datetime:
    """An IST wall time on ``day`` as a tz-aware UTC datetime (how events carry time)."""
    return datetime.combine(day, time(hh, mm), tzinfo=IST).astimezone(timezone.utc)


def paise(rupees: float) -> int:
    return int(round(rupees * 100))


class _Book:
    def __init__(self, cash: int) -> None:
        self.cash = cash
        self.positions: dict[str, dict[str, Any]] = {}
        self.realized = 0
        self.fees = 0
        self.marks: dict[str, float] = {}

    def positions_value(self, marks: dict[str, float] | None = None) -> int:
        marks = {**self.marks, **(marks or {})}
        return sum(p["sign"] * p["qty"] * paise(marks.get(s, p["entry"] / 100)) for s, p in self.positions.items())


class RunBuilder:
    """Appends one run's events to ``store`` as an engine would, keeping books exact."""

    def __init__(self, store: EventStore, *, run_id: str = "run-test-0001", mode: str = "backtest",
                 symbols: tuple[str, ...] = ("RELIANCE", "TCS"), strategies: tuple[str, ...] = ("intraday", "swing"),
                 initial_cash_paise: int = 10_000_000, started_at: datetime | None = None,
                 thresholds: dict[str, float] | None = None, config: dict[str, Any] | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.mode = mode
        self.symbols = symbols
        self.strategies = strategies
        self.thresholds = thresholds or {"intraday": 0.3, "swing": 0.5}
        self.books = {s: _Book(initial_cash_paise) for s in strategies}
        self.versions: dict[str, int] = {}
        self._orders = 0
        self._trade_no = 0
        started_at = started_at or datetime(2024, 1, 1, 3, 0, tzinfo=timezone.utc)
        self.started_at = started_at
        store.start_run(RunInfo(run_id=run_id, mode=mode, config_hash="cfg0001", code_version="test",
                                data_fingerprint="fp0001", started_at=started_at))
        cfg = config or {"strategies": list(strategies), "symbols": list(symbols), "fees_bps": 5,
                         "initial_cash_paise_by_book": {s: initial_cash_paise for s in strategies}}
        self.run_stream = f"{run_id}:run"
        self._append(self.run_stream, RunStarted(mode=mode, config=cfg, config_hash="cfg0001", code_version="test",
                                        data_fingerprint="fp0001", symbols=list(symbols),
                                        strategies=list(strategies),
                                        initial_cash_paise=initial_cash_paise * len(strategies),
                                        seed=42), started_at)

    # ------------------------------------------------------------------ plumbing

    def _append(self, stream: str, event: Any, at: datetime) -> None:
        version = self.versions.get(stream, 0)
        event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.run_id}/{stream}#{version + 1}")
        self.store.append(stream, version, [NewEvent(event=event, occurred_at=at, event_id=event_id)],
                          run_id=self.run_id)
        self.versions[stream] = version + 1

    def _stream(self, strategy: str) -> str:
        return f"{self.run_id}:{strategy}"

    def _fill(self, strategy: str, symbol: str, side: str, qty: int, price: float, at: datetime,
              reason: str) -> int:
        self._orders += 1
        coid = f"{self.run_id}-o{self._orders}"
        price_p = paise(price)
        fee = int(round(qty * price_p * FEE_RATE))
        stream = self._stream(strategy)
        product = "MIS" if strategy == "intraday" else "CNC"
        self._append(stream, OrderSubmitted(client_order_id=coid, symbol=symbol, side=side, quantity=qty,
                                            order_type="MARKET", strategy=strategy, product=product,
                                            reason=reason), at)
        self._append(stream, OrderFilled(client_order_id=coid, trade_id=f"f{self._orders}", symbol=symbol,
                                         side=side, quantity=qty, price_paise=price_p, fees_paise=fee,
                                         fee_breakdown={"brokerage": fee}, product=product, fill_reason=reason),
                     at)
        return fee

    # -------------------------------------------------------------------- trades

    def sentiment(self, symbol: str, score: float, at: datetime) -> None:
        self._append(self.run_stream, SentimentScored(symbol=symbol, score=score, as_of=at, provider="vader",
                                                  sample_size=5), at)

    def open(self, strategy: str, symbol: str, direction: str, qty: int, price: float, at: datetime, *,
             confidence: float = 0.6, signals: dict[str, Any] | None = None,
             features: dict[str, float] | None = None, context: dict[str, Any] | None = None,
             reason: str = "sma crossover") -> None:
        book = self.books[strategy]
        if symbol in book.positions:
            raise ValueError(f"{strategy} already holds {symbol}")
        signals = signals if signals is not None else {"technical": 0.5, "sentiment": 0.1, "model": None}
        features = features or {"rsi_14": 55.0, "sma_fast": price, "sma_slow": price * 0.99}
        context = context or {"session": at.astimezone(IST).date().isoformat(), "time_of_day": "open"}
        self._append(self._stream(strategy), SignalGenerated(
            symbol=symbol, strategy=strategy, bar_start=at - timedelta(minutes=5), direction=direction,
            action="enter", confidence=confidence, reason=reason, features=features, signals=signals,
            context=context), at)
        side = "BUY" if direction == "LONG" else "SELL"
        # like the engine: a trade's "before" is the book just before its entry fill
        cash_before, equity_before = book.cash, book.cash + book.positions_value()
        fee = self._fill(strategy, symbol, side, qty, price, at, "entry")
        sign = 1 if direction == "LONG" else -1
        book.cash += -sign * qty * paise(price) - fee
        book.fees += fee
        book.marks[symbol] = price
        book.positions[symbol] = {"sign": sign, "qty": qty, "entry": paise(price), "at": at, "fee": fee,
                                  "direction": direction, "confidence": confidence, "signals": signals,
                                  "features": features, "context": context, "cash_before": cash_before,
                                  "equity_before": equity_before}
        self._append(self._stream(strategy), PositionChanged(
            symbol=symbol, strategy=strategy, quantity=sign * qty, average_price_paise=paise(price),
            realized_pnl_paise=book.realized, cash_paise=book.cash), at)

    def close(self, strategy: str, symbol: str, price: float, at: datetime, *, exit_reason: str = "signal",
              trace: bool = True) -> None:
        book = self.books[strategy]
        pos = book.positions[symbol]
        sign, qty = pos["sign"], pos["qty"]
        self._append(self._stream(strategy), SignalGenerated(
            symbol=symbol, strategy=strategy, bar_start=at - timedelta(minutes=5), direction="FLAT",
            action="exit", confidence=0.5, reason=exit_reason, features={}, signals={}, context={}), at)
        fee = self._fill(strategy, symbol, "SELL" if sign > 0 else "BUY", qty, price, at, exit_reason)
        book.cash += sign * qty * paise(price) - fee
        book.fees += fee
        gross = sign * qty * (paise(price) - pos["entry"])
        net = gross - pos["fee"] - fee
        book.realized += net
        del book.positions[symbol]
        book.marks[symbol] = price
        self._append(self._stream(strategy), PositionChanged(
            symbol=symbol, strategy=strategy, quantity=0, average_price_paise=0, realized_pnl_paise=book.realized,
            cash_paise=book.cash), at)
        self._trade_no += 1
        equity_after = book.cash + book.positions_value()
        self._append(self._stream(strategy), TradeClosed(
            trade_id=f"{strategy}-{self._trade_no}", symbol=symbol, strategy=strategy, direction=pos["direction"],
            quantity=qty, entry_time=pos["at"], exit_time=at, entry_price_paise=pos["entry"],
            exit_price_paise=paise(price), gross_pnl_paise=gross, fees_paise=pos["fee"] + fee, net_pnl_paise=net,
            exit_reason=exit_reason, cash_before_paise=pos["cash_before"], cash_after_paise=book.cash,
            equity_before_paise=pos["equity_before"], equity_after_paise=equity_after), at)
        if not trace:  # telemetry sampled this trade out
            return
        move_pct = (paise(price) - pos["entry"]) / pos["entry"] * 100.0
        threshold = self.thresholds[strategy]
        actual = "LONG" if move_pct > threshold else "SHORT" if move_pct < -threshold else "NOOP"
        notional = qty * pos["entry"]
        self._append(self._stream(strategy), PredictionTraced(
            timestamp=pos["at"], symbol=symbol, strategy=strategy, predicted_direction=pos["direction"],
            actual_direction=actual, predicted_confidence=pos["confidence"], entry_price=pos["entry"] / 100,
            exit_price=paise(price) / 100, holding_period_minutes=int((at - pos["at"]).total_seconds() // 60),
            realized_return_pct=round(net / notional * 100.0, 10), features=pos["features"],
            metadata={"exit_reason": exit_reason, "sl_hit": exit_reason == "stop_loss",
                      "tp_hit": exit_reason == "take_profit", "max_hold_hit": exit_reason == "max_hold",
                      "entry_fees": pos["fee"], "exit_fees": fee, "total_fees": pos["fee"] + fee,
                      "position_value": notional, "gross_pnl": gross},
            signals=pos["signals"], context=pos["context"]), at)

    def reject(self, strategy: str, symbol: str, direction: str, at: datetime, reason: str = "max positions") -> None:
        self._append(self._stream(strategy), EntryRejected(symbol=symbol, strategy=strategy, direction=direction,
                                                           reason=reason, requested_quantity=10), at)

    def trip_breaker(self, strategy: str, day: date, at: datetime) -> None:
        book = self.books[strategy]
        self._append(self._stream(strategy), CircuitBreakerTripped(
            session_date=day, daily_pnl_paise=-50_000, limit_paise=-40_000,
            equity_paise=book.cash + book.positions_value()), at)

    def end_day(self, day: date, closes: dict[str, float]) -> None:
        """Snapshot every book at the session close, marking positions at ``closes``."""
        at = ist(day, 15, 30)
        for strategy, book in self.books.items():
            book.marks.update(closes)
            positions = {}
            unrealized = 0
            for sym, p in book.positions.items():
                mark = paise(book.marks[sym])
                unrealized += p["sign"] * p["qty"] * (mark - p["entry"])
                positions[sym] = {"quantity": p["sign"] * p["qty"], "average_price_paise": p["entry"],
                                  "market_value_paise": p["sign"] * p["qty"] * mark}
            pv = book.positions_value()
            self._append(self._stream(strategy), PortfolioSnapshotted(
                session_date=day, cash_paise=book.cash, positions_value_paise=pv, equity_paise=book.cash + pv,
                realized_pnl_paise=book.realized, unrealized_pnl_paise=unrealized, fees_paid_paise=book.fees,
                positions=positions, prices={s: float(closes[s]) for s in self.symbols if s in closes}), at)

    def finish(self, at: datetime, bars_processed: int = 1000) -> str:
        equity = sum(b.cash + b.positions_value() for b in self.books.values())
        self._append(self.run_stream, RunCompleted(status="completed", bars_processed=bars_processed,
                                               final_equity_paise=equity), at)
        self.store.finish_run(self.run_id, RunStatus.COMPLETED, at)
        return self.run_id


# ----------------------------------------------------------------------- ready-made

TINY_DAYS = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)]


def build_tiny_run(store: EventStore, run_id: str = "run-tiny-0001") -> str:
    """Three sessions, four intraday and two swing round trips with hand-checkable numbers.

    Intraday (qty 10): RELIANCE LONG 100->102, TCS SHORT 200->204, RELIANCE LONG 100->99.5,
    TCS SHORT 200->190. Swing (qty 5): RELIANCE LONG 100->110 (held over two nights),
    TCS LONG 200->190.
    """
    b = RunBuilder(store, run_id=run_id, symbols=("RELIANCE", "TCS"))
    d1, d2, d3 = TINY_DAYS
    b.open("intraday", "RELIANCE", "LONG", 10, 100.0, ist(d1, 9, 30), confidence=0.7)
    b.close("intraday", "RELIANCE", 102.0, ist(d1, 11, 0), exit_reason="take_profit")
    b.open("intraday", "TCS", "SHORT", 10, 200.0, ist(d1, 10, 0), confidence=0.6)
    b.close("intraday", "TCS", 204.0, ist(d1, 15, 10), exit_reason="stop_loss")
    b.open("swing", "RELIANCE", "LONG", 5, 100.0, ist(d1, 15, 15), confidence=0.8,
           signals={"technical": 0.7, "sentiment": 0.2, "model": 0.65})
    b.end_day(d1, {"RELIANCE": 101.0, "TCS": 203.0})
    b.open("intraday", "RELIANCE", "LONG", 10, 100.0, ist(d2, 9, 45), confidence=0.55)
    b.close("intraday", "RELIANCE", 99.5, ist(d2, 15, 15), exit_reason="eod_square_off")
    b.reject("intraday", "TCS", "LONG", ist(d2, 10, 0))
    b.open("swing", "TCS", "LONG", 5, 200.0, ist(d2, 15, 15), confidence=0.65)
    b.end_day(d2, {"RELIANCE": 105.0, "TCS": 198.0})
    b.open("intraday", "TCS", "SHORT", 10, 200.0, ist(d3, 9, 30), confidence=0.75)
    b.close("intraday", "TCS", 190.0, ist(d3, 12, 0), exit_reason="take_profit")
    b.close("swing", "RELIANCE", 110.0, ist(d3, 15, 15), exit_reason="take_profit")
    b.close("swing", "TCS", 190.0, ist(d3, 15, 20), exit_reason="stop_loss")
    b.end_day(d3, {"RELIANCE": 110.0, "TCS": 190.0})
    return b.finish(ist(d3, 16, 0))


def session_days(start: date, n: int) -> list[date]:
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def build_realistic_run(store: EventStore, *, run_id: str = "run-real-0001", seed: int = 7, n_days: int = 40,
                        symbols: tuple[str, ...] = ("RELIANCE", "TCS", "INFY"),
                        strategies: tuple[str, ...] = ("intraday", "swing"),
                        start: date = date(2024, 2, 1), model_contributions: bool = False) -> str:
    """A few weeks of random-walk prices; intraday trades most days, swing holds 2-6 days."""
    rng = np.random.default_rng(seed)
    b = RunBuilder(store, run_id=run_id, symbols=symbols, strategies=strategies,
                   started_at=ist(start, 8, 0))
    days = session_days(start, n_days)
    price = {s: 100.0 * (i + 1) for i, s in enumerate(symbols)}
    swing_due: dict[str, int] = {}
    feature_names = ["rsi_14", "momentum_5d", "volatility_20d", "sentiment_score", "volume_ratio"]
    for k, day in enumerate(days):
        b.sentiment(symbols[k % len(symbols)], float(rng.uniform(-1, 1)), ist(day, 9, 0))
        for sym in symbols:
            open_px = round(price[sym] * (1 + rng.normal(0, 0.004)), 2)
            close_px = round(open_px * (1 + rng.normal(0.0003, 0.012)), 2)
            if "intraday" in strategies and rng.random() < 0.7:
                direction = "LONG" if rng.random() < 0.6 else "SHORT"
                exit_px = round(open_px * (1 + rng.normal(0.001 if direction == "LONG" else -0.001, 0.008)), 2)
                hh, mm = 9 + int(rng.integers(0, 3)), int(rng.integers(15, 59))
                held = int(rng.integers(20, 300))
                at = ist(day, hh, mm)
                exit_at = min(at + timedelta(minutes=held), ist(day, 15, 15))
                sig, feats = _signals(rng, feature_names, model_contributions)
                b.open("intraday", sym, direction, int(rng.integers(5, 40)), open_px, at,
                       confidence=float(rng.uniform(0.5, 0.95)), signals=sig, features=feats)
                reason = ("take_profit" if rng.random() < 0.3 else
                          "stop_loss" if rng.random() < 0.3 else "eod_square_off")
                b.close("intraday", sym, exit_px, exit_at, exit_reason=reason)
            if "swing" in strategies:
                if sym in b.books["swing"].positions and swing_due.get(sym, 10**9) <= k:
                    b.close("swing", sym, close_px, ist(day, 15, 15),
                            exit_reason="max_hold" if rng.random() < 0.5 else "take_profit")
                elif sym not in b.books["swing"].positions and rng.random() < 0.25 and k < len(days) - 1:
                    sig, feats = _signals(rng, feature_names, model_contributions)
                    b.open("swing", sym, "LONG", int(rng.integers(5, 30)), close_px, ist(day, 15, 20),
                           confidence=float(rng.uniform(0.5, 0.9)), signals=sig, features=feats)
                    swing_due[sym] = k + int(rng.integers(2, 7))
            price[sym] = close_px
        if k == 5 and "intraday" in strategies:
            b.trip_breaker("intraday", day, ist(day, 14, 0))
        if k == len(days) - 1:
            for strategy in strategies:
                for sym in list(b.books[strategy].positions):
                    b.close(strategy, sym, price[sym], ist(day, 15, 25), exit_reason="end_of_run")
        b.end_day(day, {s: price[s] for s in symbols})
    last = days[-1]
    return b.finish(ist(last, 16, 0))


def _signals(rng: np.random.Generator, names: list[str], with_model: bool) -> tuple[dict[str, Any], dict[str, float]]:
    feats = {n: float(round(rng.normal(0, 1), 4)) for n in names}
    sig: dict[str, Any] = {"technical": float(round(rng.uniform(-1, 1), 4)),
                           "sentiment": float(round(rng.uniform(-1, 1), 4)), "model": None}
    if with_model:
        contrib = {n: float(round(rng.normal(0, 0.2), 5)) for n in names}
        sig["model"] = float(round(rng.uniform(0, 1), 4))
        sig["model_id"] = "lgbm-test-0001"
        sig["model_contributions"] = {**contrib, "bias": 0.01}
    return sig, feats
