"""`sensequant db upgrade / downgrade / current` and the out-of-date refusal, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from applications.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def flat(text: str) -> str:
    return " ".join(text.split())  # undo terminal wrapping


@pytest.fixture(params=["sqlite", "postgres"])
def url(request) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def test_db_lifecycle(url, tmp_path):
    state = json.loads(run("--db", url, "db", "current", "--json").output)
    assert (state["current"], state["status"]) == (None, "empty")
    head = state["head"]

    result = run("db", "upgrade", "0001", "--db", url)
    assert result.exit_code == 0, result.output
    assert "upgraded empty -> 0001 (out of date)" in flat(result.output)

    # The application refuses an out-of-date schema and names the fix.
    refused = run("--db", url, "runs", "list")
    assert refused.exit_code != 0
    assert "SchemaOutOfDateError" in flat(refused.output)
    assert "run `sensequant db upgrade --db" in flat(refused.output)

    upgraded = json.loads(run("--db", url, "db", "upgrade", "--json").output)
    assert (upgraded["previous"], upgraded["current"], upgraded["status"]) == ("0001", head, "up to date")
    assert run("--db", url, "runs", "list", "--json").output.strip() == "[]"
    assert "up to date" in flat(run("db", "current", "--db", url).output)

    down = json.loads(run("--db", url, "db", "downgrade", "base", "--yes-i-understand-this-deletes-events",
                          "--backup-dir", str(tmp_path), "--json").output)
    assert (down["previous"], down["current"]) == (head, None)


def test_fresh_database_is_created_at_head_by_a_writing_command_never_by_a_read(sqlite_url):
    refused = run("--db", sqlite_url, "runs", "list", "--json")
    assert refused.exit_code == 2 and "no event store at" in flat(refused.output)
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()
    assert run("--db", sqlite_url, "db", "upgrade").exit_code == 0
    assert run("--db", sqlite_url, "runs", "list", "--json").output.strip() == "[]"
    state = json.loads(run("--db", sqlite_url, "db", "current", "--json").output)
    assert state["status"] == "up to date"


def test_unknown_revision_and_memory_url_are_clear_errors(sqlite_url):
    result = run("--db", sqlite_url, "db", "downgrade", "0099")
    assert result.exit_code != 0 and "0099" in flat(result.output)
    result = run("--db", "memory://", "db", "current")
    assert result.exit_code != 0 and "memory:// has no schema" in flat(result.output)


def test_help():
    for args in (["db", "--help"], ["db", "upgrade", "--help"], ["db", "downgrade", "--help"],
                 ["db", "current", "--help"]):
        result = run(*args)
        assert result.exit_code == 0 and "Usage:" in result.output


def _store_with_events(url: str) -> int:
    """A store holding one small run: returns its event count."""
    from adapters.sql import open_sql_store
    from tests.builders import build_tiny_run
    store = open_sql_store(url)
    try:
        build_tiny_run(store)
        return store.last_seq()
    finally:
        store.close()


def test_downgrade_to_base_refuses_without_confirmation_and_deletes_nothing(url, tmp_path):
    count = _store_with_events(url)
    result = run("--db", url, "db", "downgrade", "base", "--backup-dir", str(tmp_path / "bk"))
    assert result.exit_code != 0
    text = flat(result.output)
    assert "DestructiveActionRefusedError" in text and f"{count:,} events of 1 runs are lost" in text
    assert "--yes-i-understand-this-deletes-events" in text and "nothing was changed" in text
    assert not (tmp_path / "bk").exists()
    assert json.loads(run("--db", url, "runs", "list", "--json").output)[0]["status"] == "completed"


def test_confirmed_downgrade_to_base_writes_a_backup_first_and_says_what_is_lost(url, tmp_path):
    count = _store_with_events(url)
    result = run("--db", url, "db", "downgrade", "base", "--yes-i-understand-this-deletes-events",
                 "--backup-dir", str(tmp_path / "bk"))
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "DELETES the events and runs tables" in text and "recreates EMPTY tables" in text
    assert "goes back" not in text
    backups = list((tmp_path / "bk").iterdir())
    assert len(backups) == 1 and backups[0].name in result.output.replace("\n", "")
    if url.startswith("sqlite"):
        import sqlite3
        with sqlite3.connect(backups[0]) as conn:
            assert conn.execute("select count(*) from events").fetchone()[0] == count
    else:
        lines = [json.loads(line) for line in backups[0].read_text(encoding="utf-8").splitlines()]
        assert sum(1 for line in lines if line["table"] == "events") == count
        assert sum(1 for line in lines if line["table"] == "runs") == 1


def test_documented_one_step_downgrade_works_and_keeps_events(url):
    count = _store_with_events(url)
    head = json.loads(run("--db", url, "db", "current", "--json").output)["head"]
    result = run("--db", url, "db", "downgrade", "-1", "--json")
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)
    assert state["previous"] == head and state["current"] != head and state["deleted_events"] == 0
    assert run("--db", url, "db", "upgrade").exit_code == 0
    assert count == _event_count(url)


def _event_count(url: str) -> int:
    from adapters.sql import open_sql_store
    store = open_sql_store(url)
    try:
        return store.last_seq()
    finally:
        store.close()


def test_downgrade_guard_also_holds_in_the_library(sqlite_url):
    from adapters.sql import downgrade
    from core.errors import DestructiveActionRefusedError
    _store_with_events(sqlite_url)
    with pytest.raises(DestructiveActionRefusedError):
        downgrade(sqlite_url, "base")
