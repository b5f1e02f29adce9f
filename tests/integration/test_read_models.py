"""Read models: the projector keeps them as the log grows, exactly once, and a rebuild from
the log writes the same rows byte for byte — in memory, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest

from adapters.memory import InMemoryEventStore
from applications.analytics import load_run
from applications.services.backtest import run_backtest
from applications.services.books import BacktestConfig, SentimentSettings
from applications.services.projections import (
    CommittedProjection,
    RunProjector,
    project_run,
    rebuild_run,
    run_summary,
)
from applications.services.run_summary import summarize_run
from applications.wiring.store import open_store, read_models_for
from core.errors import ProjectionConflictError
from core.events.base import NewEvent, RunInfo
from core.events.monitoring import AlertAcknowledged, AlertCleared, AlertDelivered, MonitorAlertRaised
from ports.read_models import READ_MODEL_TABLES, ProjectionBatch, ReadModelStore, RowUpdate

UTC = timezone.utc
# Both books (intraday 2024, swing from mid-2019), small commit batches: many projector steps.
CONFIG = BacktestConfig(strategy="both", start="2019-06-01", event_batch_size=300,
                        sentiment=SentimentSettings(enabled=False))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "memory":
        opened = InMemoryEventStore()
    elif request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    else:
        opened = open_store(request.getfixturevalue("pg_url"))
    yield opened
    opened.close()


def dump(read_models: ReadModelStore, run_id: str) -> bytes:
    """Every read-model row of the run and its position, as bytes."""
    pos = read_models.position(run_id)
    tables = {name: read_models.rows(name, run_id) for name in READ_MODEL_TABLES}
    return json.dumps({"position": [pos.seq, pos.events] if pos else None, "tables": tables},
                      sort_keys=True, allow_nan=True).encode()


def backtest(store, flush_every: int = 700) -> str:
    projection = CommittedProjection(store, read_models_for(store), flush_every=flush_every)
    result = run_backtest(CONFIG, store=store, on_committed=projection)
    projection.flush()
    return result.run_id


def test_incremental_rows_equal_a_rebuild_byte_for_byte(store):
    read_models = read_models_for(store)
    run_id = backtest(store)
    incremental = dump(read_models, run_id)
    counts = {name: len(read_models.rows(name, run_id)) for name in READ_MODEL_TABLES}
    assert counts["rm_trades"] > 20 and counts["rm_portfolio"] > 100 and counts["rm_symbol_days"] > 100
    assert counts["rm_entries"] >= counts["rm_trades"] and counts["rm_book_summaries"] == 2
    rebuild_run(store, read_models, run_id)
    assert dump(read_models, run_id) == incremental
    # Projected again from nothing in small pages (a reader catching up step by step): the same.
    read_models.drop(run_id)
    assert read_models.position(run_id) is None
    project_run(store, read_models, run_id, page_size=97)
    assert dump(read_models, run_id) == incremental
    last = store.read_all(0, 1_000_000, run_id=run_id)[-1]
    pos = read_models.position(run_id)
    assert (pos.seq, pos.events) == (last.seq, len(store.read_all(0, 1_000_000, run_id=run_id)))


def test_the_read_models_say_what_the_log_fold_says(store):
    read_models = read_models_for(store)
    run_id = backtest(store)
    from_rows = run_summary(store, read_models, run_id)
    from_log = summarize_run(store, run_id)
    assert from_rows == from_log  # every book figure, status, events and what is missing
    run = load_run(store, run_id)
    trades = run.trades.sort_values("seq").to_dict("records")
    rows = read_models.rows("rm_trades", run_id)
    assert [r["seq"] for r in rows] == [t["seq"] for t in trades]
    for row, trade in zip(rows, trades):
        for field in ("trade_id", "symbol", "direction", "quantity", "net_pnl_paise", "fees_paise", "reason",
                      "exit_reason", "gross_pnl_paise"):
            assert row[field] == trade[field], field
        assert datetime.fromisoformat(row["entry_time"]) == trade["entry_time"].to_pydatetime()
        for field in ("features", "signals", "context"):
            assert json.loads(row[field]) == trade[field], field
        assert (row["confidence"] is None and math.isnan(trade["confidence"])) or \
            row["confidence"] == pytest.approx(trade["confidence"], abs=0)
    portfolio = run.portfolio.sort_values("seq")
    rows = read_models.rows("rm_portfolio", run_id)
    assert [r["equity_paise"] for r in rows] == portfolio["equity_paise"].tolist()
    assert [r["fees_paid_paise"] for r in rows] == portfolio["fees_paid_paise"].tolist()
    # Per symbol and day: the holdings of each snapshot, valued at its close.
    days = read_models.rows("rm_symbol_days", run_id)
    holding = portfolio[portfolio["positions"].map(len) > 0]
    assert len(holding) > 10
    assert len(days) == sum(len(p) for p in portfolio["positions"])
    for _, snap in holding.iloc[::7].iterrows():
        held = {d["symbol"]: d for d in days if d["seq"] == snap["seq"]}
        assert set(held) == set(snap["positions"])
        for symbol, pos in snap["positions"].items():
            assert held[symbol]["quantity"] == pos["quantity"]
            assert held[symbol]["market_value_paise"] == pos["market_value_paise"]
            assert held[symbol]["close"] == snap["prices"][symbol]
    # Accuracy per strategy kind: the counts of the traces, the figures of core.accuracy.
    from core import accuracy
    for row in read_models.rows("rm_accuracy", run_id):
        traces = run.traces[run.traces["strategy"] == row["strategy"]]
        expected = accuracy.classify(traces["actual_direction"], traces["predicted_direction"])
        figures = json.loads(row["figures"])
        assert json.loads(row["confusion"]) == expected.confusion_matrix == figures["confusion_matrix"]
        assert figures["precision"] == expected.precision and figures["f1_score"] == expected.f1_score
        assert figures["traces"] == len(traces)


def test_a_projector_that_stopped_between_flushes_catches_up_to_the_same_rows(store):
    read_models = read_models_for(store)
    projection = CommittedProjection(store, read_models, flush_every=500)
    run_id = run_backtest(CONFIG, store=store, on_committed=projection).run_id
    # No final flush: the process "died" with rows folded but not applied.
    pos = read_models.position(run_id)
    last = store.read_all(0, 1_000_000, run_id=run_id)[-1].seq
    assert pos is not None and 0 < pos.seq < last
    stopped = dump(read_models, run_id)
    # Its restored projector is what the rows say, and goes on from there.
    again = RunProjector.restore(read_models, run_id)
    assert (again.position, again.events) == (pos.seq, pos.events)
    project_run(store, read_models, run_id)
    caught_up = dump(read_models, run_id)
    assert caught_up != stopped
    rebuild_run(store, read_models, run_id)
    assert dump(read_models, run_id) == caught_up


def test_a_batch_folded_from_a_stale_position_writes_nothing(store):
    read_models = read_models_for(store)
    run_id = backtest(store, flush_every=10**9)
    events = store.read_all(0, 1_000_000, run_id=run_id)
    half = len(events) // 2
    a, b = RunProjector(run_id), RunProjector(run_id)
    read_models.drop(run_id)
    read_models.apply(a.fold(events[:half]))
    late = b.fold(events[:half + 10])  # folded from 0, but the stored position is now events[half-1]
    before = dump(read_models, run_id)
    with pytest.raises(ProjectionConflictError, match="another projector"):
        read_models.apply(late)
    assert dump(read_models, run_id) == before
    # A failing batch is all or nothing too: a row the table does not have aborts it whole.
    bad = ProjectionBatch(run_id=run_id, after_seq=events[half - 1].seq, to_seq=events[-1].seq, events=len(events),
                          inserts={"rm_alerts": [{"alert_id": "x", "seq": 1}], "rm_trades": [{"nonsense": 1}]})
    with pytest.raises(ValueError, match="nonsense"):
        read_models.apply(bad)
    assert dump(read_models, run_id) == before
    project_run(store, read_models, run_id)
    rebuilt = dump(read_models, run_id)
    rebuild_run(store, read_models, run_id)
    assert dump(read_models, run_id) == rebuilt


def test_row_updates_apply_once_and_replaced_tables_are_whole(store):
    read_models = read_models_for(store)
    run = "r" * 32
    rows = [{"alert_id": f"a{i}", "seq": i, "state": "open", "deliveries": 0} for i in (2, 1, 3)]
    read_models.apply(ProjectionBatch(run_id=run, after_seq=0, to_seq=3, events=3, inserts={"rm_alerts": rows},
                                      replaced={"rm_runs": [{"status": "running", "completed": 0}]}))
    read_models.apply(ProjectionBatch(
        run_id=run, after_seq=3, to_seq=5, events=5,
        updates=[RowUpdate(table="rm_alerts", where={"alert_id": "a1"}, values={"state": "acknowledged"},
                           only_if={"state": "open"}),
                 RowUpdate(table="rm_alerts", where={"alert_id": "a1"}, values={"state": "again"},
                           only_if={"state": "open"})],
        replaced={"rm_runs": [{"status": "completed", "completed": 1}]}))
    found = read_models.rows("rm_alerts", run)
    assert [r["alert_id"] for r in found] == ["a1", "a2", "a3"]  # key order
    assert [r["state"] for r in found] == ["acknowledged", "open", "open"]
    assert set(found[0]) == set(READ_MODEL_TABLES["rm_alerts"].columns)
    assert [(r["status"], r["completed"]) for r in read_models.rows("rm_runs", run)] == [("completed", 1)]
    assert [p.run_id for p in read_models.positions()] == [run]


def test_alerts_fold_their_lifecycle(store):
    read_models = read_models_for(store)
    run_id = "m" * 32
    at = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    store.start_run(RunInfo(run_id=run_id, mode="monitor", config_hash="c", code_version="v",
                            data_fingerprint="d", started_at=at))
    raised = MonitorAlertRaised(alert_id="al-1", key="stale:r1", rule="stale_session", severity="critical",
                                message="no heartbeat for 120 s", subject_run_id="r1", source_seq=10)
    other = MonitorAlertRaised(alert_id="al-2", key="dd:r1", rule="drawdown", severity="warning",
                               message="drawdown -3 %", subject_run_id="r1", source_seq=11)
    events = [raised, other, AlertDelivered(alert_id="al-1", kind="raised", channels=["ops"], attempts=1),
              AlertAcknowledged(alert_id="al-1", key="stale:r1", acknowledged_by="asha", note="looking",
                                until=at + timedelta(hours=1)),
              AlertDelivered(alert_id="al-1", kind="raised", channels=["ops"], attempts=1),
              AlertCleared(alert_id="al-2", key="dd:r1", rule="drawdown", reason="recovered", source_seq=20)]
    stream = f"{run_id}:alerts"
    for i, event in enumerate(events):
        store.append(stream, i, [NewEvent(event=event, occurred_at=at + timedelta(seconds=i))], run_id=run_id)
        project_run(store, read_models, run_id)  # the monitor's tail: one step per event
    found = {r["alert_id"]: r for r in read_models.rows("rm_alerts", run_id)}
    assert (found["al-1"]["state"], found["al-1"]["acknowledged_by"], found["al-1"]["deliveries"]) == \
        ("acknowledged", "asha", 2)
    assert (found["al-2"]["state"], found["al-2"]["cleared_reason"]) == ("cleared", "recovered")
    assert found["al-1"]["subject_run_id"] == "r1" and found["al-1"]["severity"] == "critical"
    stepped = dump(read_models, run_id)
    rebuild_run(store, read_models, run_id)
    assert dump(read_models, run_id) == stepped


def test_a_paper_session_ends_with_its_read_models_current_and_the_monitor_keeps_them_while_it_runs():
    from adapters.simulated import SimulatedClock
    from applications.roots.monitor import run_monitor
    from applications.roots.paper import PaperOptions, run_paper
    from applications.services.books import BacktestConfig as Config
    from applications.services.monitoring import MONITOR_RUN_ID, MonitorSettings

    store = InMemoryEventStore()
    read_models = read_models_for(store)
    config = Config(strategy="intraday", start="2024-01-01", end="2024-01-12",
                    sentiment=SentimentSettings(enabled=False), close_at_end=False)
    first = run_paper(config, store=store, sentiment=None, clock=SimulatedClock(),
                      options=PaperOptions(replay_speed=0), run_id="p1")
    last = store.read_all(0, 1_000_000, run_id="p1")[-1].seq
    assert read_models.position(first.run_id).seq == last  # caught up as the session ended
    assert run_summary(store, read_models, "p1") == summarize_run(store, "p1")
    # A second session written behind the read models' back (as by another process) ...
    events = store.read_all(0, 1_000_000, run_id="p1")
    read_models.drop("p1")
    polls = iter(range(3))
    # ... is projected by the monitor as it tails, with the monitor's own alert stream.
    run_monitor(store, should_stop=lambda: next(polls, None) is None, sink=None,
                settings=MonitorSettings(poll_seconds=0.01))
    assert read_models.position("p1").seq == events[-1].seq
    assert read_models.position(MONITOR_RUN_ID) is not None
    tailed = dump(read_models, "p1")
    rebuild_run(store, read_models, "p1")
    assert dump(read_models, "p1") == tailed


def test_the_report_frames_read_from_the_read_models_equal_the_fold_of_the_log(store):
    """Traces, trades, portfolio, orders and fills from the rows = ``load_run`` from the events,
    frame for frame (values, dtypes, order); so is every figure of the report built on them."""
    import pandas.testing as pdt

    from applications.analytics.report import build_report
    from applications.services.projections import load_run_from_read_models

    read_models = read_models_for(store)
    run_id = backtest(store)
    from_log = load_run(store, run_id)
    from_rows = load_run_from_read_models(store, read_models, run_id)
    for frame in ("traces", "trades", "portfolio", "orders", "fills"):
        pdt.assert_frame_equal(getattr(from_rows, frame), getattr(from_log, frame), check_exact=True, obj=frame)
    assert from_rows.started == from_log.started and from_rows.completed == from_log.completed
    assert from_rows.strategies == from_log.strategies and from_rows.mode == from_log.mode
    now = datetime(2026, 12, 4, tzinfo=UTC)
    assert build_report(from_rows, now=now) == build_report(from_log, now=now)
    with pytest.raises(ValueError, match="read models"):
        from_rows.require("signals")
