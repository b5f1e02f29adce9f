"""Seeded synthetic NSE-like minute bars, for benchmarks, the peer comparison and tests.

Bars follow the NSE cash session (375 one-minute bars from 09:15 IST on weekdays),
prices follow a geometric random walk and sit on a configurable price grid (default
Rs0.10, so that a 0.1 % commission on 100 shares is an exact number of paise).
"""

from __future__ import annotations

import numpy as np

from core.model import IST_OFFSET_NS, NS_PER_DAY, NS_PER_MINUTE, BarSeries, Interval

BARS_PER_SESSION = 375
SESSION_OPEN_MINUTE = 9 * 60 + 15


def synthetic_minute_series(n_bars: int, *, seed: int = 7, symbol: str = "SYNTH", start_price: float = 1000.0,
                            grid: float = 0.10, first_day: str = "2015-01-01",
                            daily_vol: float = 0.015) -> BarSeries:
    """``n_bars`` one-minute bars on weekday sessions starting at ``first_day``."""
    if n_bars <= 0:
        raise ValueError("n_bars must be positive")
    rng = np.random.default_rng(seed)
    n_days = -(-n_bars // BARS_PER_SESSION)
    days = np.arange(np.datetime64(first_day, "D"), np.datetime64(first_day, "D") + n_days * 2)
    weekdays = days[(days.astype("datetime64[D]").view("int64") - 4) % 7 < 5][:n_days]
    day_ns = weekdays.astype("datetime64[ns]").view("int64")
    minute = np.arange(BARS_PER_SESSION, dtype=np.int64)
    start_ns = (day_ns[:, None] + (SESSION_OPEN_MINUTE * NS_PER_MINUTE - IST_OFFSET_NS)
                + minute[None, :] * NS_PER_MINUTE).ravel()[:n_bars]
    sigma = daily_vol / np.sqrt(BARS_PER_SESSION)
    log_path = np.cumsum(rng.normal(0.0, sigma, n_bars))
    close = start_price * np.exp(log_path)
    open_ = np.concatenate([[start_price], close[:-1]]) * np.exp(rng.normal(0.0, sigma / 4, n_bars))
    wick = np.abs(rng.normal(0.0, sigma, (2, n_bars))) * close

    def snap(x: np.ndarray) -> np.ndarray:
        return np.round(np.round(x / grid) * grid, 2)

    open_, close = snap(open_), snap(close)
    high = np.maximum(snap(np.maximum(open_, close) + wick[0]), np.maximum(open_, close))
    low = np.minimum(snap(np.minimum(open_, close) - wick[1]), np.minimum(open_, close))
    low = np.maximum(low, grid)
    volume = rng.integers(100, 10_000, n_bars).astype(np.float64)
    assert NS_PER_DAY > 0
    return BarSeries(symbol=symbol, interval=Interval.MINUTE_1, start_ns=start_ns.astype(np.int64),
                     open=open_, high=high, low=low, close=close, volume=volume)
