"""Forward-return labels and training sets: thresholds, horizons, and no look-ahead."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from core.learning.dataset import LabeledDataset, build_dataset, dataset_from_series
from core.learning.features import DEFAULT_MODEL_SPECS, FeatureRecipe, recipe_from_specs
from core.learning.labels import (
    LONG,
    NOOP,
    SHORT,
    UNLABELLED,
    LabelClass,
    LabelConfig,
    classify_return,
    classify_returns,
    exit_indices,
    make_labels,
)
from core.features import FeatureBook
from core.model import IST_OFFSET_NS, BarSeries, Interval, StrategyKind

IST = timezone(timedelta(hours=5, minutes=30))


def daily_series(close: np.ndarray, symbol: str = "TEST", start: datetime = datetime(2020, 1, 1, 9, 15, tzinfo=IST),
                 seed: int = 0) -> BarSeries:
    n = close.shape[0]
    rng = np.random.default_rng(seed)
    days = [start + timedelta(days=k) for k in range(n)]
    start_ns = np.array([int(d.timestamp()) * 1_000_000_000 for d in days], dtype=np.int64)
    spread = np.abs(rng.normal(0, 0.005, n)) * close
    return BarSeries(symbol=symbol, interval=Interval.DAY_1, start_ns=start_ns, open=close * (1 + rng.normal(0, 0.002, n)),
                     high=close + spread, low=close - spread, close=close.astype(np.float64),
                     volume=rng.integers(1000, 5000, n).astype(np.float64))


def intraday_series(closes_per_session: list[list[float]], minutes: int = 5) -> BarSeries:
    starts, close = [], []
    for day, closes in enumerate(closes_per_session):
        session_open = datetime(2024, 1, 1 + day, 9, 15, tzinfo=IST)
        for k, c in enumerate(closes):
            starts.append(int((session_open + timedelta(minutes=minutes * k)).timestamp()) * 1_000_000_000)
            close.append(c)
    c = np.array(close, dtype=np.float64)
    return BarSeries(symbol="X", interval=Interval.MINUTE_5, start_ns=np.array(starts, dtype=np.int64), open=c, high=c,
                     low=c, close=c, volume=np.full(c.shape, 100.0))


def random_walk(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))


# ------------------------------------------------------------------------ classification


def test_thresholds_are_strict_and_symmetric():
    r = np.array([0.0051, 0.005, -0.005, -0.0051, 0.0, np.nan])
    assert classify_returns(r, 0.005).tolist() == [LONG, NOOP, NOOP, SHORT, NOOP, UNLABELLED]
    assert classify_return(0.0031, 0.003) is LabelClass.LONG
    assert classify_return(-0.0031, 0.003) is LabelClass.SHORT


def test_strategy_defaults_follow_the_spec():
    assert LabelConfig.intraday().threshold == 0.003 and LabelConfig.intraday().kind is StrategyKind.INTRADAY
    assert LabelConfig.swing().threshold == 0.005 and LabelConfig.swing().kind is StrategyKind.SWING
    assert LabelConfig.for_kind(StrategyKind.SWING, horizon=3).horizon == 3
    with pytest.raises(ValueError):
        LabelConfig.swing(horizon=0)


def test_intraday_horizon_never_crosses_the_session_close():
    s = intraday_series([[100, 100, 100.5, 100], [101, 99, 99, 99]])
    labels = make_labels(s, LabelConfig.intraday(horizon=2))
    # bars 0,1 of day 1 reach bars 2,3 of the same day; bars 2,3 would cross the close.
    assert labels.exit_index.tolist() == [2, 3, -1, -1, 6, 7, -1, -1]
    assert labels.codes.tolist() == [LONG, NOOP, UNLABELLED, UNLABELLED, SHORT, NOOP, UNLABELLED, UNLABELLED]


def test_swing_horizon_counts_sessions_and_exits_at_the_session_close():
    s = intraday_series([[100, 100], [100, 101], [102, 103], [100, 100]])
    exits = exit_indices(s.start_ns, LabelConfig.swing(horizon=1))
    assert exits.tolist() == [3, 3, 5, 5, 7, 7, -1, -1]
    exits2 = exit_indices(s.start_ns, LabelConfig.swing(horizon=2))
    assert exits2.tolist() == [5, 5, 7, 7, -1, -1, -1, -1]


def test_daily_swing_horizon_is_n_bars():
    s = daily_series(random_walk(30))
    exits = exit_indices(s.start_ns, LabelConfig.swing(horizon=5))
    assert exits[:25].tolist() == list(range(5, 30))
    assert (exits[25:] == UNLABELLED).all()


# ------------------------------------------------------------------------- no look-ahead


def test_label_at_t_reads_only_t_and_the_exit_bar():
    close = random_walk(60)
    config = LabelConfig.swing(horizon=5)
    base = make_labels(daily_series(close), config)
    t = 20
    for k in range(60):
        if k in (t, t + 5):
            continue
        bumped = close.copy()
        bumped[k] *= 1.5
        assert make_labels(daily_series(bumped), config).forward_return[t] == base.forward_return[t], k
    bumped = close.copy()
    bumped[t + 5] *= 1.05
    assert make_labels(daily_series(bumped), config).forward_return[t] != base.forward_return[t]


def test_features_at_t_never_use_bars_after_t():
    full = daily_series(random_walk(160, seed=3), seed=3)
    recipe = recipe_from_specs(DEFAULT_MODEL_SPECS)
    full_cols = recipe.book_columns(FeatureBook.from_series(full, DEFAULT_MODEL_SPECS))
    for t in (55, 80, 121, 159):
        cut = BarSeries(symbol=full.symbol, interval=full.interval, start_ns=full.start_ns[: t + 1],
                        open=full.open[: t + 1], high=full.high[: t + 1], low=full.low[: t + 1],
                        close=full.close[: t + 1], volume=full.volume[: t + 1])
        cut_cols = recipe.book_columns(FeatureBook.from_series(cut, DEFAULT_MODEL_SPECS))
        for name, values in full_cols.items():
            np.testing.assert_allclose(cut_cols[name][t], values[t], rtol=1e-12, err_msg=f"{name} at {t}")


def test_dataset_rows_pair_signal_time_features_with_forward_labels():
    s = daily_series(random_walk(200))
    config = LabelConfig.swing(horizon=5)
    ds = dataset_from_series(s, config)
    labels = make_labels(s, config)
    cols = recipe_from_specs(DEFAULT_MODEL_SPECS).book_columns(FeatureBook.from_series(s, DEFAULT_MODEL_SPECS))
    # warm-up (SMA 50 -> index 49 is the first full row) and the last 5 bars are dropped
    assert ds.start_ns[0] == s.start_ns[49] and ds.start_ns[-1] == s.start_ns[194]
    assert len(ds) == 194 - 49 + 1
    i = 100
    row = int(np.flatnonzero(ds.start_ns == s.start_ns[i])[0])
    assert ds.y[row] == labels.codes[i]
    assert ds.exit_ns[row] == s.start_ns[i + 5]
    for j, name in enumerate(ds.feature_names):
        assert ds.X[row, j] == pytest.approx(cols[name][i])
    assert np.isfinite(ds.X).all()


def test_recipe_row_from_features_at_matches_the_training_columns():
    # The engine scores with book.features_at(i); training uses whole columns: same numbers.
    s = daily_series(random_walk(120))
    book = FeatureBook.from_series(s, DEFAULT_MODEL_SPECS)
    recipe = recipe_from_specs(DEFAULT_MODEL_SPECS)
    cols = recipe.book_columns(book)
    for i in (60, 100, 119):
        at = recipe.row(book.features_at(i))
        assert list(at) == list(recipe.feature_names)
        for name in cols:
            assert at[name] == pytest.approx(cols[name][i], rel=1e-12, abs=1e-15)
    assert np.isnan(recipe.row(book.features_at(3))["sma_20_vs_sma_50"])  # warm-up: absent -> NaN


def test_recipe_is_scale_free_and_round_trips():
    from core.features import ATR, RSI, SMA
    recipe = recipe_from_specs({"sma_20": SMA(20), "sma_50": SMA(50), "rsi_14": RSI(14), "atr_14": ATR(14)})
    assert recipe.feature_names == ("sma_20_vs_sma_50", "rsi_14", "atr_14_over_sma_50")
    a = recipe.row({"sma_20": 110.0, "sma_50": 100.0, "rsi_14": 40.0, "atr_14": 2.0})
    b = recipe.row({"sma_20": 1100.0, "sma_50": 1000.0, "rsi_14": 40.0, "atr_14": 20.0})
    assert a == pytest.approx(b) and a["sma_20_vs_sma_50"] == pytest.approx(0.1)
    assert FeatureRecipe.from_dict(recipe.to_dict()) == recipe
    with pytest.raises(ValueError, match="scale-free"):
        recipe_from_specs([ATR(14)])


def test_build_dataset_checks_its_columns():
    s = daily_series(random_walk(20))
    with pytest.raises(ValueError, match="shape"):
        build_dataset(s, {"a": np.zeros(5)}, LabelConfig.swing())
    with pytest.raises(KeyError, match="b"):
        build_dataset(s, {"a": np.zeros(20)}, LabelConfig.swing(), feature_names=["b"])


def test_chronological_split_is_purged_and_ordered():
    parts = [dataset_from_series(daily_series(random_walk(300, seed=k), symbol=f"S{k}", seed=k),
                                 LabelConfig.swing(horizon=5)) for k in range(3)]
    ds = LabeledDataset.concat(parts)
    train, test = ds.chronological_split(0.25)
    assert len(train) > 0 and len(test) > 0
    first_test = test.start_ns.min()
    assert train.start_ns.max() < first_test
    assert train.exit_ns.max() < first_test  # no training label looks into the test period
    assert len(train) + len(test) < len(ds)  # the purge removed the straddling rows
    assert ds.fingerprint() == LabeledDataset.concat(parts).fingerprint()
    assert train.fingerprint() != test.fingerprint()
    assert sum(ds.class_counts().values()) == len(ds)


def test_session_boundaries_use_ist_dates():
    # 23:00 UTC on 1 Jan is 04:30 IST on 2 Jan: a different session from 1 Jan 10:00 IST.
    a = int(datetime(2024, 1, 1, 10, 0, tzinfo=IST).timestamp()) * 10**9
    b = int(datetime(2024, 1, 1, 23, 0, tzinfo=timezone.utc).timestamp()) * 10**9
    assert ((a + IST_OFFSET_NS) // 86_400_000_000_000) != ((b + IST_OFFSET_NS) // 86_400_000_000_000)
    ex = exit_indices(np.array([a, b], dtype=np.int64), LabelConfig.intraday(horizon=1))
    assert ex.tolist() == [-1, -1]


def test_moves_beyond_the_cap_are_left_unlabelled():
    close = np.array([100.0, 101.0, 50.0, 51.0, 52.0])  # a 1:2 split between bars 1 and 2
    s = daily_series(close)
    capped = make_labels(s, LabelConfig.swing(horizon=1, max_abs_return=0.25))
    assert capped.codes.tolist() == [LONG, UNLABELLED, LONG, LONG, UNLABELLED]
    assert capped.exit_index[1] == UNLABELLED
    assert make_labels(s, LabelConfig.swing(horizon=1)).codes[1] == SHORT
