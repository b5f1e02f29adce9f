"""A consumer that knows only specs 003 and 004 reads a shipped run's exports.

One real backtest of the shipped data (both books) runs through the CLI; its bundle and
trades table are exported through the CLI and read by ``spec_consumer.py`` in a separate
process that imports nothing from SenseQuant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = Path(__file__).with_name("spec_consumer.py")


def _cli(db: str, env: dict, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "applications", "--db", db, *args, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def shipped_exports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("consumer")
    db = f"sqlite:///{tmp / 'events.db'}"
    env = {**os.environ, "SENSEQUANT_RUNS_DIR": str(tmp / "runs"), "PYTHONHASHSEED": "0"}
    summary = _cli(db, env, "backtest", "--no-sentiment")
    out = tmp / "export"
    _cli(db, env, "runs", "export", summary["run_id"], "--format", "bundle", "--format", "trades",
         "--format", "execution", "--out", str(out))
    return summary, out


def test_the_spec_consumer_reads_a_shipped_runs_exports(shipped_exports):
    summary, out = shipped_exports
    proc = subprocess.run([sys.executable, str(CONSUMER), str(out)], cwd=out, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    books = summary["books"]
    bundle, trades = doc["003"], doc["004"]
    assert bundle["trading_days"] == sum(b["sessions"] for b in books)  # the two books trade disjoint periods
    assert bundle["final_value"] * 100 == pytest.approx(sum(b["final_equity_paise"] for b in books), abs=0.5)
    assert bundle["experts"] == ["model", "sentiment", "technical"]
    assert bundle["decisions"]["BUY"] > 0 and bundle["decisions"]["SELL"] > 0
    assert trades["trades"] == sum(b["trades"] for b in books)
    assert trades["with_market_context"] == trades["trades"]  # the shipped NIFTY 50 closes cover both books
    assert trades["context_keys"] == ["nifty50_age_days", "nifty50_close", "nifty50_realized_vol_20d",
                                      "nifty50_return_1d", "nifty50_return_5d"]


def test_the_consumer_rejects_a_bundle_that_breaks_the_spec(shipped_exports, tmp_path):
    _, out = shipped_exports
    broken = tmp_path / "broken"
    broken.mkdir()
    for p in out.iterdir():
        (broken / p.name).write_bytes(p.read_bytes())
    trades = json.loads((broken / "trades.json").read_text())
    trades[0]["total_cost"] += 5.0
    (broken / "trades.json").write_text(json.dumps(trades))
    proc = subprocess.run([sys.executable, str(CONSUMER), str(broken)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "total_cost" in proc.stderr


def test_execution_quality_export_of_the_shipped_run(shipped_exports):
    _, out = shipped_exports
    summary = json.loads((out / "execution_summary.json").read_text())
    overall = summary["overall"]
    assert overall["fills"] == overall["fills_with_decision_price"] > 0  # every v2 order records its decision price
    assert set(summary["by_strategy"]) == {"intraday", "swing"}
    assert set(summary["by_strategy"]["intraday"]["by_symbol"]) == {"TCS"}
    # intraday market orders fill at the next minute's open plus the simulated 2 bps: the median is near 2 bps
    market = summary["by_strategy"]["intraday"]["by_fill_reason"]["market"]
    assert 0.0 < market["slippage_bps_mean"] < 5.0
    assert overall["fees"] == pytest.approx(sum(overall["fees_by_component"].values()), abs=0.05)
    header = (out / "execution.csv").read_text().splitlines()[0].split(",")
    for col in ("decision_price", "fill_price", "slippage_bps", "slippage", "fee_stt_paise", "fee_gst_paise"):
        assert col in header
