"""The Panel app over a real SQLite store (and PostgreSQL for tailing, when
SENSEQUANT_TEST_POSTGRES_URL is set): live tailing, drill-down, export, run following, the
Bokeh document, and the authentication rules for non-loopback hosts."""

from __future__ import annotations

import json

import attrs
import panel as pn
import pytest
from bokeh.document import Document

from applications.dashboard.app import DashboardApp, DashboardSettings, SharedLog, is_loopback, resolve_auth
from applications.wiring.store import open_store
from core.errors import ConfigError
from tests.fakes.recording_store import RecordingEventStore
from tests.integration.dashboard_support import backtest_db, copy_events  # noqa: F401  (fixture)

pn.extension("tabulator")


@pytest.fixture
def app(backtest_db):  # noqa: F811
    store = open_store(backtest_db.url)
    yield DashboardApp(store, DashboardSettings(run=backtest_db.run_id[:10]))
    store.close()


def _trades_total(app: DashboardApp) -> int:
    return len(app.model.data.trades)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return request.getfixturevalue("pg_url")


def test_tailing_reads_only_new_events_and_folds_them(backtest_db, empty_store_url):  # noqa: F811
    events = backtest_db.events
    source = open_store(backtest_db.url)
    info = attrs.evolve(source.get_run(backtest_db.run_id), status="running", ended_at=None)
    source.close()
    store = RecordingEventStore(open_store(empty_store_url))
    store.start_run(info)
    half = len(events) * 3 // 5
    copy_events(events[:half], store)
    app = DashboardApp(store, DashboardSettings())
    app.view().server_doc(Document())
    assert app.model.run_id == info.run_id and app.model.events == half
    first_trades = _trades_total(app)
    assert app.badge.object and "LIVE" in app.badge.object  # being written, nothing completed yet
    assert app.replay_cut() == (None, None)

    copy_events(events[half:], store)
    store.reads.clear()
    assert app.tail() is True
    # one incremental read from the last seq seen (plus the empty page that ends it)
    assert store.reads[0][0] == half and store.reads[0][2] == info.run_id
    assert all(after >= half for after, _limit, _run in store.reads)
    assert app.model.events == len(events)
    assert _trades_total(app) > first_trades
    assert app.replay.value == app.replay.end  # the slider follows the newest event
    assert "seq" in app.replay_info.object and "latest" in app.replay_info.object
    assert "HISTORICAL" in app.badge.object  # RunCompleted arrived
    store.reads.clear()
    assert app.tail() is False and store.reads[0][0] == app.model.last_seq
    store.close()


@pytest.mark.parametrize("by", ["seq", "time"])
def test_a_past_replay_point_stays_put_while_the_run_grows(backtest_db, sqlite_url, by):  # noqa: F811
    events = backtest_db.events
    source = open_store(backtest_db.url)
    info = attrs.evolve(source.get_run(backtest_db.run_id), status="running", ended_at=None)
    source.close()
    store = open_store(sqlite_url)
    store.start_run(info)
    copy_events(events[: len(events) // 2], store)
    app = DashboardApp(store, DashboardSettings())
    app.view()
    app.replay_by.value = by
    app.replay.value = app.replay.end // 2
    app.render()
    cut, trades = app.replay_cut(), len(app._view.trades)
    copy_events(events[len(events) // 2:], store)
    assert app.tail() is True and app.model.events == len(events)
    assert app.replay_cut() == cut and app.replay.value < app.replay.end
    app.render()
    if by == "seq":
        assert len(app._view.trades) == trades  # the same point of the log shows the same trades
    else:
        # the same moment: later-written events of another book may lie before it
        assert len(app._view.trades) >= trades and (app._view.trades["exit_time"] <= cut[1]).all()
    assert "later replay positions" in app.replay_info.object
    store.close()


def test_choosing_a_symbol_changes_the_trades_table(app):
    app.view()
    app.symbol.value = "TCS"
    tcs = app.trades.value
    assert len(tcs) and set(tcs["symbol"]) == {"TCS"}
    app.symbol.value = "RELIANCE"
    rel = app.trades.value
    assert len(rel) and set(rel["symbol"]) == {"RELIANCE"}
    assert set(rel["trade_id"]).isdisjoint(tcs["trade_id"])
    assert "RELIANCE" in app.price.object.opts.get().kwargs.get("title", "RELIANCE")


def test_replay_slider_and_strategy_filter_change_every_panel(app):
    app.view()
    full = json.loads(app._export_file().getvalue())
    app.replay.value = app.replay.end // 3
    app.render()
    cut = json.loads(app._export_file().getvalue())
    assert cut["as_of"]["seq"] is not None and cut["trades"] < full["trades"]
    assert "as of <b>seq" in app.replay_info.object
    app.replay_by.value = "time"
    app.replay.value = app.replay.end // 2
    app.render()
    by_time = json.loads(app._export_file().getvalue())
    assert by_time["as_of"]["time"] is not None and by_time["as_of"]["seq"] is None
    app.replay.value = app.replay.end
    app.strategy.value = "swing"
    swing = json.loads(app._export_file().getvalue())
    assert set(swing["strategies"]) == {"swing"}
    assert 'data-book="swing"' in app.cards.object and 'data-book="intraday"' not in app.cards.object
    assert set(app.trades.value["strategy"]) <= {"swing"}
    assert list(app.strategy.options) == ["all", "intraday", "swing"]


def test_comparing_with_another_run_shows_both_and_a_verdict(app, backtest_db):  # noqa: F811
    app.view()
    app.compare.value = backtest_db.run_id
    assert "that is the run shown" in app.comparison.object
    app.compare.value = ""
    assert "choose a run" in app.comparison.object


def test_export_is_the_current_metrics_as_json(app, backtest_db):  # noqa: F811
    app.view()
    doc = json.loads(app._export_file().getvalue().decode("utf-8"))
    assert doc["run_id"] == backtest_db.run_id and doc["status"] == "completed"
    assert doc["strategies"]["intraday"] == app._cards["intraday"].to_dict()
    assert doc["filters"]["strategy"] == "all" and doc["last_seq"] == backtest_db.events[-1].seq
    assert [b["book"] for b in doc["portfolio"]] == ["intraday", "swing"]
    assert "after seq" in app.portfolio.object and "<td><b>swing</b></td>" in app.portfolio.object
    assert app.export.filename == f"sensequant-metrics-{backtest_db.run_id[:12]}.json"


def test_an_empty_store_waits_for_the_first_run_and_follows_it(backtest_db, sqlite_url):  # noqa: F811
    store = open_store(sqlite_url)
    app = DashboardApp(store, DashboardSettings())
    app.view().server_doc(Document())
    assert app.model.run is None and "no runs yet" in app.title.object
    source = open_store(backtest_db.url)
    store.start_run(source.get_run(backtest_db.run_id))
    source.close()
    copy_events(backtest_db.events, store)
    assert app.tail() is True
    assert app.model.run_id == backtest_db.run_id and app.model.events == len(backtest_db.events)
    store.close()


def test_ticking_follow_shows_the_newest_run_even_one_the_tail_already_saw(backtest_db, sqlite_url):  # noqa: F811
    """The tail may list a new run before the user's tick reaches the server: ticking
    "Follow the newest run" then switches to it at once, not only at the next new run."""
    store = open_store(sqlite_url)
    source = open_store(backtest_db.url)
    older = source.get_run(backtest_db.run_id)
    source.close()
    store.start_run(older)
    copy_events(backtest_db.events, store)
    app = DashboardApp(store, DashboardSettings(run=older.run_id))  # ?run=ID: opened unfollowed
    app.view().server_doc(Document())
    assert app.follow.value is False and app.model.run_id == older.run_id
    newer = attrs.evolve(older, run_id="newer-run", started_at=older.started_at.replace(year=older.started_at.year + 1))
    store.start_run(newer)
    app.tail()  # unfollowed: the new run joins the picker and the page stays
    assert "newer-run" in app.run_select.options.values() and app.model.run_id == older.run_id
    app.follow.value = True
    assert app.model.run_id == "newer-run" and app.run_select.value == "newer-run"
    assert "newer-run"[:12] in app.title.object
    store.close()


def test_the_whole_page_builds_a_bokeh_document(app):
    doc = Document()
    app.view().server_doc(doc)
    assert doc.roots
    assert app.symbol.options and app.symbol.value in app.symbol.options


def test_shared_log_folds_each_run_once_for_every_session(backtest_db):  # noqa: F811
    store = RecordingEventStore(open_store(backtest_db.url))
    log = SharedLog(store, page_size=500)
    first = DashboardApp(store, DashboardSettings(run=backtest_db.run_id), log)
    reads = len(store.reads)
    assert reads >= 3 and first.model.events == len(backtest_db.events)
    second = DashboardApp(store, DashboardSettings(run=backtest_db.run_id), log)
    assert second.model is first.model  # one fold per run and server
    assert [after for after, _limit, _run in store.reads[reads:]] == [backtest_db.events[-1].seq]
    assert log.model(backtest_db.run_id[:8]) is first.model  # a prefix finds the same run
    store.close()


# --------------------------------------------------------------------- security

SECRET = "Qm9yX3ZlcnlfcmFuZG9tX2Nvb2tpZV9zZWNyZXQ"  # varied characters: enough estimated entropy
STRONG_PASSWORD = "correct horse battery"


def test_loopback_needs_no_authentication():
    assert resolve_auth("127.0.0.1", basic_auth_file=None, cookie_secret=None, environ={}) is None
    assert resolve_auth("localhost", basic_auth_file=None, cookie_secret=None, environ={}) is None
    assert is_loopback("::1") and not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "dashboard.example.com"])
def test_a_public_host_without_authentication_is_refused(host):
    with pytest.raises(ConfigError, match=f"refusing to serve the dashboard on {host}"):
        resolve_auth(host, basic_auth_file=None, cookie_secret="x" * 32, environ={})


def test_basic_auth_needs_a_cookie_secret_and_a_valid_credentials_file(tmp_path):
    with pytest.raises(ConfigError, match="cookie secret"):
        resolve_auth("0.0.0.0", basic_auth_file=None, cookie_secret=None,
                     environ={"SENSEQUANT_DASHBOARD_PASSWORD": "pw"})
    with pytest.raises(ConfigError, match="too short"):
        resolve_auth("0.0.0.0", basic_auth_file=None, cookie_secret="short",
                     environ={"SENSEQUANT_DASHBOARD_PASSWORD": "pw"})
    env = resolve_auth("0.0.0.0", basic_auth_file=None, cookie_secret=None,
                       environ={"SENSEQUANT_DASHBOARD_PASSWORD": STRONG_PASSWORD,
                                "SENSEQUANT_DASHBOARD_COOKIE_SECRET": SECRET})
    assert env.basic_auth == STRONG_PASSWORD and env.cookie_secret == SECRET
    good = tmp_path / "users.json"
    good.write_text(json.dumps({"analyst": "correct horse"}))
    auth = resolve_auth("0.0.0.0", basic_auth_file=str(good), cookie_secret=SECRET, environ={})
    assert auth.basic_auth == str(good.resolve()) and "users.json" in auth.source
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json: not JSON"):
        resolve_auth("0.0.0.0", basic_auth_file=str(bad), cookie_secret=SECRET, environ={})
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    with pytest.raises(ConfigError, match="non-empty JSON object"):
        resolve_auth("0.0.0.0", basic_auth_file=str(empty), cookie_secret=SECRET, environ={})
    with pytest.raises(ConfigError, match="cannot read it"):
        resolve_auth("0.0.0.0", basic_auth_file=str(tmp_path / "missing.json"), cookie_secret=SECRET, environ={})


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="--refresh"):
        DashboardSettings(refresh_seconds=0)
    with pytest.raises(ConfigError, match="--alert-precision-threshold"):
        DashboardSettings(precision_threshold=1.5)


def test_weak_passwords_and_low_entropy_cookie_secrets_are_refused(tmp_path):
    # Issue 19: a one-letter password and a cookie secret of 16 spaces were accepted on 0.0.0.0.
    with pytest.raises(ConfigError, match="at least 12 characters"):
        resolve_auth("0.0.0.0", basic_auth_file=None, cookie_secret=SECRET,
                     environ={"SENSEQUANT_DASHBOARD_PASSWORD": "x"})
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"analyst": "correct horse battery", "intern": "abc"}))
    with pytest.raises(ConfigError, match="user 'intern'"):
        resolve_auth("0.0.0.0", basic_auth_file=str(users), cookie_secret=SECRET, environ={})
    for weak in (" " * 16, "a" * 40, "abababababababab"):
        with pytest.raises(ConfigError, match="too weak"):
            resolve_auth("0.0.0.0", basic_auth_file=None, cookie_secret=weak,
                         environ={"SENSEQUANT_DASHBOARD_PASSWORD": STRONG_PASSWORD})


def test_login_attempts_are_limited_per_client():
    from applications.dashboard.login import AttemptLimiter
    clock = [0.0]
    limiter = AttemptLimiter(max_failures=3, window_s=60, lockout_s=120, now=lambda: clock[0])
    for _ in range(2):
        limiter.failed("10.0.0.1")
    assert limiter.locked("10.0.0.1") == 0
    limiter.failed("10.0.0.1")
    assert limiter.locked("10.0.0.1") == 120 and limiter.locked("10.0.0.2") == 0
    clock[0] = 121
    assert limiter.locked("10.0.0.1") == 0
def test_the_alerts_card_shows_monitor_alerts_and_acks_on_the_next_tail(backtest_db, sqlite_url):  # noqa: F811
    from datetime import datetime, timezone

    from applications.services.monitoring import ALERTS_STREAM, acknowledge
    from core.events.base import NewEvent
    from core.events.monitoring import MonitorAlertRaised

    source = open_store(backtest_db.url)
    info = source.get_run(backtest_db.run_id)
    source.close()
    store = open_store(sqlite_url)
    store.start_run(info)
    copy_events(backtest_db.events, store)
    app = DashboardApp(store, DashboardSettings(run=backtest_db.run_id[:10]))
    app.view().server_doc(Document())
    app.tail()
    assert "feed bars degraded" not in app.alerts.object
    raised = MonitorAlertRaised(alert_id="5f0c6a56-0000-5000-8000-000000000001",
                                key=f"breeze_connectivity_lost:{backtest_db.run_id}:bars",
                                rule="breeze_connectivity_lost", severity="warning", message="feed bars degraded",
                                subject_run_id=backtest_db.run_id, source_seq=1)
    store.append(ALERTS_STREAM, 0, [NewEvent(event=raised, occurred_at=datetime.now(timezone.utc))],
                 run_id="monitor")
    assert app.tail() is True  # no new event of the run itself, yet the card changed
    assert "feed bars degraded" in app.alerts.object and "[open]" in app.alerts.object
    acknowledge(store, raised.alert_id[:8], by="asha", note="known outage")
    assert app.tail() is True
    assert "acknowledged by asha: known outage" in app.alerts.object
    assert app.tail() is False
    store.close()


def test_the_header_shows_the_active_release_and_its_monitoring_mode(backtest_db, sqlite_url):  # noqa: F811
    from datetime import datetime, timedelta, timezone

    from core.events.base import NewEvent
    from core.events.release import RELEASES_STREAM, ReleaseAudited, ReleaseDeployed, ReleaseRolledBack

    source = open_store(backtest_db.url)
    info = source.get_run(backtest_db.run_id)
    source.close()
    store = open_store(sqlite_url)
    store.start_run(info)
    copy_events(backtest_db.events, store)
    deployed_at = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
    clock = [deployed_at + timedelta(hours=10)]
    app = DashboardApp(store, DashboardSettings(run=backtest_db.run_id[:10]), now=lambda: clock[0])
    app.view().server_doc(Document())
    assert "no active release" in app.release.object
    audited = ReleaseAudited(release_id="release-abc", bundle_dir="b", manifest_sha256="0" * 64, config_sha256=None,
                             model_id=None, deployment_ready=True, risk_flags=[], metrics={}, audit_run_ids=[])
    deployed = ReleaseDeployed(release_id="release-abc", previous_release_id=None, previous_model_id=None,
                               deployer="ops", reason="", forced=False, heightened_hours=48.0, thresholds={})
    store.append(RELEASES_STREAM, 0, [NewEvent(event=audited, occurred_at=deployed_at),
                                      NewEvent(event=deployed, occurred_at=deployed_at)], run_id="ops")
    app.tail()
    assert "release-abc" in app.release.object and "heightened monitoring" in app.release.object
    assert "38.0 h left" in app.release.object
    clock[0] = deployed_at + timedelta(hours=49)
    app.tail()
    assert "normal monitoring" in app.release.object
    store.append(RELEASES_STREAM, 2, [NewEvent(event=ReleaseRolledBack(
        from_release_id="release-abc", to_release_id=None, restored_model_id=None, deployer="ops", reason=""),
        occurred_at=clock[0])], run_id="ops")
    app.tail()
    assert "no active release" in app.release.object
    store.close()


def test_a_browser_closing_mid_update_is_not_a_traceback_but_other_errors_still_are(caplog):
    """The server's asyncio handler (the browser test fails on any traceback in the log)."""
    import asyncio
    import logging

    from tornado.websocket import WebSocketClosedError

    from applications.roots.dashboard import quiet_closed_connections

    loop = asyncio.new_event_loop()
    try:
        caplog.set_level(logging.INFO)
        quiet_closed_connections(loop, {"message": "Task exception was never retrieved",
                                        "exception": WebSocketClosedError()})
        assert "closed its connection" in caplog.text and "Traceback" not in caplog.text
        caplog.clear()
        quiet_closed_connections(loop, {"message": "Task exception was never retrieved",
                                        "exception": ValueError("a real bug")})
        (record,) = [r for r in caplog.records if r.name == "asyncio"]  # the default handler logged it
        assert record.levelname == "ERROR" and "a real bug" in caplog.text
    finally:
        loop.close()


def _sources(pane) -> list:
    """The Bokeh data sources drawn in a HoloViews pane's document."""
    from bokeh.models import ColumnDataSource
    model = next(iter(pane._models.values()))[0]
    return [m for m in model.document.models if isinstance(m, ColumnDataSource)]


def test_a_replay_step_streams_new_data_into_the_plots_already_drawn(app):
    """A replay step or a tail keeps each plot's Bokeh models (rebuilding them was most of an
    interaction's time) and puts the cut's data in them: the curve has as many points as the
    cut's sessions; the confusion matrices count the cut's traces."""
    from applications.dashboard import viewmodel as vm
    doc = Document()
    app.view().server_doc(doc)
    plots = app._plots
    built = [p.rebuilt for p in plots]
    full = vm.equity_curves(app._view)
    full_sessions = len(full)
    # A replay point where every book has begun (the same layout) but not every session is in.
    app.replay.value = app.replay.end * 19 // 20
    app.render()
    assert set(vm.equity_curves(app._view)["book"]) == set(full["book"])
    assert [p.rebuilt for p in plots] == built  # same layout: nothing rebuilt
    curves = vm.equity_curves(app._view)
    assert 0 < len(curves) < full_sessions
    by_book = curves.groupby("book").size().to_dict()
    drawn = {}
    for source in _sources(app.returns):
        data = source.data
        if "cum_return_pct" in data and "book" in data and len(data["book"]):
            drawn[data["book"][0]] = len(data["cum_return_pct"])
    assert drawn == by_book
    traced = {name: int(cm["count"].sum()) for name, cm in vm.confusion_frames(app._view, None).items()}
    for name, n in traced.items():
        assert f"{name} (n={n})" in app.confusion.object
    # Another layout (one book only) is drawn anew, once.
    app.strategy.value = "swing"
    assert sum(p.rebuilt for p in plots) > sum(built)
    again = [p.rebuilt for p in plots]
    app.replay.value = app.replay.end // 2
    app.render()
    assert [p.rebuilt for p in plots] == again
