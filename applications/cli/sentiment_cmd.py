"""`sensequant data sentiment-snapshot`: daily sentiment snapshot files (spec 002 §13, US-024).

Registered on the `data` group, so it runs as `sensequant data sentiment-snapshot ...`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import click

from applications.cli.data_cmd import data
from applications.cli.output import console, print_json, print_table
from applications.cli.options import OutputFolder
from applications.services.books import BacktestConfig
from applications.wiring.adapters import snapshot_source
from applications.wiring.store import project_root
from core.errors import ConfigError


def _day(_ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not YYYY-MM-DD") from None


@data.command("sentiment-snapshot")
@click.argument("symbols", callback=lambda _c, _p, v: [s.strip().upper() for s in v.split(",") if s.strip()])
@click.option("--date", "day", required=True, callback=_day, metavar="YYYY-MM-DD",
              help="The day to snapshot: what was published before its end (00:00 IST of the next day).")
@click.option("--end", "end", callback=_day, metavar="YYYY-MM-DD",
              help="Snapshot every calendar day from --date to this day, inclusive.")
@click.option("--source", type=click.Choice(["headlines", "newsapi", "x"]), default="headlines", show_default=True,
              help="headlines: VADER over the shipped headline CSVs (offline); newsapi / x: the live APIs "
                   "(keys from SENTIMENT_NEWSAPI_API_KEY / SENTIMENT_TWITTER_BEARER_TOKEN).")
@click.option("--out", "out_dir", type=OutputFolder(file_okay=False, path_type=Path),
              help="Snapshot folder (default: data/sentiment).")
@click.option("--news-dir", type=click.Path(file_okay=False, path_type=Path),
              help="headlines: folder of headline CSVs (default: data/news).")
@click.option("--lookback-days", type=click.IntRange(1, 30), default=3, show_default=True,
              help="How far back the provider looks from the end of the day.")
@click.option("--dry-run", is_flag=True, help="Write nothing and call no network API (newsapi/x use the neutral "
                                              "stub); print what would be written.")
@click.option("--force", is_flag=True, help="Overwrite snapshot files that already exist (default: keep them).")
@click.option("--json", "as_json", is_flag=True, help="Print one result per symbol and day as JSON.")
def sentiment_snapshot(symbols: list[str], day: date, end: date | None, source: str, out_dir: Path | None,
                       news_dir: Path | None, lookback_days: int, dry_run: bool, force: bool, as_json: bool) -> None:
    """Write data/sentiment/SYMBOL/DATE.jsonl sentiment snapshots for SYMBOLS (comma-separated).

    Each file holds one JSON line: symbol, date, timestamp (when taken), score in [-1, 1],
    confidence, providers and metadata (article count, as-of time, lookback). A backtest
    reads them point in time with sentiment.source = "snapshots": the snapshot of day D
    is used from D+1 on. Existing files are kept unless --force; a day without any
    headline gets no file.

    Example: sensequant data sentiment-snapshot RELIANCE,SBIN --date 2018-03-01 --end 2018-03-31
    """
    from adapters.sentiment import take_snapshots

    if not symbols:
        raise ConfigError("name at least one symbol, e.g. RELIANCE,TCS")
    last = end or day
    if last < day:
        raise ConfigError(f"--end {last} is before --date {day}")
    sentiment: dict = {"lookback_days": lookback_days}
    if news_dir is not None:
        sentiment["news_dir"] = str(news_dir)
    from applications.services.books import SentimentSettings
    config = BacktestConfig(sentiment=SentimentSettings(**sentiment))
    provider = snapshot_source(source, config, dry_run=dry_run)
    root = out_dir or project_root() / "data" / "sentiment"
    days = [day + timedelta(days=i) for i in range((last - day).days + 1)]
    results = take_snapshots(provider, root, symbols, days, taken_at=datetime.now(timezone.utc), force=force,
                             dry_run=dry_run, lookback_days=lookback_days)
    rows = [r.as_dict() for r in results]
    if as_json:
        print_json({"source": source, "provider": provider.name, "dry_run": dry_run, "root": str(root),
                    "results": rows})
        return
    print_table(f"Sentiment snapshots ({provider.name}){' — dry run, nothing written' if dry_run else ''}",
                ["symbol", "date", "status", "score", "file"],
                [[r["symbol"], r["date"], r["status"], "" if r["score"] is None else f"{r['score']:+.3f}",
                  r["path"]] for r in rows])
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    console.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))


COMMANDS: list[click.Command] = []  # the command lives on the `data` group
