"""`sensequant backtest`: run the strategies over historical bars and record everything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import click

from applications.cli.options import INTERVAL, ISO_DATE, count, finite, symbol_list, OutputFolder
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from applications.services.books import STRATEGY_CHOICES, BacktestConfig
from applications.roots.backtest import backtest as backtest_root
from applications.roots.backtest import batch_backtest as batch_root
from applications.cli.output import console, err_console, print_json, print_table
from applications.wiring.config import build_config, environment_layer, read_toml
from applications.services.run_summary import summary_rows
from applications.wiring.store import project_root
from applications.wiring.feeds import DATA_SOURCES
from core.errors import ConfigError
from core.venue import VENUE_RULES


def backtest_config_from_options(config_file: Path | None, options: dict[str, Any]) -> BacktestConfig:
    """defaults < TOML file < environment (.env) < CLI flags."""
    layers: list[dict[str, Any]] = []
    sources: list[Any] = []
    if config_file is not None:
        layers.append(read_toml(config_file))
        sources.append(lambda path: f"config file {config_file} ([{'.'.join(path[:-1])}] {path[-1]})"
                       if len(path) > 1 else f"config file {config_file} ({path[0]})")
    env = environment_layer(dotenv_path=project_root() / ".env")
    env.pop("db_url", None)
    env.pop("runs_dir", None)
    env.pop("test_postgres_url", None)
    layers.append(env.get("backtest", {}))
    sources.append(lambda path: "environment variable SENSEQUANT_BACKTEST__" + "__".join(path).upper())
    layers.append(_cli_layer(options, layers))
    sources.append(lambda path: f"command-line flag for {'.'.join(path)}")
    return build_config(BacktestConfig, *layers, source="backtest configuration", sources=sources)


def _cli_layer(options: dict[str, Any], earlier: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("strategy", "start", "end", "seed", "data_dir"):
        if options.get(key) is not None:
            out[key] = options[key]
    strategy = options.get("strategy")
    if strategy is None:
        for layer in earlier:
            strategy = layer.get("strategy", strategy)
    strategy = strategy or BacktestConfig().strategy
    books = {"both": ["intraday", "swing"], "sma_cross": ["reference"]}.get(strategy, [strategy])
    for book in books:
        section: dict[str, Any] = {}
        if options.get("symbols"):
            section["symbols"] = options["symbols"]
        if options.get("interval"):
            section["interval"] = options["interval"]
        if section:
            out[book] = section
    telemetry: dict[str, Any] = {}
    if options.get("telemetry") is not None:
        telemetry["enabled"] = options["telemetry"]
    if options.get("sample_rate") is not None:
        telemetry["sample_rate"] = options["sample_rate"]
    if options.get("seed") is not None:
        telemetry["seed"] = options["seed"]
    if telemetry:
        out["telemetry"] = telemetry
    if options.get("sentiment") is not None:
        out["sentiment"] = {"enabled": options["sentiment"]}
    if options.get("close_at_end") is not None:
        out["close_at_end"] = options["close_at_end"]
    return out


@click.command("backtest")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML file with [sections] matching the config (see README); flags override it.")
@click.option("--strategy", type=click.Choice(STRATEGY_CHOICES),
              help="Which strategy book(s) to run. Default: both (intraday on 1-minute, swing on daily bars).")
@click.option("--symbols", callback=symbol_list, help="Comma-separated NSE symbols for the selected book(s), e.g. TCS,INFY.")
@click.option("--interval", type=INTERVAL, help="Bar interval for the selected book(s): 1minute, 5minute, 15minute, 1day.")
@click.option("--start", type=ISO_DATE, help="First session (YYYY-MM-DD, IST).")
@click.option("--end", type=ISO_DATE, help="Last session (YYYY-MM-DD, IST), inclusive.")
@click.option("--data-dir", help="Folder of bar CSVs (default: the shipped data/market).")
@click.option("--telemetry/--no-telemetry", default=None, help="Record prediction traces (default: on).")
@click.option("--sample-rate", type=finite(0, 1), help="Share of closed trades traced (0-1, default 1).")
@click.option("--seed", type=count(0, 2**32 - 1), help="Seed for every random draw (telemetry sampling). Default 42.")
@click.option("--sentiment/--no-sentiment", default=None,
              help="Gate entries with point-in-time headline sentiment (default: on).")
@click.option("--close-at-end/--keep-open-at-end", "close_at_end", default=None,
              help="Positions still open when the data ends: close them at the last close (exit reason "
                   "backtest_end; the default) or keep them open and list them as open.")
@click.option("--model", "model_id", metavar="ID|production",
              help="Score every decision with a registered student model (hash-verified before loading); "
                   "its id is recorded in the signals and prediction traces. 'production' = the champion.")
@click.option("--registry", "registry_dir", type=OutputFolder(file_okay=False, path_type=Path),
              help="Model registry folder (default: data/runs/models).")
@click.option("--venue-rules", type=click.Choice(sorted(VENUE_RULES)), default=None,
              help="Check every entry against a venue's rules as paper and live do (breeze_cash: no short "
                   "selling). Default: none (research).")
@click.option("--data-source", type=click.Choice(DATA_SOURCES), default="csv", show_default=True,
              help="csv: the CSV files (--data-dir); hybrid: the bar cache `data fetch` fills, with Breeze "
                   "history for gaps when BREEZE_* credentials exist; breeze: Breeze history directly.")
@click.option("--cache-dir", type=OutputFolder(file_okay=False, path_type=Path),
              help="Bar cache folder for --data-source hybrid (default: data/cache/bars).")
@click.option("--shared-account", is_flag=True, default=False,
              help="The books trade one account, as `live --strategy both` does: one risk manager (daily-loss "
                   "and gross-exposure caps over all books), books stepped together as their bars close.")
@click.option("--market-halts", is_flag=True, default=False,
              help="Pause on NSE's market-wide circuit breaker as paper and live do, from the NIFTY50 "
                   "one-minute bars in the data (default: off, research).")
@click.option("--label", default="", help="Free text stored with the run.")
@click.option("--workers", type=click.IntRange(min=1, max=256),
              help="Batch mode: one run per symbol of the book, spread over N local Dask worker processes.")
@click.option("--scheduler", metavar="tcp://HOST:8786", help="Batch mode on an existing Dask cluster.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (no progress bar).")
@click.pass_obj
def backtest(obj: dict, config_file: Path | None, as_json: bool, label: str, model_id: str | None,
             registry_dir: Path | None, venue_rules: str | None, data_source: str, cache_dir: Path | None,
             shared_account: bool, market_halts: bool, workers: int | None, scheduler: str | None,
             **options: Any) -> None:
    """Backtest the strategies on historical bars; every decision goes to the event log.

    With no arguments it runs both strategies on the shipped real NSE data:
    intraday on TCS 1-minute bars (Jan-Feb 2024) and swing on daily bars of seven
    NIFTY stocks (2016-2020), with headline sentiment gating, exact NSE costs and
    risk limits. At the end it prints the summary and the run id; `sensequant runs
    show RUN` rebuilds the same summary from the log.
    """
    config = backtest_config_from_options(config_file, options)
    if workers or scheduler:
        if shared_account or market_halts:
            raise ConfigError("--shared-account and --market-halts run in one process; they cannot be combined "
                              "with --workers/--scheduler (one run per symbol)")
        _batch(obj, config, workers, scheduler, label, model_id, as_json)
        return
    if as_json:
        result, summary = backtest_root(config, db_url=obj.get("db_url"), model_id=model_id,
                                        registry_dir=registry_dir, label=label, venue_rules=venue_rules,
                                        data_source=data_source, cache_dir=cache_dir, shared_account=shared_account,
                                        market_halts=market_halts)
    else:
        with Progress(TextColumn("{task.description:<9}", markup=False), BarColumn(), MofNCompleteColumn(),
                      TextColumn("bars"), TimeElapsedColumn(), console=err_console, transient=False) as bar:
            tasks: dict[str, Any] = {}

            def progress(book: str, advance: int, total: int) -> None:
                if book not in tasks:
                    tasks[book] = bar.add_task(book, total=total)
                if advance:
                    bar.advance(tasks[book], advance)

            result, summary = backtest_root(config, db_url=obj.get("db_url"), model_id=model_id,
                                            registry_dir=registry_dir, label=label, progress=progress,
                                            venue_rules=venue_rules, data_source=data_source,
                                            cache_dir=cache_dir, log=lambda m: err_console.print(m),
                                            shared_account=shared_account, market_halts=market_halts)
            for task in tasks.values():
                bar.update(task, completed=bar.tasks[task].total)
    if as_json:
        print_json({"run_id": result.run_id, "bars": result.bars, "events": result.events,
                    "seconds": round(result.seconds_loading + result.seconds_running, 3),
                    "seconds_loading": round(result.seconds_loading, 3),
                    "seconds_running": round(result.seconds_running, 3),
                    "seconds_read_models": round(result.seconds_read_models, 3),
                    "seconds_read_models_at_end": round(result.seconds_read_models_at_end, 3),
                    "books": [attrs.asdict(b) for b in summary.books]})
        return
    header, rows = summary_rows(summary)
    print_table(f"Backtest {result.run_id}", header, rows)
    console.print(f"{result.bars:,} bars, {result.events:,} events in "
                  f"{result.seconds_running:.2f} s (+{result.seconds_loading:.2f} s loading)")
    console.print(f"run id: [bold]{escape(result.run_id)}[/]   (sensequant runs show {escape(result.run_id[:12])})")


def _batch(obj: dict, config: BacktestConfig, workers: int | None, scheduler: str | None, label: str,
           model_id: str | None, as_json: bool) -> None:
    if model_id:
        raise ConfigError("--model is not available with --workers (batch backtests run the strategies alone)")
    batch, runs = batch_root(config, db_url=obj.get("db_url"), workers=workers, scheduler=scheduler, label=label)
    keys = ("trades", "total_return_pct", "sharpe", "max_drawdown_pct", "win_rate", "net_pnl_paise")
    if as_json:
        print_json({"batch": batch, "runs": [{"symbol": r.symbol, "run_id": r.outcome.run_id,
                                              "seconds": round(r.outcome.seconds, 3),
                                              **{k: r.outcome.metrics.get(k) for k in keys}} for r in runs]})
        return
    rows = [[r.symbol, r.outcome.run_id[:12], str(r.outcome.metrics["trades"]),
             f"{r.outcome.metrics['total_return_pct']:.2f} %", f"{r.outcome.metrics['sharpe']:.2f}",
             f"{r.outcome.metrics['max_drawdown_pct']:.2f} %", f"{100 * r.outcome.metrics['win_rate']:.1f} %",
             f"₹{r.outcome.metrics['net_pnl_paise'] / 100:,.2f}"] for r in runs]
    print_table(f"Batch {batch}: one run per symbol", ["symbol", "run", "trades", "return", "Sharpe", "max drawdown",
                                                       "win rate", "net P&L"], rows)


COMMANDS = [backtest]
