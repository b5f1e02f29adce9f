"""Throughput of the execution path a backtest runs per bar: costs, portfolio, simulated venue.

Run: ``python benchmarks/execution_throughput.py``. Prints operations per second for
fee computation, fill booking, and bar matching with and without working orders.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.simulated import BrokerConfig, SimulatedBroker  # noqa: E402
from core.costs import NseEquityCosts  # noqa: E402
from core.model import Bar, Interval, Side  # noqa: E402
from core.orders import Fill, OrderRequest, Product  # noqa: E402
from core.portfolio import Portfolio  # noqa: E402

IST = timezone(timedelta(hours=5, minutes=30))
T0 = datetime(2025, 6, 2, 9, 15, tzinfo=IST)


def rate(label: str, n: int, seconds: float) -> None:
    print(f"{label:<48} {n / seconds:>12,.0f} /s   ({n:,} in {seconds:.3f}s)")


def main() -> None:
    rng = random.Random(7)
    costs = NseEquityCosts()
    n = 50_000
    args = [(rng.choice([Side.BUY, Side.SELL]), rng.randint(1, 500), rng.randint(100, 500_000),
             rng.choice(list(Product))) for _ in range(n)]
    t = time.perf_counter()
    for side, qty, price, product in args:
        costs.fees(side=side, quantity=qty, price_paise=price, product=product)
    rate("NseEquityCosts.fees", n, time.perf_counter() - t)

    portfolio = Portfolio(10**12, costs)
    fills = [Fill(client_order_id=f"o{i}", trade_id=f"o{i}-F1", symbol=f"S{i % 20}", side=side, quantity=qty,
                  price_paise=price, filled_at=T0 + timedelta(minutes=i))
             for i, (side, qty, price, _p) in enumerate(args)]
    t = time.perf_counter()
    for f in fills:
        portfolio.apply_fill(f, product=Product.INTRADAY, strategy="bench")
    rate("Portfolio.apply_fill (20 symbols, NSE costs)", n, time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(n):
        portfolio.equity_paise()
    rate("Portfolio.equity_paise (20 open positions)", n, time.perf_counter() - t)

    bars = []
    price = 1000.0
    for i in range(n):
        price = max(price * (1 + rng.gauss(0, 0.002)), 1.0)
        bars.append(Bar(symbol="X", interval=Interval.MINUTE_1, start=T0 + timedelta(minutes=i), open=price,
                        high=price * 1.002, low=price * 0.998, close=price * 1.0005, volume=1))
    broker = SimulatedBroker(BrokerConfig(slippage_bps=2))
    t = time.perf_counter()
    for b in bars:
        broker.advance(b)
    rate("SimulatedBroker.advance, nothing working", n, time.perf_counter() - t)

    broker = SimulatedBroker(BrokerConfig(slippage_bps=2))
    t = time.perf_counter()
    n_fills = 0
    for i, b in enumerate(bars):
        n_fills += len(broker.advance(b))
        if i % 10 == 0 and not broker.open_order_ids():
            p = int(b.close * 100)
            broker.submit(OrderRequest(client_order_id=f"e{i}", symbol="X", side=Side.BUY, quantity=10,
                                       stop_loss_paise=p - p // 200, take_profit_paise=p + p // 100))
    rate("SimulatedBroker.advance, bracketed trades", n, time.perf_counter() - t)
    print(f"  ({n_fills:,} fills)")


if __name__ == "__main__":
    main()
