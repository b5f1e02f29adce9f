"""`kill -9` of a real live process carrying a swing account over three days (fake Breeze SDK).

Each trading day is its own process (``tests.fakes.live_account_day``: the production
``run_live`` on the production store, the broker a fake SDK whose account lives in a file).
Day 1 is killed with SIGKILL after the close; day 2 is killed mid-morning after its bar and
started again the same day; day 3 runs to its close. The run's orders and trades equal a paper
replay of the same bars, on SQLite and PostgreSQL, and the hash chain holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from applications.wiring.store import open_store
from tests.fakes.breeze_account import (CREDS, PersistentFakeBreezeSDK, book_orders, book_trades, new_account_sdk,
                                        paper_replay, scenario_prices)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'account.db'}"
    return request.getfixturevalue("pg_url")


def test_a_carried_swing_account_survives_kill_dash_9_after_the_close_and_mid_morning(db, tmp_path):
    paper = paper_replay()
    entry, stop, quantity = scenario_prices(paper)
    state = tmp_path / "state"
    state.mkdir()
    new_account_sdk(PersistentFakeBreezeSDK(CREDS["BREEZE_API_KEY"], state / "broker.json"), entry).save()
    env = dict(os.environ, SENSEQUANT_RUNS_DIR=str(tmp_path / "runs"))

    def day(name: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tests.fakes.live_account_day", db, str(state), name,
                               "--entry-price", f"{entry / 100:.2f}", "--stop-price", f"{stop / 100:.2f}", *extra],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)

    def night() -> None:
        PersistentFakeBreezeSDK(CREDS["BREEZE_API_KEY"], state / "broker.json").next_session()

    killed = day("day1", "--run-id", "S", "--die-at", "15:31")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    night()
    broker = PersistentFakeBreezeSDK(CREDS["BREEZE_API_KEY"], state / "broker.json")
    assert [h["quantity"] for h in broker.holdings] == [str(quantity)]      # the shares were bought

    killed = day("day2", "--resume", "S", "--die-at", "10:00")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = day("day2", "--resume", "S", "--start", "10:05")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout.strip().splitlines()[-1])
    assert result["status"] == "session_closed"
    assert result["reconciliation"]["swing"]["positions"] == {"TCS": quantity}
    broker = PersistentFakeBreezeSDK(CREDS["BREEZE_API_KEY"], state / "broker.json")
    stops = [o for o in broker.orders.values() if o["order_type"] == "Stoploss"]
    # day 2's stop was hit; one placed on day 1 (if the kill came after the legs went out) lapsed
    assert stops[-1]["status"] == "Executed" and all(o["status"] == "Expired" for o in stops[:-1])

    night()
    last = day("day3", "--resume", "S")
    assert last.returncode == 0, last.stderr
    assert json.loads(last.stdout.strip().splitlines()[-1])["reconciliation"]["swing"]["positions"] == {}
    store = open_store(db)
    try:
        assert book_trades(store, "S:swing") == book_trades(paper, "P:swing")
        assert book_orders(store, "S:swing") == book_orders(paper, "P:swing")
        assert store.verify("S").ok
        assert store.get_run("S").status == "session_closed"
    finally:
        store.close()
