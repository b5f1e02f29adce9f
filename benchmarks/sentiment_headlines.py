"""Benchmark: point-in-time headline sentiment at every decision point of a backtest.

Loads the shipped headlines (``data/news``), then asks ``HeadlinesSentimentProvider`` for
a score at every daily decision point (15:30 IST, 2016-06..2021-01) and at every minute of
60 sessions (375 a day) for each symbol, cold and then warm (memoised). Prints load time,
calls/s and microseconds per call, and the registry overhead on top.

    .venv/bin/python benchmarks/sentiment_headlines.py
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.sentiment import HeadlinesSentimentProvider, SentimentRegistry  # noqa: E402

IST = timezone(timedelta(hours=5, minutes=30))


class _Clock:
    def __init__(self) -> None:
        self.t = datetime(2021, 1, 1, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.t


def _run(provider, symbols, points) -> tuple[float, int]:
    started = time.perf_counter()
    found = 0
    for symbol in symbols:
        for as_of in points:
            if provider.score(symbol, as_of) is not None:
                found += 1
    return time.perf_counter() - started, found


def main() -> None:
    t0 = time.perf_counter()
    provider = HeadlinesSentimentProvider(ROOT / "data" / "news")
    load = time.perf_counter() - t0
    symbols = provider.symbols()
    headlines = sum(provider.headline_count(s) for s in symbols)
    print(f"load: {headlines} headlines, {len(symbols)} symbols in {load:.2f} s (VADER scoring included)")

    daily = []
    day = datetime(2016, 6, 1, 15, 30, tzinfo=IST)
    while day < datetime(2021, 1, 31, tzinfo=IST):
        if day.weekday() < 5:
            daily.append(day)
        day += timedelta(days=1)
    minutes = []
    day = datetime(2020, 3, 2, 9, 15, tzinfo=IST)
    while len(minutes) < 60 * 375:
        if day.weekday() < 5:
            minutes.extend(day + timedelta(minutes=m) for m in range(375))
        day += timedelta(days=1)

    for label, points in (("daily", daily), ("minute", minutes)):
        calls = len(points) * len(symbols)
        cold, found = _run(provider, symbols, points)
        warm, _ = _run(provider, symbols, points)
        print(f"{label:>6}: {calls} calls, {found} with a score; cold {calls / cold:,.0f} calls/s "
              f"({1e6 * cold / calls:.1f} us/call), warm {calls / warm:,.0f} calls/s ({1e6 * warm / calls:.1f} us/call)")

    registry = SentimentRegistry(_Clock(), ttl=timedelta(days=3650))
    registry.register(HeadlinesSentimentProvider(ROOT / "data" / "news"))
    calls = len(minutes) * len(symbols)
    through, _ = _run(registry, symbols, minutes)
    print(f"registry over headlines, minute points: {calls / through:,.0f} calls/s ({1e6 * through / calls:.1f} us/call)")


if __name__ == "__main__":
    main()
