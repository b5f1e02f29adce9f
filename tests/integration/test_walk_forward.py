"""Walk-forward validation through the real engine on the shipped daily bars.

Real CSV feed, real LightGBM, in-memory event store, real registry files. Two symbols and
short windows (train 12 months, test 3, three windows) keep it to a few seconds. The
metrics are recomputed here straight from the runs' events, independently of
``applications.services.validation``'s scoring code.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from adapters.memory import InMemoryEventStore
from adapters.ml.registry import ModelRegistry
from applications.services.learning import (
    MODELS_STREAM,
    LearningConfig,
    build_training_set,
    default_feed,
    load_series,
)
from applications.services.walkforward import (
    WalkForwardConfig,
    add_months,
    plan_windows,
    walk_forward,
    write_reports,
)
from core.errors import ConfigError
from core.events.catalog import (
    ModelTrained,
    PortfolioSnapshotted,
    PredictionTraced,
    PromotionDecided,
    RunStarted,
    TradeClosed,
    WalkForwardWindowScored,
)
from core.learning.gate import PromotionThresholds

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not list((ROOT / "data" / "market").glob("*_1day.csv*")),
                                reason="no shipped daily bars in data/market")

IST = timezone(timedelta(hours=5, minutes=30))
SYMBOLS = ["TCS", "INFY"]
NOW = datetime(2026, 1, 5, 10, 30, tzinfo=timezone.utc)
SHORT = dict(symbols=SYMBOLS, train_months=12, test_months=3, end="2017-09-30")


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    store = InMemoryEventStore()
    registry = ModelRegistry(tmp_path_factory.mktemp("reg"))
    out = walk_forward(WalkForwardConfig(**SHORT), store=store, registry=registry, now=NOW)
    return store, registry, out


@pytest.fixture(scope="module")
def with_champion(walked):
    """A second walk-forward against a production champion (the first run's last candidate)."""
    store, registry, first = walked
    champion = first.windows[-1].candidate_model_id
    registry.promote(champion, at=NOW)
    out = walk_forward(WalkForwardConfig(**SHORT, seed=3), store=store, registry=registry, now=NOW)
    return store, registry, out, champion


def events(store, run_id, kind=None):
    out, after = [], 0
    while page := store.read_all(after, 10_000, run_id=run_id):
        after = page[-1].seq
        out.extend(r.event for r in page if kind is None or isinstance(r.event, kind))
    return out


def ist(moment: datetime) -> date:
    return moment.astimezone(IST).date()


def recompute(store, run_id: str, lo: date, hi: date):
    """(trade P&Ls, LONG traces' actual directions, daily returns) of a run inside lo..hi."""
    pnl = [e.net_pnl_paise for e in events(store, run_id, TradeClosed) if lo <= ist(e.entry_time) <= hi]
    longs = [e.actual_direction for e in events(store, run_id, PredictionTraced)
             if lo <= ist(e.timestamp) <= hi and e.predicted_direction == "LONG"]
    equity: dict[date, int] = {}
    for e in events(store, run_id, PortfolioSnapshotted):
        equity[e.session_date] = equity.get(e.session_date, 0) + e.equity_paise
    days = sorted(equity)
    rets = [equity[days[k]] / equity[days[k - 1]] - 1.0 for k in range(1, len(days)) if lo <= days[k] <= hi]
    return pnl, longs, rets


def card(pnl, longs, rets):
    precision = sum(a == "LONG" for a in longs) / len(longs) if longs else math.nan
    hit = sum(p > 0 for p in pnl) / len(pnl) if pnl else math.nan
    r = np.array(rets)
    sharpe = float(r.mean() / r.std(ddof=1) * math.sqrt(252)) if r.size > 1 and r.std(ddof=1) > 0 else math.nan
    return {"precision": precision, "hit_ratio": hit, "sharpe_ratio": sharpe}


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


# ------------------------------------------------------------------------------ windows


def test_rolling_and_expanding_windows_tile_the_data_without_overlap():
    rolling = plan_windows(date(2016, 1, 1), date(2017, 9, 29), train_months=12, test_months=3, step_months=3)
    assert [(w.train_start, w.test_start, w.test_end) for w in rolling] == [
        (date(2016, 1, 1), date(2017, 1, 1), date(2017, 3, 31)),
        (date(2016, 4, 1), date(2017, 4, 1), date(2017, 6, 30)),
        (date(2016, 7, 1), date(2017, 7, 1), date(2017, 9, 29))]  # the last test period is cut at the data
    for w in rolling:
        assert w.train_end == w.test_start - timedelta(days=1)
    expanding = plan_windows(date(2016, 1, 1), date(2017, 9, 29), train_months=12, test_months=3, step_months=3,
                             expanding=True)
    assert {w.train_start for w in expanding} == {date(2016, 1, 1)}
    assert [w.test_start for w in expanding] == [w.test_start for w in rolling]
    assert add_months(date(2016, 1, 31), 1) == date(2016, 2, 29)


def test_too_little_data_for_one_window_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="--train-months"):
        walk_forward(WalkForwardConfig(symbols=SYMBOLS, train_months=24, test_months=3, end="2017-06-30"),
                     store=InMemoryEventStore(), registry=ModelRegistry(tmp_path), now=NOW)
    with pytest.raises(ConfigError, match="gate-on"):
        WalkForwardConfig(gate_on="median")


def test_no_training_label_reaches_its_test_window(walked):
    store, registry, out = walked
    assert len(out.windows) == 3
    trained = {e.model_id: e for e in (r.event for r in store.read_stream(MODELS_STREAM))
               if isinstance(e, ModelTrained)}
    feed = default_feed(LearningConfig())
    for prev, nxt in zip(out.windows, out.windows[1:]):
        assert prev.window.test_end < nxt.window.test_start  # test periods do not overlap either
    for w in out.windows:
        test_start = datetime.combine(w.window.test_start, datetime.min.time(), tzinfo=IST)
        assert w.window.train_end < w.window.test_start
        record = registry.get(w.candidate_model_id)
        assert record.role == "candidate" and record.extra["walk_forward"]["test_start"] == str(w.window.test_start)
        assert datetime.fromisoformat(record.training_window["end"]) < test_start
        assert trained[w.candidate_model_id].training_window_end < test_start
        assert trained[w.teacher_model_id].training_window_end < test_start
        # Independent: every label of the window's training data exits before the test period.
        config = LearningConfig(symbols=SYMBOLS, start=str(w.window.train_start), end=str(w.window.train_end))
        data = build_training_set(load_series(config, feed), config)
        last_exit = datetime.fromtimestamp(int(data.exit_ns.max()) / 1e9, tz=timezone.utc)
        assert last_exit < test_start
        assert w.train_label_end <= last_exit  # the trainer's own hold-out tail is purged before it
        first_start = datetime.fromtimestamp(int(data.start_ns.min()) / 1e9, tz=timezone.utc)
        assert ist(first_start) >= w.window.train_start


def test_each_window_backtests_candidate_and_no_model_champion(walked):
    store, _, out = walked
    runs = {r.run_id: r for r in store.list_runs(mode="validation")}
    with_model_traces = 0
    for w in out.windows:
        assert w.candidate.run_id in runs and w.champion.run_id in runs and w.candidate.run_id != w.champion.run_id
        assert events(store, w.candidate.run_id, RunStarted)[0].config["predictor"] == w.candidate_model_id
        assert events(store, w.champion.run_id, RunStarted)[0].config["predictor"] is None
        cand = events(store, w.candidate.run_id, PredictionTraced)
        assert {t.signals.get("model_id") for t in cand} <= {w.candidate_model_id}
        with_model_traces += len(cand)
        assert all("model_id" not in t.signals for t in events(store, w.champion.run_id, PredictionTraced))
    assert with_model_traces > 0


def test_champion_backtests_carry_the_champions_model_id(with_champion):
    store, _, out, champion = with_champion
    assert out.decision.champion_id == champion
    traced = 0
    for w in out.windows:
        assert w.champion_model_id == champion
        assert w.candidate_model_id != champion
        champ = events(store, w.champion.run_id, PredictionTraced)
        assert {t.signals.get("model_id") for t in champ} <= {champion}
        traced += len(champ)
        assert {t.signals.get("model_id") for t in events(store, w.candidate.run_id, PredictionTraced)} \
            <= {w.candidate_model_id}
    assert traced > 0
    # The champion learnt from 2016-07 up to its trainer's hold-out (spring 2017): flagged where that overlaps.
    assert out.windows[0].champion_saw_test and not out.windows[-1].champion_saw_test


def test_window_and_overall_metrics_match_a_recomputation_from_the_events(walked):
    store, _, out = walked
    recorded = {e.window: e for e in (r.event for r in store.read_stream(MODELS_STREAM))
                if isinstance(e, WalkForwardWindowScored) and e.walk_forward_run_id == out.run_id}
    assert sorted(recorded) == [1, 2, 3]
    pooled = {"candidate": ([], [], []), "champion": ([], [], [])}
    cards = {"candidate": [], "champion": []}
    for w in out.windows:
        lo, hi = w.window.test_start, w.window.test_end
        ev = recorded[w.window.index]
        assert (ev.candidate_run_id, ev.champion_run_id) == (w.candidate.run_id, w.champion.run_id)
        for who, bt in (("candidate", w.candidate), ("champion", w.champion)):
            parts = recompute(store, bt.run_id, lo, hi)
            expected = card(*parts)
            for m, v in expected.items():
                assert same(getattr(bt.overall.scorecard, m), v), (w.window.index, who, m)
                assert same(math.nan if getattr(ev, who)[m] is None else getattr(ev, who)[m], v)
            assert bt.overall.trades == len(parts[0]) == getattr(ev, who)["trades"]
            for acc, part in zip(pooled[who], parts):
                acc.extend(part)
            cards[who].append(expected)
    for who, agg_card in (("candidate", out.pooled.candidate), ("champion", out.pooled.champion)):
        for m, v in card(*pooled[who]).items():
            assert same(getattr(agg_card, m), v), (who, m)
        for m in ("precision", "hit_ratio", "sharpe_ratio"):
            vals = [c[m] for c in cards[who] if not math.isnan(c[m])]
            assert same(getattr(out.mean.candidate if who == "candidate" else out.mean.champion, m),
                        float(np.mean(vals)) if vals else math.nan)
    assert out.pooled.candidate_trades == len(pooled["candidate"][0])


def test_verdict_follows_the_thresholds_and_is_recorded(walked, tmp_path):
    store, _, out = walked
    d = out.decision
    assert d.candidate_id == out.windows[-1].candidate_model_id
    for c in d.checks:
        agg = getattr(out.pooled.candidate, c.name) - getattr(out.pooled.champion, c.name)
        assert same(c.uplift, agg)
        assert c.passed == (math.isfinite(agg) and agg >= c.threshold - 1e-12)
    assert d.verdict == ("PROMOTE" if all(c.passed for c in d.checks) else "REJECT")
    decided = [r.event for r in store.read_stream(MODELS_STREAM) if isinstance(r.event, PromotionDecided)
               and r.event.checklist["context"].get("walk_forward_run") == out.run_id]
    assert len(decided) == 1 and decided[0].verdict == d.verdict
    assert len(decided[0].checklist["context"]["windows"]) == 3
    # The same data under thresholds nobody can miss / nobody can meet.
    for minimum, verdict in ((-1e9, "PROMOTE"), (1e9, "REJECT")):
        lax = WalkForwardConfig(**SHORT, gate_on="mean", thresholds=PromotionThresholds(
            min_precision_uplift=minimum, min_hit_ratio_uplift=minimum, min_sharpe_uplift=minimum,
            require_all=False))
        again = walk_forward(lax, store=InMemoryEventStore(), registry=ModelRegistry(tmp_path / str(minimum)),
                             now=NOW)
        assert again.decision.verdict == verdict
        assert [c.threshold for c in again.decision.checks] == [minimum] * 3


def test_reports_hold_the_windows_the_overall_and_the_checklist(walked, tmp_path):
    _, _, out = walked
    json_path, md_path = write_reports(out, tmp_path / "wf")
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert [w["window"] for w in doc["windows"]] == [1, 2, 3]
    assert doc["windows"][0]["candidate_run_id"] == out.windows[0].candidate.run_id
    assert set(doc["overall"]) == {"mean", "pooled", "gate_on"}
    assert doc["checklist"]["recommendation"] == doc["verdict"] == out.decision.verdict
    md = md_path.read_text(encoding="utf-8")
    assert "## Windows" in md and "## Overall" in md and f"**Recommendation: {out.decision.verdict}**" in md
    for w in out.windows:
        assert f"| {w.window.index} | {w.window.train_start}..{w.window.train_end} " in md


def test_a_champion_the_swing_book_cannot_feed_is_refused_before_any_training(tmp_path):
    from applications.services.learning import train_models

    store, registry = InMemoryEventStore(), ModelRegistry(tmp_path)
    rich = train_models(LearningConfig(symbols=SYMBOLS, features="default", end="2017-06-30"), store=store,
                        registry=registry, now=NOW)
    registry.promote(rich.student.record.model_id, at=NOW)
    before = len(registry.model_ids())
    with pytest.raises(ConfigError, match="--features strategy"):
        walk_forward(WalkForwardConfig(**SHORT), store=store, registry=registry, now=NOW)
    assert len(registry.model_ids()) == before


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_windows_on_a_dask_cluster_give_the_in_process_figures(walked, tmp_path, request, backend):
    """validate --walk-forward --workers: the windows run side by side on a real LocalCluster of
    two worker processes, each training and backtesting into the shared store and registry;
    every window's figures and the decision equal the in-process walk-forward's."""
    from distributed import Client, LocalCluster

    from applications.wiring.store import close_worker_stores, open_store

    _store, _registry, serial = walked
    url = f"sqlite:///{tmp_path / 'wf.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = open_store(url)
    registry = ModelRegistry(tmp_path / "reg")
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=40) as cluster, Client(cluster) as client:
            seen = []
            out = walk_forward(WalkForwardConfig(**SHORT), store=store, registry=registry, now=NOW,
                               client=client, db_url=url, progress=lambda label, done, total: seen.append(done))
            workers = {w.address for w in cluster.workers.values()}
        assert len(workers) == 2 and seen[-1] == len(serial.windows)
        assert [w.window for w in out.windows] == [w.window for w in serial.windows]
        for par, ser in zip(out.windows, serial.windows):
            assert par.to_dict()["candidate"] == ser.to_dict()["candidate"]
            assert par.to_dict()["champion"] == ser.to_dict()["champion"]
            assert par.train_rows == ser.train_rows
        for agg in ("pooled", "mean"):  # NaN-aware: json spells NaN the same on both sides
            assert json.dumps(getattr(out, agg).uplift()) == json.dumps(getattr(serial, agg).uplift())
        assert out.decision.verdict == serial.decision.verdict
        scored = events(store, out.run_id, WalkForwardWindowScored)
        assert [e.window for e in scored] == [w.window.index for w in serial.windows]  # recorded in window order
        # the workers' candidate models are in the shared registry, their runs in the shared store
        for w in out.windows:
            assert registry.get(w.candidate_model_id).role == "candidate"
            assert store.get_run(w.candidate.run_id).mode == "validation"
    finally:
        close_worker_stores()
        store.close()
