"""Tamper evidence and one writer per run (issue 19): hash chain, runs-row seal, leases, crashed runs.

Every edit here is made the way an attacker or a careless operator would: behind the
store's back, with the append-only triggers dropped (SQLite) or bypassed with
``session_replication_role = replica`` (PostgreSQL, superuser).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.sql import open_sql_store
from applications.cli.main import cli
from core.errors import IntegrityViolationError, LeaseHeldError
from core.events.base import RunInfo, RunStatus
from tests.builders import build_tiny_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def flat(text: str) -> str:
    return " ".join(text.split())


def tiny(url: str) -> str:
    store = open_sql_store(url)
    try:
        return build_tiny_run(store)
    finally:
        store.close()


def behind_the_back(url: str, *statements: str) -> None:
    """Run SQL with the append-only protection switched off, as an attacker with DB access can."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                triggers = conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all()
                for name, _sql in triggers:
                    conn.exec_driver_sql(f"DROP TRIGGER {name}")
                for statement in statements:
                    conn.exec_driver_sql(statement)
                for _name, sql in triggers:
                    conn.exec_driver_sql(sql)
            else:
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                for statement in statements:
                    conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def snapshot_seq(url: str, run_id: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(
                f"SELECT min(seq) FROM events WHERE run_id = '{run_id}' AND type = 'portfolio.snapshotted'"
            ).scalar_one()
    finally:
        engine.dispose()


def test_an_intact_run_verifies(url):
    run_id = tiny(url)
    result = run("--db", url, "events", "verify", run_id, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["events_checked"] > 10 and report["problems"] == []
    assert run("--db", url, "events", "verify", "--all").exit_code == 0


def test_an_edited_snapshot_is_named_by_seq_and_refused_by_show_and_report(url, tmp_path):
    run_id = tiny(url)
    seq = snapshot_seq(url, run_id)
    before = json.loads(run("--db", url, "runs", "show", run_id, "--json").stdout)
    # +Rs 1,000,000 on the first snapshot's equity, the payload kept valid JSON.
    behind_the_back(url, "UPDATE events SET payload = replace(payload, '\"equity_paise\":', "
                         "'\"equity_paise\":100000000') WHERE seq = %d" % seq)
    verify = run("--db", url, "events", "verify", run_id, "--json")
    assert verify.exit_code == 1
    problems = json.loads(verify.stdout)["problems"]
    assert problems[0]["seq"] == seq and "edited" in problems[0]["reason"]
    shown = run("--db", url, "runs", "show", run_id)
    assert shown.exit_code != 0 and "IntegrityViolationError" in shown.stderr and f"seq {seq}" in flat(shown.stderr)
    assert before["books"], "the untouched run had books"
    # A writable --out (an impossible one is now refused while the options are read): the
    # refusal comes from the chain, and nothing is written there.
    out = tmp_path / "report"
    reported = run("--db", url, "report", run_id, "--out", str(out))
    assert reported.exit_code != 0 and "IntegrityViolationError" in reported.stderr
    assert "Traceback" not in reported.stderr
    assert not out.exists() or not any(out.iterdir()), "a report of a tampered run was written"


def test_an_edited_runs_row_a_deleted_event_and_a_deleted_runs_row_are_caught(url):
    run_id = tiny(url)
    behind_the_back(url, f"UPDATE runs SET label = 'looks fine' WHERE run_id = '{run_id}'")
    problems = json.loads(run("--db", url, "events", "verify", run_id, "--json").stdout)["problems"]
    assert problems and "runs row does not match" in problems[0]["reason"]

    other = tiny_second(url)
    last = sa.create_engine(url).connect().exec_driver_sql(
        f"SELECT max(seq) FROM events WHERE run_id = '{other}'").scalar_one()
    behind_the_back(url, f"DELETE FROM events WHERE seq = {last}")
    problems = json.loads(run("--db", url, "events", "verify", other, "--json").stdout)["problems"]
    assert problems[0]["seq"] == last and "missing" in problems[0]["reason"]

    behind_the_back(url, f"DELETE FROM runs WHERE run_id = '{other}'")
    result = run("--db", url, "events", "verify", "--all", "--json")
    assert result.exit_code == 1
    reasons = [p["reason"] for p in json.loads(result.stdout)["problems"] if p["run_id"] == other]
    assert any("runs row is missing" in r for r in reasons)


def tiny_second(url: str) -> str:
    store = open_sql_store(url)
    try:
        return build_tiny_run(store, run_id="run-tiny-0002")
    finally:
        store.close()


def test_the_database_refuses_to_delete_runs_rows(url):
    run_id = tiny(url)
    engine = sa.create_engine(url)
    try:
        with pytest.raises(sa.exc.DatabaseError, match="DELETE is not allowed|not allowed"), engine.begin() as conn:
            conn.exec_driver_sql(f"DELETE FROM runs WHERE run_id = '{run_id}'")
    finally:
        engine.dispose()


def test_events_inserted_without_a_hash_are_caught(url):
    run_id = tiny(url)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            cols = ("event_id, stream_id, stream_version, run_id, type, version, occurred_at, recorded_at, "
                    "correlation_id, causation_id, payload")
            seq = conn.exec_driver_sql("SELECT max(seq) FROM events").scalar_one()
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql(f"INSERT INTO events (seq, {cols}) SELECT {seq + 1}, randomblob(16), "
                                     f"stream_id, stream_version + 1000, {cols.split(', ', 3)[3]} FROM events "
                                     f"WHERE seq = {seq}")
            else:
                conn.exec_driver_sql(f"INSERT INTO events (seq, {cols}) SELECT {seq + 1}, gen_random_uuid(), "
                                     f"stream_id, stream_version + 1000, {cols.split(', ', 3)[3]} FROM events "
                                     f"WHERE seq = {seq}")
    finally:
        engine.dispose()
    problems = json.loads(run("--db", url, "events", "verify", run_id, "--json").stdout)["problems"]
    assert problems[0]["seq"] == seq + 1 and "no chain hash" in problems[0]["reason"]


def test_verify_needs_a_run_or_all_and_an_unknown_run_is_one_line(sqlite_url):
    tiny(sqlite_url)
    for args in ([], ["x", "--all"], [""]):
        result = run("--db", sqlite_url, "events", "verify", *args)
        assert result.exit_code == 2 and "Traceback" not in result.output + result.stderr
    result = run("--db", sqlite_url, "events", "verify", "nope")
    assert result.exit_code != 0 and "RunNotFoundError" in result.stderr


# -------------------------------------------------------------------------- leases


def _info(run_id: str) -> RunInfo:
    from datetime import datetime, timezone
    return RunInfo(run_id=run_id, mode="paper", config_hash="c", code_version="v", data_fingerprint="d",
                   started_at=datetime.now(timezone.utc))


def test_a_second_writer_of_a_live_run_is_refused_naming_the_holder(url):
    first, second = open_sql_store(url), open_sql_store(url)
    try:
        first.start_run(_info("leased"))
        with pytest.raises(LeaseHeldError, match=r"run leased is being written by .*:%d:" % os.getpid()):
            second.claim_run("leased")
        # The holder itself may re-claim (idempotent) and nothing was sealed.
        assert first.claim_run("leased").status == RunStatus.RUNNING
        assert second.seal_crashed_runs() == []
    finally:
        first.close()
        second.close()


LEASE_TTL_S = 1.0


@pytest.fixture
def hung_and_taker(url):
    """A writer with a 1 s lease (it will stop heartbeating) and a second process's store."""
    from adapters.sql import create_engine
    from adapters.sql.event_store import SqlEventStore
    open_sql_store(url).close()  # schema
    hung = SqlEventStore(create_engine(url), lease_ttl_s=LEASE_TTL_S)
    taker = open_sql_store(url)
    yield hung, taker
    hung.close()
    taker.close()


def _take_over_after_expiry(hung, take) -> float:
    """Stop ``hung``'s heartbeat, retry ``take()`` until the lease expires; the seconds waited.
    Then ``hung``'s next heartbeat finds the lease gone."""
    hung._heartbeat_stop.set()  # the process hangs: no more heartbeats
    started = time.monotonic()
    while True:
        try:
            take()
            break
        except LeaseHeldError:
            assert time.monotonic() - started < 10 * LEASE_TTL_S
            time.sleep(0.05)
    waited = time.monotonic() - started
    hung._heartbeat_stop.clear()
    hung._beat_once()
    return waited


def test_a_lease_whose_holder_stopped_heartbeating_is_taken_over_after_expiry(hung_and_taker):
    hung, taker = hung_and_taker
    hung.start_run(_info("hung"))
    waited = _take_over_after_expiry(hung, lambda: taker.claim_run("hung"))
    assert 0.5 * LEASE_TTL_S <= waited <= LEASE_TTL_S + 1.0
    # The hung writer cannot append any more once its heartbeat finds the lease gone.
    with pytest.raises(LeaseHeldError, match="lost the writer lease"):
        hung.append("hung:run", 0, [], run_id="hung")


def test_an_account_lease_is_taken_over_after_expiry_and_the_hung_trader_stops_writing(hung_and_taker):
    hung, taker = hung_and_taker
    hung.start_run(_info("trading"))
    hung.claim_account("breeze-0123456789abcdef", "trading")
    with pytest.raises(LeaseHeldError, match="broker account breeze-0123456789abcdef is being traded by"):
        taker.claim_account("breeze-0123456789abcdef", "intruder")
    assert taker.seal_crashed_runs() == []  # an account lease is no run: nothing to seal
    waited = _take_over_after_expiry(hung, lambda: taker.claim_account("breeze-0123456789abcdef", "intruder"))
    assert waited <= LEASE_TTL_S + 1.0
    # The hung trader's run may not write once its heartbeat finds the account taken over.
    with pytest.raises(LeaseHeldError, match="lost the writer lease"):
        hung.append("trading:run", 0, [], run_id="trading")


def test_a_killed_writer_leaves_a_run_that_the_next_open_seals_crashed(url, tmp_path):
    env = dict(os.environ, SENSEQUANT_RUNS_DIR=str(tmp_path / "runs"))
    env.pop("SENSEQUANT_DB_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "applications", "--db", url, "paper", "--start", "2024-01-01",
                             "--end", "2024-01-05", "--no-sentiment", "--replay-speed", "3000", "--json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        run_id = _wait_for_paper_run(url, proc)
        time.sleep(1.0)
        # While it lives, a second --resume is refused naming the holder.
        second = subprocess.run([sys.executable, "-m", "applications", "--db", url, "paper", "--resume", run_id,
                                 "--start", "2024-01-01", "--end", "2024-01-05", "--no-sentiment",
                                 "--replay-speed", "0"], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode != 0
        assert "LeaseHeldError" in second.stderr and f":{proc.pid}:" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
        assert proc.poll() is None, "the first session must still be trading"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    listed = json.loads(run("--db", url, "runs", "list", "--json").stdout)
    assert [r["status"] for r in listed if r["run_id"] == run_id] == [RunStatus.CRASHED]
    shown = run("--db", url, "runs", "show", run_id, "--json")
    assert shown.exit_code == 0, shown.stderr
    missing = json.loads(shown.stdout)["missing"]
    assert any("no run.completed" in m and "--resume" in m for m in missing), missing
    assert "warning" in run("--db", url, "runs", "show", run_id).stderr


def _wait_for_paper_run(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()
        try:
            store = open_sql_store(url)
        except Exception:  # noqa: BLE001 - the file may not exist yet
            time.sleep(0.1)
            continue
        try:
            runs = store.list_runs(mode="paper")
            if runs and store.read_all(0, 50, run_id=runs[0].run_id):
                return runs[0].run_id
        finally:
            store.close()
        time.sleep(0.1)
    raise AssertionError("the paper session did not start")


def test_resume_refuses_a_tampered_run(sqlite_url):
    from applications.roots.paper import PaperOptions, run_paper
    from applications.services.books import BacktestConfig, SentimentSettings
    from tests.fakes.crashing_clock import CrashingClock, SimulatedCrash
    store = open_sql_store(sqlite_url)
    config = BacktestConfig(strategy="intraday", start="2024-01-01", end="2024-01-03",
                            sentiment=SentimentSettings(enabled=False))
    try:
        with pytest.raises(SimulatedCrash):
            run_paper(config, store=store, sentiment=None, clock=CrashingClock(crash_at=200), run_id="tampered",
                      options=PaperOptions(replay_speed=1000))
    finally:
        store.close()
    behind_the_back(sqlite_url, "UPDATE events SET payload = replace(payload, '\"seed\":', '\"seed\":1') "
                                "WHERE stream_id = 'tampered:run' AND stream_version = 1")
    store = open_sql_store(sqlite_url)
    try:
        with pytest.raises(IntegrityViolationError, match="refusing to resume: run tampered, seq 1"):
            run_paper(config, store=store, sentiment=None, clock=CrashingClock(), resume="tampered",
                      options=PaperOptions(replay_speed=0))
    finally:
        store.close()


def test_upgrading_a_store_with_events_hashes_them_so_it_verifies(url):
    from adapters.sql import downgrade, upgrade
    run_id = tiny(url)
    downgrade(url, "0002")
    upgrade(url)
    result = run("--db", url, "events", "verify", run_id, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["events_checked"] > 10
