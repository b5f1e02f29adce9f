"""Correctness against a peer: the reference SMA crossover vs backtesting.py.

Runs SenseQuant's reference book (SMA 10/30 long-only crossover on closes, market
orders at the next open, 100 shares, 0.1 % commission per side, no slippage) and the
same strategy in backtesting.py, on backtesting's GOOG sample and on a seeded
1,000,000-bar synthetic 1-minute series, and compares every trade and the final equity.

Crossings are decided the same way on both sides, in exact integer arithmetic
(rolling sums of closes in paise: fast_sum * slow_n vs slow_sum * fast_n), so float
ties between two equal SMAs cannot make the two engines disagree; the peer receives
that relation as its indicator and applies its own ``crossover``.

Money: SenseQuant rounds every fee to the paisa; backtesting.py keeps float fees. On
the synthetic series prices sit on a Rs0.10 grid, so 0.1 % of 100 shares is an exact
number of paise and the final equity must match to 1e-6. On GOOG (cents) each fill may
differ by at most half a paisa, and the bound is checked as such.

Install the peer first (it is not a SenseQuant dependency):
    .venv/bin/pip install -r benchmarks/requirements.txt
Usage:
    .venv/bin/python benchmarks/peer_backtesting.py [--bars 1000000] [--skip-synthetic]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.memory import InMemoryEventStore, InMemoryFeed  # noqa: E402
from adapters.simulated.synthetic import synthetic_minute_series  # noqa: E402
from applications.services.books import BacktestConfig, ReferenceBookConfig, SentimentSettings
from applications.services.backtest import run_backtest
from core.events.catalog import TradeClosed  # noqa: E402
from core.model import IST_OFFSET_NS, BarSeries, Interval  # noqa: E402

FAST, SLOW, QTY, COMMISSION = 10, 30, 100, 0.001


def exact_relation(close: np.ndarray, fast: int = FAST, slow: int = SLOW) -> np.ndarray:
    """sign(SMA_fast - SMA_slow) decided on integer paise sums; NaN during warm-up."""
    paise = np.round(close * 100).astype(np.int64)
    csum = np.concatenate([[0], np.cumsum(paise)])
    out = np.full(len(close), np.nan)
    idx = np.arange(slow - 1, len(close))
    fs = csum[idx + 1] - csum[idx + 1 - fast]
    ss = csum[idx + 1] - csum[idx + 1 - slow]
    out[idx] = np.sign(fs * slow - ss * fast)
    return out


def run_peer(frame: pd.DataFrame, cash: float):
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    class ReferenceSmaCross(Strategy):
        def init(self):
            self.relation = self.I(exact_relation, self.data.Close, name="relation")

        def next(self):
            if crossover(self.relation, 0.0):
                if not self.position:
                    self.buy(size=QTY)
            elif crossover(0.0, self.relation):
                if self.position:
                    self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(frame, ReferenceSmaCross, cash=cash, commission=COMMISSION, exclusive_orders=False,
                      trade_on_close=False)
        t0 = time.perf_counter()
        stats = bt.run()
        seconds = time.perf_counter() - t0
    return stats, seconds


def run_ours(series: BarSeries, cash_rupees: int):
    config = BacktestConfig(strategy="sma_cross", sentiment=SentimentSettings(enabled=False),
                            reference=ReferenceBookConfig(symbols=[series.symbol], interval=series.interval.value,
                                                          initial_cash_rupees=cash_rupees, fast=FAST, slow=SLOW,
                                                          quantity=QTY, commission_rate=COMMISSION))
    store = InMemoryEventStore()
    result = run_backtest(config, store=store, feed=InMemoryFeed([series]), sentiment=None)
    trades = [r.event for r in store.read_all(0, 10_000_000) if isinstance(r.event, TradeClosed)]
    return result, trades


def to_frame(series: BarSeries) -> pd.DataFrame:
    index = pd.to_datetime(series.start_ns, utc=True).tz_convert("Asia/Kolkata").tz_localize(None)
    return pd.DataFrame({"Open": series.open, "High": series.high, "Low": series.low, "Close": series.close,
                         "Volume": np.nan_to_num(series.volume)}, index=index)


def goog_series() -> BarSeries:
    from backtesting.test import GOOG
    day_ns = GOOG.index.values.astype("datetime64[ns]").view("int64")
    # A daily bar is labelled at 09:15 IST of its session date.
    start_ns = day_ns + (9 * 60 + 15) * 60_000_000_000 - IST_OFFSET_NS
    return BarSeries(symbol="GOOG", interval=Interval.DAY_1, start_ns=start_ns.astype(np.int64),
                     open=GOOG.Open.to_numpy(float), high=GOOG.High.to_numpy(float), low=GOOG.Low.to_numpy(float),
                     close=GOOG.Close.to_numpy(float), volume=GOOG.Volume.to_numpy(float))


def compare(name: str, series: BarSeries, cash_rupees: int, equity_tolerance_per_fill: float) -> bool:
    print(f"\n== {name}: {len(series):,} bars")
    result, ours = run_ours(series, cash_rupees)
    stats, peer_seconds = run_peer(to_frame(series), float(cash_rupees))
    peer = stats._trades
    closed_peer = peer[peer.ExitTime.notna()] if "ExitTime" in peer else peer
    ok = True
    print(f"trades: ours {len(ours):,}, backtesting.py {len(closed_peer):,}")
    if len(ours) != len(closed_peer):
        ok = False
    mismatches = 0
    frame_index = to_frame(series).index
    for mine, (_, theirs) in zip(ours, closed_peer.iterrows()):
        entry_local = pd.Timestamp(mine.entry_time).tz_convert("Asia/Kolkata").tz_localize(None)
        exit_local = pd.Timestamp(mine.exit_time).tz_convert("Asia/Kolkata").tz_localize(None)
        same = (entry_local == frame_index[int(theirs.EntryBar)] and exit_local == frame_index[int(theirs.ExitBar)]
                and mine.entry_price_paise == round(theirs.EntryPrice * 100)
                and mine.exit_price_paise == round(theirs.ExitPrice * 100)
                and mine.quantity == abs(int(theirs.Size)))
        if not same:
            mismatches += 1
            if mismatches <= 5:
                print("  MISMATCH", mine.entry_time, mine.exit_time, mine.entry_price_paise, mine.exit_price_paise,
                      "| peer", frame_index[int(theirs.EntryBar)], frame_index[int(theirs.ExitBar)],
                      theirs.EntryPrice, theirs.ExitPrice, theirs.Size)
    ok = ok and mismatches == 0
    ours_final = result.books[0].final_equity_paise / 100
    peer_final = float(stats["Equity Final [$]"])
    fills = 2 * len(ours) + (1 if len(peer) > len(closed_peer) else 0)
    bound = equity_tolerance_per_fill * fills
    diff = abs(ours_final - peer_final)
    ok = ok and diff <= bound + 1e-6
    print(f"trade mismatches: {mismatches}")
    print(f"final equity: ours {ours_final:,.4f}  backtesting.py {peer_final:,.4f}  |diff| {diff:.6f} "
          f"(allowed {bound:.4f}: {equity_tolerance_per_fill} per fill x {fills} fills)")
    print(f"time: ours {result.seconds_running:.2f} s (events kept in memory), backtesting.py {peer_seconds:.2f} s, "
          f"ratio ours/peer {result.seconds_running / peer_seconds:.2f}")
    print("RESULT:", "MATCH" if ok else "DIFFERENT")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000, help="synthetic bars (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    try:
        import backtesting  # noqa: F401
    except ImportError:
        print("backtesting.py is not installed: .venv/bin/pip install -r benchmarks/requirements.txt")
        return 2
    ok = compare("backtesting.py GOOG sample (daily)", goog_series(), 10_000_000, equity_tolerance_per_fill=0.005)
    if not args.skip_synthetic:
        synthetic = synthetic_minute_series(args.bars, seed=args.seed)
        ok = compare(f"synthetic 1-minute, seed {args.seed}", synthetic, 100_000_000,
                     equity_tolerance_per_fill=0.0) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
