"""`sensequant data fetch --source breeze`: page Breeze history into the CSV bar cache (resumable)."""

from __future__ import annotations

from datetime import datetime, time as dtime, timedelta, timezone as dt_timezone
from pathlib import Path
from typing import Any

import click

from applications.cli.output import console, err_console, print_json, print_table
from applications.cli.options import OutputFolder
from core.errors import ConfigError
from core.model import Interval

IST = dt_timezone(timedelta(hours=5, minutes=30), "IST")


def _day(value: str, name: str, *, end: bool) -> datetime:
    try:
        day = datetime.fromisoformat(value).date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD, IST)", param_hint=name) from None
    moment = datetime.combine(day, dtime(0), tzinfo=IST)
    return moment + timedelta(days=1) if end else moment


@click.command("fetch")
@click.argument("symbols", callback=lambda _c, _p, v: [s.strip().upper() for s in ",".join(v).split(",") if s.strip()],
                nargs=-1, required=True)
@click.option("--source", type=click.Choice(["breeze"]), default="breeze", show_default=True,
              help="Where history comes from (Breeze historical data v2; needs the BREEZE_* credentials).")
@click.option("--interval", "interval_name", default="1minute", show_default=True,
              type=click.Choice([i.value for i in Interval]), help="Bar interval to fetch.")
@click.option("--start", required=True, help="First session to fetch (YYYY-MM-DD, IST).")
@click.option("--end", required=True, help="Last session to fetch (YYYY-MM-DD, IST), inclusive.")
@click.option("--cache-dir", type=OutputFolder(file_okay=False, path_type=Path),
              help="CSV bar cache folder (default: data/cache/bars).")
@click.option("--max-requests", type=click.IntRange(1), default=4000, show_default=True,
              help="Stop after this many Breeze calls (Breeze allows 5000 a day); the next run continues.")
@click.option("--dry-run", is_flag=True, help="Only show what would be fetched (no login, no request).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def fetch(symbols: list[str], source: str, interval_name: str, start: str, end: str, cache_dir: Path | None,
          max_requests: int, dry_run: bool, as_json: bool) -> None:
    """Fetch Breeze history for SYMBOLS (e.g. TCS,INFY) into the CSV bar cache.

    Only what the cache has never fetched is requested, one Breeze window at a time
    (under the 1000-candle page, rate limited to 100 calls a minute); each chunk is
    written atomically, so after an interruption the same command continues without
    fetching anything twice. Every file written is checked with the strict validation of
    `sensequant data validate`. Backtests read the cache with `--data-source hybrid`.
    """
    from applications.services.data_fetch import plan_fetch, run_fetch
    from applications.wiring.breeze import (
        default_cache_dir,
        load_credentials,
        open_breeze_history_cache,
        open_cache,
        validate_cache_files,
    )

    interval = Interval.parse(interval_name)
    first, last = _day(start, "--start", end=False), _day(end, "--end", end=True)
    if last <= first:
        raise click.BadParameter("--end is before --start", param_hint="--end")
    root = cache_dir or default_cache_dir()
    chunks = plan_fetch(open_cache(root), symbols, interval, first, last)
    if dry_run:
        rows = [[c.symbol, f"{c.start.astimezone(IST):%Y-%m-%d}", f"{(c.end - timedelta(seconds=1)).astimezone(IST):%Y-%m-%d}"]
                for c in chunks]
        if as_json:
            print_json({"dry_run": True, "interval": interval.value, "cache_dir": str(root), "chunks": len(chunks),
                        "at_least_requests": len(chunks),
                        "plan": [{"symbol": r[0], "from": r[1], "to": r[2]} for r in rows]})
            return
        print_table(f"would fetch {interval.value} into {root}", ["symbol", "from", "to"], rows)
        console.print(f"{len(chunks)} chunk(s), at least {len(chunks)} Breeze request(s); nothing was fetched")
        return
    if source != "breeze":  # pragma: no cover - click restricts the choice
        raise ConfigError(f"unknown source {source!r}")
    from adapters.system import WallClock

    credentials = load_credentials()
    opened = open_breeze_history_cache(credentials, WallClock(), symbols, root)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("chunks"), TimeElapsedColumn(), console=err_console, disable=as_json) as bar:
        task = bar.add_task("fetching", total=len(chunks))

        def progress(chunk: Any, _bars: int) -> None:
            bar.update(task, advance=1, description=chunk.symbol)

        summary = run_fetch(opened.feed, chunks, interval, requests=lambda: opened.history.requests,
                            max_requests=max_requests, progress=progress, symbols=symbols)
    invalid = []
    for symbol in symbols:
        folder = root / symbol / interval.value
        if folder.is_dir():
            invalid += [r for r in validate_cache_files(folder, symbol, interval) if not r["ok"]]
    payload = {"interval": summary.interval, "cache_dir": str(root), "chunks_planned": summary.planned_chunks,
               "chunks_fetched": summary.fetched_chunks, "bars": summary.bars, "requests": summary.requests,
               "complete": summary.complete and not invalid, "stopped": summary.stopped,
               "already_cached": summary.already_cached, "invalid_files": [r["path"] for r in invalid]}
    if as_json:
        print_json(payload)
    else:
        print_table(f"fetched {interval.value} into {root}", ["symbol", "new bars"],
                    [[s, f"{n:,}"] for s, n in summary.bars.items()])
        console.print(f"{summary.fetched_chunks} of {summary.planned_chunks} chunk(s), {summary.requests} "
                      f"Breeze request(s); validation: {'ok' if not invalid else f'{len(invalid)} invalid file(s)'}")
    if summary.stopped:
        err_console.print(f"stopped: {summary.stopped}")
    if summary.stopped or invalid:
        raise click.exceptions.Exit(1)
