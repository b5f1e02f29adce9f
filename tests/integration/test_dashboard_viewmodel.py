"""The dashboard's view-model over the events of a real backtest run (SQLite store).

Every figure is checked against the analytics package or the run summary computed from
the same events, so the dashboard cannot drift from the report and `runs show`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import attrs
import numpy as np
import pandas as pd
import pytest

from applications.analytics.metrics import (
    DIRECTIONS,
    DegradationThresholds,
    compute_metrics,
    detect_degradation,
    rolling_vs_alltime,
)
from applications.analytics.projections import project_events
from applications.dashboard import viewmodel as vm
from applications.services.run_summary import summarize_run
from applications.wiring.store import open_store
from core.events.base import RecordedEvent
from core.events.catalog import AlertRaised, CircuitBreakerTripped, PortfolioSnapshotted, RunCompleted, TradeClosed
from tests.integration.dashboard_support import backtest_db  # noqa: F401  (fixture)

FRAMES = ("traces", "trades", "portfolio", "signals", "fills", "rejections", "breakers", "sentiment")


@pytest.fixture(scope="module")
def run_info(backtest_db):  # noqa: F811
    store = open_store(backtest_db.url)
    try:
        return store.get_run(backtest_db.run_id), summarize_run(store, backtest_db.run_id)
    finally:
        store.close()


@pytest.fixture(scope="module")
def model(backtest_db, run_info):  # noqa: F811
    m = vm.RunModel(run=run_info[0])
    for i in range(0, len(backtest_db.events), 300):  # pages, as the tailer reads them
        m.ingest(backtest_db.events[i:i + 300])
    return m


def _extra(model: vm.RunModel, event, *, stream: str = "intraday", seconds_ago: float | None = None,
           occurred_at: datetime | None = None) -> RecordedEvent:
    """A further event of the same run, recorded after everything else."""
    now = datetime.now(timezone.utc)
    return RecordedEvent(seq=model.last_seq + 1, event_id=uuid.uuid4(), stream_id=f"{model.run_id}:{stream}",
                         stream_version=10**6, run_id=model.run_id, occurred_at=occurred_at or model.last_event_at,
                         recorded_at=now - timedelta(seconds=seconds_ago or 0), correlation_id=None,
                         causation_id=None, event=event)


def test_the_slice_holds_both_books_with_trades(model):
    trades = model.data.trades
    assert set(trades["strategy"]) == {"intraday", "swing"}
    assert (trades["strategy"] == "intraday").sum() > 10 and (trades["strategy"] == "swing").sum() > 10


def test_incremental_fold_equals_one_projection_of_every_event(model, backtest_db, run_info):  # noqa: F811
    full = project_events(backtest_db.events, [run_info[0]])
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(model.data, name).reset_index(drop=True),
                                      getattr(full, name).reset_index(drop=True), check_dtype=False, obj=name)
    assert model.events == len(backtest_db.events)
    assert model.last_seq == backtest_db.events[-1].seq
    assert model.completed is not None and model.status == "completed"


def test_ingest_ignores_seen_events_and_other_runs(model, backtest_db):  # noqa: F811
    assert model.ingest(backtest_db.events[:50]) is False
    other = attrs.evolve(backtest_db.events[-1], seq=model.last_seq + 1, run_id="someone-else")
    assert model.ingest([other]) is False
    assert model.events == len(backtest_db.events)


def test_cards_are_the_analytics_metrics_all_time_and_rolling(model):
    cards = vm.strategy_cards(model.data, label="LONG", window=20)
    assert set(cards) == {"intraday", "swing"}
    for name, card in cards.items():
        traces = model.data.traces[model.data.traces["strategy"] == name]
        alltime = compute_metrics(traces)
        rolling = compute_metrics(traces.sort_values("timestamp", kind="stable").tail(20))
        assert card.trades == len(traces)
        assert card.alltime == {"precision": alltime.precision["LONG"], "recall": alltime.recall["LONG"],
                                "f1": alltime.f1_score["LONG"], "hit_ratio": alltime.hit_ratio,
                                "win_rate": alltime.win_rate, "sharpe": alltime.sharpe_ratio}
        assert card.rolling["precision"] == rolling.precision["LONG"]
        assert card.rolling["sharpe"] == rolling.sharpe_ratio
        for key in vm.CARD_FIELDS:
            assert card.delta[key] == pytest.approx(card.rolling[key] - card.alltime[key])
        json.dumps(card.to_dict(), allow_nan=False)
    short = vm.strategy_cards(model.data, label="SHORT", window=20)["intraday"]
    traces = model.data.traces[model.data.traces["strategy"] == "intraday"]
    assert short.alltime["precision"] == compute_metrics(traces).precision["SHORT"]


def test_cards_show_the_run_summary_figures_exactly(model, run_info):
    # the same function builds both: every figure equal, not approximately
    expected = {b.strategy: vm.summary_dict(b) for b in run_info[1].books}
    assert expected["swing"]["first_session"] == run_info[1].books[1].first_session.isoformat()
    cards = vm.strategy_cards(model.data)
    assert {name: card.summary for name, card in cards.items()} == expected
    assert {name: attrs.asdict(b) for name, b in vm.book_summaries(model.data).items()} == \
        {b.strategy: attrs.asdict(b) for b in run_info[1].books}


def test_a_book_filter_keeps_only_that_book_and_absent_books_get_no_card(model):
    view = vm.filter_run(model.data, strategy="swing")
    assert set(view.trades["book"]) == {"swing"} and set(view.portfolio["book"]) == {"swing"}
    assert set(vm.strategy_cards(view)) == {"swing"}
    assert vm.strategy_cards(model.data, strategies=["sma_cross"]) == {}
    assert vm.book_colour("swing") == vm.book_colour("swing") != vm.book_colour("intraday")


def test_per_symbol_pnl_and_monthly_returns_add_up_to_the_summary(model, run_info):
    summary = {b.strategy: b for b in run_info[1].books}
    per_symbol = vm.symbol_pnl(model.data)
    for book, group in per_symbol.groupby("book"):
        trades = model.data.trades[model.data.trades["book"] == book]
        assert int(group["net_pnl_paise"].sum()) == int(trades["net_pnl_paise"].sum())
        assert int(group["trades"].sum()) == summary[book].trades
    monthly = vm.monthly_returns(model.data)
    for book, group in monthly.groupby("book"):
        compounded = float(np.prod(1 + group["return_pct"].to_numpy() / 100) - 1) * 100
        assert compounded == pytest.approx(summary[book].total_return_pct, abs=1e-9)


def test_two_runs_side_by_side_with_a_verdict_and_a_t_test(model):
    swing_only = attrs.evolve(vm.filter_run(model.data, strategy="swing"), run_ids=["other-run"])
    c = vm.compare_runs(model.data, swing_only)
    assert set(c.left) == {"intraday", "swing"} and set(c.right) == {"swing"}
    assert c.left["swing"] == c.right["swing"]  # the same book, the same figures
    assert c.better in (model.data.run_ids[0], "other-run")
    scores = c.scores
    assert c.better == max(scores, key=lambda k: scores[k])
    from scipy import stats
    expected = stats.ttest_ind(model.data.trades["pnl_pct"], swing_only.trades["pnl_pct"], equal_var=False)
    assert c.t_test.p_value == pytest.approx(float(expected.pvalue))
    json.dumps(c.to_dict(), allow_nan=False)


def test_equity_curves_end_where_the_run_summary_ends(model, run_info):
    summary = {b.strategy: b for b in run_info[1].books}
    curves = vm.equity_curves(model.data)
    for book, group in curves.groupby("book"):
        s = summary[book]
        assert len(group) == s.sessions
        assert group["session"].tolist() == list(range(1, s.sessions + 1))
        assert group["equity"].iloc[-1] == pytest.approx(s.final_equity_paise / 100)
        assert group["cum_return_pct"].iloc[-1] == pytest.approx(s.total_return_pct)
        assert group["drawdown_pct"].min() == pytest.approx(s.max_drawdown_pct)
        assert (group["drawdown_pct"] <= 1e-12).all()
    # The two books cover different years of the shipped data.
    assert not vm.books_overlap(model.data)


def test_confusion_frames_match_the_analytics_matrix(model):
    frames = vm.confusion_frames(model.data)
    for name, cm in frames.items():
        traces = model.data.traces[model.data.traces["strategy"] == name]
        matrix = compute_metrics(traces).confusion_matrix
        assert cm["count"].sum() == len(traces)
        pivot = cm.pivot(index="actual", columns="predicted", values="count").loc[list(DIRECTIONS),
                                                                                  list(DIRECTIONS)]
        assert pivot.to_numpy().tolist() == matrix


def test_alert_rules(model):
    data = model.data
    cards = vm.strategy_cards(data, window=20)
    none = vm.alerts(data, cards, precision_threshold=0.0, sharpe_threshold=-1e9, window=20,
                     thresholds=DegradationThresholds(precision_drop=9, win_rate_drop=9, sharpe_drop=1e9))
    assert none == []
    strict = vm.alerts(data, cards, precision_threshold=1.01, sharpe_threshold=1e9, window=20)
    rules = {(a.rule, a.strategy) for a in strict}
    assert {("precision", "intraday"), ("precision", "swing"), ("sharpe", "intraday"), ("sharpe", "swing")} <= rules
    # Degradation alerts are exactly the analytics package's, per strategy.
    tight = DegradationThresholds(precision_drop=-1, win_rate_drop=-1, sharpe_drop=-1e9)
    got = vm.alerts(data, cards, precision_threshold=0, sharpe_threshold=-1e9, window=20, thresholds=tight)
    for name in ("intraday", "swing"):
        traces = data.traces[data.traces["strategy"] == name]
        expected = detect_degradation(*rolling_vs_alltime(traces, 20), tight)
        mine = [a for a in got if a.strategy == name and a.rule.startswith("degradation:")]
        assert [a.rule for a in mine] == [f"degradation:{d.metric}" for d in expected]
        assert len(mine) == 3


def test_circuit_breaker_trips_and_raised_alerts_show_up_first(model, backtest_db, run_info):  # noqa: F811
    m = vm.RunModel(run=run_info[0])
    m.ingest(backtest_db.events)
    trip = _extra(m, CircuitBreakerTripped(session_date=datetime(2024, 1, 10).date(), daily_pnl_paise=-2_500_000,
                                           limit_paise=-2_000_000, equity_paise=97_500_000))
    assert m.ingest([trip])
    raised = _extra(m, AlertRaised(severity="critical", source="feed", message="broker session expired"))
    assert m.ingest([raised])
    items = vm.alerts(m.data, vm.strategy_cards(m.data), precision_threshold=0.55, raised=m.alerts_raised,
                      breaker_books=m.breaker_books)
    assert items[0].severity == "critical" and items[1].severity == "critical"
    breaker = next(a for a in items if a.rule == "circuit_breaker")
    assert "2024-01-10" in breaker.message and "₹-25,000.00" in breaker.message
    assert breaker.strategy == "intraday"
    assert any(a.rule == "raised:feed" and a.message == "broker session expired" for a in items)
    frame = vm.alerts_frame(items)
    assert list(frame.columns) == ["severity", "rule", "strategy", "message", "at", "status"] and len(frame) == len(items)


def test_replay_as_of_a_seq_shows_only_what_was_written_by_then(model, backtest_db):  # noqa: F811
    cut = backtest_db.events[len(backtest_db.events) // 2].seq
    view = vm.as_of(model.data, seq=cut)
    closed = [r for r in backtest_db.events if isinstance(r.event, TradeClosed) and r.seq <= cut]
    snaps = [r for r in backtest_db.events if isinstance(r.event, PortfolioSnapshotted) and r.seq <= cut]
    assert len(view.trades) == len(closed) and len(view.portfolio) == len(snaps)
    assert (view.traces["seq"] <= cut).all() and (view.fills["seq"] <= cut).all()
    assert vm.as_of(model.data) is model.data
    points = vm.replay_points(model, "seq")
    assert [p[0] for p in points] == [r.seq for r in backtest_db.events]


def test_replay_as_of_an_event_time(model):
    until = datetime(2019, 9, 1, tzinfo=timezone.utc)
    view = vm.as_of(model.data, until=until)
    trades = model.data.trades
    assert len(view.trades) == int((trades["exit_time"] <= until).sum()) > 0
    assert (view.portfolio["session_date"] < until.date()).all()
    assert len(view.portfolio) == int((model.data.portfolio["session_date"] < until.date()).sum())
    times = [t for _, t in vm.replay_points(model, "time")]
    assert times == sorted(set(times)) and len(times) > 100
    with pytest.raises(ValueError):
        vm.replay_points(model, "sideways")


def test_filters_narrow_strategy_and_period(model):
    swing = vm.filter_run(model.data, strategy="swing")
    assert set(swing.trades["strategy"]) == {"swing"} and set(swing.portfolio["book"]) == {"swing"}
    assert set(swing.traces["strategy"]) == {"swing"}
    start, end = datetime(2019, 3, 1).date(), datetime(2019, 6, 30).date()
    window = vm.filter_run(model.data, strategy="both", start=start, end=end)
    assert window.portfolio["session_date"].between(start, end).all() and len(window.portfolio) > 50
    assert len(window.trades) and len(window.trades) < len(model.data.trades)
    assert vm.session_range(model.data)[0].year == 2019 and vm.session_range(model.data)[1].year == 2024


def test_symbol_drill_down_reads_prices_from_snapshots_and_fills(model):
    assert "TCS" in vm.symbols(model.data) and "RELIANCE" in vm.symbols(model.data)
    prices = vm.symbol_prices(model.data, "TCS")
    assert {"session close", "fill"} <= set(prices["source"])
    assert prices["time"].is_monotonic_increasing
    fills = model.data.fills[model.data.fills["symbol"] == "TCS"]
    assert set(np.round(fills["price_paise"] / 100, 2)) <= set(np.round(prices["price"], 2))
    trades = model.data.trades[model.data.trades["symbol"] == "TCS"]
    markers = vm.symbol_markers(model.data, "TCS")
    assert (markers["kind"] == "entry").sum() == len(trades) == (markers["kind"] == "exit").sum()
    table = vm.symbol_trades(model.data, "TCS")
    assert len(table) == len(trades) and list(table.columns) == vm.TRADE_TABLE_COLUMNS
    assert set(table["trade_id"]) == set(trades["trade_id"])
    # the signals and the context at entry are shown with every trade
    assert all(json.loads(s) for s in table["signals"]) and all(json.loads(c) for c in table["context"])
    other = vm.symbol_trades(model.data, "RELIANCE")
    assert set(other["symbol"]) == {"RELIANCE"} and set(other["trade_id"]).isdisjoint(table["trade_id"])


def test_live_badge(model, backtest_db, run_info):  # noqa: F811
    now = datetime.now(timezone.utc)
    assert vm.live_badge(model, now).status == "HISTORICAL"
    # The same run seen while it was still being written: no RunCompleted yet.
    writing = [r for r in backtest_db.events if not isinstance(r.event, RunCompleted)]
    m = vm.RunModel(run=attrs.evolve(run_info[0], status="running"))
    m.ingest(writing)
    assert vm.live_badge(m, m.last_recorded_at + timedelta(seconds=5)).status == "LIVE"
    badge = vm.live_badge(m, m.last_recorded_at + timedelta(hours=1))
    assert badge.status == "HISTORICAL" and badge.reason == "no new events"
    assert badge.last_event_at == max(r.occurred_at for r in writing)
    assert vm.live_badge(vm.RunModel(), now).status == "HISTORICAL"


def test_metrics_document_is_strict_json(model):
    cards = vm.strategy_cards(model.data)
    items = vm.alerts(model.data, cards)
    doc = vm.metrics_document(model, model.data, cards=cards, alert_list=items, filters={"strategy": "both"},
                              as_of_seq=None, as_of_time=None, generated_at=datetime(2024, 1, 1, tzinfo=timezone.utc))
    back = json.loads(vm.dumps(doc))
    assert back["run_id"] == model.run_id and back["status"] == "completed"
    assert back["strategies"]["intraday"]["alltime"]["precision"] == cards["intraday"].alltime["precision"]
    assert set(back["books"]) == {"intraday", "swing"}
    assert len(back["alerts"]) == len(items) and back["trades"] == len(model.data.trades)


def test_run_choices_filter_by_mode(run_info):
    info = run_info[0]
    other = attrs.evolve(info, run_id="f" * 32, mode="paper")
    assert [c.run_id for c in vm.run_choices([info, other], "paper")] == ["f" * 32]
    assert len(vm.run_choices([info, other], "all")) == 2
    assert vm.run_choices([info])[0].title.startswith("backtest · ")


def test_portfolio_at_a_replay_point_follows_the_fills(model, backtest_db):  # noqa: F811
    from core.events.catalog import PositionChanged

    changes = [r for r in backtest_db.events if isinstance(r.event, PositionChanged)]
    first_open = next(r for r in changes if r.event.quantity != 0)
    book = first_open.stream_id.rsplit(":", 1)[-1]
    states = {b.book: b for b in vm.portfolio_at(model, vm.as_of(model.data, seq=first_open.seq),
                                                 seq=first_open.seq)}
    held = states[book].positions[first_open.event.symbol]
    assert held == {"quantity": first_open.event.quantity,
                    "average_price_paise": first_open.event.average_price_paise}
    assert states[book].cash_paise == first_open.event.cash_paise
    assert states[book].last_fill_at == first_open.occurred_at
    # At the end every book's cash and positions agree with its last end-of-session snapshot.
    snaps = model.data.portfolio
    for state in vm.portfolio_at(model, model.data):
        last = snaps[snaps["book"] == state.book].iloc[-1]
        assert state.session_date == last["session_date"] and state.equity_paise == last["equity_paise"]
        assert state.cash_paise == last["cash_paise"]
        assert {s: p["quantity"] for s, p in state.positions.items()} == \
            {s: p["quantity"] for s, p in last["positions"].items()}
    # By event time: nothing had happened before the first event.
    before = vm.portfolio_at(model, vm.as_of(model.data, until=datetime(2000, 1, 1, tzinfo=timezone.utc)),
                             until=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert all(not b.positions and b.equity_paise is None and b.cash_paise > 0 for b in before)


def test_alerts_panel_shows_what_the_monitor_raised_with_its_status():
    from datetime import datetime, timezone

    from applications.services.monitoring import AlertRow
    from applications.dashboard.viewmodel.alerts import alerts as dashboard_alerts
    from types import SimpleNamespace

    import pandas as pd

    at = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
    rows = [AlertRow(alert_id="a1", key="daily_loss_high:R:intraday", rule="daily_loss_high", severity="warning",
                     message="intraday: day loss at 85% of the cap", subject_run_id="R", raised_at=at,
                     status="acknowledged", acknowledged_by="asha", note="watching"),
            AlertRow(alert_id="a2", key="heartbeat_lapsed:R", rule="heartbeat_lapsed", severity="critical",
                     message="no heartbeat", subject_run_id="R", raised_at=at, status="cleared")]
    no_run_rules = SimpleNamespace(breakers=pd.DataFrame())  # only the monitor's alerts here
    items = dashboard_alerts(no_run_rules, {}, monitored=rows)
    assert [(a.rule, a.status) for a in items] == [("monitor:daily_loss_high", "acknowledged by asha: watching"),
                                                   ("monitor:heartbeat_lapsed", "cleared")]
    assert items[0].strategy == "intraday"
