"""The `--data-source csv|hybrid|breeze` option shared by backtest, validate and models train."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from applications.cli.output import err_console
from applications.cli.options import OutputFolder
from applications.wiring.feeds import DATA_SOURCES


def data_source_options(func: Any) -> Any:
    func = click.option("--cache-dir", type=OutputFolder(file_okay=False, path_type=Path),
                        help="Bar cache folder for --data-source hybrid (default: data/cache/bars).")(func)
    return click.option("--data-source", type=click.Choice(DATA_SOURCES), default="csv", show_default=True,
                        help="csv: the CSV files (--data-dir); hybrid: the bar cache `data fetch` fills, with "
                             "Breeze history for gaps when BREEZE_* credentials exist; breeze: Breeze "
                             "history directly.")(func)


def learning_feed(data_source: str, cache_dir: Path | None, data_dir: str, symbols: list[str],
                  interval: str = "1day", *, quiet: bool = False) -> Any:
    """None for csv (the services' own CSV feed over ``data_dir``), else the chosen feed (said on stderr)."""
    if data_source == "csv":
        return None
    from applications.services.learning import LearningConfig, default_feed
    from applications.wiring.feeds import select_feed
    from core.model import Interval

    feed, note = select_feed(data_source, csv_feed=lambda: default_feed(LearningConfig(data_dir=data_dir)),
                             symbols=symbols, intervals=[Interval.parse(interval)], cache_dir=cache_dir)
    if not quiet:
        err_console.print(note)
    return feed


__all__ = ["data_source_options", "learning_feed"]
