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
* one book per live session (``intraday`` or ``swing``): the account's positions are
  reconciled against that book on ``--resume``;
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

import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import attrs

from applications.services.books import BacktestConfig, BookPlan, check_books_against_venue, plan_books
from applications.wiring.adapters import live_sentiment, load_model
from applications.services.session.funds import size_books_from_funds
from applications.services.session.model import ModelLoader, select_session_model
from applications.services.session.settings import SessionResult, SessionSettings, StopSignal
from applications.services.session.runner import run_session
from applications.services.session.watch import HealthInbox, WatchSettings
from applications.wiring.store import runs_dir
from core.errors import ConfigError
from core.events.catalog import PredictionTraced
from core.model import Bar
from core.orders import Fill
from core.telemetry import TelemetryConfig
from core.venue import BREEZE_CASH
from ports.broker import Broker
from ports.event_store import EventStore
from ports.sentiment import SentimentProvider

MODE = "live"
LIVE_STRATEGIES = ("intraday", "swing")


class LiveNotConfirmedError(ConfigError):
    """Live trading sends real orders; it must be asked for explicitly."""


@attrs.frozen(kw_only=True)
class LiveOptions:
    warmup_days: int = 10
    square_off_on_stop: bool = True
    session_end_ist: str = "15:30"
    telemetry: TelemetryConfig = attrs.Factory(lambda: TelemetryConfig(enabled=False, sample_rate=0.1))
    square_off_polls: int = 10
    square_off_poll_seconds: float = 1.0
    tick_poll_seconds: float = 0.5
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
        raise ConfigError(f"live trading runs one book; --strategy must be one of {', '.join(LIVE_STRATEGIES)}, "
                          f"got {config.strategy!r}")
    run_id = resume or run_id or uuid.uuid4().hex
    # One process per account: a second live session (new run or resume) on the same
    # credentials is refused here, before the Breeze session opens, while this one heartbeats.
    store.claim_account(credentials.account_id, run_id)
    from adapters.breeze import BreezeBroker, JsonFileOrderRecords
    from adapters.breeze.halts import BreezeMarketHalts
    from adapters.memory import InMemoryFeed
    from adapters.system import IST, WallClock
    from applications.wiring.breeze import open_breeze_data

    clock = clock if clock is not None else WallClock()
    today = clock.now().astimezone(IST).date()
    end_h, end_m = (int(x) for x in options.session_end_ist.split(":"))
    session_end = datetime.combine(today, time(end_h, end_m), tzinfo=IST)
    book_cfg = config.intraday if config.strategy == "intraday" else config.swing
    health = HealthInbox()
    data = open_breeze_data(credentials, clock, list(book_cfg.symbols), sdk_factory=sdk_factory,
                            session_end=session_end, tick_poll_seconds=options.tick_poll_seconds,
                            on_health=health.report)
    session, symbol_map, history, source = data.session, data.symbol_map, data.history, data.bars
    warm = attrs.evolve(config, start=(today - timedelta(days=options.warmup_days)).isoformat(), end=None)
    plans = plan_books(warm, history)
    check_books_against_venue(plans, BREEZE_CASH, log)
    provider = live_sentiment(config, clock, environ, on_health=health.report) if sentiment == "default" else sentiment
    loader = model_loader or (lambda model_id: load_model(model_id, registry_dir))
    predictor, selected = select_session_model(store, mode=MODE, requested=model, load=loader, resume_run=resume,
                                               log=log)
    records_dir = orders_dir or (runs_dir() / "breeze_orders")
    records_dir.mkdir(parents=True, exist_ok=True)
    records = JsonFileOrderRecords(records_dir / f"{run_id}.json")

    def broker_factory(_plan: BookPlan) -> Broker:
        return BreezeBroker(session, symbol_map, records, clock)

    # sizing from the account: the broker's available equity funds, capped by the configured capital
    funds = BreezeBroker(session, symbol_map, records, clock).funds()
    available = funds.allocated_equity_paise - funds.blocked_equity_paise
    plans, funds_events = size_books_from_funds(plans, available, store=store, resume_run=resume, log=log)

    requests = [([s.symbol for s in p.series], p.series[0].interval) for p in plans]

    def stream(_resume_from: datetime | None) -> Iterator[Bar]:
        symbols, interval = requests[0]
        return source.stream(symbols, interval)

    def square_off_fills(broker: Broker, book: Any) -> Sequence[Fill]:
        from applications.services.session.bars import flat_bar_after
        fills: list[Fill] = []
        for _ in range(options.square_off_polls):
            fills.extend(broker.advance(flat_bar_after(book)))
            if not broker.open_order_ids():
                break
            clock.sleep(options.square_off_poll_seconds)
        return fills

    return run_session(
        config, plans, store=store, mode=MODE, stream=stream, broker_factory=broker_factory,
        telemetry=options.telemetry, run_id=run_id, resume=resume is not None,
        warmup_feed=InMemoryFeed([s for p in plans for s in p.series]), sentiment=provider, shutdown=shutdown,
        predictor=predictor, halts=BreezeMarketHalts(session, symbol_map), start_events=([selected] if selected is not None else []) + list(funds_events),
        settings=SessionSettings(square_off_on_stop=options.square_off_on_stop, reconcile_at_start=True),
        square_off_fills=square_off_fills, data_fingerprint="", describe={"feed": "breeze", "today": str(today)},
        trace_sink=trace_sink, log=log, label=label, venue=BREEZE_CASH)


__all__ = ["LIVE_STRATEGIES", "LiveNotConfirmedError", "LiveOptions", "MODE", "check_live_allowed", "run_live"]
