"""Backtest-level model validation: candidate vs champion through the real engine.

Both models score inside the swing strategy (model blend enabled, so the model changes
confidence and can veto entries) over the candidate's held-out window, on the same bars,
costs and risk rules. Each backtest is its own run (mode ``validation``) in the event log.
The window is cut into consecutive walk-forward folds; each fold and the whole window are
scored from the run's events:

- precision: share of closed trades predicted LONG whose realised move was LONG
  (``PredictionTraced``: predicted vs actual direction at the strategy's 0.5 % threshold);
- hit ratio: share of closed trades with positive net P&L (``TradeClosed``);
- Sharpe ratio: annualised daily returns of end-of-session equity (``PortfolioSnapshotted``).

Without a production champion the candidate is compared with the same strategy running
without any model — the behaviour it would replace. The verdict is a ``PromotionDecided``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import attrs
import numpy as np

from adapters.ml.predictor import load_predictor
from adapters.ml.registry import ModelRecord, ModelRegistry
from applications.services.books import BacktestConfig, SwingBookConfig
from applications.services.backtest import run_backtest
from applications.services.learning import IST, SHIPPED_DAILY_SYMBOLS, ActionRun, utc_now, record_decision
from core.errors import ConfigError, ModelRegistryError
from core.events.catalog import PortfolioSnapshotted, PredictionTraced, TradeClosed
from core.learning.gate import PromotionDecision, PromotionThresholds, Scorecard, evaluate_promotion
from core.learning.metrics import hit_ratio, sharpe_ratio
from core.strategies import ModelBlendConfig, SwingConfig, SwingStrategy
from ports.event_store import EventStore
from ports.market_data import MarketDataFeed

Progress = Callable[[str, int, int], None]


@attrs.frozen(kw_only=True)
class ValidationConfig:
    """How the candidate is tested. ``warmup_days`` of bars before the window feed the indicators."""

    folds: int = 3
    warmup_days: int = 120
    model_weight: float = 0.5
    veto_below: float | None = 0.35
    data_dir: str = "data/market"
    start: str | None = None
    end: str | None = None
    thresholds: PromotionThresholds = attrs.Factory(PromotionThresholds)

    def __attrs_post_init__(self) -> None:
        if self.folds < 1:
            raise ConfigError(f"folds must be at least 1, got {self.folds}")
        if not 0.0 <= self.model_weight <= 1.0:
            raise ConfigError(f"model_weight must be within 0..1, got {self.model_weight}")


@attrs.frozen(kw_only=True)
class FoldScore:
    start: date
    end: date
    trades: int
    scorecard: Scorecard

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "trades": self.trades,
                **self.scorecard.to_dict()}


@attrs.frozen(kw_only=True)
class ModelBacktest:
    model_id: str | None
    run_id: str
    overall: FoldScore
    folds: tuple[FoldScore, ...]
    #: ``score_run`` data (trades, LONG traces, equity by session), for pooling across windows.
    data: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class ValidationOutcome:
    candidate: ModelBacktest
    champion: ModelBacktest
    decision: PromotionDecision
    window: tuple[date, date]


def _session_of(moment: datetime) -> date:
    return moment.astimezone(IST).date()


def score_run(store: EventStore, run_id: str, window: tuple[date, date]) -> tuple[FoldScore, list]:
    """Precision, hit ratio and Sharpe of one backtest run inside ``window`` (IST sessions, inclusive)."""
    trades: list[tuple[date, float]] = []
    traces: list[tuple[date, str, str]] = []
    equity: dict[date, int] = {}
    after = 0
    while True:
        page = store.read_all(after, 10_000, run_id=run_id)
        if not page:
            break
        after = page[-1].seq
        for rec in page:
            e = rec.event
            if isinstance(e, TradeClosed):
                trades.append((_session_of(e.entry_time), e.net_pnl_paise / 100.0))
            elif isinstance(e, PredictionTraced):
                traces.append((_session_of(e.timestamp), e.predicted_direction, e.actual_direction))
            elif isinstance(e, PortfolioSnapshotted):
                equity[e.session_date] = equity.get(e.session_date, 0) + e.equity_paise
    data = (trades, traces, sorted(equity.items()))
    return _score(data, window), data


def window_parts(data, window: tuple[date, date]) -> tuple[list[float], list[tuple[str, str]], list[float]]:
    """Trade P&Ls, LONG (predicted, actual) pairs and daily equity returns of ``score_run`` data inside ``window``."""
    trades, traces, equity = data
    lo, hi = window
    pnl = [p for d, p in trades if lo <= d <= hi]
    longs = [(pred, act) for d, pred, act in traces if lo <= d <= hi and pred == "LONG"]
    # Returns of sessions inside the window, each against the previous session's equity.
    values = [(d, v) for d, v in equity]
    rets = [values[k][1] / values[k - 1][1] - 1.0 for k in range(1, len(values))
            if lo <= values[k][0] <= hi and values[k - 1][1] > 0]
    return pnl, longs, rets


def scorecard_of(pnl: Sequence[float], longs: Sequence[tuple[str, str]], rets: Sequence[float]) -> Scorecard:
    """LONG precision, hit ratio and annualised Sharpe from window parts (NaN where undefined)."""
    precision = (sum(act == "LONG" for _, act in longs) / len(longs)) if longs else float("nan")
    return Scorecard(precision=precision, hit_ratio=hit_ratio(np.array(pnl, dtype=np.float64)),
                     sharpe_ratio=sharpe_ratio(np.array(rets, dtype=np.float64), 252.0))


def _score(data, window: tuple[date, date]) -> FoldScore:
    pnl, longs, rets = window_parts(data, window)
    return FoldScore(start=window[0], end=window[1], trades=len(pnl), scorecard=scorecard_of(pnl, longs, rets))


def _fold_windows(lo: date, hi: date, folds: int) -> list[tuple[date, date]]:
    days = (hi - lo).days + 1
    edges = [lo + timedelta(days=round(k * days / folds)) for k in range(folds + 1)]
    return [(edges[k], edges[k + 1] - timedelta(days=1)) for k in range(folds)]


def _window_of(candidate: ModelRecord, config: ValidationConfig) -> tuple[date, date]:
    test = candidate.extra.get("test_window") or {}
    start = config.start or (test.get("start") and _session_of(datetime.fromisoformat(test["start"])).isoformat())
    end = config.end or (test.get("end") and _session_of(datetime.fromisoformat(test["end"])).isoformat())
    if not start or not end:
        raise ConfigError(f"model {candidate.model_id} records no held-out window; pass --start and --end")
    try:
        lo, hi = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise ConfigError(f"validation window {start!r}..{end!r} is not YYYY-MM-DD") from None
    if hi < lo:
        raise ConfigError(f"validation window ends ({hi}) before it starts ({lo})")
    return lo, hi


def swing_predictor(model_id: str, registry: ModelRegistry):
    """The (hash-verified) predictor of ``model_id``; ``ConfigError`` if the swing book lacks its columns."""
    predictor = load_predictor(registry, model_id)
    have = set(SwingStrategy(SwingConfig()).feature_spec())
    missing = [c for c in predictor.required_columns if c not in have]
    if missing:
        raise ConfigError(f"model {model_id} reads feature columns {missing} that the swing strategy does not "
                          f"compute (it has {sorted(have)}); re-train it with `sensequant models train "
                          "--features strategy`")
    return predictor


def _backtest(model_id: str | None, *, registry: ModelRegistry, store: EventStore, symbols: Sequence[str],
              window: tuple[date, date], config: ValidationConfig, feed: MarketDataFeed | None,
              folds: list[tuple[date, date]], progress: Progress | None,
              label: str | None = None) -> ModelBacktest:
    predictor = swing_predictor(model_id, registry) if model_id else None
    swing = SwingConfig(model=ModelBlendConfig(enabled=predictor is not None, weight=config.model_weight,
                                               veto_below=config.veto_below))
    bt = BacktestConfig(strategy="swing", data_dir=config.data_dir,
                        start=(window[0] - timedelta(days=config.warmup_days)).isoformat(), end=window[1].isoformat(),
                        swing=SwingBookConfig(symbols=list(symbols), strategy=swing))
    label = label or (f"validate {model_id}" if model_id else "validate (no model)")

    def step(_book: str, done: int, total: int) -> None:
        if progress is not None:
            progress(label, done, total)

    result = run_backtest(bt, store=store, feed=feed, sentiment=None, predictor=predictor, mode="validation",
                          label=label, progress=step)
    overall, data = score_run(store, result.run_id, window)
    return ModelBacktest(model_id=model_id, run_id=result.run_id, overall=overall,
                         folds=tuple(_score(data, f) for f in folds), data=data)


def validate_models(candidate_id: str, *, store: EventStore, registry: ModelRegistry,
                    champion_id: str | None = None, config: ValidationConfig = ValidationConfig(),
                    feed: MarketDataFeed | None = None, now: datetime | None = None,
                    progress: Progress | None = None) -> ValidationOutcome:
    """Backtest candidate and champion over the candidate's held-out window; decide and record."""
    now = now or utc_now()
    candidate = registry.get(candidate_id)
    if candidate.label_config.get("kind", "swing") != "swing":
        raise ConfigError(f"model {candidate.model_id} is an {candidate.label_config.get('kind')} model; "
                          "backtest validation runs the swing book only (use `sensequant models gate` instead)")
    champion_id = champion_id or registry.champion()
    if champion_id is not None:
        champion_id = registry.resolve(champion_id)
        if champion_id == candidate.model_id:
            raise ModelRegistryError(f"{candidate.model_id} is already the champion; nothing to compare")
    window = _window_of(candidate, config)
    folds = _fold_windows(window[0], window[1], config.folds)
    symbols = list(candidate.extra.get("symbols") or SHIPPED_DAILY_SYMBOLS)
    common = dict(registry=registry, store=store, symbols=symbols, window=window, config=config, feed=feed,
                  folds=folds, progress=progress)
    cand = _backtest(candidate.model_id, **common)
    champ = _backtest(champion_id, **common)
    decision = evaluate_promotion(
        cand.overall.scorecard, champ.overall.scorecard, candidate_id=candidate.model_id, champion_id=champion_id,
        thresholds=config.thresholds,
        context={"method": (f"backtest: swing book, model blend weight {config.model_weight}, veto below "
                            f"{config.veto_below}, no sentiment; champion "
                            f"{'= production model' if champion_id else '= the strategy without a model'}"),
                 "validation_window": f"{window[0]}..{window[1]}", "folds": config.folds,
                 "symbols": ",".join(symbols), "candidate_run": cand.run_id, "champion_run": champ.run_id,
                 "candidate_trades": cand.overall.trades, "champion_trades": champ.overall.trades,
                 "candidate_folds": [f.to_dict() for f in cand.folds],
                 "champion_folds": [f.to_dict() for f in champ.folds]})
    with ActionRun(store, mode="validation", config={"action": "validate", "candidate": candidate.model_id,
                                                "champion": champion_id, "window": [str(window[0]), str(window[1])],
                                                "config": json.loads(json.dumps(attrs.asdict(config), default=str))},
              fingerprint=candidate.data_fingerprint, at=now, label=f"gate {candidate.model_id}") as run:
        record_decision(store, decision, run_id=run.run_id, at=now)
    return ValidationOutcome(candidate=cand, champion=champ, decision=decision, window=window)

