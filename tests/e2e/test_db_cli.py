"""`sensequant db upgrade / downgrade / current` and the out-of-date refusal, as a user runs them."""

from __future__ import annotations

import json

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


def test_db_lifecycle(url):
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

    down = json.loads(run("--db", url, "db", "downgrade", "base", "--json").output)
    assert (down["previous"], down["current"]) == (head, None)


def test_fresh_database_is_created_at_head_by_any_command(sqlite_url):
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
