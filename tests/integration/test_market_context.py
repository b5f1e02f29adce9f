"""The NIFTY 50 market context at trade entry (spec 004): shipped index bars, point in time."""

from __future__ import annotations

import gzip
import math
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters.market_context import IndexDailyContext, load_index_closes
from adapters.memory import InMemoryEventStore
from applications.analytics import load_run
from applications.analytics.exports.trades import read_trades_parquet, trades_table, write_trades_parquet
from applications.wiring.adapters import DEFAULT_INDEX_BARS, default_market_context
from core.errors import DataError
from ports.market_context import MarketContextProvider
from tests.builders import build_tiny_run

ROOT = Path(__file__).resolve().parents[2]
IST = timezone(timedelta(hours=5, minutes=30))


@pytest.fixture(scope="module")
def shipped():
    return default_market_context()


def _at(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=IST)


def test_shipped_provider_covers_both_books_and_is_a_port(shipped):
    assert isinstance(shipped, MarketContextProvider)
    assert shipped.first_session <= date(2016, 1, 1) and shipped.last_session >= date(2024, 2, 23)
    ctx = shipped.context_at(_at(date(2016, 3, 16), 9, 15))
    assert set(ctx) == {"nifty50_close", "nifty50_return_1d", "nifty50_return_5d", "nifty50_realized_vol_20d",
                        "nifty50_age_days"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in ctx.values())
    assert 0.05 < ctx["nifty50_realized_vol_20d"] < 0.6  # an annualised index volatility, not a daily one


def test_figures_use_only_sessions_before_the_entry_date(shipped):
    days, closes = load_index_closes(ROOT / DEFAULT_INDEX_BARS)
    k = days.index(date(2016, 3, 15))
    entry_day = days[k + 1]
    # Intraday entries during the day and at its open see the previous close, never the day's own.
    for when in (_at(entry_day, 0, 0), _at(entry_day, 9, 16), _at(entry_day, 15, 29)):
        ctx = shipped.context_at(when)
        assert ctx["nifty50_close"] == pytest.approx(closes[k], abs=1e-4)
        assert ctx["nifty50_return_1d"] == pytest.approx(closes[k] / closes[k - 1] - 1)
        assert ctx["nifty50_return_5d"] == pytest.approx(closes[k] / closes[k - 5] - 1)
        log_r = np.diff(np.log(closes[k - 20:k + 1]))
        assert ctx["nifty50_realized_vol_20d"] == pytest.approx(np.std(log_r, ddof=1) * math.sqrt(252))
    # No look-ahead: rewriting every close from the entry day on changes nothing at the entry.
    future_changed = closes.copy()
    future_changed[k + 1:] *= 3.0
    rewritten = IndexDailyContext(days, future_changed)
    assert rewritten.context_at(_at(entry_day, 10, 5)) == shipped.context_at(_at(entry_day, 10, 5))
    # ... while the day after the entry does see the entry day's close.
    assert rewritten.context_at(_at(days[k + 2], 10, 5))["nifty50_close"] == pytest.approx(future_changed[k + 1])


def test_outside_the_data_there_is_no_context(shipped):
    assert shipped.context_at(_at(date(2007, 9, 17), 10, 0)) == {}  # the first session: nothing before it
    assert shipped.context_at(_at(date(2025, 6, 2), 10, 0)) == {}  # months after the last session
    early = shipped.context_at(_at(date(2007, 9, 19), 10, 0))
    assert set(early) == {"nifty50_close", "nifty50_return_1d", "nifty50_age_days"}  # too early for 5d/20d
    with pytest.raises(ValueError):
        shipped.context_at(datetime(2016, 3, 16, 10, 0))


def test_daily_closes_agree_with_the_mit_minute_bars(shipped):
    """The Yahoo daily closes against the independent MIT-licensed 1-minute NIFTY 50 bars shipped in data/market."""
    minute = pd.read_csv(ROOT / "data/market/NIFTY50_1minute.csv.gz")
    ts = pd.to_datetime(minute["timestamp"], format="ISO8601")
    last_close = minute.assign(day=ts.dt.date).groupby("day")["close"].last()
    days, closes = load_index_closes(ROOT / DEFAULT_INDEX_BARS)
    daily = dict(zip(days, closes))
    common = [d for d in last_close.index if d in daily]
    assert len(common) >= 55
    rel = np.array([abs(daily[d] / last_close[d] - 1) for d in common])
    assert np.median(rel) < 0.001 and rel.max() < 0.005


def test_bad_index_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.csv.gz"
    with gzip.open(bad, "wt") as fh:
        fh.write("date,close\n2016-01-04,7791.3\n2016-01-05,-1\n")
    with pytest.raises(DataError, match="positive close"):
        load_index_closes(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("date,close\n2016-01-04,7791.3\n2016-01-04,7791.3\n")
    with pytest.raises(DataError, match="duplicate"):
        load_index_closes(dup)
    with pytest.raises(DataError):
        load_index_closes(tmp_path / "missing.csv")


def test_trades_table_carries_the_market_context_at_entry(tmp_path):
    store = InMemoryEventStore()
    build_tiny_run(store)
    run = load_run(store, "run-tiny")
    days = [date(2023, 12, 1) + timedelta(days=i) for i in range(40)]
    provider = IndexDailyContext(days, np.linspace(100.0, 139.0, 40))
    table = trades_table(run, provider)
    assert (table["market_context_source"] == "nifty50-daily").all()
    for ctx, entry, signal_ctx in zip(table["context"], table["entry_timestamp"], trades_table(run)["context"]):
        assert ctx == {**signal_ctx, **provider.context_at(pd.Timestamp(entry))}  # entry context kept, regime added
        assert ctx["nifty50_close"] < 100.0 + (pd.Timestamp(entry).tz_convert(IST).date() - days[0]).days
    back = read_trades_parquet(write_trades_parquet(table, tmp_path / "trades.parquet"))
    assert back["context"].tolist() == table["context"].tolist()
