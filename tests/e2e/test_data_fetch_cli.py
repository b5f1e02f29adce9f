"""`sensequant data fetch --source breeze` against the fake Breeze SDK: chunks, interruption, resume, validation."""

from __future__ import annotations

import csv
import json
from datetime import datetime

import pytest
from click.testing import CliRunner

import adapters.breeze.session as breeze_session
from applications.cli.main import cli
from tests.fakes.breeze_sdk import FakeBreezeSDK, minute_candles

CREDS = {"BREEZE_API_KEY": "key-abc", "BREEZE_API_SECRET": "secret-xyz", "BREEZE_SESSION_TOKEN": "token-123"}
DAYS = [datetime(2025, 6, d) for d in (2, 3, 4, 5, 6)]


@pytest.fixture()
def sdk(monkeypatch):
    fake = FakeBreezeSDK(CREDS["BREEZE_API_KEY"])
    for day in DAYS:
        fake.add_candles("TCS", "1minute", minute_candles(day, code="TCS", start_price=3800.0))
    for name, value in CREDS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(breeze_session, "default_sdk_factory", lambda _key: fake)
    return fake


def fetch(cache, *extra):
    return CliRunner().invoke(cli, ["data", "fetch", "TCS", "--start", "2025-06-02", "--end", "2025-06-06",
                                    "--cache-dir", str(cache), *extra])


def cached_starts(cache) -> list[str]:
    rows = []
    for file in sorted((cache / "TCS" / "1minute").glob("*.csv")):
        with file.open() as fh:
            rows += [r["timestamp"] for r in csv.DictReader(fh)]
    return rows


def test_fetch_resumes_after_an_interruption_without_duplicates_and_data_validate_accepts_it(sdk, tmp_path):
    cache = tmp_path / "cache"
    dry = fetch(cache, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["chunks"] == 3 and sdk.count("get_historical_data_v2") == 0
    # the second request dies (Ctrl-C / a crash): the first chunk is already in the cache
    sdk.fail_next("get_historical_data_v2", None, KeyboardInterrupt())
    interrupted = fetch(cache, "--json")
    assert interrupted.exit_code != 0
    assert len(cached_starts(cache)) == 2 * 375
    asked = sdk.count("get_historical_data_v2")
    done = fetch(cache, "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["complete"] and summary["chunks_planned"] == 2 and summary["bars"] == {"TCS": 3 * 375}
    assert sdk.count("get_historical_data_v2") - asked == 2  # only what was missing
    starts = cached_starts(cache)
    assert len(starts) == len(set(starts)) == 5 * 375
    again = fetch(cache, "--json")
    assert again.exit_code == 0 and json.loads(again.output)["chunks_planned"] == 0
    assert json.loads(again.output)["already_cached"] == ["TCS"]
    validated = CliRunner().invoke(cli, ["data", "validate", str(cache), "--json"])
    assert validated.exit_code == 0, validated.output
    report = json.loads(validated.output)
    assert report["ok"] and len(report["files"]) == 3


def test_fetch_stops_at_the_request_budget_and_says_how_to_continue(sdk, tmp_path):
    result = fetch(tmp_path / "cache", "--max-requests", "1")
    assert result.exit_code == 1
    assert "request budget of 1 reached" in result.output
    assert len(cached_starts(tmp_path / "cache")) == 2 * 375


def test_a_backtest_reads_the_fetched_cache_with_data_source_hybrid(sdk, tmp_path, monkeypatch):
    monkeypatch.setenv("SENSEQUANT_RUNS_DIR", str(tmp_path / "runs"))
    cache = tmp_path / "cache"
    assert fetch(cache).exit_code == 0
    asked = sdk.count("get_historical_data_v2")
    db = f"sqlite:///{tmp_path / 'bt.db'}"
    result = CliRunner().invoke(cli, ["--db", db, "backtest", "--strategy", "intraday", "--symbols", "TCS",
                                      "--start", "2025-06-02", "--end", "2025-06-06", "--no-sentiment",
                                      "--data-source", "hybrid", "--cache-dir", str(cache), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["bars"] == 5 * 375
    assert sdk.count("get_historical_data_v2") == asked  # everything came from the cache
    # a corrupted cache file is refused before use, with the file named
    victim = sorted((cache / "TCS" / "1minute").glob("*.csv"))[0]
    victim.write_text(victim.read_text().replace("3800", "-3800", 1))
    bad = CliRunner().invoke(cli, ["--db", db, "backtest", "--strategy", "intraday", "--symbols", "TCS",
                                   "--start", "2025-06-02", "--end", "2025-06-06", "--no-sentiment",
                                   "--data-source", "hybrid", "--cache-dir", str(cache), "--json"])
    assert bad.exit_code != 0 and victim.name in bad.output


def test_auto_is_hybrid_with_credentials_and_csv_without(sdk, tmp_path, monkeypatch):
    import applications.wiring.breeze as breeze_wiring
    from applications.wiring.feeds import select_feed
    from core.model import Interval

    monkeypatch.setattr(breeze_wiring, "project_root", lambda: tmp_path)  # no .env there
    feed, note = select_feed("auto", csv_feed=lambda: "the csv feed", symbols=["TCS"],
                             intervals=[Interval.MINUTE_1], cache_dir=tmp_path / "cache")
    assert note.startswith("data source: hybrid") and type(feed).__name__ == "HybridFeed"
    for name in CREDS:
        monkeypatch.delenv(name)
    feed, note = select_feed("auto", csv_feed=lambda: "the csv feed", symbols=["TCS"])
    assert feed == "the csv feed" and "no BREEZE_* credentials" in note
