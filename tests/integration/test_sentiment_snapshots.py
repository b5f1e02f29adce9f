"""Sentiment snapshot files (spec 002 §13): `sensequant data sentiment-snapshot` writes them,
and a backtest reads them point in time."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from adapters.memory import InMemoryEventStore
from adapters.sentiment import HeadlinesSentimentProvider, SnapshotSentimentProvider, read_snapshot
from adapters.sentiment.snapshots import end_of_day
from applications.analytics import load_run
from applications.cli.main import cli
from applications.services.backtest import run_backtest
from applications.services.books import BacktestConfig, SentimentSettings
from applications.wiring.store import project_root
from core.errors import DataError

IST = timezone(timedelta(hours=5, minutes=30))
DAYS = ("2018-03-01", "2018-03-10")


def _snap(*args: str, env: dict | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["data", "sentiment-snapshot", *args], env=env or {})
    # stdout only when it succeeded: stderr is the process's, and another test's server thread
    # in this worker may write to it (click's ``output`` interleaves both)
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    root = tmp_path_factory.mktemp("sentiment")
    code, out = _snap("RELIANCE,SBIN,TCS", "--date", DAYS[0], "--end", DAYS[1], "--out", str(root), "--json")
    assert code == 0, out
    return root, json.loads(out)


def test_snapshot_files_follow_the_spec(snapshots):
    root, doc = snapshots
    written = [r for r in doc["results"] if r["status"] == "written"]
    assert {r["symbol"] for r in written} == {"RELIANCE", "SBIN"} and len(written) >= 15
    # no licensed headlines exist for TCS: no file, never a made-up neutral score
    assert all(r["status"] == "no_data" for r in doc["results"] if r["symbol"] == "TCS")
    assert not (root / "TCS").exists()
    path = root / "RELIANCE" / "2018-03-01.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert set(record) == {"symbol", "date", "timestamp", "score", "confidence", "providers", "metadata"}
    assert (record["symbol"], record["date"], record["providers"]) == ("RELIANCE", "2018-03-01", ["headlines"])
    assert -1 <= record["score"] <= 1 and 0 <= record["confidence"] <= 1
    assert datetime.fromisoformat(record["timestamp"]).tzinfo is not None
    assert record["metadata"]["article_count"] > 0 and record["metadata"]["lookback_days"] == 3
    # the score is the headline provider's at the end of the day, nothing later
    headlines = HeadlinesSentimentProvider(project_root() / "data" / "news", lookback=timedelta(days=3))
    reading = headlines.score("RELIANCE", end_of_day(date(2018, 3, 1)))
    assert record["score"] == pytest.approx(reading.score, abs=1e-6)
    assert record["metadata"]["as_of"] == end_of_day(date(2018, 3, 1)).isoformat()


def test_existing_files_are_kept_unless_forced_and_a_dry_run_writes_nothing(snapshots, tmp_path):
    root, _ = snapshots
    path = root / "SBIN" / "2018-03-02.jsonl"
    before = path.read_text()
    code, out = _snap("SBIN", "--date", "2018-03-02", "--out", str(root), "--json")
    assert code == 0 and json.loads(out)["results"][0]["status"] == "skipped" and path.read_text() == before
    code, out = _snap("SBIN", "--date", "2018-03-02", "--out", str(root), "--force", "--json")
    assert code == 0 and json.loads(out)["results"][0]["status"] == "written"
    assert json.loads(path.read_text())["score"] == json.loads(before)["score"]  # same inputs, same score
    dry = tmp_path / "dry"
    code, out = _snap("RELIANCE", "--date", "2018-03-02", "--out", str(dry), "--dry-run", "--json")
    assert code == 0 and json.loads(out)["results"][0]["status"] == "would_write" and not dry.exists()
    code, out = _snap("RELIANCE", "--date", "2018-03-02", "--source", "newsapi", "--dry-run", "--out", str(dry),
                      "--json")
    assert code == 0 and json.loads(out)["provider"].startswith("stub") and not dry.exists()  # no network


def test_errors_are_one_clear_line(tmp_path):
    code, out = _snap("RELIANCE", "--date", "2018-03-02", "--source", "newsapi", "--out", str(tmp_path),
                      env={"SENTIMENT_NEWSAPI_API_KEY": ""})
    assert code != 0 and "SENTIMENT_NEWSAPI_API_KEY" in out and "Traceback" not in out
    code, out = _snap("RELIANCE", "--date", "2018-13-02")
    assert code != 0 and "YYYY-MM-DD" in out
    code, out = _snap("RELIANCE", "--date", "2018-03-02", "--end", "2018-03-01", "--out", str(tmp_path))
    assert code != 0 and "before" in out
    bad = tmp_path / "RELIANCE"
    bad.mkdir()
    (bad / "2018-03-01.jsonl").write_text('{"symbol": "RELIANCE", "date": "2018-03-01", "score": 3}\n')
    with pytest.raises(DataError, match="lacks"):
        read_snapshot(bad / "2018-03-01.jsonl")


def test_the_provider_is_point_in_time(snapshots):
    root, _ = snapshots
    provider = SnapshotSentimentProvider(root, max_age_days=3)
    first = json.loads((root / "RELIANCE" / "2018-03-01.jsonl").read_text())
    second = json.loads((root / "RELIANCE" / "2018-03-02.jsonl").read_text())
    during_the_day = datetime(2018, 3, 2, 10, 0, tzinfo=IST)
    reading = provider.score("RELIANCE", during_the_day)
    assert reading.score == first["score"] and reading.as_of == end_of_day(date(2018, 3, 1))  # not the 2nd's
    assert provider.score("RELIANCE", datetime(2018, 3, 3, 0, 0, tzinfo=IST)).score == second["score"]
    assert provider.score("RELIANCE", datetime(2018, 3, 1, 15, 0, tzinfo=IST)) is None  # nothing before
    assert provider.score("RELIANCE", datetime(2018, 3, 20, 10, 0, tzinfo=IST)) is None  # too old (> 3 days)
    assert provider.score("TCS", during_the_day) is None


def test_a_backtest_gates_on_snapshots(snapshots):
    root, _ = snapshots
    config = BacktestConfig(strategy="swing", start="2018-01-01", end="2018-03-10",
                            sentiment=SentimentSettings(source="snapshots", snapshot_dir=str(root)))
    store = InMemoryEventStore()
    run = load_run(store, run_backtest(config, store=store).run_id)
    scored = run.sentiment
    assert len(scored) > 0 and set(scored["provider"]) == {"snapshots:headlines"}
    assert set(scored["symbol"]) <= {"RELIANCE", "SBIN"}
    for rec in scored.to_dict("records"):
        day = rec["as_of"].astimezone(IST).date() - timedelta(days=1)  # as_of = end of the snapshot's day
        assert rec["score"] == json.loads((root / rec["symbol"] / f"{day}.jsonl").read_text())["score"]
        assert rec["occurred_at"] >= rec["as_of"]  # used only once the day is over
    with pytest.raises(Exception, match="snapshot_dir"):
        run_backtest(BacktestConfig(strategy="swing", sentiment=SentimentSettings(
            source="snapshots", snapshot_dir=str(root / "missing"))), store=InMemoryEventStore())
