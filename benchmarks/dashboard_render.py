"""Benchmark: time to the dashboard's first full render for a run with 10,000 trades (<= 2 s).

``write_synthetic_run`` appends a realistic run to a SQLite event store: two books
(intraday on minute-level times, swing holding 2-6 sessions) over random-walk prices,
with per trade the events the engine writes — SignalGenerated (enter), OrderSubmitted,
OrderFilled, PositionChanged, SignalGenerated (exit), OrderSubmitted, OrderFilled,
PositionChanged, TradeClosed, PredictionTraced — plus a PortfolioSnapshotted per
session per book, a few CircuitBreakerTripped, RunStarted and RunCompleted.

Figures printed (wall and CPU seconds; the machine's load average is printed too):
- reading the run's events from SQLite (the store's ``read_all`` pages);
- folding them into the view-model's analytics frames (``RunModel.ingest``; a server
  does this once per run, at start-up for the run the first page shows);
- rendering: every panel's view-model (cards, curves, confusion matrices, alerts,
  drill-down, replay points) and the Bokeh document of the whole page;
- **first full render = fold + render**, the target being <= 2 s (exit code 1 if over);
- the first page of a cold server including the store read; another session of the
  same run (shared fold); one tail step of 100 new trades read, folded and re-rendered;
- memory: RSS growth for the folded run and its first session, heap peak of a render.

Run: .venv/bin/python benchmarks/dashboard_render.py [--trades 10000] [--db sqlite:///path.db]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine.recorder import EventRecorder  # noqa: E402
from core.events.base import RunInfo, RunStatus  # noqa: E402
from core.events.catalog import (  # noqa: E402
    CircuitBreakerTripped,
    OrderFilled,
    OrderSubmitted,
    PortfolioSnapshotted,
    PositionChanged,
    PredictionTraced,
    RunCompleted,
    RunStarted,
    SignalGenerated,
    TradeClosed,
)
from ports.event_store import EventStore  # noqa: E402

IST = timezone(timedelta(hours=5, minutes=30))
INITIAL_PAISE = 100_000_000
SYMBOLS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "SBIN", "WIPRO", "TATAMOTORS", "ITC", "LT", "AXISBANK"]


def _ist(day: date, minute_of_day: int) -> datetime:
    return datetime(day.year, day.month, day.day, minute_of_day // 60, minute_of_day % 60,
                    tzinfo=IST).astimezone(timezone.utc)


class _Book:
    def __init__(self, store: EventStore, run_id: str, name: str, namespace: uuid.UUID) -> None:
        self.name = name
        self.rec = EventRecorder(store, stream_id=f"{run_id}:{name}", run_id=run_id, namespace=namespace,
                                 batch_size=5000, expected_version=0)
        self.cash = INITIAL_PAISE
        self.realized = 0
        self.fees = 0
        self.open: dict[str, tuple[str, int, int, datetime, dict]] = {}
        self.orders = 0
        self.trades = 0

    def _fill(self, sym: str, side: str, qty: int, px: int, at: datetime, reason: str) -> int:
        self.orders += 1
        coid = f"{self.name}-{self.orders:07d}"
        fee = max(2000, px * qty // 2000)
        self.rec.record(OrderSubmitted(client_order_id=coid, symbol=sym, side=side, quantity=qty, order_type="market",
                                       strategy=self.name,
                                       product="intraday" if self.name == "intraday" else "delivery",
                                       reason=reason), at)
        self.rec.record(OrderFilled(client_order_id=coid, trade_id=f"{coid}-F1", symbol=sym, side=side, quantity=qty,
                                    price_paise=px, fees_paise=fee, fee_breakdown={"brokerage": fee}, product="x",
                                    fill_reason="market"), at)
        return fee

    def enter(self, rng: np.random.Generator, sym: str, direction: str, qty: int, px: int, at: datetime) -> None:
        feats = {"rsi_14": float(round(rng.uniform(20, 80), 3)), "ema_9": px / 100,
                 "atr_14": float(round(rng.uniform(1, 9), 3))}
        sigs = {"technical": float(round(rng.uniform(-1, 1), 4)), "sentiment": None, "model": None}
        ctx = {"bars_held": 0, "position": "FLAT", "session": str(at.astimezone(IST).date())}
        conf = float(round(rng.uniform(0.5, 0.95), 4))
        self.rec.record(SignalGenerated(symbol=sym, strategy=self.name, bar_start=at - timedelta(minutes=1),
                                        direction=direction, action="enter", confidence=conf,
                                        reason=f"{direction.lower()}: synthetic", features=feats, signals=sigs,
                                        context=ctx), at)
        fee = self._fill(sym, "BUY" if direction == "LONG" else "SELL", qty, px, at, "entry")
        self.cash += (-1 if direction == "LONG" else 1) * px * qty - fee
        self.fees += fee
        self.rec.record(PositionChanged(symbol=sym, strategy=self.name, quantity=qty if direction == "LONG" else -qty,
                                        average_price_paise=px, realized_pnl_paise=self.realized,
                                        cash_paise=self.cash), at)
        self.open[sym] = (direction, qty, px, at, {"features": feats, "signals": sigs, "context": ctx, "conf": conf,
                                                     "entry_fee": fee})

    def exit(self, sym: str, px: int, at: datetime, reason: str) -> None:
        direction, qty, entry_px, entry_at, info = self.open.pop(sym)
        sign = 1 if direction == "LONG" else -1
        self.rec.record(SignalGenerated(symbol=sym, strategy=self.name, bar_start=at - timedelta(minutes=1),
                                        direction="FLAT", action="exit", confidence=0.5, reason=reason,
                                        features=info["features"], signals=info["signals"],
                                        context=info["context"]), at)
        cash_before = self.cash
        fee = self._fill(sym, "SELL" if direction == "LONG" else "BUY", qty, px, at, reason)
        gross = sign * (px - entry_px) * qty
        net = gross - fee - info["entry_fee"]
        self.cash += sign * px * qty - fee
        self.fees += fee
        self.realized += net
        self.rec.record(PositionChanged(symbol=sym, strategy=self.name, quantity=0, average_price_paise=0,
                                        realized_pnl_paise=self.realized, cash_paise=self.cash), at)
        self.trades += 1
        self.rec.record(TradeClosed(trade_id=f"{self.name}:{sym}:{self.trades}", symbol=sym, strategy=self.name,
                                    direction=direction, quantity=qty, entry_time=entry_at, exit_time=at,
                                    entry_price_paise=entry_px, exit_price_paise=px, gross_pnl_paise=gross,
                                    fees_paise=fee + info["entry_fee"], net_pnl_paise=net, exit_reason=reason,
                                    cash_before_paise=cash_before, cash_after_paise=self.cash,
                                    equity_before_paise=cash_before, equity_after_paise=self.cash), at)
        ret = sign * (px - entry_px) / entry_px * 100
        actual = "NOOP" if abs(ret) < 0.1 else ("LONG" if px > entry_px else "SHORT")
        self.rec.record(PredictionTraced(
            timestamp=entry_at, symbol=sym, strategy=self.name, predicted_direction=direction,
            actual_direction=actual, predicted_confidence=info["conf"], entry_price=entry_px / 100,
            exit_price=px / 100, holding_period_minutes=int((at - entry_at).total_seconds() // 60),
            realized_return_pct=float(ret), features=info["features"], metadata={"reason": "synthetic"},
            signals=info["signals"], context=info["context"]), at)

    def snapshot(self, day: date, prices: dict[str, int]) -> None:
        positions, value = {}, 0
        for sym, (direction, qty, px, _at, _i) in self.open.items():
            q = qty if direction == "LONG" else -qty
            positions[sym] = {"quantity": q, "average_price_paise": px, "market_value_paise": q * prices[sym]}
            value += q * prices[sym]
        self.rec.record(PortfolioSnapshotted(
            session_date=day, cash_paise=self.cash, positions_value_paise=value, equity_paise=self.cash + value,
            realized_pnl_paise=self.realized, unrealized_pnl_paise=0, fees_paid_paise=self.fees, positions=positions,
            prices={s: p / 100 for s, p in prices.items()}), _ist(day, 15 * 60 + 30))


def write_synthetic_run(store: EventStore, n_trades: int = 10_000, *, seed: int = 11,
                        run_id: str | None = None, intraday_share: float = 0.8,
                        first_day: date = date(2018, 1, 1), finish: bool = True) -> str:
    """Append a run with ``n_trades`` closed trades (both books) to ``store``; returns its id."""
    rng = np.random.default_rng(seed)
    run_id = run_id or uuid.UUID(hashlib.sha256(f"synthetic-{seed}-{n_trades}".encode()).hexdigest()[:32]).hex
    namespace = uuid.UUID(hex=hashlib.sha256(run_id.encode()).hexdigest()[:32])
    store.start_run(RunInfo(run_id=run_id, mode="backtest", config_hash="synthetic", code_version="benchmark",
                            data_fingerprint="synthetic", started_at=datetime.now(timezone.utc),
                            label=f"synthetic {n_trades} trades"))
    run = EventRecorder(store, stream_id=f"{run_id}:run", run_id=run_id, namespace=namespace, batch_size=1,
                        expected_version=0)
    start_at = _ist(first_day, 9 * 60)
    run.record(RunStarted(mode="backtest", config={"initial_cash_paise_by_book": {"intraday": INITIAL_PAISE,
                                                                                   "swing": INITIAL_PAISE}},
                          config_hash="synthetic", code_version="benchmark", data_fingerprint="synthetic",
                          symbols=SYMBOLS, strategies=["intraday", "swing"], initial_cash_paise=2 * INITIAL_PAISE,
                          seed=seed), start_at)
    books = {name: _Book(store, run_id, name, namespace) for name in ("intraday", "swing")}
    price = {s: 50_000 + 10_000 * i for i, s in enumerate(SYMBOLS)}  # paise
    want_intraday = int(n_trades * intraday_share)
    want_swing = n_trades - want_intraday
    intraday, swing = books["intraday"], books["swing"]
    due: dict[str, date] = {}
    day = first_day
    while intraday.trades < want_intraday or swing.trades < want_swing or swing.open:
        if day.weekday() >= 5:
            day += timedelta(days=1)
            continue
        for i, sym in enumerate(SYMBOLS[:5]):
            if intraday.trades >= want_intraday:
                break
            for k in range(2):
                if intraday.trades >= want_intraday:
                    break
                minute = 9 * 60 + 20 + 150 * k + int(rng.integers(0, 60))
                px = max(100, int(price[sym] * (1 + rng.normal(0, 0.003))))
                direction = "LONG" if rng.random() < 0.55 else "SHORT"
                intraday.enter(rng, sym, direction, int(rng.integers(5, 60)), px, _ist(day, minute))
                exit_px = max(100, int(px * (1 + rng.normal(0.0003, 0.006))))
                held = int(rng.integers(5, 90))
                intraday.exit(sym, exit_px, _ist(day, minute + held),
                              "take_profit" if exit_px > px else "stop_loss")
        if (day - first_day).days % 97 == 0:
            intraday.rec.record(CircuitBreakerTripped(session_date=day, daily_pnl_paise=-2_100_000,
                                                      limit_paise=-2_000_000, equity_paise=intraday.cash),
                                _ist(day, 14 * 60))
        for sym in SYMBOLS:
            price[sym] = max(100, int(price[sym] * (1 + rng.normal(0.0002, 0.012))))
            if sym in swing.open and due[sym] <= day:
                swing.exit(sym, price[sym], _ist(day, 15 * 60 + 15), "max_hold")
            elif sym not in swing.open and swing.trades + len(swing.open) < want_swing and rng.random() < 0.3:
                swing.enter(rng, sym, "LONG", int(rng.integers(10, 80)), price[sym], _ist(day, 15 * 60 + 20))
                due[sym] = day + timedelta(days=int(rng.integers(2, 7)))
        for book in books.values():
            book.snapshot(day, dict(price))
        day += timedelta(days=1)
    for book in books.values():
        book.rec.flush()
    if finish:
        run.record(RunCompleted(status=RunStatus.COMPLETED, bars_processed=0,
                                final_equity_paise=intraday.cash + swing.cash, message=""), _ist(day, 16 * 60))
        run.flush()
        store.finish_run(run_id, RunStatus.COMPLETED, datetime.now(timezone.utc))
    return run_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--db", help="SQLite URL to (re)use; default: a temporary file")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds allowed for the first full render")
    args = parser.parse_args()

    import psutil
    import panel as pn
    from bokeh.document import Document

    from applications.dashboard.app import PAGE_SIZE, DashboardApp, DashboardSettings, SharedLog, settle_heap
    from applications.dashboard.viewmodel.run import RunModel, bulk_allocation
    from applications.wiring.store import open_store

    pn.extension("tabulator")
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{Path(tmp.name) / 'dashboard-bench.db'}"
    store = open_store(url)
    runs = [r for r in store.list_runs(limit=50) if r.label == f"synthetic {args.trades} trades"]
    t = time.perf_counter()
    run_id = runs[0].run_id if runs else write_synthetic_run(store, args.trades)
    written = time.perf_counter() - t
    events = store.read_all(0, 10**9, run_id=run_id)
    n_events = len(events)
    del events
    print(f"run {run_id[:12]}: {args.trades:,} trades, {n_events:,} events "
          f"({'reused' if runs else f'written in {written:.1f} s'})")

    # Warm the libraries once (imports, first Bokeh/HoloViews plot) on a different, tiny run.
    warm = open_store("memory://")
    write_synthetic_run(warm, 20, run_id="warm-up")
    DashboardApp(warm, DashboardSettings(run="warm-up")).view().server_doc(Document())

    # 1. read: the run's events from SQLite (the store's read_all pages), timed alone.
    gc.collect()
    t0 = time.perf_counter()
    with bulk_allocation():
        events = []
        after = 0
        while page := store.read_all(after, PAGE_SIZE, run_id=run_id):
            events.extend(page)
            after = page[-1].seq
    t_read = time.perf_counter() - t0
    info = store.get_run(run_id)

    # 2. fold: events -> the analytics frames of the view-model (once per run and server).
    rss0 = psutil.Process().memory_info().rss
    c1, t1 = time.process_time(), time.perf_counter()
    model = RunModel(run=info)
    model.ingest(events)
    t2, c2 = time.perf_counter(), time.process_time()
    del events

    # 3. render: every panel's view-model and the Bokeh document of the whole page.
    settle_heap()  # what SharedLog does after a large fold
    log = SharedLog(store)
    log._models[run_id] = model  # the server's shared model, as warm_up leaves it
    app = DashboardApp(store, DashboardSettings(run=run_id), log)
    doc = Document()
    app.view().server_doc(doc)
    t3, c3 = time.perf_counter(), time.process_time()
    fold, render = t2 - t1, t3 - t2
    session_mib = (psutil.Process().memory_info().rss - rss0) / 2**20

    # Heap of one more session's render, traced separately (tracing slows Python several-fold).
    tracemalloc.start()
    traced = DashboardApp(store, DashboardSettings(run=run_id), log)
    traced.view().server_doc(Document())
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced

    t4 = time.perf_counter()
    second = DashboardApp(store, DashboardSettings(run=run_id), log)
    second.view().server_doc(Document())
    t5 = time.perf_counter()

    # One tail step: a second run appends 100 trades while the page is open (a new run
    # id, so the tail step measures fold + re-render of the followed run's new events).
    live_id = write_synthetic_run(store, 2_000, seed=5, run_id=f"bench-live-{uuid.uuid4().hex[:8]}", finish=False)
    live = DashboardApp(store, DashboardSettings(run=live_id), log)
    live.view().server_doc(Document())
    before = live.model.last_seq
    _append_trades(store, live_id, 100)
    t6 = time.perf_counter()
    live.tail()
    t7 = time.perf_counter()

    # Interactions of the open page, server side (view-models and Bokeh model updates of
    # the page's document; the browser's drawing comes on top).
    def timed(action) -> float:
        t = time.perf_counter()
        action()
        return time.perf_counter() - t

    switch_away = timed(lambda: app._load(live_id))
    switch_back = timed(lambda: app._load(run_id))
    books = [b for b in app.strategy.options if b != "all"]
    book_filter = timed(lambda: setattr(app.strategy, "value", books[-1])) if books else 0.0
    timed(lambda: setattr(app.strategy, "value", "all"))
    others = [s for s in app.symbol.options if s != app.symbol.value]
    symbol_change = timed(lambda: setattr(app.symbol, "value", others[0])) if others else 0.0

    def replay_mid() -> None:
        app.replay.value = app.replay.end // 2
        app.render()

    replay = timed(replay_mid)

    rss = psutil.Process().memory_info().rss / 2**20
    load = os.getloadavg()[0]
    print(f"read the run's events from SQLite: {t_read:.3f} s")
    print(f"fold events into the view-model frames: {fold:.3f} s wall, {c2 - c1:.3f} s CPU")
    print(f"render every panel's view-model + the Bokeh document: {render:.3f} s wall, {c3 - c2:.3f} s CPU")
    print(f"FIRST FULL RENDER (fold + view-models + Bokeh document): {fold + render:.3f} s wall, "
          f"{c3 - c1:.3f} s CPU (budget {args.budget:.1f} s; load average {load:.1f} on {os.cpu_count()} CPUs)")
    print(f"first page of a cold server, store read included: {t_read + fold + render:.3f} s")
    print(f"another session of the same run (shared fold): {t5 - t4:.3f} s")
    print(f"tail step: {live.model.last_seq - before:,} new events read, folded and re-rendered in {t7 - t6:.3f} s")
    print(f"run switch (server side): to a small run {switch_away:.3f} s, back to this run {switch_back:.3f} s "
          f"(target <= 0.5 s)")
    print(f"book filter {book_filter:.3f} s, symbol change {symbol_change:.3f} s (target <= 0.5 s), "
          f"replay slider to mid-run {replay:.3f} s (target <= 0.3 s)")
    print(f"memory: process RSS {rss:,.0f} MiB at the end; +{session_mib:,.0f} MiB RSS for the folded run and "
          f"its first session; Python heap peak of one more session's render {heap_peak / 2**20:,.0f} MiB")
    store.close()
    return 0 if fold + render <= args.budget else 1


def _append_trades(store: EventStore, run_id: str, n: int) -> None:
    """Append ``n`` more intraday trades to the (unfinished) run ``run_id``."""
    namespace = uuid.UUID(hex=hashlib.sha256((run_id + "-more").encode()).hexdigest()[:32])
    book = _Book(store, run_id, "intraday", namespace)
    book.rec = EventRecorder(store, stream_id=f"{run_id}:intraday", run_id=run_id, namespace=namespace,
                             batch_size=5000)
    rng = np.random.default_rng(3)
    day = date(2030, 1, 1)
    for i in range(n):
        at = _ist(day, 9 * 60 + 20 + (i % 300))
        book.enter(rng, "TCS", "LONG", 10, 300_000, at)
        book.exit("TCS", 300_000 + int(rng.integers(-900, 900)), at + timedelta(minutes=1), "take_profit")
    book.rec.flush()


if __name__ == "__main__":
    raise SystemExit(main())
