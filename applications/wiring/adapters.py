"""Default adapters built from a run's configuration: the CSV feed, headline or live sentiment, and
the simulated broker. Services take these as ports; only roots and defaults construct them here."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from applications.wiring.store import project_root
from core.errors import ConfigError
from ports.market_context import MarketContextProvider
from ports.market_data import MarketDataFeed
from ports.sentiment import SentimentProvider

if TYPE_CHECKING:  # types only: the wiring layer never imports a service at run time
    from applications.services.books import BacktestConfig, BookPlan


def csv_feed(data_dir: str, data_timezone: str) -> MarketDataFeed:
    """The CSV feed over ``data_dir`` (relative paths from the project root)."""
    from adapters.csv import CsvFeed
    root = Path(data_dir)
    if not root.is_absolute():
        root = project_root() / root
    return CsvFeed(root, timezone=data_timezone)


def default_feed(config: BacktestConfig) -> MarketDataFeed:
    return csv_feed(config.data_dir, config.data_timezone)


# Dask workers (optimisation trials, walk-forward windows, batch backtests) keep the feed
# they built, so the bars are loaded and validated once per worker, not once per task.
_WORKER_FEEDS: dict[tuple[str, str], MarketDataFeed] = {}


def worker_feed(data_dir: str, data_timezone: str) -> MarketDataFeed:
    key = (data_dir, data_timezone)
    if key not in _WORKER_FEEDS:
        _WORKER_FEEDS[key] = csv_feed(data_dir, data_timezone)
    return _WORKER_FEEDS[key]


DEFAULT_INDEX_BARS = "data/index/NIFTY50_index_1day_yahoo.csv.gz"


def default_market_context(path: Path | str | None = None) -> MarketContextProvider:
    """NIFTY 50 regime at trade entry from the shipped daily index closes (see data/README.md)."""
    from adapters.market_context import IndexDailyContext
    target = Path(path or DEFAULT_INDEX_BARS)
    if not target.is_absolute():
        target = project_root() / target
    if not target.is_file():
        raise ConfigError(f"index bars {target} not found; pass --index-bars FILE (date,close CSV) or "
                          "--no-market-context")
    return IndexDailyContext.from_csv(target)


def default_sentiment(config: BacktestConfig) -> SentimentProvider | None:
    if not config.sentiment.enabled:
        return None
    if config.sentiment.source == "snapshots":
        from adapters.sentiment import SnapshotSentimentProvider
        root = Path(config.sentiment.snapshot_dir)
        if not root.is_absolute():
            root = project_root() / root
        if not root.is_dir():
            raise ConfigError(f"sentiment.snapshot_dir {root} does not exist; write snapshots with `sensequant "
                              "data sentiment-snapshot` or use sentiment.source = \"headlines\"")
        return SnapshotSentimentProvider(root, max_age_days=config.sentiment.lookback_days)
    from adapters.sentiment import HeadlinesSentimentProvider
    news = Path(config.sentiment.news_dir)
    if not news.is_absolute():
        news = project_root() / news
    if not news.is_dir():
        raise ConfigError(f"sentiment.news_dir {news} does not exist; point it at a folder of headline CSVs "
                          "or disable sentiment with --no-sentiment")
    return HeadlinesSentimentProvider(news, lookback=timedelta(days=config.sentiment.lookback_days))


def snapshot_source(source: str, config: BacktestConfig, *, dry_run: bool = False, environ: Any = None,
                    clock: Any = None) -> SentimentProvider:
    """The provider a snapshot is taken from: the shipped headlines (VADER, offline), NewsAPI
    (``SENTIMENT_NEWSAPI_API_KEY``) or X recent search (``SENTIMENT_TWITTER_BEARER_TOKEN``).
    A dry run never touches the network: NewsAPI and X are replaced by the neutral stub."""
    import os

    env = os.environ if environ is None else environ
    lookback = timedelta(days=config.sentiment.lookback_days)
    if source == "headlines":
        from adapters.sentiment import HeadlinesSentimentProvider
        news = Path(config.sentiment.news_dir)
        if not news.is_absolute():
            news = project_root() / news
        if not news.is_dir():
            raise ConfigError(f"sentiment.news_dir {news} does not exist; point it at a folder of headline CSVs")
        return HeadlinesSentimentProvider(news, lookback=lookback)
    if dry_run:
        from adapters.sentiment import StubSentimentProvider
        return StubSentimentProvider(name=f"stub (dry run of {source})")
    if source == "newsapi":
        from adapters.sentiment import NewsApiProvider
        key = env.get("SENTIMENT_NEWSAPI_API_KEY")
        if not key:
            raise ConfigError("--source newsapi needs SENTIMENT_NEWSAPI_API_KEY in the environment")
        return NewsApiProvider(key, lookback=lookback)
    if source == "x":
        from adapters.sentiment import XRecentSearchProvider
        from adapters.system import WallClock
        token = env.get("SENTIMENT_TWITTER_BEARER_TOKEN")
        if not token:
            raise ConfigError("--source x needs SENTIMENT_TWITTER_BEARER_TOKEN in the environment")
        return XRecentSearchProvider(token, clock if clock is not None else WallClock())
    raise ConfigError(f"unknown sentiment source {source!r}; use headlines, newsapi or x")


def live_sentiment(config: BacktestConfig, clock: Any, environ: Any = None,
                   on_health: Any = None) -> SentimentProvider | None:
    """Live sentiment: the registry over every configured source (headlines folder, NewsAPI with
    ``SENTIMENT_NEWSAPI_API_KEY``, X with ``SENTIMENT_TWITTER_BEARER_TOKEN``), with circuit breakers,
    rate limits, a TTL cache and a neutral last resort; None when sentiment is disabled."""
    import os
    from datetime import timedelta

    if not config.sentiment.enabled:
        return None
    from adapters.sentiment.factory import build_sentiment_registry
    env = os.environ if environ is None else environ
    news = Path(config.sentiment.news_dir)
    if not news.is_absolute():
        news = project_root() / news
    return build_sentiment_registry(clock, news_dir=news if news.is_dir() else None,
                                    newsapi_key=env.get("SENTIMENT_NEWSAPI_API_KEY") or None,
                                    twitter_bearer_token=env.get("SENTIMENT_TWITTER_BEARER_TOKEN") or None,
                                    lookback=timedelta(days=config.sentiment.lookback_days), on_health=on_health)


#: The index whose one-minute bars drive a replay's market-wide halts (shipped: data/market).
HALT_INDEX = "NIFTY50"


def replay_market_halts(feed: MarketDataFeed, start: datetime | None, end: datetime | None,
                        log: Any = lambda _m: None) -> Any:
    """NSE's market-wide circuit breaker for a replay, from the index's one-minute bars in
    ``feed`` between ``start`` and ``end`` (``adapters.simulated.halts.IndexBarHalts``);
    None, said in ``log``, when the feed has no such bars."""
    from adapters.simulated.halts import IndexBarHalts
    from core.model import Interval

    if HALT_INDEX not in feed.symbols(Interval.MINUTE_1):
        log(f"market-wide halts are not simulated: no {HALT_INDEX} one-minute bars in the data")
        return None
    start = None if start is None else start - timedelta(days=7)   # the session before the first
    series = feed.history_series(HALT_INDEX, Interval.MINUTE_1, start, end)
    if not len(series):
        log(f"market-wide halts are not simulated: no {HALT_INDEX} bars in the run's dates")
        return None
    return IndexBarHalts(series)


def uncovered_halts_note(halts: Any, series: Any) -> str | None:
    """What to tell the user when a replay's index bars do not reach the traded bars' dates
    (the halts then never fire), else None."""
    covers = getattr(halts, "covers", None)
    if covers is None or not series:
        return None
    first = min(int(s.start_ns[0]) for s in series if len(s))
    last = max(int(s.start_ns[-1]) for s in series if len(s))
    if covers(first, last):
        return None
    return (f"market-wide halts cannot fire here: the {HALT_INDEX} one-minute bars in the data do not cover "
            "the traded dates (add index bars for them)")


def default_broker_factory(plan: BookPlan):
    from adapters.simulated import BrokerConfig, SimulatedBroker
    config = BrokerConfig(slippage_bps=plan.slippage_bps)
    if plan.tick_rounding:
        return SimulatedBroker(config)
    # The reference book trades at the data's own prices (paisa resolution), like its peer.
    return SimulatedBroker(config, tick_rule=lambda _price_paise, _on: 1)


def load_model(model_id: str, registry_dir: Path | None = None) -> Any:
    """The registered student model ``model_id`` ('production' = the champion), hash-verified
    by the registry before it is loaded."""
    from adapters.ml.predictor import load_predictor
    from adapters.ml.registry import ModelRegistry, default_registry_dir
    from applications.wiring.store import runs_dir

    registry = ModelRegistry(registry_dir or default_registry_dir(runs_dir()))
    return load_predictor(registry, None if model_id == "production" else model_id)
