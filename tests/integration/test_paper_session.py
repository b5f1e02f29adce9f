"""Paper sessions in process: parity with the backtest, crash/resume, reconciliation, fills, telemetry."""

from __future__ import annotations

import inspect
import random
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.memory import InMemoryEventStore, InMemoryFeed
from adapters.simulated import ReplayBarSource, SimulatedClock
from applications.services.books import BacktestConfig, SentimentSettings
from applications.wiring.adapters import default_broker_factory
from applications.services.backtest import run_backtest
from applications.wiring.adapters import default_feed
from applications.services.books import plan_books
from applications.roots.paper import PaperOptions, run_paper
from applications.services.session.runner import run_session
from core.errors import ReconciliationError, ResumeError
from core.events.codec import converter
from core.model import Interval
from core.telemetry import TelemetryConfig
from core.venue import BREEZE_CASH
from tests.fakes.broker import FakeBroker
from tests.fakes.crashing_clock import CrashingClock, SimulatedCrash
from tests.fakes.duplicating_broker import DuplicatingBroker

ROOT = Path(__file__).resolve().parents[2]
IST_ZONE = __import__("datetime").timezone(__import__("datetime").timedelta(hours=5, minutes=30))
DECISIONS = ("signal.generated", "order.submitted", "order.filled", "trade.closed")
# close_at_end=False: closing what is open when the data ends is the backtest's end-of-data
# policy; a paper session that runs out of replay bars keeps its positions, as live would.
INTRADAY = BacktestConfig(strategy="intraday", start="2024-01-01", end="2024-01-19",
                          sentiment=SentimentSettings(enabled=False), close_at_end=False)
SWING = BacktestConfig(strategy="swing", start="2016-01-01", end="2018-12-31",
                       sentiment=SentimentSettings(enabled=False), close_at_end=False)
FAST = PaperOptions(replay_speed=0)


def payloads(store, stream: str, types=None) -> list[tuple[str, dict]]:
    return [(r.type, converter.unstructure(r.event)) for r in store.read_stream(stream)
            if types is None or r.type in types]


@pytest.fixture(scope="module")
def feed():
    return default_feed(INTRADAY)


SWING_WITH_NEWS = BacktestConfig(strategy="swing", start="2017-01-01", end="2018-12-31", close_at_end=False)


@pytest.mark.parametrize("config", [INTRADAY, SWING, SWING_WITH_NEWS], ids=["intraday", "swing", "swing-sentiment"])
def test_paper_over_replay_makes_exactly_the_backtest_decisions(config, feed):
    backtest, paper = InMemoryEventStore(), InMemoryEventStore()
    # the headline sentiment provider is used point in time by both modes (shipped news, VADER)
    sentiment = "default" if config.sentiment.enabled else None
    # paper rehearses live: Breeze cash rules by default; a backtest asks for them explicitly
    run_backtest(config, store=backtest, feed=feed, sentiment=sentiment, run_id="bt", venue=BREEZE_CASH)
    result = run_paper(config, store=paper, feed=feed, sentiment=sentiment, clock=SimulatedClock(), options=FAST,
                       run_id="pp")
    assert result.status == "completed"
    name = config.books()[0]
    expected = payloads(backtest, f"bt:{name}", DECISIONS)
    assert [t for t, _ in expected].count("trade.closed") >= 5, "too few trades for a meaningful comparison"
    assert payloads(paper, f"pp:{name}", DECISIONS) == expected
    if sentiment is not None:
        scored = payloads(backtest, f"bt:{name}", ("sentiment.scored",))
        assert scored and payloads(paper, f"pp:{name}", ("sentiment.scored",)) == scored


def test_paper_rejects_short_entries_with_the_venue_reason_unless_told_to_ignore_venue_rules(feed):
    ruled, research, plain = InMemoryEventStore(), InMemoryEventStore(), InMemoryEventStore()
    run_paper(INTRADAY, store=ruled, feed=feed, sentiment=None, clock=SimulatedClock(), options=FAST, run_id="v")
    run_paper(INTRADAY, store=research, feed=feed, sentiment=None, clock=SimulatedClock(), run_id="r",
              options=PaperOptions(replay_speed=0, venue_rules=None))
    run_backtest(INTRADAY, store=plain, feed=feed, sentiment=None, run_id="bt")
    rejected = [e for t, e in payloads(ruled, "v:intraday") if t == "risk.entry_rejected"]
    assert rejected and all(e["direction"] == "SHORT" and "no short selling" in e["reason"] for e in rejected)
    assert "Breeze cash" in rejected[0]["reason"]
    entries = [e for t, e in payloads(ruled, "v:intraday") if t == "order.submitted" and e["reason"] != "square_off"]
    opened = {e["client_order_id"] for e in entries}
    assert opened and not any(e["side"] == "SELL" and e["reason"].startswith("short") for e in entries)
    # the research flag gives exactly the plain backtest's decisions (shorts included)
    assert payloads(research, "r:intraday", DECISIONS) == payloads(plain, "bt:intraday", DECISIONS)
    assert any(e["direction"] == "SHORT" and e["action"] == "enter"
               for _t, e in payloads(research, "r:intraday", ("signal.generated",)))
    started = [e for t, e in payloads(ruled, "v:run") if t == "run.started"][0]
    assert started["config"]["venue_rules"] == "breeze_cash"


@pytest.mark.parametrize("config,seed,most", [(INTRADAY, 1, 1500), (INTRADAY, 2, 1500), (SWING, 3, 400)],
                         ids=["intraday-1", "intraday-2", "swing"])
def test_crash_anywhere_and_resume_gives_the_uninterrupted_event_stream(config, seed, most, feed):
    reference = InMemoryEventStore()
    options = PaperOptions(replay_speed=1e6)  # one clock sleep per bar: the crash points
    run_paper(config, store=reference, feed=feed, sentiment=None, clock=CrashingClock(), options=options,
              run_id="R")
    store = InMemoryEventStore()
    rng = random.Random(seed)
    crashes, resume = 0, None
    while True:
        try:
            result = run_paper(config, store=store, feed=feed, sentiment=None, options=options,
                               clock=CrashingClock(crash_at=rng.randint(20, most)), run_id="R", resume=resume)
            break
        except SimulatedCrash:
            crashes += 1
            resume = "R"
    assert crashes >= 2
    name = config.books()[0]
    assert payloads(store, f"R:{name}") == payloads(reference, f"R:{name}")
    assert result.status == "completed"
    assert all(r["ok"] for r in result.reconciliation.values())


@pytest.mark.parametrize("crash_at", [1, 2, 5])
def test_crash_before_the_first_checkpoint_resumes_from_the_first_bar(crash_at, feed):
    # regression: the resume warmed the books up with every replay bar and traded none
    options = PaperOptions(replay_speed=1e6)
    reference = InMemoryEventStore()
    expected = run_paper(INTRADAY, store=reference, feed=feed, sentiment=None, clock=CrashingClock(),
                         options=options, run_id="E")
    store = InMemoryEventStore()
    with pytest.raises(SimulatedCrash):
        run_paper(INTRADAY, store=store, feed=feed, sentiment=None, clock=CrashingClock(crash_at=crash_at),
                  options=options, run_id="E")
    assert store.stream_version("E:intraday") == 0
    result = run_paper(INTRADAY, store=store, feed=feed, sentiment=None, clock=CrashingClock(), options=options,
                       resume="E")
    assert result.bars == expected.bars and result.books[0].trades_closed == expected.books[0].trades_closed > 0
    assert payloads(store, "E:intraday") == payloads(reference, "E:intraday")


def _crash_with_open_position(feed) -> tuple[InMemoryEventStore, str]:
    options = PaperOptions(replay_speed=1e6)
    for crash_at in range(30, 3000, 37):
        store = InMemoryEventStore()
        with pytest.raises(SimulatedCrash):
            run_paper(INTRADAY, store=store, feed=feed, sentiment=None, options=options,
                      clock=CrashingClock(crash_at=crash_at), run_id="X")
        changes = [e for t, e in payloads(store, "X:intraday") if t == "position.changed"]
        if changes and changes[-1]["quantity"] != 0:
            return store, "X"
    raise AssertionError("no crash point with an open position")


def test_resume_refuses_to_trade_when_the_broker_disagrees(feed):
    store, run_id = _crash_with_open_position(feed)
    before = payloads(store, f"{run_id}:intraday")
    plans = plan_books(INTRADAY, feed)
    symbols, interval = [s.symbol for s in plans[0].series], plans[0].series[0].interval

    def stream(resume_from):
        return ReplayBarSource(feed, SimulatedClock(), speed=0, start=resume_from).stream(symbols, interval)

    with pytest.raises(ReconciliationError, match="broker and event log disagree"):
        run_session(INTRADAY, plans, store=store, mode="paper", stream=stream,
                    broker_factory=lambda _plan: FakeBroker(),  # a venue that is flat: it lost the position
                    telemetry=TelemetryConfig(), run_id=run_id, resume=True, venue=BREEZE_CASH,
                    warmup_feed=InMemoryFeed([s for p in plans for s in p.series]))
    run_events = payloads(store, f"{run_id}:run")
    done = [e for t, e in run_events if t == "reconciliation.completed"]
    assert done and done[-1]["ok"] is False and done[-1]["mismatches"]
    assert any(t == "reconciliation.position_reconciled" for t, _ in run_events)
    # nothing was traded after the refusal
    assert payloads(store, f"{run_id}:intraday") == before


def test_resume_of_an_unknown_or_completed_run_is_refused(feed):
    store = InMemoryEventStore()
    run_paper(INTRADAY, store=store, feed=feed, sentiment=None, clock=SimulatedClock(), options=FAST, run_id="D")
    with pytest.raises(ResumeError, match="already completed"):
        run_paper(INTRADAY, store=store, feed=feed, sentiment=None, clock=SimulatedClock(), options=FAST,
                  resume="D")
    with pytest.raises(Exception, match="(?i)not found|unknown|no run"):
        run_paper(INTRADAY, store=store, feed=feed, sentiment=None, clock=SimulatedClock(), options=FAST,
                  resume="nope")


def test_duplicate_fills_are_applied_once(feed):
    plain, doubled = InMemoryEventStore(), InMemoryEventStore()
    run_backtest(INTRADAY, store=plain, feed=feed, sentiment=None, run_id="A")
    brokers: list[DuplicatingBroker] = []

    def factory(plan):
        brokers.append(DuplicatingBroker(default_broker_factory(plan)))
        return brokers[-1]

    run_backtest(INTRADAY, store=doubled, feed=feed, sentiment=None, run_id="A", broker_factory=factory)
    assert brokers[0].duplicates_sent > 10
    assert payloads(doubled, "A:intraday") == payloads(plain, "A:intraday")


def test_a_failing_telemetry_sink_never_stops_trading(feed):
    on = PaperOptions(replay_speed=0, telemetry=TelemetryConfig(enabled=True, sample_rate=1.0))
    calm, failing = InMemoryEventStore(), InMemoryEventStore()
    ok = run_paper(INTRADAY, store=calm, feed=feed, sentiment=None, clock=SimulatedClock(), options=on, run_id="T")

    def broken_sink(_trace):
        raise OSError("disk full")

    bad = run_paper(INTRADAY, store=failing, feed=feed, sentiment=None, clock=SimulatedClock(), options=on,
                    run_id="T", trace_sink=broken_sink)
    assert bad.status == "completed"
    assert bad.telemetry["intraday"]["failed"] == ok.telemetry["intraday"]["emitted"] > 0
    assert payloads(failing, "T:intraday", DECISIONS) == payloads(calm, "T:intraday", DECISIONS)


def test_telemetry_sampling_and_throttling_are_configurable(feed):
    counts = {}
    for label, telemetry in {"all": TelemetryConfig(enabled=True, sample_rate=1.0),
                             "tenth": TelemetryConfig(enabled=True, sample_rate=0.1),
                             "throttled": TelemetryConfig(enabled=True, sample_rate=1.0,
                                                          min_seconds_between=86_400 * 7),
                             "off": TelemetryConfig(enabled=False)}.items():
        result = run_paper(INTRADAY, store=InMemoryEventStore(), feed=feed, sentiment=None, clock=SimulatedClock(),
                           options=PaperOptions(replay_speed=0, telemetry=telemetry))
        counts[label] = result.telemetry["intraday"]
    trades = counts["all"]["emitted"]
    assert trades > 20 and counts["all"]["skipped"] == 0
    assert 0 < counts["tenth"]["emitted"] < trades / 3
    assert counts["throttled"]["emitted"] <= 4 < trades  # 3 weeks, one trace a week at most
    assert counts["off"]["emitted"] == 0 and counts["off"]["skipped"] == trades
    assert PaperOptions().telemetry.sample_rate == 0.1


def test_paper_cannot_be_given_a_broker_and_never_loads_the_breeze_order_adapter():
    params = inspect.signature(run_paper).parameters
    assert not any("broker" in name for name in params)
    code = ("import sys\n"
            "from adapters.memory import InMemoryEventStore\n"
            "from adapters.simulated import SimulatedClock\n"
            "from applications.services.books import BacktestConfig, SentimentSettings\n"
            "from applications.roots.paper import PaperOptions, run_paper\n"
            "c = BacktestConfig(strategy='intraday', start='2024-01-01', end='2024-01-02', "
            "sentiment=SentimentSettings(enabled=False))\n"
            "r = run_paper(c, store=InMemoryEventStore(), clock=SimulatedClock(), sentiment=None, "
            "options=PaperOptions(replay_speed=0))\n"
            "assert r.status == 'completed'\n"
            "loaded = [m for m in sys.modules if m.startswith(('adapters.breeze', 'breeze_connect'))]\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_replay_waits_on_the_clock_and_orders_ties_by_symbol_order():
    from datetime import datetime, timedelta, timezone

    from core.model import Bar, BarSeries

    t0 = datetime(2024, 1, 1, 3, 45, tzinfo=timezone.utc)
    interval = Interval.parse("1minute")

    def series(symbol):
        return BarSeries.from_bars([Bar(symbol=symbol, interval=interval, start=t0 + timedelta(minutes=k), open=1.0,
                                        high=1.0, low=1.0, close=1.0, volume=1) for k in range(5)])

    clock = SimulatedClock(datetime(2030, 1, 1, tzinfo=timezone.utc))
    start = clock.now()
    replay = ReplayBarSource(InMemoryFeed([series("B"), series("A")]), clock, speed=60.0)
    bars = list(replay.stream(["B", "A"], interval))
    assert [b.symbol for b in bars[:4]] == ["B", "A", "B", "A"]
    # 4 minutes of bars at 60x: 4 seconds of clock time, slept, not spent
    assert clock.now() - start == timedelta(seconds=4)


def test_crash_and_resume_on_postgresql(feed, pg_url):
    import uuid

    from applications.wiring.store import open_store

    url = pg_url  # a fresh schema, dropped afterwards: nothing depends on the shared database's state
    config = BacktestConfig(strategy="intraday", start="2024-01-01", end="2024-01-05",
                            sentiment=SentimentSettings(enabled=False))
    run_id = uuid.uuid4().hex
    reference = InMemoryEventStore()
    run_paper(config, store=reference, feed=feed, sentiment=None, clock=SimulatedClock(), options=FAST, run_id=run_id)
    store = open_store(url, durable=True)
    try:
        rng, resume, crashes = random.Random(5), None, 0
        while True:
            try:
                run_paper(config, store=store, feed=feed, sentiment=None, options=PaperOptions(replay_speed=1e6),
                          clock=CrashingClock(crash_at=rng.randint(50, 700)), run_id=run_id, resume=resume)
                break
            except SimulatedCrash:
                crashes, resume = crashes + 1, run_id
        assert crashes >= 2
        assert payloads(store, f"{run_id}:intraday") == payloads(reference, f"{run_id}:intraday")
    finally:
        store.close()


class StallingSource:
    """A ``LiveBarSource`` that delivers some bars, then goes quiet (a websocket with no ticks)."""

    def __init__(self, bars) -> None:
        self.bars = bars

    def stream(self, symbols, interval):
        import time as _t
        yield from self.bars
        _t.sleep(30)


def test_a_stop_request_is_honoured_while_no_bar_arrives(feed):
    import threading
    import time as _t
    from datetime import datetime, timezone

    from adapters.system import ShutdownFlag

    config = BacktestConfig(strategy="intraday", start="2024-01-01", end="2024-01-05",
                            sentiment=SentimentSettings(enabled=False))
    later = feed.history("TCS", Interval.parse("1minute"), datetime(2024, 1, 8, tzinfo=timezone.utc),
                         datetime(2024, 1, 9, tzinfo=timezone.utc))
    flag = ShutdownFlag()
    store = InMemoryEventStore()
    timer = threading.Timer(0.5, flag.request, args=("SIGTERM",))
    timer.start()
    t0 = _t.perf_counter()
    result = run_paper(config, store=store, feed=feed, source=StallingSource(list(later)), sentiment=None,
                       clock=SimulatedClock(), options=FAST, run_id="S", shutdown=flag)
    assert _t.perf_counter() - t0 < 5
    assert result.status == "interrupted" and result.bars == len(later)
    assert payloads(store, "S:intraday")[-1][0] == "engine.checkpointed"
    stop = [e for t, e in payloads(store, "S:run") if t == "run.completed"][-1]
    assert "SIGTERM" in stop["message"]


def _one_account_feed_and_config(feed, **risk):
    """TCS minute bars of the shipped data and TCS daily bars ending in the same week, both books."""
    from datetime import datetime

    import attrs

    from adapters.breeze.historical import _to_bars, bars_to_series
    from applications.services.books import IntradayBookConfig, SwingBookConfig
    from core.risk import RiskConfig
    from tests.fakes.breeze_sdk import swing_setup_candles

    daily = bars_to_series("TCS", Interval.DAY_1, _to_bars("TCS", Interval.DAY_1,
                                                           swing_setup_candles(datetime(2024, 1, 10)), "TCS"))
    minutes = feed.history_series("TCS", Interval.MINUTE_1, None, None)
    config = attrs.evolve(INTRADAY, strategy="both", start="2023-08-01", end="2024-01-12",
                          intraday=IntradayBookConfig(symbols=["TCS"]), swing=SwingBookConfig(symbols=["TCS"]),
                          corporate_actions_file="", risk=RiskConfig(**risk))
    return InMemoryFeed([daily, minutes]), config


def test_two_books_on_one_account_in_paper_share_the_risk_manager_and_report_heartbeats(feed):
    """``paper --shared-account --strategy both``: one AccountRisk for both books (the heartbeat
    reports each book against the account's daily-loss limit)."""
    import attrs

    one_account, config = _one_account_feed_and_config(feed)
    store = InMemoryEventStore()
    result = run_paper(config, store=store, feed=one_account, sentiment=None, run_id="SA",
                       options=attrs.evolve(FAST, shared_account=True))
    assert result.status == "completed" and {b.strategy for b in result.books} == {"intraday", "swing"}
    beats = [r.event for r in store.read_stream("SA:health") if r.type == "session.heartbeat"]
    assert beats
    books = beats[-1].books  # the last one: both books have opened a session
    assert books["intraday"]["loss_limit_paise"] == books["swing"]["loss_limit_paise"] > 0  # one account's cap



def test_a_shared_account_backtest_makes_exactly_the_shared_paper_sessions_decisions(feed):
    """Backtest, paper and live are one wiring on a shared account too: ``backtest --shared-account``
    steps the books together as their bars close, with the account's caps binding across books."""
    import attrs

    one_account, config = _one_account_feed_and_config(feed, max_gross_exposure=0.05)
    paper = InMemoryEventStore()
    run_paper(config, store=paper, feed=one_account, sentiment=None, run_id="P",
              options=attrs.evolve(FAST, shared_account=True, venue_rules=None))
    shared, alone = InMemoryEventStore(), InMemoryEventStore()
    run_backtest(config, store=shared, feed=one_account, sentiment=None, run_id="B", shared_account=True)
    run_backtest(config, store=alone, feed=one_account, sentiment=None, run_id="A")
    for book in ("intraday", "swing"):
        assert payloads(shared, f"B:{book}", DECISIONS) == payloads(paper, f"P:{book}", DECISIONS)
    # the caps are the account's (on both books' equity and exposure): not two runs side by side
    decided = [payloads(store, f"{run}:intraday", ("order.submitted", "entry.rejected"))
               for store, run in ((shared, "B"), (alone, "A"))]
    assert decided[0] != decided[1]
    started = next(r.event for r in shared.read_stream("B:run") if r.type == "run.started")
    assert started.config["shared_account"] is True


def test_a_market_wide_halt_in_the_replayed_index_pauses_paper_and_a_halted_backtest_alike(feed):
    """The index falls 11 % by 11:00 on 2024-01-10 (an index series on the TCS minutes' clock; the
    shipped NIFTY 50 minutes are from 2016): NSE's 10 % rule halts the market for 45 min plus
    15 min pre-open; paper pauses as live would and ``backtest --market-halts`` decides alike."""
    from datetime import datetime, timezone

    import numpy as np

    from adapters.simulated.halts import IndexBarHalts
    from core.model import BarSeries

    nifty = feed.history_series("TCS", Interval.MINUTE_1, None, None)
    crash_at = int(datetime(2024, 1, 10, 5, 30, tzinfo=timezone.utc).timestamp() * 1e9)   # 11:00 IST
    hit = np.asarray(nifty.start_ns) >= crash_at          # and it stays down (no rebound halt)
    scale = np.where(hit, 0.89, 1.0)
    crashed = BarSeries(symbol="NIFTY50", interval=nifty.interval, start_ns=nifty.start_ns,
                        open=nifty.open * scale, high=nifty.high * scale, low=nifty.low * scale,
                        close=nifty.close * scale, volume=nifty.volume)
    tcs = feed.history_series("TCS", Interval.MINUTE_1, None, None)
    replay = InMemoryFeed([tcs, crashed])
    paper = InMemoryEventStore()
    result = run_paper(INTRADAY, store=paper, feed=replay, sentiment=None, run_id="H", options=FAST)
    assert result.status == "completed"
    events = list(paper.read_stream("H:intraday"))
    halted = [r for r in events if r.type == "halt.market_halted"]
    resumed = [r for r in events if r.type == "halt.market_resumed"]
    assert len(halted) == 1 and len(resumed) == 1
    assert "index moved 10 %" in halted[0].event.reason and "45 min" in halted[0].event.reason
    start, end = halted[0].occurred_at, resumed[0].occurred_at
    assert start.astimezone(IST_ZONE).strftime("%Y-%m-%d %H:%M") == "2024-01-10 11:01"
    assert round((end - start).total_seconds() / 60) == 60
    assert not [r for r in events if start < r.occurred_at < end and r.type in DECISIONS]
    backtest = InMemoryEventStore()
    run_backtest(INTRADAY, store=backtest, feed=replay, sentiment=None, run_id="B", halts=IndexBarHalts(crashed),
                 venue=BREEZE_CASH)
    kinds = DECISIONS + ("halt.market_halted", "halt.market_resumed")
    assert payloads(backtest, "B:intraday", kinds) == payloads(paper, "H:intraday", kinds)
    # index bars that do not reach the traded dates are said to be useless, not silently kept
    from applications.wiring.adapters import uncovered_halts_note
    assert uncovered_halts_note(IndexBarHalts(crashed), [tcs]) is None
    shipped_2016 = IndexBarHalts(feed.history_series("NIFTY50", Interval.MINUTE_1, None, None))
    assert "do not cover the traded dates" in uncovered_halts_note(shipped_2016, [tcs])
    # without halts the same day is traded through (the rehearsal is what changes it)
    plain = InMemoryEventStore()
    run_paper(INTRADAY, store=plain, feed=replay, sentiment=None, run_id="N",
              options=PaperOptions(replay_speed=0, market_halts=False))
    assert not [r for r in plain.read_stream("N:intraday") if r.type.startswith("halt.")]
