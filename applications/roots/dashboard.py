"""Composition root of the dashboard: the Panel server over one event store.

It builds one ``SharedLog`` (one folded model per run for every browser session), warms up
the run the first page shows, and serves ``DashboardApp`` pages; it never reads a broker
or a market-data API.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import attrs
import panel as pn

from applications.dashboard.app import (
    CSS,
    AuthSettings,
    DashboardApp,
    DashboardSettings,
    SharedLog,
    is_loopback,
)
from applications.dashboard.login import AttemptLimiter, limited_auth_provider
from core.errors import ConfigError, RunNotFoundError
from ports.event_store import EventStore



def make_app(store: EventStore, settings: DashboardSettings, log: SharedLog) -> Callable[[], pn.viewable.Viewable]:
    """The per-session factory Panel calls for every page load."""

    def app() -> pn.viewable.Viewable:
        session = DashboardApp(store, _page_settings(store, settings), log)
        page = session.view()
        session.start_tailing()
        return page

    return app


def _page_settings(store: EventStore, settings: DashboardSettings) -> DashboardSettings:
    """``?run=ID`` (a unique prefix is enough) opens that run; an unknown id falls back to
    the command's choice rather than failing the page."""
    wanted = (pn.state.session_args or {}).get("run", [b""])[0]
    wanted = wanted.decode("utf-8", "replace") if isinstance(wanted, bytes) else str(wanted)
    if not wanted.strip():
        return settings
    try:
        return attrs.evolve(settings, run=store.get_run(wanted.strip()).run_id)
    except RunNotFoundError:
        return settings


def load_extensions() -> None:
    pn.extension("tabulator", raw_css=[CSS], notifications=False)


def warm_up(store: EventStore, settings: DashboardSettings, log: SharedLog) -> str | None:
    """Before the server accepts connections: fold the run the first page will show and
    build one throw-away page (the first figure of a process pays one-off library set-up)."""
    from bokeh.document import Document

    load_extensions()
    runs = [store.get_run(settings.run)] if settings.run else store.list_runs(limit=1)
    if runs:
        log.model(runs[0].run_id)
    DashboardApp(store, settings, log).view().server_doc(Document())
    return runs[0].run_id if runs else None


def quiet_closed_connections(loop: Any, context: dict[str, Any]) -> None:
    """asyncio exception handler: a browser that closes its tab while the server is writing
    an update to it (Bokeh/Panel's known WebSocketClosedError, holoviz/panel#3113) is a
    normal event, logged as one INFO line; every other unretrieved error goes to asyncio's
    default handler (a traceback in the log) as before."""
    from tornado.iostream import StreamClosedError
    from tornado.websocket import WebSocketClosedError

    if isinstance(context.get("exception"), (WebSocketClosedError, StreamClosedError)):
        logging.getLogger("sensequant.dashboard").info("a browser closed its connection during an update")
        return
    loop.default_exception_handler(context)


def serve_dashboard(store: EventStore, settings: DashboardSettings, *, host: str = "127.0.0.1", port: int = 5006,
                    auth: AuthSettings | None = None, show: bool = False,
                    on_ready: Callable[[str], None] | None = None, log: SharedLog | None = None,
                    tls: tuple[str, str] | None = None) -> None:
    """Serve the dashboard until interrupted. ``resolve_auth`` must have approved ``host``.

    ``log`` is the server's shared fold; without one, a new one is made and the run the
    first page shows is folded before the server accepts connections.
    """
    if auth is None and not is_loopback(host):
        raise ConfigError(f"refusing to serve on {host} without authentication (see resolve_auth)")
    load_extensions()
    origins = [f"{host}:{port}"]
    if is_loopback(host):
        origins += [f"localhost:{port}", f"127.0.0.1:{port}"]
    kwargs: dict[str, Any] = {}
    if auth is not None:
        # Panel's basic-auth login, with attempts limited per client (applications.dashboard.login).
        kwargs.update(auth_provider=limited_auth_provider(auth.basic_auth, AttemptLimiter()),
                      cookie_secret=auth.cookie_secret)
    if tls is not None:
        kwargs.update(ssl_certfile=tls[0], ssl_keyfile=tls[1])
    if log is None:
        log = SharedLog(store)
        warm_up(store, settings, log)
    server = pn.serve({"/": make_app(store, settings, log)}, port=port, address=host,
                      websocket_origin=origins, show=show, start=False, title="SenseQuant dashboard",
                      verbose=False, **kwargs)
    if on_ready is not None:
        on_ready(f"{'https' if tls else 'http'}://{host}:{port}/")
    server.start()
    server.io_loop.asyncio_loop.set_exception_handler(quiet_closed_connections)
    server.io_loop.start()
