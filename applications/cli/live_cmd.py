"""`sensequant live`: trade on ICICI Breeze with real orders (explicit --confirm-live required)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from applications.cli.options import count

from applications.cli.output import err_console, print_json
from applications.cli.paper_cmd import (
    report,
    session_payload,
    session_config,
    session_logging,
    session_options,
    session_release,
    start_with_release,
    telemetry_config,
)
from applications.wiring.store import open_store


@click.command("live")
@session_options
@click.option("--confirm-live", is_flag=True, default=False,
              help="Required: acknowledge that this sends REAL orders to ICICI Breeze.")
@click.option("--warmup-days", type=count(1, 3650), default=10, show_default=True,
              help="Days of Breeze history loaded into the feature books before trading.")
@click.option("--keep-running", is_flag=True, default=False,
              help="Stay up across trading days: trade each NSE session, sleep outside market hours "
                   "(the NSE calendar), continue the same run each morning; the same log as a morning start.")
@click.option("--days", type=count(1, 3650), default=None,
              help="With --keep-running: stop after this many sessions (default: until stopped).")
@click.pass_obj
def live(obj: dict, config_file: Path | None, resume: str | None, db_url: str | None, enable_telemetry: bool,
         telemetry_sample_rate: float, telemetry_throttle: float, square_off: bool, label: str, as_json: bool,
         confirm_live: bool, warmup_days: int, keep_running: bool, days: int | None, model_id: str | None,
         registry_dir: Path | None, release_choice: str, **options: Any) -> None:
    """Live trading on ICICI Breeze: the backtest's strategies with real orders.

    Needs BREEZE_API_KEY, BREEZE_API_SECRET and today's BREEZE_SESSION_TOKEN in the
    environment or .env, and --confirm-live. Books warm up from Breeze history; an
    intraday book trades closed bars from the websocket, a swing book (--strategy swing)
    steps at the open on the daily bars completed since its last session and then watches
    its orders until the close. Events are written durably bar by bar and `--resume RUN`
    rebuilds the state from the log, settles the day orders of earlier sessions and
    reconciles with the broker before sending anything; a swing run ends each day
    `session_closed` and is continued by `--resume RUN` the next morning (or stays up with
    --keep-running). SIGINT/SIGTERM stop new entries, square off intraday positions,
    flush and exit 0.
    """
    from adapters.system import ShutdownFlag, install_shutdown_handlers
    from applications.roots.live import LiveOptions, check_live_allowed, run_live, run_live_days

    if days is not None and not keep_running:
        raise click.UsageError("--days goes with --keep-running (a single session is the default)")
    check_live_allowed(confirm_live)  # both refusals before the store or the network is touched
    run_id = session_logging("live", options, resume)
    url = db_url or obj.get("db_url")
    release = session_release(url, release_choice, config_file, resume)
    config = session_config(release.config_file if release else config_file, options)
    model_id, label = start_with_release(release, url, "live", label, model_id, run_id)
    telemetry = telemetry_config(enable_telemetry, telemetry_sample_rate, telemetry_throttle, config.seed)
    flag = ShutdownFlag()
    install_shutdown_handlers(flag)
    live_options = LiveOptions(warmup_days=warmup_days, square_off_on_stop=square_off, telemetry=telemetry)
    store = open_store(url, durable=True)
    try:
        if keep_running:
            results = run_live_days(config, store=store, confirm_live=confirm_live, resume=resume, shutdown=flag,
                                    run_id=run_id, days=days, label=label, options=live_options,
                                    log=lambda m: err_console.print(m), model=model_id, registry_dir=registry_dir)
        else:
            results = [run_live(config, store=store, confirm_live=confirm_live, resume=resume, shutdown=flag,
                                run_id=run_id, label=label, options=live_options,
                                log=lambda m: err_console.print(m), model=model_id, registry_dir=registry_dir)]
    finally:
        store.close()
    if keep_running and as_json:
        print_json([session_payload(result) for result in results])   # one document: every session
        return
    for result in results:
        report("Live", result, as_json)


COMMANDS = [live]
