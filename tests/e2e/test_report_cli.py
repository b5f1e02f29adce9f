"""`sensequant report` and `sensequant runs export` as a user runs them.

One module-scoped real backtest of the shipped data (both books) runs through the CLI
in a subprocess; report and exports run over it and over builder-made runs in SQLite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from applications.analytics.exports.traces import load_traces
from applications.analytics.exports.bundle import read_bundle
from applications.analytics.exports.trades import read_trades_parquet
from applications.cli.main import cli
from applications.wiring.store import open_store
from tests.builders import build_realistic_run, build_tiny_run

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def _invoke(db: str, *args: str, runs_dir: Path) -> str:
    result = CliRunner().invoke(cli, ["--db", db, *args], env={"SENSEQUANT_RUNS_DIR": str(runs_dir)},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def built_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("built") / "events.db"
    store = open_store(f"sqlite:///{path}")
    build_tiny_run(store)
    build_realistic_run(store, model_contributions=True)
    store.close()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory):
    """A real backtest of the shipped data (intraday TCS 1-minute + swing daily)."""
    tmp = tmp_path_factory.mktemp("shipped")
    db = f"sqlite:///{tmp / 'events.db'}"
    env = {**os.environ, "SENSEQUANT_RUNS_DIR": str(tmp / "runs"), "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, "-m", "applications", "--db", db, "backtest", "--no-sentiment", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return db, json.loads(proc.stdout), tmp


def test_report_on_a_builder_run(built_db, tmp_path):
    out = tmp_path / "report"
    text = _invoke(built_db, "report", "run-real", "--compare", "run-tiny", "--out", str(out), runs_dir=tmp_path)
    for heading in ("Accuracy of run run-real-0001", "Classification", "Confusion matrix", "Intraday vs swing",
                    "This run minus run run-tiny-0001", "Worst trades by dominant feature", "Wrote"):
        assert heading in text
    doc = json.loads((out / "accuracy_metrics.json").read_text())
    assert doc["total_traces"] == 106 and set(doc["by_strategy"]) == {"intraday", "swing"}
    assert doc["comparison"]["comparison"]["better_strategy"] in ("intraday", "swing", "tie")
    assert doc["compare"]["run_ids"] == ["run-tiny-0001"] and doc["attribution"]
    for name in ("confusion_matrix.png", "confusion_matrix_intraday.png", "confusion_matrix_swing.png",
                 "return_distribution.png", "cumulative_returns.png", "drawdown.png", "strategy_comparison.png"):
        assert (out / name).read_bytes()[:8] == PNG, name

    as_json = json.loads(_invoke(built_db, "report", "run-tiny", "--strategy", "swing", "--no-plots", "--json",
                                 "--out", str(tmp_path / "swing"), runs_dir=tmp_path))
    assert as_json["total_traces"] == 2 and "comparison" not in as_json
    assert as_json["overall"]["win_rate"] == pytest.approx(0.5)
    assert list(as_json["portfolio"]["run-tiny-0001"]) == ["swing"]
    assert sorted(p.name for p in (tmp_path / "swing").iterdir()) == ["accuracy_metrics.json"]


def test_report_as_one_self_contained_html_file(built_db, tmp_path):
    from applications.analytics.html_report import external_references

    doc = json.loads(_invoke(built_db, "report", "run-real", "--format", "html", "--no-plots", "--json",
                             "--out", str(tmp_path / "html"), runs_dir=tmp_path))
    page = Path(doc["html_report"])
    assert page.name == "report_run-real-0001.html" and page.parent == tmp_path / "html"
    html = page.read_text(encoding="utf-8")
    assert "run-real-0001" in html and "data:image/png;base64," in html  # executed: plots inline
    assert external_references(html) == [] and '<script src=""' not in html  # opens offline


def test_html_report_of_a_run_the_notebook_cannot_read_is_one_clear_error(built_db, tmp_path):
    from applications.analytics.html_report import render_report_html
    from core.errors import DataError

    with pytest.raises(DataError, match="notebook"):
        render_report_html(built_db, "no-such-run", tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_report_errors_are_one_clear_line(built_db, tmp_path):
    result = CliRunner().invoke(cli, ["--db", built_db, "report", "nope"], env={"SENSEQUANT_RUNS_DIR": str(tmp_path)})
    assert result.exit_code != 0 and "RunNotFoundError" in result.output and "Traceback" not in result.output


def test_export_every_format_on_a_builder_run(built_db, tmp_path):
    out = tmp_path / "exp"
    doc = json.loads(_invoke(built_db, "runs", "export", "run-real", "--format", "traces", "--format", "bundle",
                             "--format", "trades", "--compress", "--max-file-mb", "0.005", "--worst", "5",
                             "--out", str(out), "--json", runs_dir=tmp_path))
    assert doc["traces"] == 106 and doc["trades"] == 106 and len(doc["worst_trades"]) == 5
    traces = sorted(out.glob("predictions_*.csv.gz"))
    assert len(traces) > 1 and len(load_traces(out)) == 106
    # traces and trades carry the NIFTY 50 regime known at each entry (spec 004 context)
    assert all("nifty50_realized_vol_20d" in c for c in load_traces(out)["context"])
    assert all("nifty50_close" in c for c in read_trades_parquet(out / "trades.parquet")["context"])
    bundle = read_bundle(out)
    assert sum(t["position_effect"] == "close" for t in bundle["trades.json"]) == 106
    assert len(read_trades_parquet(out / "trades.parquet")) == 106
    assert doc["attribution"] and all(p["description"] for p in doc["attribution"])


def test_report_and_exports_on_the_shipped_data(shipped_run, tmp_path):
    db, summary, tmp = shipped_run
    run_id = summary["run_id"]
    books = {b["strategy"]: b for b in summary["books"]}
    doc = json.loads(_invoke(db, "report", run_id, "--json", "--out", str(tmp_path / "report"), runs_dir=tmp))
    # the analytics, computed from the events, agree with the engine's own run summary
    assert doc["total_traces"] == sum(b["traces"] for b in books.values())
    for name, book in books.items():
        pm = doc["portfolio"][run_id][name]
        assert pm["total_trades"] == book["trades"]
        assert pm["final_value_paise"] == book["final_equity_paise"]
        assert pm["total_return"] * 100 == pytest.approx(book["total_return_pct"], abs=1e-9)
        assert pm["sharpe_ratio"] == pytest.approx(book["sharpe"], rel=1e-9, abs=1e-9)
        assert pm["sortino_ratio"] == pytest.approx(book["sortino"], rel=1e-9, abs=1e-9)
        assert -pm["max_drawdown"] * 100 == pytest.approx(book["max_drawdown_pct"], abs=1e-9)
        assert pm["win_rate"] * 100 == pytest.approx(book["win_rate_pct"])
        assert pm["profit_factor"] == pytest.approx(book["profit_factor"])
        assert pm["avg_hold_time"] == pytest.approx(book["average_hold_minutes"])
        assert doc["by_strategy"][name]["total_trades"] == book["traces"]
    assert (tmp_path / "report" / "strategy_comparison.png").read_bytes()[:8] == PNG
    # per-trade and portfolio drawdowns side by side, each named for what it is
    for name, book in books.items():
        scopes = doc["drawdown_scopes"][name]
        assert scopes["portfolio_daily_equity_max_drawdown"] * 100 == pytest.approx(book["max_drawdown_pct"], abs=1e-9)
        assert scopes["per_trade_compounded_max_drawdown"] == doc["by_strategy"][name]["max_drawdown"]
    assert "PER-TRADE" in doc["definitions"]["max_drawdown"]
    assert doc["execution"]["overall"]["fills"] == doc["execution"]["overall"]["fills_with_decision_price"] > 0
    text = _invoke(db, "report", run_id, "--no-plots", "--out", str(tmp_path / "text"), runs_dir=tmp)
    for heading in ("PER-TRADE figures", "PORTFOLIO figures", "Drawdown, both scopes", "Execution quality"):
        assert heading in text

    out = tmp_path / "export"
    exported = json.loads(_invoke(db, "runs", "export", run_id[:8], "--format", "bundle", "--format", "traces",
                                  "--format", "trades", "--out", str(out), "--json", runs_dir=tmp))
    bundle = read_bundle(out)
    daily = bundle["portfolio_daily.json"]
    sessions = sum(b["sessions"] for b in books.values())  # the two books trade disjoint periods
    assert len(daily) == sessions == bundle["config.json"]["total_trading_days"]
    assert all(d["cash_paise"] + d["positions_value_paise"] == d["total_value_paise"] for d in daily)
    assert daily[-1]["total_value_paise"] == sum(b["final_equity_paise"] for b in books.values())
    assert len(bundle["tickers_daily.json"]["TCS"]) >= books["intraday"]["sessions"]
    assert exported["traces"] == doc["total_traces"]
    table = read_trades_parquet(out / "trades.parquet")
    assert len(table) == sum(b["trades"] for b in books.values())
    # closed trades only (a swing position may still be open at the end, so not the equity change)
    assert round(table["pnl"].sum() * 100) == sum(t.get("round_trip_pnl_paise", 0) for t in bundle["trades.json"])
    assert table["pnl"].sum() == pytest.approx(bundle["results.json"]["portfolio_metrics"]["net_pnl"])


def test_worst_trades_of_the_shipped_run_explained_by_a_registry_lightgbm_model(shipped_run, tmp_path):
    """Attribution on a real run: a LightGBM teacher trained on the run's own entry features,
    registered (hash-verified), then used by `runs export --explain-model`."""
    import numpy as np

    from adapters.ml.registry import ModelRegistry
    from adapters.ml.training import train_teacher
    from applications.analytics import load_run
    from datetime import datetime, timezone

    db, summary, tmp = shipped_run
    store = open_store(db)
    run = load_run(store, summary["run_id"])
    store.close()
    trades = run.trades[run.trades["strategy"] == "intraday"]
    names = sorted(set.intersection(*(set(f) for f in trades["features"])))
    X = np.array([[f[n] for n in names] for f in trades["features"]], dtype=float)
    y = np.where(trades["pnl_pct"] > 0, 0, 1)  # class codes: LONG-ish winners vs SHORT-ish losers
    model = train_teacher(X, y, names, seed=3, params={"num_boost_round": 20, "num_leaves": 7,
                                                       "min_data_in_leaf": 20})
    registry = ModelRegistry(tmp_path / "models")
    now = datetime(2024, 3, 1, tzinfo=timezone.utc)
    record = registry.register(model, role="teacher", created_at=now, training_window=(now, now),
                               data_fingerprint="test", metrics={})

    out = tmp_path / "explained"
    doc = json.loads(_invoke(db, "runs", "export", summary["run_id"], "--format", "trades", "--explain-model",
                             record.model_id[:20], "--registry", str(tmp_path / "models"), "--worst", "10",
                             "--out", str(out), "--json", runs_dir=tmp))
    assert doc["explained_by"] == record.model_id and doc["explained"] >= len(trades)
    table = read_trades_parquet(out / "trades.parquet")
    explained = table[table["strategy"] == "intraday"]
    assert all(set(s["model_contributions"]) == set(names) for s in explained["signals"])
    patterns = doc["attribution"]
    assert sum(p["n_trades"] for p in patterns) == 10
    featured = [p for p in patterns if p["feature"]]
    assert featured and all(p["feature"] in names and p["model_ids"] for p in featured)
    for p in featured:  # each group's feature is the largest |contribution| of every trade in it
        for trade_id in p["trade_ids"]:
            contrib = table.loc[table["trade_id"] == trade_id, "signals"].iloc[0]["model_contributions"]
            assert max(contrib, key=lambda k: abs(contrib[k])) == p["feature"]
