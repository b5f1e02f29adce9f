"""Composition root for live trading on ICICI Breeze: real orders, same core as backtest and paper.

``run_live(config, store=..., confirm_live=True)``:

* refuses to start without ``confirm_live`` (``LiveNotConfirmedError``) and without the
  three credentials ``BREEZE_API_KEY``, ``BREEZE_API_SECRET``, ``BREEZE_SESSION_TOKEN``
  (environment, or ``.env`` at the project root; ``ConfigError`` names the missing ones);
* opens a Breeze session, warms the feature books up with ``BreezeHistoricalFeed``
  (``warmup_days`` of history, not traded), then trades closed bars from the websocket
  (``BreezeLiveBarSource`` -> ``TickBarAggregator``) through ``BreezeBroker``, whose
  client-id records (``data/runs/breeze_orders/<run>.json``) make a resend after a crash
  idempotent;
* ``--strategy intraday``, ``swing`` or ``both``: with both, the two books trade one account
  in one process: one Breeze session and order adapter (``BreezeBookOrders``: each book sees
  its own orders and fills), one risk manager (``core.risk.AccountRisk``: one daily-loss cap,
  one gross-exposure cap over both books), and one reconciliation of the account's shares
  against the two books' positions summed;
* a swing (daily) book trades an account that outlives the session: each morning, at the
  open, it steps on the daily bars completed since its last checkpoint (Breeze history) --
  the decision on yesterday's close, the order at today's open, as in a backtest -- then
  polls the broker until the close, so protective legs go out as soon as an entry fills.
  The session ends ``session_closed`` and ``--resume RUN`` continues it the next morning:
  the state is folded from the log, orders of earlier sessions are settled at the broker
  (``settle_day_orders``: late executions collected, anything lapsed that protects nothing
  expired), fills the log never applied are reported again, the book is reconciled with the
  broker's holdings before the first bar, counting those fills on the log's side (refused on
  a difference), and only then are the carried position's stop and target placed again for
  today under the same client ids (``renew_lapsed``; ``DayOrdersRenewed``);
* one live process per account: the store's account lease (``claim_account``, keyed by the
  non-secret ``BreezeCredentials.account_id``) refuses a second session on the same
  credentials, naming the holder, while the first heartbeats;
* each book's cash is the broker's available equity funds (allocated minus blocked),
  capped by its configured capital (``AccountFundsObserved``); a resume keeps the run's cash;
* every entry is checked against the Breeze cash rules (``core.venue.BREEZE_CASH``): a
  short entry becomes ``EntryRejected`` with the venue's reason, and a book that could
  only ever short is refused before the session starts (the message names the setting).
  A same-day round trip in ``cash`` is costed as intraday (the intraday book's cost model);
* halts come from Breeze quotes (``BreezeMarketHalts``): no new entry in the direction of a
  stock's circuit limit, and the session pauses during an NSE market-wide halt.

``breeze_connect`` is imported only by the default SDK factory of ``adapters.breeze``;
tests pass a fake ``sdk_factory``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import attrs

from applications.services.books import BacktestConfig, BookPlan, check_books_against_venue, plan_books
from applications.wiring.adapters import live_sentiment, load_model
from applications.services.session.bars import daily_session_bars, without_last_bar
from applications.services.session.days import SessionCalendar, run_sessions_by_calendar
from applications.services.session.funds import size_books_from_funds
from applications.services.session.model import ModelLoader, select_session_model
from applications.services.session.settings import SessionResult, SessionSettings, StopSignal
from applications.services.session.runner import run_session
from applications.services.projections import catch_up_quietly
from applications.services.session.watch import HealthInbox, WatchSettings
from applications.wiring.store import read_models_for, runs_dir
from core.errors import ConfigError
from core.events.account import DayOrdersRenewed
from core.events.catalog import PredictionTraced
from core.model import Bar
from core.orders import Fill
from core.telemetry import TelemetryConfig
from core.venue import BREEZE_CASH
from core.venue.halts import NSE_CLOSE, NSE_OPEN
from ports.broker import Broker
from ports.event_store import EventStore
from ports.sentiment import SentimentProvider

MODE = "live"
LIVE_STRATEGIES = ("intraday", "swing", "both")


class LiveNotConfirmedError(ConfigError):
    """Live trading sends real orders; it must be asked for explicitly."""


@attrs.frozen(kw_only=True)
class LiveOptions:
    warmup_days: int = 10
    square_off_on_stop: bool = True
    session_end_ist: str = f"{NSE_CLOSE:%H:%M}"
    telemetry: TelemetryConfig = attrs.Factory(lambda: TelemetryConfig(enabled=False, sample_rate=0.1))
    square_off_polls: int = 10
    square_off_poll_seconds: float = 1.0
    tick_poll_seconds: float = 0.5
    # A daily book needs its slow averages warm: calendar days of daily history loaded.
    swing_warmup_days: int = 150
    # When a daily book's session trades: from the open, and how often it polls for fills.
    market_open_ist: str = f"{NSE_OPEN:%H:%M}"
    fill_poll_seconds: float = 30.0
    # Live: no bar for three minutes during the session is a stale feed (reduce-only).
    watch: WatchSettings = attrs.Factory(lambda: WatchSettings(feed_stale_seconds=180.0))


def check_live_allowed(confirm_live: bool, *, environ: dict[str, str] | None = None,
                       dotenv_path: Path | None = None):
    """Both refusals, before anything touches the network: the flag, then the credentials."""
    if not confirm_live:
        raise LiveNotConfirmedError("live trading sends REAL orders to ICICI Breeze; pass --confirm-live to "
                                    "proceed (use `sensequant paper` to trade without real orders)")
    from applications.wiring.breeze import load_credentials
    return load_credentials(environ, dotenv_path=dotenv_path)


def run_live(config: BacktestConfig, *, store: EventStore, confirm_live: bool, options: LiveOptions = LiveOptions(),
             sdk_factory: Any = None, environ: dict[str, str] | None = None, dotenv_path: Path | None = None,
             clock: Any = None, sentiment: SentimentProvider | None | str = "default", run_id: str | None = None,
             resume: str | None = None, shutdown: StopSignal | None = None,
             trace_sink: Callable[[PredictionTraced], None] | None = None, orders_dir: Path | None = None,
             log: Callable[[str], None] = lambda _m: None, label: str = "", model: str | None = None,
             registry_dir: Path | None = None, model_loader: ModelLoader | None = None) -> SessionResult:
    """Trade live on Breeze (see the module docstring). ``model``: as ``run_paper``'s."""
    credentials = check_live_allowed(confirm_live, environ=environ, dotenv_path=dotenv_path)
    if config.strategy not in LIVE_STRATEGIES:
        raise ConfigError(f"live trading runs the intraday book, the swing book or both on one account; --strategy "
                          f"must be one of {', '.join(LIVE_STRATEGIES)}, got {config.strategy!r}")
    run_id = resume or run_id or uuid.uuid4().hex
    # One process per account: a second live session (new run or resume) on the same
    # credentials is refused here, before the Breeze session opens, while this one heartbeats.
    store.claim_account(credentials.account_id, run_id)
    from adapters.breeze import BreezeBookOrders, BreezeBroker, JsonFileOrderRecords
    from adapters.breeze.halts import BreezeMarketHalts
    from adapters.memory import InMemoryFeed
    from adapters.system import IST, WallClock
    from applications.wiring.breeze import open_breeze_data

    clock = clock if clock is not None else WallClock()
    today = clock.now().astimezone(IST).date()
    session_end = datetime.combine(today, _hhmm(options.session_end_ist), tzinfo=IST)
    market_open = datetime.combine(today, _hhmm(options.market_open_ist), tzinfo=IST)
    names = config.books()
    daily, intraday = "swing" in names, "intraday" in names
    health = HealthInbox()
    symbols = sorted({s.upper() for name in names
                      for s in (config.swing if name == "swing" else config.intraday).symbols})
    data = open_breeze_data(credentials, clock, symbols, sdk_factory=sdk_factory,
                            session_end=session_end, tick_poll_seconds=options.tick_poll_seconds,
                            on_health=health.report)
    session, symbol_map, history, source = data.session, data.symbol_map, data.history, data.bars
    plans: list[BookPlan] = []
    for name in names:
        if name == "swing":
            # completed daily bars only: today's forms until the close and is traded tomorrow
            warm = attrs.evolve(config, strategy=name,
                                start=(today - timedelta(days=options.swing_warmup_days)).isoformat(),
                                end=(today - timedelta(days=1)).isoformat())
        else:
            warm = attrs.evolve(config, strategy=name, start=(today - timedelta(days=options.warmup_days)).isoformat(),
                                end=None)
        plans.extend(plan_books(warm, history))
    check_books_against_venue(plans, BREEZE_CASH, log)
    provider = live_sentiment(config, clock, environ, on_health=health.report) if sentiment == "default" else sentiment
    loader = model_loader or (lambda model_id: load_model(model_id, registry_dir))
    predictor, selected = select_session_model(store, mode=MODE, requested=model, load=loader, resume_run=resume,
                                               log=log)
    records_dir = orders_dir or (runs_dir() / "breeze_orders")
    records_dir.mkdir(parents=True, exist_ok=True)
    records = JsonFileOrderRecords(records_dir / f"{run_id}.json")

    broker = BreezeBroker(session, symbol_map, records, clock)
    shared = len(plans) > 1

    def broker_factory(plan: BookPlan) -> Broker:
        # two books, one account: one connection, each book sees its own orders and fills
        return BreezeBookOrders(broker, plan.name) if shared else broker

    # sizing from the account: the broker's available equity funds, capped by the configured capital
    funds = broker.funds()
    available = funds.allocated_equity_paise - funds.blocked_equity_paise
    plans, funds_events = size_books_from_funds(plans, available, store=store, resume_run=resume, log=log)
    # orders of earlier sessions lapsed at their close (Breeze: day validity): see what became of
    # them now, place the carried position's protective legs again once the account reconciles
    settled = broker.settle_day_orders() if resume is not None else []

    def renew_after_reconciliation(name: str) -> list[DayOrdersRenewed]:
        # the settled outcomes are reported once, with the first renewal
        earlier, settled[:] = list(settled), []
        return _renewal_events(name, earlier + broker.renew_lapsed(), log)

    daily_plans = [p for p in plans if p.name == "swing"]
    intraday_plans = [p for p in plans if p.name != "swing"]
    warmup_series = [s for p in intraday_plans for s in p.series]
    for p in daily_plans:
        # a fresh daily book trades its newest completed bar (yesterday's close -> today's open)
        warmup_series += [without_last_bar(s) for s in p.series] if resume is None else list(p.series)

    def stream(resume_from: datetime | None) -> Iterator[Bar]:
        parts: list[Iterator[Bar]] = []
        if daily:
            # the daily bars at the open; with an intraday book the websocket then runs to the close
            parts.append(daily_session_bars([s for p in daily_plans for s in p.series], resume_from, clock=clock,
                                            shutdown=shutdown, market_open=market_open,
                                            session_end=market_open if intraday else session_end,
                                            poll_seconds=options.fill_poll_seconds))
        for p in intraday_plans:
            parts.append(source.stream([s.symbol for s in p.series], p.series[0].interval))
        return itertools.chain(*parts)

    last_poll = [float("-inf")]

    def poll_fills() -> None:
        # protective legs go out as soon as an entry is done filling, not at tomorrow's bar
        now = clock.now().timestamp()
        if now - last_poll[0] >= options.fill_poll_seconds:
            last_poll[0] = now
            broker.collect()

    def square_off_fills(broker: Broker, book: Any) -> Sequence[Fill]:
        from applications.services.session.bars import flat_bar_after
        fills: list[Fill] = []
        for _ in range(options.square_off_polls):
            fills.extend(broker.advance(flat_bar_after(book)))
            if not broker.open_order_ids():
                break
            clock.sleep(options.square_off_poll_seconds)
        return fills

    result = run_session(
        config, plans, store=store, mode=MODE, stream=stream, broker_factory=broker_factory,
        telemetry=options.telemetry, run_id=run_id, resume=resume is not None,
        warmup_feed=InMemoryFeed(warmup_series), sentiment=provider, shutdown=shutdown,
        predictor=predictor, halts=BreezeMarketHalts(session, symbol_map),
        start_events=([selected] if selected is not None else []) + list(funds_events),
        settings=SessionSettings(square_off_on_stop=options.square_off_on_stop, reconcile_at_start=True,
                                 continues_next_session=daily, lockstep_stream=daily, shared_account=shared),
        square_off_fills=square_off_fills, data_fingerprint="",
        describe={"feed": "breeze", "today": str(today), "market_halts": "breeze_quotes"},
        trace_sink=trace_sink, log=log, label=label, venue=BREEZE_CASH,
        # a daily book sees no bar between the open and the close: quiet is not stale there
        watch=attrs.evolve(options.watch, feed_stale_seconds=None) if not intraday else options.watch, health=health,
        venue_watch=poll_fills if daily else None, on_reconciled=renew_after_reconciliation)
    # The session's read models are brought up to its log as it ends (the monitor and the
    # dashboard keep them current while it runs).
    catch_up_quietly(store, read_models_for(store), result.run_id, log)
    return result


def run_live_days(config: BacktestConfig, *, store: EventStore, confirm_live: bool, days: int | None = None,
                  calendar: SessionCalendar | None = None, clock: Any = None, shutdown: StopSignal | None = None,
                  run_id: str | None = None, resume: str | None = None, options: LiveOptions = LiveOptions(),
                  log: Callable[[str], None] = lambda _m: None, wake_before_open_minutes: int = 15,
                  login_retry_seconds: float = 60.0, **live_kwargs: Any) -> list[SessionResult]:
    """One live process left running across trading days (``services.session.days``): each NSE
    session is traded by ``run_live`` exactly as a morning start would, the process sleeping
    by the NSE calendar in between and retrying the login until today's session token is in
    ``.env``. ``days``: stop after that many sessions (None: until stopped)."""
    from adapters.csv.calendar import NseCalendar
    from adapters.system import IST, WallClock
    from core.errors import BrokerSessionError

    clock = clock if clock is not None else WallClock()

    def session(run: str, continuing: bool) -> SessionResult:
        return run_live(config, store=store, confirm_live=confirm_live, clock=clock, shutdown=shutdown, run_id=run,
                        resume=run if continuing else None, options=options, log=log, **live_kwargs)

    return run_sessions_by_calendar(
        session, calendar=calendar if calendar is not None else NseCalendar(), clock=clock, zone=IST,
        close=_hhmm(options.session_end_ist), run_id=resume or run_id or uuid.uuid4().hex,
        continuing=resume is not None, days=days, shutdown=shutdown, log=log,
        wake_before_open_minutes=wake_before_open_minutes, login_retry_seconds=login_retry_seconds,
        not_logged_in=BrokerSessionError, new_run_id=lambda: uuid.uuid4().hex,
        login_hint="put today's BREEZE_SESSION_TOKEN in .env")


def _hhmm(text: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    return time(hours, minutes)


def _renewal_events(strategy: str, outcomes: Sequence[Any], log: Callable[[str], None]) -> list[DayOrdersRenewed]:
    if not outcomes:
        return []
    renewed = [{"client_order_id": o.client_order_id, "previous_broker_order_id": o.previous_broker_order_id,
                "broker_order_id": o.broker_order_id, "placed_on": o.placed_on}
               for o in outcomes if o.action == "renewed"]
    expired = [{"client_order_id": o.client_order_id, "placed_on": o.placed_on}
               for o in outcomes if o.action == "expired"]
    filled = [o.client_order_id for o in outcomes if o.action == "filled"]
    log(f"{strategy}: orders of earlier sessions settled: {len(renewed)} protective placed again for today, "
        f"{len(expired)} expired, {len(filled)} filled after the last check")
    return [DayOrdersRenewed(strategy=strategy, renewed=renewed, expired=expired, filled=filled)]


__all__ = ["LIVE_STRATEGIES", "LiveNotConfirmedError", "LiveOptions", "MODE", "SessionCalendar",
           "check_live_allowed", "run_live", "run_live_days"]
