"""`sensequant optimize` as a user runs it: a small grid on the shipped swing data on a real
local Dask cluster (one worker process), artifacts that `backtest --config` accepts, and
one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from applications.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not list((ROOT / "data" / "market").glob("*_1day.csv*")),
                                reason="no shipped daily bars in data/market")

SPACE = """
[backtest]
start = "2019-01-01"
end = "2019-12-31"
sentiment = { enabled = false }

[constraints]
min_trades = 2

[params.rsi_entry_max]
type = "float"
low = 30.0
high = 40.0
step = 10.0
"""


def flat(result) -> str:
    return " ".join(result.output.split())


def test_a_grid_study_writes_artifacts_that_backtest_accepts(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    db = f"sqlite:///{tmp_path / 'events.db'}"
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["--db", db, "optimize", "--strategy", "swing", "--space", str(space),
                                      "--sampler", "grid", "--symbols", "TCS,INFY", "--workers", "1",
                                      "--study", "e2e", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["study"] == "e2e" and doc["trials"] == 3 and doc["complete"] == 3   # baseline + 2 grid points
    assert doc["baseline_metrics"]["trades"] >= 0 and doc["best_params"]
    for name in ("configs.json", "ranked_results.csv", "baseline_metrics.json", "accuracy_report.md",
                 "best_config.toml", "deployment_plan.md", "deployment_plan.json", "optimization_history.png"):
        assert (out / name).is_file(), name
    plan = json.loads((out / "deployment_plan.json").read_text())
    assert plan["threshold_share"] == 0.8 and [p["name"] for p in plan["phases"]] == ["paper", "live-small", "live-full"]
    again = CliRunner().invoke(cli, ["--db", db, "backtest", "--config", str(out / "best_config.toml"), "--json"])
    assert again.exit_code == 0, again.output
    books = json.loads(again.output)["books"]
    assert [b["strategy"] for b in books] == ["swing"]
    assert books[0]["trades"] == doc["best_metrics"]["trades"]   # the same configuration, the same trades


@pytest.mark.parametrize("args,message", [
    (["--space", "missing.toml"], "search space file missing.toml does not exist"),
    (["--resume"], "--resume needs the --study NAME"),
    (["--objective", "sharpe,bogus"], "objective 'bogus' is unknown"),
    (["--walk-forward", "24"], "must be TRAIN_MONTHS:TEST_MONTHS"),
])
def test_errors_are_one_line(tmp_path, args, message):
    base = ["--db", f"sqlite:///{tmp_path / 'e.db'}", "optimize", "--strategy", "swing",
            "--space", str(ROOT / "data" / "optimize" / "swing.toml")]
    result = CliRunner().invoke(cli, base + args)
    assert result.exit_code != 0
    assert message in flat(result)
    assert "Traceback" not in result.output


def test_a_bad_space_key_is_named(tmp_path):
    space = tmp_path / "bad.toml"
    space.write_text("[params.sma_fastest]\ntype = 'int'\nlow = 1\nhigh = 5\n")
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'e.db'}", "optimize", "--strategy", "swing",
                                      "--space", str(space)])
    assert result.exit_code != 0 and "params.sma_fastest: no config field 'swing.strategy.sma_fastest'" in flat(result)


def test_help_lists_the_options():
    result = CliRunner().invoke(cli, ["optimize", "--help"])
    assert result.exit_code == 0
    for option in ("--space", "--sampler", "--trials", "--objective", "--walk-forward", "--workers", "--scheduler",
                   "--study", "--resume", "--out", "--json"):
        assert option in result.output


def test_backtest_workers_runs_one_backtest_per_symbol_on_the_cluster(tmp_path):
    db = f"sqlite:///{tmp_path / 'events.db'}"
    common = ["--strategy", "swing", "--start", "2019-01-01", "--end", "2019-12-31", "--no-sentiment", "--json"]
    result = CliRunner().invoke(cli, ["--db", db, "backtest", *common, "--symbols", "TCS,INFY", "--workers", "2"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [r["symbol"] for r in doc["runs"]] == ["TCS", "INFY"]
    # The same backtest as running each symbol alone.
    alone = CliRunner().invoke(cli, ["--db", db, "backtest", *common, "--symbols", "INFY"])
    assert alone.exit_code == 0, alone.output
    assert json.loads(alone.output)["books"][0]["trades"] == doc["runs"][1]["trades"]
    both = CliRunner().invoke(cli, ["--db", db, "backtest", "--workers", "1", "--json"])
    assert both.exit_code != 0 and "runs one book: pass --strategy intraday or swing" in flat(both)
