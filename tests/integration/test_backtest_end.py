"""Positions still open when the data ends (spec 002 §14.14.2): closed at the last close
with a ``backtest_end`` fill (the default), or kept open and listed as open."""

from __future__ import annotations

import pytest

from adapters.memory import InMemoryEventStore
from applications.analytics import load_run
from applications.analytics.exports.bundle import build_bundle, validate_bundle
from applications.analytics.exports.execution import execution_table
from applications.services.backtest import run_backtest
from applications.services.books import BacktestConfig, SentimentSettings
from applications.services.run_summary import summarize_run

# The swing book holds RELIANCE when the shipped daily data ends (2020-05-29).
SWING = dict(strategy="swing", start="2019-06-01", sentiment=SentimentSettings(enabled=False))


@pytest.fixture(scope="module")
def runs():
    out = {}
    for close in (True, False):
        store = InMemoryEventStore()
        result = run_backtest(BacktestConfig(**SWING, close_at_end=close), store=store)
        out[close] = (store, result.run_id)
    return out


def test_open_positions_are_closed_at_the_last_close_by_default(runs):
    store, run_id = runs[True]
    run = load_run(store, run_id)
    last = run.portfolio.sort_values("seq").iloc[-1]
    assert last["positions"] == {} and last["positions_value_paise"] == 0  # everything realised
    ends = run.fills[run.fills["fill_reason"] == "backtest_end"]
    assert len(ends) >= 1
    for fill in ends.to_dict("records"):
        close = last["prices"][fill["symbol"]]
        # the last close, moved adversely by the 2 bps simulated slippage, on the tick
        assert abs(fill["price_paise"] - close * 100) <= close * 100 * 2.5e-4 + 5
        assert fill["symbol"] in set(run.trades["symbol"])
    executions = execution_table(run)
    at_end = executions[executions["fill_reason"] == "backtest_end"]
    assert (at_end["decision_price_source"] == "bar_close").all() and at_end["slippage_bps"].notna().all()
    book = summarize_run(store, run_id).books[0]
    assert book.closed_at_end == len(ends) and book.open_at_end == 0
    from applications.dashboard.viewmodel.cards import strategy_cards
    card = strategy_cards(run)["swing"].summary
    assert (card["closed_at_end"], card["open_at_end"]) == (len(ends), 0)  # the dashboard card says so too
    bundle = build_bundle(run)
    validate_bundle(bundle)
    end = bundle["results.json"]["end_of_data"]
    assert end["policy"] == "close_at_last_close" and end["open_positions"] == [] and len(end["closed_at_end"]) == len(ends)


def test_keeping_them_open_lists_them_as_open(runs):
    store, run_id = runs[False]
    run = load_run(store, run_id)
    assert not (run.fills["fill_reason"] == "backtest_end").any()
    last = run.portfolio.sort_values("seq").iloc[-1]
    assert last["positions"]
    book = summarize_run(store, run_id).books[0]
    assert book.open_at_end == len(last["positions"]) and book.closed_at_end == 0
    end = build_bundle(run)["results.json"]["end_of_data"]
    assert end["policy"] == "keep_open" and end["closed_at_end"] == []
    assert {p["ticker"] for p in end["open_positions"]} == set(last["positions"])
    assert all(p["status"] == "OPEN" for p in end["open_positions"])
    from applications.dashboard.viewmodel.cards import strategy_cards
    card = strategy_cards(run)["swing"].summary
    assert (card["closed_at_end"], card["open_at_end"]) == (0, len(last["positions"]))


def test_closing_at_the_end_changes_nothing_before_it(runs):
    (closed_store, closed_id), (open_store, open_id) = runs[True], runs[False]
    closed, kept = load_run(closed_store, closed_id), load_run(open_store, open_id)
    n = len(kept.trades)
    cols = ["symbol", "entry_time", "exit_time", "net_pnl_paise", "exit_reason"]
    assert closed.trades[cols].head(n).reset_index(drop=True).equals(kept.trades[cols].reset_index(drop=True))
    assert len(closed.trades) == n + len(closed.fills[closed.fills["fill_reason"] == "backtest_end"])
