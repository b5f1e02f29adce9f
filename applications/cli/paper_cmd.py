"""`sensequant paper`: trade the backtest's strategies on bars as they close, with simulated fills."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

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
        click.option("--symbols", callback=_symbols, help="Comma-separated NSE symbols, e.g. TCS,INFY."),
        click.option("--interval", help="Bar interval: 1minute, 5minute, 15minute, 1day."),
        click.option("--resume", "resume", metavar="RUN",
                     help="Continue run RUN after a crash or stop: state is rebuilt from its events and "
                          "reconciled with the broker before any order."),
        click.option("--db", "db_url", metavar="URL",
                     help="Event store URL (overrides the global --db); opened in durable mode."),
        click.option("--enable-telemetry", is_flag=True, default=False,
                     help="Record prediction traces of closed trades (sampled and throttled)."),
        click.option("--telemetry-sample-rate", type=click.FloatRange(0, 1), default=0.1, show_default=True,
                     help="Share of closed trades traced."),
        click.option("--telemetry-throttle", type=click.FloatRange(0), default=0.0, show_default=True,
                     metavar="SECONDS", help="Minimum seconds (market time) between two emitted traces."),
        click.option("--square-off/--no-square-off", default=True, show_default=True,
                     help="On SIGINT/SIGTERM square off intraday positions before exiting."),
        click.option("--sentiment/--no-sentiment", default=None,
                     help="Gate entries with point-in-time headline sentiment (default: on)."),
        click.option("--model", "model_id", metavar="ID|production",
                     help="Score every decision with a registered student model (hash-verified), fixed when "
                          "the session starts: a promotion takes effect at the next session. 'production' = "
                          "the champion. A --resume keeps the model the run started with."),
        click.option("--registry", "registry_dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Model registry folder (default: data/runs/models)."),
        click.option("--label", default="", help="Free text stored with the run."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def session_config(config_file: Path | None, options: dict[str, Any]):
    opts = dict(options)
    if opts.get("strategy") is None:
        opts["strategy"] = "intraday"
    return backtest_config_from_options(config_file, opts)


def telemetry_config(enable: bool, sample_rate: float, throttle: float, seed: int) -> TelemetryConfig:
    return TelemetryConfig(enabled=enable, sample_rate=sample_rate, min_seconds_between=throttle, seed=seed)


def report(kind: str, result: Any, as_json: bool) -> None:
    books = [{"strategy": b.strategy, "bars": b.bars_processed, "trades": b.trades_closed,
              "cash_paise": b.cash_paise, "final_equity_paise": b.final_equity_paise,
              "events": b.events_appended} for b in result.books]
    payload = {"run_id": result.run_id, "status": result.status, "resumed": result.resumed, "bars": result.bars,
               "books": books, "telemetry": result.telemetry,
               "duplicate_fills_ignored": result.duplicate_fills_ignored, "reconciliation": result.reconciliation}
    if as_json:
        print_json(json.loads(json.dumps(payload, default=str)))
        return
    rows = [[b["strategy"], f"{b['bars']:,}", str(b["trades"]), f"{b['final_equity_paise'] / 100:,.2f}"]
            for b in books]
    print_table(f"{kind} {result.run_id} ({result.status})", ["book", "bars", "trades", "equity (Rs)"], rows)
    if result.status != "completed":
        err_console.print(f"resume with: sensequant {kind.lower()} --resume {result.run_id}")


@click.command("paper")
@session_options
@click.option("--start", help="Replay: first session (YYYY-MM-DD, IST).")
@click.option("--end", help="Replay: last session (YYYY-MM-DD, IST), inclusive.")
@click.option("--data-dir", help="Replay: folder of bar CSVs (default: the shipped data/market).")
@click.option("--replay-speed", type=click.FloatRange(0), default=60.0, show_default=True,
              help="Replay bars at this many times real time (0 = as fast as possible).")
@click.option("--live-data", is_flag=True, default=False,
              help="Trade today's Breeze websocket bars instead of a replay (needs the BREEZE_* credentials; "
                   "fills are still simulated, no order reaches the broker).")
@click.option("--warmup-days", type=click.IntRange(1), default=10, show_default=True,
              help="--live-data: days of Breeze history loaded into the books before trading.")
@click.option("--ignore-venue-rules", is_flag=True, default=False,
              help="Research: trade without the live venue's rules (Breeze cash: no short selling), "
                   "as a plain backtest does. By default paper applies them, so it rehearses live.")
@click.option("--shared-account", is_flag=True, default=False,
              help="With --strategy both: the two books trade one account with one risk manager (one "
                   "daily-loss cap, one gross-exposure cap) instead of one each.")
@click.pass_obj
def paper(obj: dict, config_file: Path | None, resume: str | None, db_url: str | None, enable_telemetry: bool,
          telemetry_sample_rate: float, telemetry_throttle: float, square_off: bool, label: str, as_json: bool,
          replay_speed: float, live_data: bool, warmup_days: int, ignore_venue_rules: bool,
          model_id: str | None, registry_dir: Path | None, shared_account: bool, **options: Any) -> None:
    """Paper trading: the backtest's strategies, risk and sizing on bars as they close; fills are simulated.

    Bars are replayed from the shipped CSVs (or --data-dir) at --replay-speed; no real
    order can ever be sent. Events are written durably bar by bar; after a crash,
    `sensequant paper --resume RUN` rebuilds positions, cash, orders and the circuit
    breaker from the log and carries on. SIGINT/SIGTERM stop new entries, square off
    intraday positions, flush and exit 0.
    """
    from adapters.system import ShutdownFlag, install_shutdown_handlers
    from applications.roots.paper import PaperOptions, run_paper, run_paper_on_live_data

    config = session_config(config_file, options)
    telemetry = telemetry_config(enable_telemetry, telemetry_sample_rate, telemetry_throttle, config.seed)
    flag = ShutdownFlag()
    install_shutdown_handlers(flag)
    store = open_store(db_url or obj.get("db_url"), durable=True)
    try:
        paper_options = PaperOptions(replay_speed=replay_speed, square_off_on_stop=square_off, telemetry=telemetry,
                                     venue_rules=None if ignore_venue_rules else "breeze_cash",
                                     shared_account=shared_account)
        if live_data:
            result = run_paper_on_live_data(config, store=store, warmup_days=warmup_days, resume=resume,
                                            shutdown=flag, label=label, options=paper_options, model=model_id,
                                            registry_dir=registry_dir,
                                            log=lambda m: err_console.print(m))
        else:
            result = run_paper(config, store=store, resume=resume, shutdown=flag, label=label,
                               options=paper_options, log=lambda m: err_console.print(m), model=model_id,
                               registry_dir=registry_dir)
    finally:
        store.close()
    report("Paper", result, as_json)


COMMANDS = [paper]
