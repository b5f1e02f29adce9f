"""Projections and exports over real events in real stores (in-memory and SQLite), real files."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pandas as pd
import pytest

from adapters.memory import InMemoryEventStore
from applications.analytics import compute_metrics, filter_traces, load_run, load_runs
from applications.analytics.errors import ExportValidationError
from applications.analytics.exports.attribution import (
    TradeAnalysis,
    attribute_worst_trades,
    dominant_feature,
)
from applications.analytics.exports.bundle import build_bundle, read_bundle, validate_bundle, write_bundle
from applications.analytics.exports.traces import load_traces, write_traces_csv
from applications.analytics.exports.trades import (
    read_trades_parquet,
    trades_table,
    worst_trades,
    write_trades_parquet,
)
from applications.wiring.store import open_store
from core.errors import DataError, RunNotFoundError
from tests.builders import TINY_DAYS, build_realistic_run, build_tiny_run


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "memory":
        s = InMemoryEventStore()
    elif request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    else:
        s = open_store(request.getfixturevalue("pg_url"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def runs():
    s = InMemoryEventStore()
    build_tiny_run(s)
    build_realistic_run(s, model_contributions=True)
    return {"tiny": load_run(s, "run-tiny"), "real": load_run(s, "run-real"), "store": s}


def test_projections_from_every_store(store):
    build_tiny_run(store)
    run = load_run(store)  # latest
    assert run.run_id == "run-tiny-0001" and run.mode == "backtest" and run.strategies == ["intraday", "swing"]
    assert len(run.traces) == len(run.trades) == 6
    assert list(run.traces["realized_return_pct"]) == pytest.approx([1.899, -2.101, 9.894, -0.6, -5.098, 4.9025])
    assert run.trades["net_pnl_paise"].tolist() == [1899, -4202, -600, 9805, 4947, -5098]
    assert run.portfolio.groupby("book").size().to_dict() == {"intraday": 3, "swing": 3}
    assert (run.portfolio["cash_paise"] + run.portfolio["positions_value_paise"] == run.portfolio["equity_paise"]).all()
    # the opening decision's signals reach the trade through its prediction trace
    swing_rel = run.trades[(run.trades["book"] == "swing") & (run.trades["symbol"] == "RELIANCE")].iloc[0]
    assert swing_rel["signals"] == {"technical": 0.7, "sentiment": 0.2, "model": 0.65}
    assert swing_rel["confidence"] == pytest.approx(0.8)
    assert len(run.rejections) == 1 and len(run.fills) == 12 and len(run.signals) == 12
    with pytest.raises(RunNotFoundError):
        load_run(store, "no-such-run")


def test_filters_and_several_runs(runs):
    store = runs["store"]
    both = load_runs(store, ["run-tiny", "run-real"])
    assert set(both.traces["run_id"]) == {"run-tiny-0001", "run-real-0001"}
    assert len(both.traces) == len(runs["tiny"].traces) + len(runs["real"].traces)
    t = runs["tiny"].traces
    assert len(filter_traces(t, strategy="swing")) == 2 and len(filter_traces(t, strategy="both")) == 6
    assert len(filter_traces(t, symbol="TCS")) == 3
    assert len(filter_traces(t, start=TINY_DAYS[1], end=TINY_DAYS[1])) == 2
    assert len(filter_traces(t, start="2024-01-03")) == 3
    assert len(filter_traces(t, mode="live")) == 0 and len(filter_traces(t, mode="backtest")) == 6
    with pytest.raises(ValueError):
        filter_traces(t, strategy="scalping")


def test_trace_csv_round_trip_with_rotation_and_gzip(runs, tmp_path):
    run = runs["real"]
    stamp = run.runs[0].started_at
    plain = write_traces_csv(run.traces, tmp_path / "plain", stamp=stamp, max_file_bytes=6_000)
    assert len(plain) > 2
    assert all(re.fullmatch(r"predictions_\d{8}_\d{6}_\d{4}\.csv", p.name) for p in plain)
    assert [p.name[-8:-4] for p in plain] == [f"{i:04d}" for i in range(len(plain))]
    assert all(p.stat().st_size <= 6_000 for p in plain)
    header = plain[0].read_text().splitlines()[0]
    assert header.startswith("timestamp,symbol,strategy,predicted_direction,actual_direction,predicted_confidence,"
                             "entry_price,exit_price,holding_period_minutes,realized_return_pct,features,metadata")
    back = load_traces(tmp_path / "plain")
    cols = ["timestamp", "symbol", "strategy", "predicted_direction", "actual_direction", "predicted_confidence",
            "entry_price", "exit_price", "holding_period_minutes", "realized_return_pct", "features", "metadata",
            "signals", "context"]
    pd.testing.assert_frame_equal(back[cols].reset_index(drop=True), run.traces[cols].reset_index(drop=True),
                                  check_dtype=False)
    assert compute_metrics(back) == compute_metrics(run.traces)

    gz = write_traces_csv(run.traces, tmp_path / "gz", stamp=stamp, compress=True)
    assert len(gz) == 1 and gz[0].name.endswith(".csv.gz")
    with gzip.open(gz[0], "rt") as fh:
        assert fh.readline().startswith("timestamp,symbol")
    swing = load_traces([gz[0], tmp_path / "plain"], strategy="swing")
    assert set(swing["strategy"]) == {"swing"}
    assert len(swing) == 2 * (run.traces["strategy"] == "swing").sum()


def test_load_traces_of_the_spec_schema_and_bad_files(tmp_path):
    legacy = tmp_path / "predictions_20240115_093000_0000.csv"
    legacy.write_text(
        "timestamp,symbol,strategy,predicted_direction,actual_direction,predicted_confidence,entry_price,"
        "exit_price,holding_period_minutes,realized_return_pct,features,metadata\n"
        '2024-01-15 09:30:00+05:30,RELIANCE,swing,LONG,LONG,0.85,2500.0,2520.0,1440,0.8,{},'
        '"{""exit_reason"":""take_profit""}"\n')
    t = load_traces(legacy)
    assert len(t) == 1 and t.loc[0, "metadata"] == {"exit_reason": "take_profit"} and t.loc[0, "signals"] == {}
    assert t.loc[0, "timestamp"] == pd.Timestamp("2024-01-15 04:00:00", tz="UTC")
    # the spec's own example has no offset: that is exchange time (IST)
    naive = tmp_path / "naive" / "predictions_20240115_093000_0000.csv"
    naive.parent.mkdir()
    naive.write_text(legacy.read_text().replace("2024-01-15 09:30:00+05:30", "2024-01-15 09:30:00"))
    assert load_traces(naive).loc[0, "timestamp"] == pd.Timestamp("2024-01-15 04:00:00", tz="UTC")

    bad_json = tmp_path / "bad" / "predictions_20240115_093000_0000.csv"
    bad_json.parent.mkdir()
    bad_json.write_text(legacy.read_text().replace('"{""exit_reason"":""take_profit""}"', "{oops"))
    with pytest.raises(DataError, match=r"row 1.*column 'metadata'"):
        load_traces(bad_json)
    no_col = tmp_path / "predictions_20240115_093000_0001.csv"
    no_col.write_text("timestamp,symbol\n2024-01-15T09:30:00+05:30,TCS\n")
    with pytest.raises(DataError, match="missing column"):
        load_traces(no_col)
    bad_num = tmp_path / "predictions_20240115_093000_0002.csv"
    bad_num.write_text(legacy.read_text().replace(",0.8,", ",abc,"))
    with pytest.raises(DataError, match="column 'realized_return_pct'"):
        load_traces(bad_num)
    with pytest.raises(DataError, match="no such file"):
        load_traces(tmp_path / "missing")


def test_bundle_is_valid_complete_and_consistent(runs, tmp_path):
    run = runs["tiny"]
    paths = write_bundle(run, tmp_path / "bundle")
    assert sorted(p.name for p in paths) == ["config.json", "portfolio_daily.json", "results.json",
                                             "tickers_daily.json", "trades.json"]
    for p in paths:  # strict JSON: NaN/Infinity would fail here
        json.loads(p.read_text(), parse_constant=lambda c: pytest.fail(f"{p.name} holds {c}"))
    b = read_bundle(tmp_path / "bundle")
    cfg = b["config.json"]
    assert cfg["backtest_id"] == "run-tiny-0001" and cfg["total_trading_days"] == 3
    assert cfg["initial_capital"] == 200_000.0 and cfg["tickers"] == ["RELIANCE", "TCS"]
    daily = b["portfolio_daily.json"]
    assert [d["date"] for d in daily] == [d.isoformat() for d in TINY_DAYS]
    # day 1 by hand: intraday 10,000,000 + 1899 - 4202; swing 10,000,000 - 50,000 - 25 cash + 5 x 101.00 marked
    assert daily[0]["total_value_paise"] == (10_000_000 + 1899 - 4202) + (10_000_000 - 50_025 + 50_500)
    assert daily[0]["positions_value_paise"] == 50_500 and daily[0]["num_positions"] == 1
    for d in daily:
        assert d["cash_paise"] + d["positions_value_paise"] == d["total_value_paise"]
        assert d["cash"] + d["positions_value"] == pytest.approx(d["total_value"], abs=0.005)
    assert daily[-1]["total_value_paise"] == 20_000_000 + 1899 - 4202 - 600 + 9805 + 4947 - 5098
    assert daily[-1]["cumulative_return"] == pytest.approx((1899 - 4202 - 600 + 9805 + 4947 - 5098) / 20_000_000)

    rel = b["tickers_daily.json"]["RELIANCE"]
    assert [e["date"] for e in rel] == [d.isoformat() for d in TINY_DAYS]
    assert [e["price"] for e in rel] == [101.0, 105.0, 110.0]
    day1 = rel[0]
    assert day1["decision"] == "BUY" and day1["overall_confidence"] == 0.8  # the swing entry, last of the day
    # the recorded scores as spec-003 experts: the technical rule decides, sentiment gates, the model is recorded
    experts = day1["expert_contributions"]
    assert {k: (v["weight"], v["confidence"], v["probabilities"]) for k, v in experts.items()} == {
        "technical": (1.0, 0.7, [0.7, 0.3, 0.0]), "sentiment": (0.0, 0.2, [0.2, 0.8, 0.0]),
        "model": (0.0, 0.65, [0.65, 0.35, 0.0])}
    assert experts["technical"]["reasoning"] == "sma crossover" and "not blended" in experts["model"]["reasoning"]
    assert day1["final_probabilities"] == [0.7, 0.3, 0.0]
    assert day1["position"]["quantity"] == 5 and day1["position"]["current_value"] == 505.0
    assert [d["decision"] for d in day1["decisions"]] == ["BUY", "SELL", "BUY"]
    assert rel[2]["decision"] == "SELL" and rel[2]["position"] is None

    trades = b["trades.json"]  # every executed fill, in time order, both books together
    assert len(trades) == 12 and sum(t["position_effect"] == "close" for t in trades) == 6
    first, closing = trades[0], next(t for t in trades if t["position_effect"] == "close")
    assert (first["ticker"], first["action"], first["quantity"], first["price"]) == ("RELIANCE", "BUY", 10, 100.0)
    assert first["transaction_cost"] == 0.5 and first["total_cost"] == 1000.5
    assert first["slippage"] is None  # builder orders carry no decision price (order.submitted v1)
    assert first["portfolio_before"] == {"total_value": 200_000.0, "cash": 200_000.0, "positions_value": 0.0}
    assert first["portfolio_after"] == {"total_value": 199_999.5, "cash": 198_999.5, "positions_value": 1000.0}
    assert closing["round_trip_pnl"] == 18.99 and closing["round_trip_id"] == first["round_trip_id"]
    res = b["results.json"]
    assert res["portfolio_metrics"]["total_trades"] == 6
    assert res["portfolio_metrics"]["win_rate"] == pytest.approx(0.5)
    assert res["portfolio_metrics"]["final_value_paise"] == daily[-1]["total_value_paise"]
    assert res["ticker_summary"]["TCS"]["num_trades"] == 3
    assert res["ticker_summary"]["TCS"]["net_pnl"] == pytest.approx((-4202 + 9805 - 5098) / 100)
    assert set(res["strategy_summary"]) == {"intraday", "swing"}


def test_bundle_of_a_longer_run_validates(runs, tmp_path):
    run = runs["real"]
    write_bundle(run, tmp_path)
    b = read_bundle(tmp_path)
    assert len(b["portfolio_daily.json"]) == 40
    assert all(len(v) == 40 for v in b["tickers_daily.json"].values())
    model_days = [e for e in b["tickers_daily.json"]["TCS"]
                  if e["expert_contributions"].get("model", {}).get("model_id")]
    assert model_days and "top_contributions" in model_days[0]["expert_contributions"]["model"]


def test_written_bundle_validates_against_the_versioned_schema_file(runs, tmp_path):
    """The files on disk, read back as plain JSON, conform to the schema shipped in the package."""
    import jsonschema

    from applications.analytics.exports.bundle import SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text())
    assert SCHEMA_FILE.name == "bundle_003.v1.schema.json" and schema["$schema"].endswith("2020-12/schema")
    for name in ("tiny", "real"):
        out = tmp_path / name
        write_bundle(runs[name], out)
        docs = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
        jsonschema.validate(docs, schema, cls=jsonschema.Draft202012Validator)


def test_validation_rejects_broken_bundles_and_writes_nothing(runs, tmp_path):
    run = runs["tiny"]
    good = build_bundle(run)
    validate_bundle(good, TINY_DAYS)
    missing_day = json.loads(json.dumps(good))
    del missing_day["portfolio_daily.json"][1]
    with pytest.raises(ExportValidationError, match="2024-01-03"):
        validate_bundle(missing_day, TINY_DAYS)
    unbalanced = json.loads(json.dumps(good))
    unbalanced["portfolio_daily.json"][0]["cash_paise"] += 1
    with pytest.raises(ExportValidationError, match="cash"):
        validate_bundle(unbalanced)
    nan = json.loads(json.dumps(good))
    nan["results.json"]["portfolio_metrics"]["sharpe_ratio"] = float("nan")
    with pytest.raises(ExportValidationError, match="not valid JSON"):
        validate_bundle(nan)
    not_a_list = json.loads(json.dumps(good))
    not_a_list["tickers_daily.json"]["RELIANCE"][0]["final_probabilities"] = {"direction": "LONG"}
    with pytest.raises(ExportValidationError, match="bundle_003.v1.schema.json at tickers_daily.json/RELIANCE/0"):
        validate_bundle(not_a_list)
    no_slippage = json.loads(json.dumps(good))
    del no_slippage["trades.json"][0]["slippage"]
    with pytest.raises(ExportValidationError, match="'slippage' is a required property"):
        validate_bundle(no_slippage)
    weights = json.loads(json.dumps(good))
    weights["tickers_daily.json"]["RELIANCE"][0]["expert_contributions"]["model"]["weight"] = 0.5
    with pytest.raises(ExportValidationError, match="weights sum to 1.5"):
        validate_bundle(weights)
    cash = json.loads(json.dumps(good))
    cash["trades.json"][0]["total_cost"] += 1.0
    with pytest.raises(ExportValidationError, match="cash moved"):
        validate_bundle(cash)
    short_ticker = json.loads(json.dumps(good))
    short_ticker["tickers_daily.json"]["TCS"].pop()
    with pytest.raises(ExportValidationError, match="TCS"):
        validate_bundle(short_ticker, TINY_DAYS, {"TCS": TINY_DAYS})

    # a run whose swing book skipped a session it traded on is refused before anything is written
    from tests.builders import RunBuilder, ist
    s = InMemoryEventStore()
    b = RunBuilder(s, run_id="run-gap", symbols=("TCS",), strategies=("swing",))
    b.end_day(TINY_DAYS[0], {"TCS": 200.0})
    b.open("swing", "TCS", "LONG", 5, 200.0, ist(TINY_DAYS[1], 15, 0))
    b.close("swing", "TCS", 210.0, ist(TINY_DAYS[2], 15, 0))
    b.end_day(TINY_DAYS[2], {"TCS": 210.0})
    b.finish(ist(TINY_DAYS[2], 16, 0))
    out = tmp_path / "gap"
    with pytest.raises(ExportValidationError, match="2024-01-03"):
        write_bundle(load_run(s, "run-gap"), out)
    assert not out.exists() or not any(out.iterdir())


def test_trades_parquet_and_worst_trades(runs, tmp_path):
    run = runs["real"]
    path = write_trades_parquet(run, tmp_path / "t" / "trades.parquet")
    back = read_trades_parquet(path)
    table = trades_table(run)
    assert list(back.columns)[:13] == ["entry_timestamp", "exit_timestamp", "symbol", "asset_id", "entry_price",
                                       "exit_price", "pnl", "pnl_pct", "duration", "direction", "size", "signals",
                                       "context"]
    assert len(back) == len(run.trades) and set(back["direction"]) <= {"long", "short"}
    assert back["signals"].tolist() == table["signals"].tolist()
    assert back["context"].tolist() == table["context"].tolist()
    assert (back["duration"] == back["exit_timestamp"] - back["entry_timestamp"]).all()
    assert back["pnl"].sum() == pytest.approx(run.trades["net_pnl_paise"].sum() / 100)
    worst = worst_trades(back, 5)
    assert list(worst["pnl"]) == sorted(back["pnl"])[:5]
    assert TradeAnalysis(run).worst_trades(5)["trade_id"].tolist() == worst["trade_id"].tolist()
    assert len(worst_trades(back, 0)) == 0


def test_attribution_groups_worst_trades_by_dominant_lightgbm_feature(tmp_path):
    """Contributions from a real LightGBM model's pred_contrib, stored in the trades' signals."""
    import lightgbm as lgb

    from tests.builders import RunBuilder, ist, session_days

    rng = np.random.default_rng(3)
    names = ["momentum_5d", "rsi_14", "volatility_20d"]
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + 0.5 * X[:, 2] + rng.normal(0, 0.3, 400) > 0).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7, "min_data_in_leaf": 10,
                         "seed": 1, "deterministic": True, "num_threads": 1},
                        lgb.Dataset(X, y, feature_name=names), num_boost_round=30)
    rows = rng.normal(size=(12, 3))
    contrib = booster.predict(rows, pred_contrib=True)  # (12, 3 features + bias)
    assert contrib.shape == (12, 4)

    s = InMemoryEventStore()
    b = RunBuilder(s, run_id="run-lgbm", symbols=("TCS",), strategies=("intraday",))
    days = session_days(TINY_DAYS[0], 12)
    for k, day in enumerate(days):
        sig = {"technical": 0.1, "sentiment": 0.0, "model": float(booster.predict(rows[k:k + 1])[0]),
               "model_id": "lgbm-0001",
               "model_contributions": {**{n: float(contrib[k, j]) for j, n in enumerate(names)},
                                       "bias": float(contrib[k, 3])}}
        b.open("intraday", "TCS", "LONG", 10, 100.0, ist(day, 9, 30), signals=sig,
               features={n: float(rows[k, j]) for j, n in enumerate(names)})
        b.close("intraday", "TCS", 100.0 - (k + 1) * 0.5, ist(day, 11, 0))  # ever bigger losses
        b.end_day(day, {"TCS": 100.0})
    b.finish(ist(days[-1], 16, 0))
    trades = trades_table(load_run(s, "run-lgbm"))

    patterns = attribute_worst_trades(trades, n=8)
    # independent reference: the 8 biggest losses are the last 8 trades (k = 4..11)
    expected: dict[tuple[str, int], list[int]] = {}
    for k in range(4, 12):
        j = int(np.argmax(np.abs(contrib[k, :3])))
        expected.setdefault((names[j], 1 if contrib[k, j] >= 0 else -1), []).append(k)
    got = {(p.feature, p.sign): sorted(int(t.split("-")[1]) - 1 for t in p.trade_ids) for p in patterns}
    assert got == {key: sorted(ks) for key, ks in expected.items()}
    assert sum(p.n_trades for p in patterns) == 8
    for p in patterns:
        assert "\n" not in p.description and p.feature in p.description and p.model_ids == ["lgbm-0001"]
        assert p.total_pnl < 0 and 0 < p.mean_share <= 1
    assert [p.n_trades for p in patterns] == sorted((p.n_trades for p in patterns), reverse=True)
    assert dominant_feature({"a": 0.1, "b": -0.3, "bias": 5.0}) == ("b", -0.3, pytest.approx(0.75))
    assert dominant_feature({}) is None


def test_attribution_without_contributions_is_one_group(runs):
    patterns = attribute_worst_trades(trades_table(runs["tiny"]), n=3)
    assert len(patterns) == 1 and patterns[0].feature is None and patterns[0].n_trades == 3
    assert "no model contributions" in patterns[0].description


def test_trade_without_a_trace_takes_signals_from_its_entry_decision():
    """Telemetry may sample traces out; the trade still gets the signals of the entry that opened it."""
    from tests.builders import RunBuilder, ist

    s = InMemoryEventStore()
    b = RunBuilder(s, run_id="run-sampled", symbols=("TCS",), strategies=("swing",))
    b.open("swing", "TCS", "LONG", 5, 200.0, ist(TINY_DAYS[0], 15, 0), confidence=0.9,
           signals={"technical": 0.4, "sentiment": -0.1, "model": None})
    b.close("swing", "TCS", 210.0, ist(TINY_DAYS[1], 15, 0), trace=False)
    b.end_day(TINY_DAYS[0], {"TCS": 205.0})
    b.end_day(TINY_DAYS[1], {"TCS": 210.0})
    run = load_run(s, "run-sampled")
    assert len(run.traces) == 0 and len(run.trades) == 1
    trade = run.trades.iloc[0]
    assert trade["signals"] == {"technical": 0.4, "sentiment": -0.1, "model": None}
    assert trade["confidence"] == pytest.approx(0.9) and trade["reason"] == "sma crossover"
    assert trade["strategy"] == "swing" and trade["book"] == "swing"


def test_date_filters_use_nse_session_dates():
    """A daily bar starts at 00:00 IST, i.e. 18:30 UTC the day before: filters go by the IST date."""
    from applications.analytics import filter_trades
    from tests.builders import RunBuilder, ist

    s = InMemoryEventStore()
    b = RunBuilder(s, run_id="run-ist", symbols=("TCS",), strategies=("swing",))
    b.open("swing", "TCS", "LONG", 5, 200.0, ist(TINY_DAYS[1], 0, 0))
    b.close("swing", "TCS", 210.0, ist(TINY_DAYS[2], 0, 0))
    b.end_day(TINY_DAYS[1], {"TCS": 205.0})
    b.end_day(TINY_DAYS[2], {"TCS": 210.0})
    run = load_run(s, "run-ist")
    assert run.traces.loc[0, "timestamp"].date() == TINY_DAYS[0]  # the UTC date is the day before
    assert len(filter_traces(run.traces, start=TINY_DAYS[1], end=TINY_DAYS[1])) == 1
    assert len(filter_trades(run.trades, start=TINY_DAYS[1], end=TINY_DAYS[1])) == 1
    assert len(filter_trades(run.trades, end=TINY_DAYS[0])) == 0
