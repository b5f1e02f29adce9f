"""`sensequant live`: trade on ICICI Breeze with real orders (explicit --confirm-live required)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from applications.cli.options import count

from applications.cli.output import err_console
from applications.cli.paper_cmd import (
    report,
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
@click.pass_obj
def live(obj: dict, config_file: Path | None, resume: str | None, db_url: str | None, enable_telemetry: bool,
         telemetry_sample_rate: float, telemetry_throttle: float, square_off: bool, label: str, as_json: bool,
         confirm_live: bool, warmup_days: int, model_id: str | None, registry_dir: Path | None,
         release_choice: str, **options: Any) -> None:
    """Live trading on ICICI Breeze: the backtest's strategies with real orders.

    Needs BREEZE_API_KEY, BREEZE_API_SECRET and today's BREEZE_SESSION_TOKEN in the
    environment or .env, and --confirm-live. Books warm up from Breeze history, then
    trade closed bars from the websocket; events are written durably bar by bar and
    `--resume RUN` reconciles with the broker before sending anything. SIGINT/SIGTERM
    stop new entries, square off intraday positions, flush and exit 0.
    """
    from adapters.system import ShutdownFlag, install_shutdown_handlers
    from applications.roots.live import LiveOptions, check_live_allowed, run_live

    check_live_allowed(confirm_live)  # both refusals before the store or the network is touched
    run_id = session_logging("live", options, resume)
    url = db_url or obj.get("db_url")
    release = session_release(url, release_choice, config_file, resume)
    config = session_config(release.config_file if release else config_file, options)
    model_id, label = start_with_release(release, url, "live", label, model_id, run_id)
    telemetry = telemetry_config(enable_telemetry, telemetry_sample_rate, telemetry_throttle, config.seed)
    flag = ShutdownFlag()
    install_shutdown_handlers(flag)
    store = open_store(url, durable=True)
    try:
        result = run_live(config, store=store, confirm_live=confirm_live, resume=resume, shutdown=flag, run_id=run_id,
                          label=label, options=LiveOptions(warmup_days=warmup_days, square_off_on_stop=square_off,
                                                           telemetry=telemetry),
                          log=lambda m: err_console.print(m), model=model_id, registry_dir=registry_dir)
    finally:
        store.close()
    report("Live", result, as_json)


COMMANDS = [live]
