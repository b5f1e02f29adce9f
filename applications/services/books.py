"""Run configuration and book planning shared by every mode: configs, books, venue, costs.

Backtest, paper and live import this module (never each other), so a paper session
builds exactly the strategy, risk, sizing, cost and venue objects a backtest builds
from the same ``BacktestConfig``: that is what makes their decisions identical.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from applications.wiring.store import project_root
from core.costs import CostConfig, FlatPercentCosts, NseEquityCosts
from core.errors import ConfigError
from core.model import IST_OFFSET_NS, Direction, BarSeries, CorporateAction, Interval, back_adjust, rupees_to_paise
from core.orders import Product
from core.risk import RiskConfig
from core.sizing import SizingConfig
from core.strategies import (
    IntradayConfig,
    IntradayStrategy,
    SentimentGateConfig,
    SmaCrossStrategy,
    SwingConfig,
    SwingStrategy,
)
from core.strategies.base import Strategy
from core.telemetry import TelemetryConfig
from core.venue import VenueRules
from ports.market_data import MarketDataFeed

STRATEGY_CHOICES = ("intraday", "swing", "both", "sma_cross")
SHIPPED_SWING_SYMBOLS = ["RELIANCE", "SBIN", "TATAMOTORS", "WIPRO", "TCS", "INFY", "HDFCBANK"]


@attrs.frozen(kw_only=True)
class IntradayBookConfig:
    symbols: list[str] = attrs.Factory(lambda: ["TCS"])
    interval: str = "1minute"
    initial_cash_rupees: int = 1_000_000
    strategy: IntradayConfig = attrs.Factory(IntradayConfig)


@attrs.frozen(kw_only=True)
class SwingBookConfig:
    symbols: list[str] = attrs.Factory(lambda: list(SHIPPED_SWING_SYMBOLS))
    interval: str = "1day"
    initial_cash_rupees: int = 1_000_000
    strategy: SwingConfig = attrs.Factory(SwingConfig)


@attrs.frozen(kw_only=True)
class ReferenceBookConfig:
    """The reference SMA crossover used for the peer comparison and the benchmark."""

    symbols: list[str] = attrs.Factory(lambda: ["TCS"])
    interval: str = "1minute"
    initial_cash_rupees: int = 10_000_000
    fast: int = 10
    slow: int = 30
    quantity: int = 100
    commission_rate: float = 0.001


@attrs.frozen(kw_only=True)
class SentimentSettings:
    """Point-in-time headline sentiment for backtests (VADER over the shipped headlines)."""

    enabled: bool = True
    # "headlines": VADER over the headline CSVs in news_dir; "snapshots": the daily
    # snapshot files in snapshot_dir (`sensequant data sentiment-snapshot`), point in time.
    source: str = attrs.field(default="headlines", validator=attrs.validators.in_(("headlines", "snapshots")))
    news_dir: str = "data/news"
    snapshot_dir: str = "data/sentiment"
    lookback_days: int = 3


@attrs.frozen(kw_only=True)
class SlippageSettings:
    bps: float = 2.0


@attrs.frozen(kw_only=True)
class BacktestConfig:
    """Everything a backtest run depends on; recorded in RunStarted and hashed."""

    strategy: str = "both"
    data_dir: str = "data/market"
    data_timezone: str = "Asia/Kolkata"
    # Splits/bonuses back-adjust history (the shipped daily bars are unadjusted); "" = none.
    corporate_actions_file: str = "data/market/corporate_actions.csv"
    start: str | None = None
    end: str | None = None
    seed: int = 42
    event_batch_size: int = 5000
    record_signals: bool = True
    # Close positions still open when the data ends at the last close (exit reason
    # "backtest_end"); False keeps them open and lists them as open in the exports.
    close_at_end: bool = True
    intraday: IntradayBookConfig = attrs.Factory(IntradayBookConfig)
    swing: SwingBookConfig = attrs.Factory(SwingBookConfig)
    reference: ReferenceBookConfig = attrs.Factory(ReferenceBookConfig)
    gate: SentimentGateConfig = attrs.Factory(SentimentGateConfig)
    sentiment: SentimentSettings = attrs.Factory(SentimentSettings)
    costs: CostConfig = attrs.Factory(CostConfig)
    risk: RiskConfig = attrs.Factory(RiskConfig)
    sizing: SizingConfig = attrs.Factory(SizingConfig)
    slippage: SlippageSettings = attrs.Factory(SlippageSettings)
    telemetry: TelemetryConfig = attrs.Factory(TelemetryConfig)

    def __attrs_post_init__(self) -> None:
        if self.strategy not in STRATEGY_CHOICES:
            raise ConfigError(f"strategy {self.strategy!r} is unknown; use one of {', '.join(STRATEGY_CHOICES)}")
        for label, value in (("start", self.start), ("end", self.end)):
            if value is not None:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise ConfigError(f"{label} date {value!r} is not YYYY-MM-DD") from None

    def books(self) -> list[str]:
        return {"both": ["intraday", "swing"]}.get(self.strategy, [self.strategy])


@attrs.frozen(kw_only=True)
class BookPlan:
    """One book, ready to run: its strategy, its data and its economics."""

    name: str
    strategy: Strategy
    product: Product
    series: list[BarSeries]
    initial_cash_paise: int
    cost_model: Any
    risk: RiskConfig
    sizing: SizingConfig
    slippage_bps: float
    tick_rounding: bool


def _bound(value: str | None, *, end: bool) -> datetime | None:
    if value is None:
        return None
    day = date.fromisoformat(value)
    # Dates are IST sessions: the end bound includes the whole end day.
    moment = datetime.combine(day, time(0), tzinfo=timezone.utc).timestamp() * 1e9 - IST_OFFSET_NS
    if end:
        moment += 86_400 * 1e9
    return datetime.fromtimestamp(moment / 1e9, tz=timezone.utc)


def session_bounds(config: "BacktestConfig") -> tuple[datetime | None, datetime | None]:
    """The run's first instant and the end of its last session (None: open-ended)."""
    return _bound(config.start, end=False), _bound(config.end, end=True)


def load_series(feed: MarketDataFeed, symbols: Sequence[str], interval: Interval, start: str | None,
                end: str | None, actions: Sequence[CorporateAction] = ()) -> list[BarSeries]:
    """Load every symbol's validated bars, back-adjusted for ``actions``.

    A symbol with no data in range is an error.
    """
    out = []
    available = set(feed.symbols(interval))
    for symbol in symbols:
        if symbol not in available:
            root = getattr(feed, "root", None)
            where = f" under {root}" if root is not None else ""
            raise ConfigError(f"no {interval.value} data for symbol {symbol!r}{where}; available: "
                              f"{', '.join(sorted(available)) or 'none'} (check --data-dir and --symbols)")
        series = feed.history_series(symbol, interval, _bound(start, end=False), _bound(end, end=True))
        if len(series) == 0:
            raise ConfigError(f"{symbol} has no {interval.value} bars between {start or 'the start'} and "
                              f"{end or 'the end'} of the data")
        out.append(back_adjust(series, list(actions)))
    return out


def load_actions(config: "BacktestConfig") -> list[CorporateAction]:
    if not config.corporate_actions_file:
        return []
    from adapters.csv.corporate_actions import load_corporate_actions
    path = Path(config.corporate_actions_file)
    if not path.is_absolute():
        path = project_root() / path
    return load_corporate_actions(path)


def data_fingerprint(series: Sequence[BarSeries]) -> str:
    """SHA-256 of the exact bars a run used (independent of file format and location)."""
    digest = hashlib.sha256()
    for s in sorted(series, key=lambda s: (s.symbol, s.interval.value)):
        digest.update(f"{s.symbol}|{s.interval.value}|{len(s)}".encode())
        for column in (s.start_ns, s.open, s.high, s.low, s.close, s.volume):
            digest.update(memoryview(np.ascontiguousarray(column)).cast("B"))  # no copy
    return digest.hexdigest()


def plan_books(config: BacktestConfig, feed: MarketDataFeed) -> list[BookPlan]:
    """Build every book the config asks for, loading its data."""
    plans = []
    actions = load_actions(config)
    for name in config.books():
        if name == "intraday":
            book = config.intraday
            strategy: Strategy = IntradayStrategy(book.strategy, config.gate)
            product, costs, sizing, risk = Product.INTRADAY, NseEquityCosts(config.costs), config.sizing, config.risk
            slippage, ticks = config.slippage.bps, True
        elif name == "swing":
            book = config.swing
            strategy = SwingStrategy(book.strategy, config.gate)
            product, costs, sizing, risk = Product.DELIVERY, NseEquityCosts(config.costs), config.sizing, config.risk
            slippage, ticks = config.slippage.bps, True
        else:
            book = config.reference
            strategy = SmaCrossStrategy(fast=book.fast, slow=book.slow, quantity=book.quantity)
            product, costs = Product.DELIVERY, FlatPercentCosts(book.commission_rate)
            sizing = SizingConfig(method="fixed_quantity", fixed_quantity=book.quantity, scale_by_confidence=False)
            risk = RiskConfig(gross_exposure_enabled=False, position_limit_enabled=False,
                              circuit_breaker_enabled=False)
            slippage, ticks = 0.0, False
        interval = Interval.parse(book.interval)
        series = load_series(feed, book.symbols, interval, config.start, config.end, actions)
        plans.append(BookPlan(name=name, strategy=strategy, product=product, series=series,
                              initial_cash_paise=rupees_to_paise(book.initial_cash_rupees), cost_model=costs,
                              risk=risk, sizing=sizing, slippage_bps=slippage, tick_rounding=ticks))
    return plans


def _book_configs(config: BacktestConfig) -> list[Any]:
    return [config.intraday if name == "intraday" else config.swing if name == "swing" else config.reference
            for name in config.books()]


def book_symbols(config: BacktestConfig) -> list[str]:
    """Every symbol the config's books trade (sorted, once each)."""
    return sorted({s.upper() for book in _book_configs(config) for s in book.symbols})


def book_intervals(config: BacktestConfig) -> list[Interval]:
    return sorted({Interval.parse(book.interval) for book in _book_configs(config)}, key=lambda i: i.value)


def entry_directions(plan: BookPlan) -> tuple[frozenset[Direction], str]:
    """The directions a book's strategy can enter, and the setting that decides them (for messages)."""
    strategy = plan.strategy
    if isinstance(strategy, (IntradayStrategy, SwingStrategy)):
        section = "intraday" if isinstance(strategy, IntradayStrategy) else "swing"
        wanted = {Direction.LONG} | ({Direction.SHORT} if strategy.config.allow_short else set())
        return frozenset(wanted), f"{section}.strategy.allow_short"
    declared = getattr(strategy, "entry_directions", None)
    return frozenset(declared or {Direction.LONG}), f"the {plan.name} strategy"


def check_books_against_venue(plans: Sequence[BookPlan], venue: VenueRules,
                              log: Callable[[str], None] = lambda _m: None) -> None:
    """Refuse (``ConfigError``) a book the venue would reject every entry of; note partial conflicts."""
    for plan in plans:
        directions, setting = entry_directions(plan)
        refusal = venue.book_refusal(plan.name, directions, setting)
        if refusal is not None:
            raise ConfigError(refusal)
        warning = venue.book_warning(plan.name, directions, setting)
        if warning is not None:
            log(warning)


def book_portfolio(plan: BookPlan):
    """A fresh portfolio with the book's cash and cost model."""
    from core.portfolio import Portfolio
    return Portfolio(plan.initial_cash_paise, plan.cost_model)


def run_namespace(run_id: str):
    """The uuid namespace event ids of a run derive from."""
    return uuid.UUID(hex=hashlib.sha256(run_id.encode()).hexdigest()[:32])


def describe_feed(feed: MarketDataFeed) -> dict[str, Any]:
    describe = getattr(feed, "describe", None)
    return describe() if callable(describe) else {"type": type(feed).__name__}
