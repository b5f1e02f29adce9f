"""`sensequant paper`: trade the backtest's strategies on bars as they close, with simulated fills."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from applications.cli.options import INTERVAL, ISO_DATE, count, finite, non_empty, symbol_list, OutputFolder

from applications.cli.backtest_cmd import backtest_config_from_options
from applications.cli.output import err_console, print_json, print_table
from applications.wiring.store import open_store
from core.telemetry import TelemetryConfig


def _symbols(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    return [s.strip().upper() for s in value.split(",") if s.strip()] if value else None


def session_options(func):
    """Options shared by `paper` and `live`."""
    options = [
        click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="TOML file with [sections] matching the backtest config; flags override it."),
        click.option("--strategy", type=click.Choice(["intraday", "swing", "both", "sma_cross"]),
                     help="Strategy book(s) to trade (default intraday)."),
        click.option("--symbols", callback=symbol_list, help="Comma-separated NSE symbols, e.g. TCS,INFY."),
        click.option("--interval", type=INTERVAL, help="Bar interval: 1minute, 5minute, 15minute, 1day."),
        click.option("--resume", "resume", metavar="RUN", callback=non_empty,
                     help="Continue run RUN after a crash or stop: state is rebuilt from its events and "
                          "reconciled with the broker before any order."),
        click.option("--db", "db_url", metavar="URL",
                     help="Event store URL (overrides the global --db); opened in durable mode."),
        click.option("--enable-telemetry", is_flag=True, default=False,
                     help="Record prediction traces of closed trades (sampled and throttled)."),
        click.option("--telemetry-sample-rate", type=finite(0, 1), default=0.1, show_default=True,
                     help="Share of closed trades traced."),
        click.option("--telemetry-throttle", type=finite(0, 86_400), default=0.0, show_default=True,
                     metavar="SECONDS", help="Minimum seconds (market time) between two emitted traces."),
        click.option("--square-off/--no-square-off", default=True, show_default=True,
                     help="On SIGINT/SIGTERM square off intraday positions before exiting."),
        click.option("--sentiment/--no-sentiment", default=None,
                     help="Gate entries with point-in-time headline sentiment (default: on)."),
        click.option("--model", "model_id", metavar="ID|production",
                     help="Score every decision with a registered student model (hash-verified), fixed when "
                          "the session starts: a promotion takes effect at the next session. 'production' = "
                          "the champion. A --resume keeps the model the run started with."),
        click.option("--registry", "registry_dir", type=OutputFolder(file_okay=False, path_type=Path),
                     help="Model registry folder (default: data/runs/models)."),
        click.option("--label", default="", help="Free text stored with the run."),
        click.option("--release", "release_choice", type=click.Choice(["active", "none"]), default="active",
                     show_default=True,
                     help="Start from the deployed release's hash-verified configuration and model "
                          "(`sensequant release status`) when no --config is given; 'none' ignores it."),
        click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Folder of the session's JSON log file, rotated daily (default: data/runs/logs)."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def session_config(config_file: Path | None, options: dict[str, Any]):
    from applications.wiring.config import read_toml

    opts = dict(options)
    # intraday is the sessions' default book, unless the TOML file chooses one
    if opts.get("strategy") is None and not (config_file is not None and "strategy" in read_toml(config_file)):
        opts["strategy"] = "intraday"
    return backtest_config_from_options(config_file, opts)


def session_release(db_url: str | None, release_choice: str, config_file: Path | None, resume: str | None):
    """The active release a new session starts from, or None (none deployed, --config given,
    --release none, or a resume: a resumed run keeps the configuration it started with)."""
    if release_choice == "none" or resume:
        return None
    from applications.roots.release import session_release as active

    found = active(db_url=db_url, registry_dir=None)
    if found is not None and config_file is not None:
        err_console.print(f"note: release {found.release_id} is active, but --config {config_file} was given; "
                          "the release is not used (--release none silences this)")
        return None
    return found


def start_with_release(release, db_url: str | None, mode: str, label: str, model_id: str | None,
                       run_id: str) -> tuple[str | None, str]:
    """Model and label of session ``run_id`` started from ``release`` (recorded as ReleaseApplied).

    The release's model is the session's model unless --model names another one."""
    if release is None:
        return model_id, label
    from applications.roots.release import record_session

    if model_id and release.model_id and model_id != release.model_id:
        err_console.print(f"note: --model {model_id} replaces release {release.release_id}'s model "
                          f"{release.model_id} for this session")
    record_session(release, db_url=db_url, run_id=run_id, mode=mode)
    err_console.print(f"using release {release.release_id} (configuration and model verified)")
    return model_id or release.model_id, label or f"release {release.release_id}"


def telemetry_config(enable: bool, sample_rate: float, throttle: float, seed: int) -> TelemetryConfig:
    return TelemetryConfig(enabled=enable, sample_rate=sample_rate, min_seconds_between=throttle, seed=seed)


def session_logging(kind: str, options: dict[str, Any], resume: str | None) -> str:
    """JSON logs for a session (pops ``log_dir`` from ``options``); returns the run id to use."""
    import uuid

    from applications.wiring.logs import configure_logging
    run_id = resume or uuid.uuid4().hex
    configure_logging(options.pop("log_dir", None), component=kind, run_id=run_id)
    return run_id


def session_payload(result: Any) -> dict[str, Any]:
    """A session's result as JSON data (what --json prints)."""
    books = [{"strategy": b.strategy, "bars": b.bars_processed, "trades": b.trades_closed,
              "cash_paise": b.cash_paise, "final_equity_paise": b.final_equity_paise,
              "events": b.events_appended} for b in result.books]
    payload = {"run_id": result.run_id, "status": result.status, "resumed": result.resumed, "bars": result.bars,
               "books": books, "telemetry": result.telemetry,
               "duplicate_fills_ignored": result.duplicate_fills_ignored, "reconciliation": result.reconciliation}
    return json.loads(json.dumps(payload, default=str))


def report(kind: str, result: Any, as_json: bool) -> None:
    payload = session_payload(result)
    if as_json:
        print_json(payload)
        return
    books = payload["books"]
    rows = [[b["strategy"], f"{b['bars']:,}", str(b["trades"]), f"{b['final_equity_paise'] / 100:,.2f}"]
            for b in books]
    print_table(f"{kind} {result.run_id} ({result.status})", ["book", "bars", "trades", "equity (Rs)"], rows)
    if result.status == "session_closed":
        err_console.print(f"the run continues next session: sensequant {kind.lower()} --resume {result.run_id}")
    elif result.status != "completed":
        err_console.print(f"resume with: sensequant {kind.lower()} --resume {result.run_id}")


@click.command("paper")
@session_options
@click.option("--start", type=ISO_DATE, help="Replay: first session (YYYY-MM-DD, IST).")
@click.option("--end", type=ISO_DATE, help="Replay: last session (YYYY-MM-DD, IST), inclusive.")
@click.option("--data-dir", help="Replay: folder of bar CSVs (default: the shipped data/market).")
@click.option("--replay-speed", type=finite(0, 1e9), default=60.0, show_default=True,
              help="Replay bars at this many times real time (0 = as fast as possible).")
@click.option("--live-data", is_flag=True, default=False,
              help="Trade today's Breeze websocket bars instead of a replay (needs the BREEZE_* credentials; "
                   "fills are still simulated, no order reaches the broker).")
@click.option("--warmup-days", type=count(1, 3650), default=10, show_default=True,
              help="--live-data: days of Breeze history loaded into the books before trading.")
@click.option("--ignore-venue-rules", is_flag=True, default=False,
              help="Research: trade without the live venue's rules (Breeze cash: no short selling), "
                   "as a plain backtest does. By default paper applies them, so it rehearses live.")
@click.option("--shared-account", is_flag=True, default=False,
              help="With --strategy both: the two books trade one account with one risk manager (one "
                   "daily-loss cap, one gross-exposure cap) instead of one each.")
@click.option("--market-halts/--no-market-halts", default=True, show_default=True,
              help="Pause on NSE's market-wide circuit breaker as live does: from the NIFTY50 one-minute "
                   "bars of the replayed data, or Breeze quotes with --live-data.")
@click.pass_obj
def paper(obj: dict, config_file: Path | None, resume: str | None, db_url: str | None, enable_telemetry: bool,
          telemetry_sample_rate: float, telemetry_throttle: float, square_off: bool, label: str, as_json: bool,
          replay_speed: float, live_data: bool, warmup_days: int, ignore_venue_rules: bool,
          model_id: str | None, registry_dir: Path | None, shared_account: bool, market_halts: bool,
          release_choice: str, **options: Any) -> None:
    """Paper trading: the backtest's strategies, risk and sizing on bars as they close; fills are simulated.

    Bars are replayed from the shipped CSVs (or --data-dir) at --replay-speed; no real
    order can ever be sent. Events are written durably bar by bar; after a crash,
    `sensequant paper --resume RUN` rebuilds positions, cash, orders and the circuit
    breaker from the log and carries on. SIGINT/SIGTERM stop new entries, square off
    intraday positions, flush and exit 0.
    """
    from adapters.system import ShutdownFlag, install_shutdown_handlers
    from applications.roots.paper import PaperOptions, run_paper, run_paper_on_live_data

    run_id = session_logging("paper", options, resume)
    url = db_url or obj.get("db_url")
    release = session_release(url, release_choice, config_file, resume)
    config = session_config(release.config_file if release else config_file, options)
    telemetry = telemetry_config(enable_telemetry, telemetry_sample_rate, telemetry_throttle, config.seed)
    model_id, label = start_with_release(release, url, "paper", label, model_id, run_id)
    flag = ShutdownFlag()
    install_shutdown_handlers(flag)
    store = open_store(url, durable=True)
    try:
        paper_options = PaperOptions(replay_speed=replay_speed, square_off_on_stop=square_off, telemetry=telemetry,
                                     venue_rules=None if ignore_venue_rules else "breeze_cash",
                                     shared_account=shared_account, market_halts=market_halts)
        if live_data:
            result = run_paper_on_live_data(config, store=store, warmup_days=warmup_days, resume=resume,
                                            shutdown=flag, label=label, options=paper_options, model=model_id,
                                            registry_dir=registry_dir, run_id=run_id,
                                            log=lambda m: err_console.print(m))
        else:
            result = run_paper(config, store=store, resume=resume, shutdown=flag, label=label, run_id=run_id,
                               options=paper_options, log=lambda m: err_console.print(m), model=model_id,
                               registry_dir=registry_dir)
    finally:
        store.close()
    report("Paper", result, as_json)


COMMANDS = [paper]
