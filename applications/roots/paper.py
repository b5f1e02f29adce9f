"""Composition root for paper trading: the backtest's core on bars as they close, simulated fills.

``run_paper(config, store=...)`` replays the configured bars (the shipped CSVs by
default) through ``adapters.simulated.ReplayBarSource`` at ``replay_speed`` times real
time, or takes any ``LiveBarSource`` (``source=``, e.g. Breeze websocket bars), and
trades them with exactly the objects ``run_backtest`` builds from the same config
(``applications.services.books``), one engine per book, a store opened durably, events flushed
per bar, crash recovery with ``resume=True`` (``applications.services.session``).

Real orders are impossible here by construction: this module never imports the Breeze
order adapter (``.importlinter`` forbids ``applications.roots.paper -> adapters.breeze.broker``),
``run_paper`` takes no broker argument, and the only venue it builds is a
``SimulatedBroker`` (``_paper_broker`` refuses anything else).

Restart design for the simulated venue: a ``SimulatedBroker`` keeps its working orders
in memory, so after ``kill -9`` they are rebuilt from the log. Every order it ever held
is in the book stream: ``OrderSubmitted`` (the request, with brackets), ``OrderRejected``
(never working), ``OrderFilled`` (done; an entry with brackets gets its ``-SL``/``-TP``
legs at that moment, exactly as the venue attaches them; a leg's fill cancels its
sibling), ``OrderCancelled`` (done, or the live legs of a filled parent). Folding those
(``EngineState.venue_orders``) gives the venue's working set after the last checkpointed
bar, in creation order; ``SimulatedBroker.restore`` re-creates them, eligible from the
next bar, with the last bar the venue saw (from the checkpoint) so a market order keeps
its session-gap square-off price. Fills are deterministic functions of (orders, bars),
so the restarted venue produces the fills the uninterrupted one would have, and the
engine ignores any fill whose trade id it has already applied.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from applications.services.books import (
    BacktestConfig,
    BookPlan,
    check_books_against_venue,
    data_fingerprint,
    describe_feed,
    plan_books,
    session_bounds,
)
from applications.wiring.adapters import (
    default_broker_factory,
    default_feed,
    default_sentiment,
    live_sentiment,
    load_model,
    replay_market_halts,
    uncovered_halts_note,
)
from applications.wiring.store import read_models_for
from applications.services.session.model import ModelLoader, select_session_model
from applications.services.session.settings import SessionResult, SessionSettings, StopSignal
from applications.services.session.bars import DailyBarsAtOpen, LiveSessionHistory, iter_merge, paper_square_off_fills
from applications.services.session.runner import run_session
from applications.services.projections import catch_up_quietly
from applications.services.session.watch import HealthInbox, WatchSettings
from core.errors import ConfigError
from core.events.catalog import PredictionTraced
from core.model import Bar
from core.telemetry import TelemetryConfig
from core.venue import venue_rules
from ports.clock import WaitableClock
from ports.event_store import EventStore
from ports.halts import MarketHalts
from ports.market_data import LiveBarSource, MarketDataFeed
from ports.predictor import Predictor
from ports.sentiment import SentimentProvider

MODE = "paper"


@attrs.frozen(kw_only=True)
class PaperOptions:
    """Session knobs (the trading config is the shared ``BacktestConfig``).

    ``replay_speed``: replay bars at this many times real time (0 = as fast as possible).
    ``telemetry``: live trace settings, by default 10 % of closed trades, no throttle.
    ``venue_rules``: the venue whose rules every entry is checked against, by default the
    live venue's (``breeze_cash``: no short selling) so that paper rehearses live; None
    ignores venue rules (research; then paper makes exactly a plain backtest's decisions).
    ``shared_account``: the books (``--strategy both``) trade one account with one risk
    manager: the daily-loss cap and gross exposure are the account's (``core.risk.AccountRisk``).
    ``market_halts``: pause on NSE's market-wide circuit breaker as live does, from the
    index's one-minute bars in the replayed data (or the ``halts`` given, e.g. Breeze quotes).
    """

    replay_speed: float = 60.0
    square_off_on_stop: bool = True
    telemetry: TelemetryConfig = attrs.Factory(lambda: TelemetryConfig(enabled=False, sample_rate=0.1))
    measure_latency: bool = False
    # Replays are legitimately quiet overnight: no staleness check unless asked for.
    watch: WatchSettings = attrs.Factory(WatchSettings)
    venue_rules: str | None = "breeze_cash"
    shared_account: bool = False
    # NSE's market-wide circuit breaker from the index's bars (a replay) or Breeze quotes
    # (--live-data), as live pauses on it; False: never halted (research).
    market_halts: bool = True


def _paper_broker(plan: BookPlan):
    from adapters.simulated import SimulatedBroker
    broker = default_broker_factory(plan)
    if not isinstance(broker, SimulatedBroker):  # pragma: no cover - guards future edits of the factory
        raise ConfigError("paper trading only ever uses the simulated venue")
    return broker


def run_paper(config: BacktestConfig, *, store: EventStore, feed: MarketDataFeed | None = None,
              source: LiveBarSource | None = None, clock: WaitableClock | None = None,
              sentiment: SentimentProvider | None | str = "default", predictor: Predictor | None = None,
              options: PaperOptions = PaperOptions(), run_id: str | None = None, resume: str | None = None,
              shutdown: StopSignal | None = None, trace_sink: Callable[[PredictionTraced], None] | None = None,
              log: Callable[[str], None] = lambda _m: None, label: str = "",
              health: HealthInbox | None = None, model: str | None = None,
              registry_dir: Path | None = None, model_loader: ModelLoader | None = None,
              halts: MarketHalts | None = None) -> SessionResult:
    """Run (or, with ``resume=RUN_ID``, continue) a paper session. No broker can be passed in.

    ``health``: where the feed and sentiment adapters built by the caller report their health.
    ``model`` (``production`` or a registered id) scores every decision, fixed at the
    session start (``applications.services.session.model``); a resume keeps the run's model.
    """
    from adapters.memory import InMemoryFeed
    from adapters.simulated import ReplayBarSource
    from adapters.system import WallClock

    feed = feed if feed is not None else default_feed(config)
    plans = plan_books(config, feed)
    venue = None if options.venue_rules is None else venue_rules(options.venue_rules)
    if venue is not None:
        check_books_against_venue(plans, venue, log)
    provider = default_sentiment(config) if sentiment == "default" else sentiment
    all_series = [s for p in plans for s in p.series]
    replay_feed = InMemoryFeed(all_series)
    clock = clock if clock is not None else WallClock()
    requests = [([s.symbol for s in p.series], p.series[0].interval) for p in plans]
    start_events = []
    if predictor is None:
        loader = model_loader or (lambda model_id: load_model(model_id, registry_dir))
        predictor, selected = select_session_model(store, mode=MODE, requested=model, load=loader,
                                                   resume_run=resume, log=log)
        start_events = [selected] if selected is not None else []

    def stream(resume_from: datetime | None) -> Iterator[Bar]:
        if source is not None:
            return iter_merge(source.stream(symbols, interval) for symbols, interval in requests)
        replay = ReplayBarSource(replay_feed, clock, speed=options.replay_speed, start=resume_from)
        return iter_merge(replay.stream(symbols, interval) for symbols, interval in requests)

    daily_on_live_data = source is not None and any(not p.series[0].interval.is_intraday for p in plans if p.series)
    if not options.market_halts:
        halts = None
    elif halts is None and source is None:
        halts = replay_market_halts(feed, *session_bounds(config), log=log)
        note = None if halts is None else uncovered_halts_note(halts, all_series)
        if note is not None:
            log(note)
    describe: dict[str, Any] = {"feed": describe_feed(feed), "source": "live" if source is not None else "replay",
                                "replay_speed": options.replay_speed,
                                "market_halts": None if halts is None else getattr(halts, "symbol", type(halts).__name__)}
    result = run_session(
        config, plans, store=store, mode=MODE, stream=stream, broker_factory=_paper_broker,
        telemetry=options.telemetry, run_id=resume or run_id or uuid.uuid4().hex, resume=resume is not None,
        # replayed bars are traded from the start (warm-up only when resuming); with a live
        # source the feed's bars are history: warm-up, never traded
        warmup_feed=replay_feed if (resume is not None or source is not None) else None,
        sentiment=provider, predictor=predictor, shutdown=shutdown,
        settings=SessionSettings(square_off_on_stop=options.square_off_on_stop,
                                 event_batch_size=config.event_batch_size,
                                 measure_latency=options.measure_latency, warmup_is_replay=source is None,
                                 shared_account=options.shared_account,
                                 # on live data a daily book's run goes on the next session, as live's
                                 continues_next_session=daily_on_live_data, lockstep_stream=daily_on_live_data),
        square_off_fills=paper_square_off_fills, data_fingerprint=data_fingerprint(all_series),
        describe=describe, trace_sink=trace_sink, log=log, label=label, watch=options.watch, health=health,
        venue=venue, start_events=start_events, halts=halts)
    # The session's read models are brought up to its log as it ends (the monitor and the
    # dashboard keep them current while it runs).
    catch_up_quietly(store, read_models_for(store), result.run_id, log)
    return result


def run_paper_on_live_data(config: BacktestConfig, *, store: EventStore, warmup_days: int = 10,
                           swing_warmup_days: int = 150,
                           clock: WaitableClock | None = None, sdk_factory: Any = None,
                           environ: dict[str, str] | None = None, dotenv_path: Any = None,
                           tick_poll_seconds: float = 0.5, **kwargs: Any) -> SessionResult:
    """Paper trading on real Breeze prices: history warms the books up, websocket bars are traded,
    fills stay simulated. Needs the Breeze credentials (data only: no order can be sent).

    A swing (daily) book rehearses live's: it steps at the open on the daily bars completed
    since its checkpoint and its session ends ``session_closed``; ``resume`` the next morning.
    """
    from datetime import time, timedelta

    from adapters.breeze.halts import BreezeMarketHalts
    from adapters.system import IST, WallClock
    from applications.wiring.breeze import load_credentials, open_breeze_data
    from core.venue.halts import NSE_OPEN

    credentials = load_credentials(environ, dotenv_path=dotenv_path)
    clock = clock if clock is not None else WallClock()
    today = clock.now().astimezone(IST).date()
    symbols = sorted({s for name in config.books()
                      for s in (config.intraday if name == "intraday" else config.swing
                                if name == "swing" else config.reference).symbols})
    health = kwargs.pop("health", None) or HealthInbox()
    data = open_breeze_data(credentials, clock, symbols, sdk_factory=sdk_factory,
                            tick_poll_seconds=tick_poll_seconds, on_health=health.report)
    # A daily book steps at the open on the daily bars completed since its checkpoint (a fresh
    # session: the newest), as live does; intraday books trade the websocket's minute bars.
    today_start = datetime.combine(today, time(0), tzinfo=IST)
    history = LiveSessionHistory(data.history, today_start, intraday_days=warmup_days, daily_days=swing_warmup_days,
                                 hold_back_newest_daily=kwargs.get("resume") is None)
    source = DailyBarsAtOpen(data.history, data.bars, clock, today_start=today_start,
                             market_open=datetime.combine(today, NSE_OPEN, tzinfo=IST),
                             shutdown=kwargs.get("shutdown"))
    warm = attrs.evolve(config, start=(today - timedelta(days=max(warmup_days, swing_warmup_days))).isoformat(),
                        end=None)
    if kwargs.get("sentiment", "default") == "default":
        kwargs["sentiment"] = live_sentiment(config, clock, environ, on_health=health.report)
    # the halts live sees: circuit limits and NIFTY's move from Breeze quotes (data only)
    kwargs.setdefault("halts", BreezeMarketHalts(data.session, data.symbol_map))
    return run_paper(warm, store=store, feed=history, source=source, clock=clock, health=health, **kwargs)


__all__ = ["MODE", "PaperOptions", "run_paper", "run_paper_on_live_data"]
