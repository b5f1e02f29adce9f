"""`sensequant backtest` and `sensequant runs show` as a user runs them, on the shipped data."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from applications.services.books import BacktestConfig
from applications.services.backtest import run_backtest
from applications.wiring.config import build_config
from applications.wiring.store import open_store
from core.events.catalog import PortfolioSnapshotted, PredictionTraced, RunStarted, TradeClosed
from core.events.codec import encode_payload
from tests.invariants import assert_books_reconcile

ROOT = Path(__file__).resolve().parents[2]


def sensequant(*args: str, db: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SENSEQUANT_DB_URL": db}
    return subprocess.run([sys.executable, "-m", "applications", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    db = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'store.db'}"
    done = sensequant("backtest", "--json", "--start", "2016-01-01", "--end", "2024-01-31", db=db)
    assert done.returncode == 0, done.stderr
    return db, json.loads(done.stdout)


def test_backtest_runs_both_books_on_shipped_data_and_runs_show_rebuilds_the_summary(cli_run):
    db, summary = cli_run
    books = {b["strategy"]: b for b in summary["books"]}
    assert set(books) == {"intraday", "swing"}
    assert books["intraday"]["trades"] > 10 and books["swing"]["trades"] > 5
    shown = sensequant("runs", "show", summary["run_id"][:10], "--json", db=db)
    assert shown.returncode == 0, shown.stderr
    rebuilt = json.loads(shown.stdout)
    assert rebuilt["books"] == summary["books"]
    assert rebuilt["status"] == "completed"
    listed = json.loads(sensequant("runs", "list", "--json", db=db).stdout)
    assert [r["run_id"] for r in listed] == [summary["run_id"]]


def test_every_event_of_a_real_run_reconciles_to_the_paisa(cli_run):
    db, summary = cli_run
    store = open_store(db)
    try:
        events = store.read_all(0, 1_000_000, run_id=summary["run_id"])
    finally:
        store.close()
    assert assert_books_reconcile(events) > 500
    traces = [e.event for e in events if isinstance(e.event, PredictionTraced)]
    trades = [e.event for e in events if isinstance(e.event, TradeClosed)]
    assert len(traces) == len(trades)
    assert {t.strategy for t in traces} == {"intraday", "swing"}
    assert all(t.actual_direction in {"LONG", "SHORT", "NOOP"} for t in traces)
    started = next(e.event for e in events if isinstance(e.event, RunStarted))
    assert started.config["data_timezone"] == "Asia/Kolkata"
    snapshots = [e.event for e in events if isinstance(e.event, PortfolioSnapshotted)]
    assert all(s.cash_paise + s.positions_value_paise == s.equity_paise for s in snapshots)


def test_help_explains_every_option():
    done = subprocess.run([sys.executable, "-m", "applications", "backtest", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for flag in ("--config", "--strategy", "--symbols", "--interval", "--start", "--end", "--data-dir",
                 "--telemetry", "--sample-rate", "--seed", "--json"):
        assert flag in done.stdout


def test_bad_symbol_is_a_clear_error_and_writes_no_run(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    done = sensequant("backtest", "--strategy", "swing", "--symbols", "NOSUCH", db=db)
    assert done.returncode != 0
    assert "NOSUCH" in done.stderr and "Traceback" not in done.stderr
    assert json.loads(sensequant("runs", "list", "--json", db=db).stdout) == []


def test_same_inputs_and_config_give_byte_identical_payloads():
    config = build_config(BacktestConfig, {"start": "2024-01-01", "end": "2024-01-19", "strategy": "intraday"})
    digests = []
    for _ in range(2):
        store = open_store("memory://")
        result = run_backtest(config, store=store)
        payloads = b"".join(encode_payload(r.event).encode() for r in store.read_all(0, 1_000_000))
        digests.append(hashlib.sha256(payloads).hexdigest())
        assert result.books[0].trades_closed > 0
    assert digests[0] == digests[1]
