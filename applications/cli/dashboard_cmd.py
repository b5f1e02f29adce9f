"""`sensequant dashboard`: serve the Panel dashboard that replays (and tails) the event log."""

from __future__ import annotations

import click
from rich.markup import escape

from applications.cli.output import err_console
from applications.wiring.store import open_store


@click.command("dashboard")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but a loopback address needs --basic-auth (or "
                   "SENSEQUANT_DASHBOARD_PASSWORD) and a cookie secret, or the command refuses to start.")
@click.option("--port", default=5006, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--refresh", "refresh_seconds", default=2.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between two reads of new events (live tailing).")
@click.option("--alert-precision-threshold", default=0.55, show_default=True, type=click.FloatRange(0, 1),
              help="Alert when a strategy's rolling precision falls below this share.")
@click.option("--run", "run_id", metavar="RUN",
              help="Run id (or unique prefix) to open. Default: the newest run, following new runs as they start.")
@click.option("--window", default=100, show_default=True, type=click.IntRange(min=1),
              help="Rolling window (trades) for the rolling-vs-all-time deltas and degradation alerts.")
@click.option("--basic-auth", "basic_auth_file", metavar="FILE", type=click.Path(dir_okay=False),
              help='JSON credentials file {"user": "password"} for Panel basic auth '
                   "(or set SENSEQUANT_DASHBOARD_PASSWORD for a single shared password).")
@click.option("--cookie-secret", envvar="SENSEQUANT_DASHBOARD_COOKIE_SECRET", metavar="SECRET",
              help="Secret that signs the login cookie (>= 16 characters); default from "
                   "SENSEQUANT_DASHBOARD_COOKIE_SECRET.")
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TLS certificate (PEM) to serve HTTPS; needed on a non-loopback address unless --behind-proxy.")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TLS private key (PEM) for --ssl-certfile.")
@click.option("--behind-proxy", is_flag=True, default=False,
              help="Serve plain HTTP on a non-loopback address because a TLS reverse proxy fronts it "
                   "(see README, 'Integrity and safety').")
@click.option("--show/--no-show", default=False, help="Open a browser tab.")
@click.pass_obj
def dashboard(obj: dict, host: str, port: int, refresh_seconds: float, alert_precision_threshold: float,
              run_id: str | None, window: int, basic_auth_file: str | None, cookie_secret: str | None,
              ssl_certfile: str | None, ssl_keyfile: str | None, behind_proxy: bool, show: bool) -> None:
    """Serve the dashboard: strategy cards, returns and drawdown, confusion matrices,
    alerts, symbol drill-down, replay slider and JSON export, all from the event log.

    It reads only the event store (never a broker or a market-data API) and tails it
    every --refresh seconds, so a backtest or paper session appears while it writes.
    Binds to 127.0.0.1 unless told otherwise; another address requires authentication.
    """
    from applications.dashboard.app import DashboardSettings, SharedLog, resolve_auth
    from applications.roots.dashboard import serve_dashboard, warm_up

    from applications.dashboard.app import is_loopback
    from core.errors import ConfigError
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise click.UsageError("give both --ssl-certfile and --ssl-keyfile, or neither")
    tls = (ssl_certfile, ssl_keyfile) if ssl_certfile and ssl_keyfile else None
    auth = resolve_auth(host, basic_auth_file=basic_auth_file, cookie_secret=cookie_secret)
    if not is_loopback(host) and tls is None and not behind_proxy:
        raise ConfigError(f"refusing to serve plain HTTP on {host}: passwords and cookies would cross the network "
                          "in clear. Give --ssl-certfile/--ssl-keyfile, or --behind-proxy when a TLS reverse proxy "
                          "fronts the dashboard")
    settings = DashboardSettings(refresh_seconds=refresh_seconds, precision_threshold=alert_precision_threshold,
                                 run=run_id, window=window)
    store = open_store(obj.get("db_url"))
    try:
        if run_id:
            store.get_run(run_id)  # fail now, with the id in the message, not in the browser

        def ready(url: str) -> None:
            how = f" (basic auth: {auth.source})" if auth else ""
            err_console.print(f"SenseQuant dashboard at [bold]{escape(str(url))}[/bold]{escape(str(how))}; refreshing every "
                              f"{refresh_seconds:g}s. Ctrl+C to stop.")

        log = SharedLog(store)
        with err_console.status("reading and folding the run the first page shows..."):
            shown = warm_up(store, settings, log)
        if shown:
            model = log.model(shown)
            err_console.print(f"run {shown[:12]}: {model.events:,} events folded")
        serve_dashboard(store, settings, host=host, port=port, auth=auth, show=show, on_ready=ready, log=log,
                        tls=tls)
    except KeyboardInterrupt:
        err_console.print("dashboard stopped")
    finally:
        store.close()


COMMANDS = [dashboard]
