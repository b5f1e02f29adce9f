"""The dashboard page: Panel widgets over the view-models of one run (the server is roots.dashboard).

The app reads the event store only (never a broker or a data API). Each browser session
shows the ``RunModel`` of the selected run and tails the log every ``refresh`` seconds:
the model asks the store for the events after the last ``seq`` it folded and folds just
those. A process-wide ``SharedLog`` keeps one folded model per run, so several sessions
(or re-selecting a run) neither read the same rows twice nor fold them twice.
"""

from __future__ import annotations

import bisect
import gc
import io
import ipaddress
import json
import os
import threading
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable

import attrs
import panel as pn

from applications.analytics.metrics import DegradationThresholds
from applications.analytics.projections import RunData
from applications.dashboard import charts
from applications.dashboard import viewmodel as vm
from core.errors import ConfigError
from core.events.base import RecordedEvent
from ports.event_store import EventStore

ENV_PASSWORD = "SENSEQUANT_DASHBOARD_PASSWORD"
ENV_COOKIE_SECRET = "SENSEQUANT_DASHBOARD_COOKIE_SECRET"
PAGE_SIZE = 20_000
LARGE_FOLD = 10_000  # events folded at once beyond which the heap is settled (see settle_heap)


@attrs.frozen(kw_only=True)
class DashboardSettings:
    """What the ``dashboard`` command was asked for."""

    refresh_seconds: float = 2.0
    precision_threshold: float = 0.55
    sharpe_threshold: float = vm.SHARPE_ALERT_THRESHOLD
    run: str | None = None
    window: int = 100
    label: str = "LONG"
    quiet_seconds: float = 120.0

    def __attrs_post_init__(self) -> None:
        if not self.refresh_seconds > 0:
            raise ConfigError(f"--refresh must be a positive number of seconds, got {self.refresh_seconds}")
        if not 0 <= self.precision_threshold <= 1:
            raise ConfigError(f"--alert-precision-threshold must be between 0 and 1, got {self.precision_threshold}")
        if self.window < 1:
            raise ConfigError(f"the rolling window must be at least 1 trade, got {self.window}")


# ----------------------------------------------------------------- security


@attrs.frozen(kw_only=True)
class AuthSettings:
    """Panel basic auth: a credentials file (JSON ``{"user": "password"}``) or a password."""

    basic_auth: str
    cookie_secret: str
    source: str


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_auth(host: str, *, basic_auth_file: str | None, cookie_secret: str | None,
                 environ: dict[str, str] | None = None) -> AuthSettings | None:
    """Authentication for ``host``; raises ``ConfigError`` when it is missing or unusable.

    A loopback host may run without authentication. Any other host needs a credentials
    file (``--basic-auth``) or a password in ``SENSEQUANT_DASHBOARD_PASSWORD`` plus a
    cookie secret (``--cookie-secret`` / ``SENSEQUANT_DASHBOARD_COOKIE_SECRET``).
    """
    env = os.environ if environ is None else environ
    secret = cookie_secret or env.get(ENV_COOKIE_SECRET) or None
    creds: str | None = None
    source = ""
    if basic_auth_file:
        path = Path(basic_auth_file)
        try:
            users = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"--basic-auth {path}: cannot read it ({exc.strerror}); give a JSON file "
                              '{"user": "password"}') from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--basic-auth {path}: not JSON (line {exc.lineno}: {exc.msg}); the file must hold "
                              '{"user": "password", ...}') from None
        if not isinstance(users, dict) or not users or not all(
                isinstance(k, str) and isinstance(v, str) and k and v for k, v in users.items()):
            raise ConfigError(f'--basic-auth {path}: expected a non-empty JSON object {{"user": "password"}} with '
                              "non-empty strings")
        creds, source = str(path.resolve()), f"credentials file {path}"
    elif env.get(ENV_PASSWORD):
        creds, source = env[ENV_PASSWORD], f"password from {ENV_PASSWORD}"
    if creds is not None and not secret:
        raise ConfigError(f"basic auth ({source}) needs a cookie secret to sign the login cookie: set "
                          f"{ENV_COOKIE_SECRET} (or pass --cookie-secret) to a long random string")
    if creds is None:
        if is_loopback(host):
            return None
        raise ConfigError(
            f"refusing to serve the dashboard on {host}: a non-loopback address needs authentication. "
            f"Give --basic-auth FILE (JSON {{\"user\": \"password\"}}) or set {ENV_PASSWORD}, and set "
            f"{ENV_COOKIE_SECRET}; or bind to 127.0.0.1 (the default)")
    if len(secret) < 16:
        raise ConfigError(f"the cookie secret is too short ({len(secret)} characters); use at least 16 random "
                          "characters")
    from applications.dashboard.login import check_cookie_secret, check_passwords
    check_cookie_secret(secret)
    check_passwords(creds, source)
    return AuthSettings(basic_auth=creds, cookie_secret=secret, source=source)


# -------------------------------------------------------------- shared log


class SharedLog:
    """The folded runs of one server, shared by all its sessions.

    Each run is read from the store once and folded into one ``RunModel``; a session
    asking for a run gets that model brought up to date by reading only the events after
    its ``last_seq`` (the log is append-only and a tailing reader never sees a gap filled
    in behind it, so this is exact). Sessions only read the model.
    """

    def __init__(self, store: EventStore, page_size: int = PAGE_SIZE) -> None:
        self.store = store
        self.page_size = page_size
        self._models: dict[str, vm.RunModel] = {}
        self._lock = threading.Lock()

    def model(self, run_id: str) -> vm.RunModel:
        """The folded run ``run_id`` (an id or unique prefix), including every event written so far."""
        with self._lock:
            model = self._models.get(run_id)
            if model is None:
                info = self.store.get_run(run_id)
                model = self._models.setdefault(info.run_id, vm.RunModel(run=info))
                self._models[run_id] = model
            before = model.events
            while True:
                with vm.bulk_allocation():
                    page = self.store.read_all(model.last_seq, self.page_size, run_id=model.run_id)
                if not page:
                    break
                model.ingest(page)
                if len(page) < self.page_size:
                    break
            if model.events - before >= LARGE_FOLD:
                settle_heap()
            return model


def settle_heap() -> None:
    """Move what is alive now (a freshly folded run: long-lived) out of the collector's sight.

    Without this every later generation-2 collection, which page renders trigger, walks
    the hundreds of thousands of objects of a large run again. ``gc.freeze`` only stops
    the cyclic collector from scanning them; reference counting still frees them.
    """
    gc.freeze()


# -------------------------------------------------------------------- the app

CSS = """
.sq-card-foot { color: #555; font-size: 0.9em; margin-top: 4px; }
"""


class DashboardApp:
    """One browser session: widgets, the folded run and the periodic tail."""

    def __init__(self, store: EventStore, settings: DashboardSettings, log: SharedLog | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store = store
        self.settings = settings
        self.log = log or SharedLog(store)
        self.now = now
        self.model = vm.RunModel()
        self._view: RunData | None = None
        self._cards: dict[str, vm.StrategyCard] = {}
        self._alerts: list[vm.DashboardAlert] = []
        self._portfolio: list[vm.BookState] = []
        self._points: list[tuple[int | None, datetime]] = []
        self._rendering = False
        self._filling = False
        self._seen_alerts: tuple[int, int] | None = None
        self._seen_seq = 0
        self._build_widgets()
        self._runs = self.store.list_runs(limit=200)
        self._fill_run_options()
        self._select_initial_run()

    # ---------------------------------------------------------------- widgets

    def _build_widgets(self) -> None:
        s = self.settings
        self.mode = pn.widgets.Select(label="Mode", options=["all"], value="all", css_classes=["sq-mode"])
        self.run_select = pn.widgets.Select(label="Run", options={}, css_classes=["sq-run"])
        self.compare = pn.widgets.Select(label="Compare with", options={"(none)": ""}, value="",
                                         css_classes=["sq-compare"])
        self.follow = pn.widgets.Checkbox(label="Follow the newest run", value=s.run is None,
                                          css_classes=["sq-follow"])
        self.strategy = pn.widgets.Select(label="Book", options=["all"], value="all", css_classes=["sq-strategy"])
        self.period = pn.widgets.DateRangeSlider(label="Period (sessions)", start=date(2000, 1, 1),
                                                 end=date(2000, 1, 2), value=(date(2000, 1, 1), date(2000, 1, 2)),
                                                 css_classes=["sq-period"], disabled=True)
        self.label = pn.widgets.Select(label="Direction for precision/recall/F1", options=list(("LONG", "SHORT")),
                                       value=s.label)
        self.window = pn.widgets.IntInput(label="Rolling window (trades)", value=s.window, start=1, step=10)
        self.threshold = pn.widgets.FloatInput(label="Precision alert threshold", value=s.precision_threshold,
                                               start=0.0, end=1.0, step=0.05)
        self.replay_by = pn.widgets.RadioButtonGroup(label="Replay by", options={"global seq": "seq",
                                                                               "event time": "time"},
                                                     value="seq", css_classes=["sq-replay-by"])
        self.replay = pn.widgets.IntSlider(label="Replay position", start=0, end=1, value=1,
                                           css_classes=["sq-replay"])
        self.replay_info = pn.pane.HTML("", css_classes=["sq-replay-info"])
        self.latest = pn.widgets.Button(label="Jump to latest")
        self.x_axis = pn.widgets.RadioButtonGroup(options={"by date": "session_date",
                                                                          "by session #": "session"},
                                                  value="session_date")
        self.symbol = pn.widgets.Select(label="Symbol", options=[], css_classes=["sq-symbol"])
        self.export = pn.widgets.FileDownload(callback=self._export_file, filename="sensequant-metrics.json",
                                              label="Export metrics (JSON)", color="primary",
                                              css_classes=["sq-export"])
        self.badge = pn.pane.HTML("", css_classes=["sq-badge"], sizing_mode="stretch_width")
        self.release = pn.pane.HTML("", css_classes=["sq-release-pane"], sizing_mode="stretch_width")
        self._release_version = -1
        self._release_state: Any = None
        self.title = pn.pane.HTML("", css_classes=["sq-title"], sizing_mode="stretch_width")
        # One pane for every card and one for every confusion matrix: a run switch or a
        # filter replaces their whole content at once (no pane is shown, hidden or added).
        self.cards = pn.pane.HTML("", css_classes=["sq-cards-pane"], sizing_mode="stretch_width")
        # linked_axes=False: Panel would otherwise walk every plot pair looking for shared
        # axes on each render; these figures do not share ranges.
        plot = dict(sizing_mode="stretch_width", linked_axes=False)
        self.returns = pn.pane.HoloViews(None, css_classes=["sq-returns"], **plot)
        self.drawdown = pn.pane.HoloViews(None, css_classes=["sq-drawdown"], **plot)
        self.confusion = pn.pane.HTML("", css_classes=["sq-confusion-pane"], sizing_mode="stretch_width")
        self.alerts = pn.pane.HTML("", css_classes=["sq-alerts"], sizing_mode="stretch_width")
        self.comparison = pn.pane.HTML("<i>choose a run to compare with in the sidebar</i>",
                                       css_classes=["sq-comparison"], sizing_mode="stretch_width")
        self.monthly = pn.pane.HTML("", css_classes=["sq-monthly"], sizing_mode="stretch_width")
        self.symbol_pnl = pn.pane.HTML("", css_classes=["sq-symbol-pnl"], sizing_mode="stretch_width")
        self.portfolio = pn.pane.HTML("", css_classes=["sq-portfolio"], sizing_mode="stretch_width")
        self.price = pn.pane.HoloViews(None, css_classes=["sq-price"], **plot)
        # New data for the same layout is streamed into the plots already drawn.
        self._returns, self._drawdown = charts.LivePlot(self.returns), charts.LivePlot(self.drawdown)
        self._price = charts.LivePlot(self.price)
        self._plots = [self._returns, self._drawdown, self._price]
        # A scrolled table rather than pages: Tabulator's pager is set up after the first
        # value arrives and warned "Table Not Initialized" on every run switch.
        self.trades = pn.widgets.Tabulator(vm.symbol_trades(self.model.data, None), height=460,
                                           titles=dict(vm.TRADE_TABLE_TITLES), disabled=True, show_index=False,
                                           layout="fit_data_table",
                                           sizing_mode="stretch_width", css_classes=["sq-trades"])
        self.mode.param.watch(lambda _e: self._fill_run_options(), "value")
        self.run_select.param.watch(self._on_run, "value")
        self.follow.param.watch(self._on_follow, "value")
        for w in (self.strategy, self.label, self.window, self.threshold, self.x_axis, self.compare):
            w.param.watch(lambda _e: self.render(), "value")
        self.period.param.watch(lambda _e: self.render(), "value_throttled")
        self.replay.param.watch(lambda _e: self.render(), "value_throttled")
        self.replay_by.param.watch(self._on_replay_by, "value")
        self.latest.on_click(lambda _e: self._jump_latest())
        self.symbol.param.watch(lambda _e: None if self._rendering else self._symbol_changed(), "value")

    # ------------------------------------------------------------------ runs

    def _fill_run_options(self) -> None:
        modes = sorted({r.mode for r in self._runs})
        self.mode.options = ["all", *modes]
        choices = vm.run_choices(self._runs, self.mode.value)
        current = self.model.run_id
        self._filling = True  # a Select picks its first option when its options change: not a choice
        try:
            self.run_select.options = {c.title: c.run_id for c in choices}
            self.compare.options = {"(none)": "", **{c.title: c.run_id for c in vm.run_choices(self._runs)}}
            if current in self.run_select.options.values():
                self.run_select.value = current
        finally:
            self._filling = False
        if current is not None and self.run_select.value not in (None, current):
            self._load(self.run_select.value)  # the run shown is not in the chosen mode

    def _select_initial_run(self) -> None:
        wanted = self.settings.run
        if wanted:
            run_id = self.store.get_run(wanted).run_id  # RunNotFoundError names the id
            if run_id not in self.run_select.options.values():
                self._runs = [self.store.get_run(run_id), *self._runs]
                self._fill_run_options()
            self.run_select.value = run_id
        elif self._runs:
            self.run_select.value = self._runs[0].run_id
        if self.model.run_id != self.run_select.value or self.model.run is None:
            self._load(self.run_select.value)  # unless the selection's watcher already loaded it

    def _show_newest(self) -> None:
        if self._runs and self._runs[0].run_id != self.model.run_id:
            self._filling = True
            try:
                self.run_select.value = self._runs[0].run_id
            finally:
                self._filling = False
            self._load(self._runs[0].run_id)

    def _on_follow(self, event) -> None:
        # Ticking "Follow the newest run" shows the newest run now, not only the next new one
        # (which the periodic tail may already have seen before the tick reached the server).
        if event.new:
            self._show_newest()

    def _on_run(self, event) -> None:
        if not self._filling and event.new and (self.model.run_id != event.new):
            self._load(event.new)

    def _monitored(self, run_id: str | None) -> list:
        """The monitor's alerts about this run (none when no monitor ever ran on this store)."""
        if not run_id:
            return []
        from applications.services.monitoring import read_alerts
        return read_alerts(self.store, run_id=run_id)

    def _load(self, run_id: str | None) -> None:
        # The widget resets and the render reach the browser as one batch: a run switch
        # never shows the new title over the old run's panels.
        with pn.io.hold():
            self._load_now(run_id)

    def _load_now(self, run_id: str | None) -> None:
        if not run_id:
            self.model = vm.RunModel()
            self.render()
            return
        self.model = self.log.model(run_id)
        self._seen_seq = self.model.last_seq
        if pn.state.location is not None:
            pn.state.location.update_query(run=run_id)  # the address bar names the run shown
        self.export.filename = f"sensequant-metrics-{run_id[:12]}.json"
        self._rendering = True  # one render below, not one per widget the reset touches
        try:
            self._reset_period()
            self._reset_replay(to_end=True)
            self._fill_symbols()
            self._fill_books()
        finally:
            self._rendering = False
        self.render()

    # --------------------------------------------------------------- tailing

    def tail(self) -> bool:
        """Periodic callback: pick up new runs and fold the selected run's new events."""
        runs = self.store.list_runs(limit=200)
        if [r.run_id for r in runs] != [r.run_id for r in self._runs] or \
                [r.status for r in runs] != [r.status for r in self._runs]:
            before = self.model.run_id
            self._runs = runs
            self._fill_run_options()
            if self.follow.value:
                self._show_newest()
            if self.model.run_id != before:
                return True
        run_id = self.model.run_id
        changed = False
        if run_id is not None:
            at_end = self.replay.value >= self.replay.end
            self.model = self.log.model(run_id)
            changed = self.model.last_seq != self._seen_seq
            self._seen_seq = self.model.last_seq
            if changed:
                self._rendering = True
                try:
                    self._reset_period(keep=True)
                    self._reset_replay(to_end=at_end)
                    self._fill_symbols()
                    self._fill_books()
                finally:
                    self._rendering = False
                if at_end:
                    self.render()
                else:
                    # The user is looking at a past point: it has not changed, so only the
                    # header and the replay range move (no re-render of every figure).
                    self._render_header()
                    self._render_replay_info()
        alert_versions = self._alert_versions()
        if alert_versions != self._seen_alerts:
            # the monitor raised, cleared or someone acknowledged: the Alerts card shows it now
            self._seen_alerts = alert_versions
            if run_id is not None and not changed:
                self.render()
                changed = True
        self.badge.object = charts.badge_html(vm.live_badge(self.model, self.now(),
                                                            quiet_seconds=self.settings.quiet_seconds))
        self._render_release()
        return changed

    def _render_release(self) -> None:
        """The active release (id, heightened or normal, time left) from the ``releases`` stream;
        folded again only when that stream grew."""
        from applications.services.release import release_state
        from core.events.release import RELEASES_STREAM

        version = self.store.stream_version(RELEASES_STREAM)
        if version != self._release_version or self._release_state is None:
            self._release_state = release_state(self.store)
            self._release_version = version
        self.release.object = charts.release_html(self._release_state.status(self.now()))

    def _alert_versions(self) -> tuple[int, int]:
        from applications.services.monitoring import ACKS_STREAM, ALERTS_STREAM
        return self.store.stream_version(ALERTS_STREAM), self.store.stream_version(ACKS_STREAM)

    def _reset_period(self, keep: bool = False) -> None:
        bounds = vm.session_range(self.model.data)
        if bounds is None:
            self.period.disabled = True
            return
        start, end = bounds
        if end <= start:
            end = date.fromordinal(start.toordinal() + 1)
        old_value, old_end = self.period.value, self.period.end
        self.period.param.update(start=start, end=end, disabled=False)
        if keep and old_value[1] < old_end:
            self.period.value = (max(old_value[0], start), min(old_value[1], end))
        else:
            self.period.value = (max(old_value[0], start) if keep else start, end)

    def _reset_replay(self, to_end: bool) -> None:
        old = self._points[min(self.replay.value, len(self._points) - 1)] if self._points else None
        self._points = vm.replay_points(self.model, self.replay_by.value)
        last = max(len(self._points) - 1, 1)
        self.replay.param.update(start=0, end=last)
        if to_end or old is None:
            self.replay.value = last
        elif self.replay_by.value == "time":
            # new events may add earlier event times (another book): keep the same moment
            times = [t for _, t in self._points]
            self.replay.value = min(max(bisect.bisect_right(times, old[1]) - 1, 0), last)
        elif self.replay.value > last:
            self.replay.value = last

    def _on_replay_by(self, _event) -> None:
        self._reset_replay(to_end=True)
        self.render()

    def _jump_latest(self) -> None:
        self.replay.value = self.replay.end
        self.render()

    def _fill_books(self) -> None:
        names = ["all", *vm.run_books(self.model.data)]
        if names != list(self.strategy.options):
            current = self.strategy.value
            self.strategy.options = names
            self.strategy.value = current if current in names else "all"

    def _fill_symbols(self) -> None:
        names = vm.symbols(self.model.data)
        if names != list(self.symbol.options):
            current = self.symbol.value
            self.symbol.options = names
            self.symbol.value = current if current in names else (names[0] if names else None)

    # -------------------------------------------------------------- rendering

    def replay_cut(self) -> tuple[int | None, datetime | None]:
        """(seq, time) of the replay position; (None, None) at the latest event."""
        if not self._points or self.replay.value >= len(self._points) - 1:
            return None, None
        seq, at = self._points[self.replay.value]
        return (seq, None) if self.replay_by.value == "seq" else (None, at)

    def _cut(self) -> RunData:
        seq, until = self.replay_cut()
        return vm.as_of(self.model.data, seq=seq, until=until)

    def current_view(self, cut: RunData | None = None) -> RunData:
        """The run at the replay point (``cut``, when already at hand) narrowed by the filters."""
        data = cut if cut is not None else self._cut()
        start, end = self.period.value if not self.period.disabled else (None, None)
        return vm.filter_run(data, strategy=self.strategy.value, start=_as_date(start), end=_as_date(end))

    def filters(self) -> dict[str, Any]:
        start, end = self.period.value if not self.period.disabled else (None, None)
        return {"strategy": self.strategy.value, "start": str(_as_date(start)) if start else None,
                "end": str(_as_date(end)) if end else None, "label": self.label.value,
                "window": int(self.window.value), "precision_threshold": float(self.threshold.value),
                "sharpe_threshold": self.settings.sharpe_threshold, "symbol": self.symbol.value}

    def render(self) -> None:
        if self._rendering:
            return
        self._rendering = True
        try:
            # one batch of model changes per render: the browser swaps every panel at once
            with pn.io.hold(), charts.frozen(self._plots):
                self._render()
        finally:
            self._rendering = False

    def _render_header(self) -> None:
        m = self.model
        run = m.run
        if run is None:
            self.title.object = "<h2 style='margin:0'>SenseQuant</h2><p>The event store holds no runs yet: run " \
                                "<code>sensequant backtest</code>; this page picks it up as it is written.</p>"
        else:
            started = m.data.started.get(run.run_id)
            strategies = ", ".join(started.strategies) if started else "?"
            bounds = vm.session_range(m.data)
            period = f"{bounds[0]} → {bounds[1]}" if bounds else "no sessions yet"
            self.title.object = (f"<h2 style='margin:0'>Run {run.run_id[:12]} <small>({html_escape(run.mode)}, "
                                 f"{html_escape(strategies)})</small></h2><div>period {period} · {m.events:,} "
                                 f"events · last seq {m.last_seq:,} · status {html_escape(m.status)}</div>")

    def _render(self) -> None:
        m = self.model
        cut = self._cut()  # once per render: the cards, the baseline and the portfolio share it
        view = self.current_view(cut)
        self._view = view
        window = max(int(self.window.value or 1), 1)
        label = self.label.value
        self._render_header()
        wanted = None if self.strategy.value in (None, "all", "both") else [self.strategy.value]
        metrics = vm.strategy_metrics(view, window=window, strategies=wanted)
        start = _as_date(self.period.value[0]) if not self.period.disabled else None
        baseline = vm.period_baseline(cut, start) if start is not None else None
        self._cards = vm.strategy_cards(view, label=label, window=window, strategies=wanted, metrics=metrics,
                                        baseline=baseline)
        self.cards.object = charts.cards_html(self._cards)
        curves = vm.equity_curves(view)
        self._returns.show(charts.returns_figure(curves, self.x_axis.value))
        self._drawdown.show(charts.drawdown_figure(curves, self.x_axis.value))
        self.confusion.object = charts.confusion_html(vm.confusion_frames(view, wanted, metrics=metrics))
        self.monthly.object = charts.monthly_html(vm.monthly_returns(view))
        other = self.compare.value
        if other and other != m.run_id:
            theirs = vm.filter_run(self.log.model(other).data, strategy=self.strategy.value)
            self.comparison.object = charts.comparison_html(vm.compare_runs(view, theirs))
        elif other:
            self.comparison.object = "<i>that is the run shown: choose another one to compare with</i>"
        else:
            self.comparison.object = "<i>choose a run to compare with in the sidebar</i>"
        self.symbol_pnl.object = charts.symbol_pnl_html(vm.symbol_pnl(view))
        self._alerts = vm.alerts(view, self._cards, precision_threshold=float(self.threshold.value),
                                 sharpe_threshold=self.settings.sharpe_threshold, window=window,
                                 thresholds=DegradationThresholds(precision_label=label),
                                 raised=[(r, e) for r, e in m.alerts_raised if _before(r, *self.replay_cut())],
                                 breaker_books=m.breaker_books, metrics=metrics,
                                 monitored=self._monitored(m.run_id))
        self.alerts.object = charts.alerts_html(self._alerts)
        seq, until = self.replay_cut()
        self._portfolio = vm.portfolio_at(m, cut, seq=seq, until=until)
        self.portfolio.object = charts.portfolio_html(self._portfolio, self._where())
        self._render_replay_info()
        self._render_symbol()
        self.badge.object = charts.badge_html(vm.live_badge(m, self.now(), quiet_seconds=self.settings.quiet_seconds))

    def _where(self) -> str:
        seq, until = self.replay_cut()
        if seq is None and until is None:
            return f"latest: after seq {self.model.last_seq:,}"
        if seq is not None:
            return f"replay point: after seq {seq:,}"
        return f"replay point: event time {until.astimezone(charts.IST):%Y-%m-%d %H:%M} IST"

    def _render_replay_info(self) -> None:
        seq, until = self.replay_cut()
        if not self._points:
            self.replay_info.object = "<i>no events yet</i>"
            return
        pos_seq, at = self._points[min(self.replay.value, len(self._points) - 1)]
        when = at.astimezone(charts.IST).strftime("%Y-%m-%d %H:%M IST")
        if seq is None and until is None:
            self.replay_info.object = f"showing the <b>latest</b> state (seq {self.model.last_seq:,}, {when})"
        else:
            newer = len(self._points) - 1 - self.replay.value
            cut = f"<b>seq {seq:,}</b> (event time {when})" if seq is not None else f"event time <b>{when}</b>"
            self.replay_info.object = f"as of {cut}; {newer:,} later replay positions"

    def _symbol_changed(self) -> None:
        with pn.io.hold(), charts.frozen([self._price]):
            self._render_symbol()

    def _render_symbol(self) -> None:
        view = self._view if self._view is not None else self.model.data
        sym = self.symbol.value
        if not sym:
            self._price.show(charts.Figure(key=("no symbol",), build=lambda _p: charts._empty(
                "Symbol drill-down", "no symbol yet")))
            self.trades.value = vm.symbol_trades(view, "__none__")
            return
        self._price.show(charts.price_figure(vm.symbol_prices(view, sym), vm.symbol_markers(view, sym), sym))
        self.trades.value = vm.symbol_trades(view, sym)

    # ---------------------------------------------------------------- export

    def metrics(self) -> dict[str, Any]:
        if self._view is None:
            self.render()
        seq, until = self.replay_cut()
        return vm.metrics_document(self.model, self._view, cards=self._cards, alert_list=self._alerts,
                                   filters=self.filters(), as_of_seq=seq, as_of_time=until,
                                   generated_at=self.now(), portfolio=self._portfolio)

    def _export_file(self) -> io.BytesIO:
        return io.BytesIO(vm.dumps(self.metrics()).encode("utf-8"))

    # ---------------------------------------------------------------- layout

    def view(self) -> pn.viewable.Viewable:
        self._render_release()
        sidebar = [
            pn.pane.Markdown("### Run"), self.mode, self.run_select, self.follow, self.compare,
            pn.pane.Markdown("### Filters"), self.strategy, self.period, self.label, self.window, self.threshold,
            pn.pane.Markdown("### Replay"), self.replay_by, self.replay, self.replay_info, self.latest,
            pn.pane.Markdown("### Export"), self.export,
        ]
        main = [
            pn.Row(self.title, pn.Column(self.badge, self.release), sizing_mode="stretch_width"),
            pn.Card(self.cards, title="Books",
                    css_classes=["sq-overview"], collapsible=False, sizing_mode="stretch_width"),
            pn.Card(self.portfolio, title="Portfolio at the replay point", css_classes=["sq-portfolio-card"],
                    collapsible=False, sizing_mode="stretch_width"),
            pn.Card(self.x_axis, self.returns, self.drawdown, title="Cumulative returns and drawdown",
                    css_classes=["sq-curves"], collapsible=False, sizing_mode="stretch_width"),
            pn.Card(self.comparison, title="Side by side with another run", css_classes=["sq-comparison-card"],
                    collapsible=False, sizing_mode="stretch_width"),
            pn.Row(
                pn.Card(self.monthly, title="Monthly returns", css_classes=["sq-monthly-card"], collapsible=False,
                        sizing_mode="stretch_width"),
                pn.Card(self.symbol_pnl, title="P&L by symbol", css_classes=["sq-symbol-pnl-card"],
                        collapsible=False, sizing_mode="stretch_width"),
                sizing_mode="stretch_width"),
            pn.Row(
                pn.Card(self.confusion, title="Confusion matrices",
                        css_classes=["sq-confusion"], collapsible=False, sizing_mode="stretch_width"),
                pn.Card(self.alerts, title="Alerts", css_classes=["sq-alerts-card"], collapsible=False,
                        sizing_mode="stretch_width"),
                sizing_mode="stretch_width"),
            pn.Card(self.symbol, self.price, self.trades, title="Symbol drill-down",
                    css_classes=["sq-drilldown"], collapsible=False, sizing_mode="stretch_width"),
        ]
        # One column per area: every template item becomes a Bokeh root, and each root
        # costs a full model walk when the document is built.
        template = pn.template.BootstrapTemplate(title="SenseQuant dashboard", sidebar=[pn.Column(*sidebar)],
                                                 main=[pn.Column(*main, sizing_mode="stretch_width")],
                                                 sidebar_width=330)
        return template

    def start_tailing(self) -> Any:
        return pn.state.add_periodic_callback(self.tail, period=int(self.settings.refresh_seconds * 1000))


def html_escape(text: str) -> str:
    import html
    return html.escape(text)


def _before(rec: RecordedEvent, seq: int | None, until: datetime | None) -> bool:
    return (seq is None or rec.seq <= seq) and (until is None or rec.occurred_at <= until)


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    return value
