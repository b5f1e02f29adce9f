"""Choosing the market-data feed of a command: ``--data-source csv|hybrid|breeze`` (and ``auto``).

* ``csv``: the validated CSV files (``data_dir``, the shipped data by default);
* ``hybrid``: the CSV bar cache that ``sensequant data fetch`` fills (``data/cache/bars``),
  with Breeze history for any range the cache lacks (fetched, cached, then served) when
  the ``BREEZE_*`` credentials exist; without them the cache alone. Every cached file is
  first read back with ``data validate``'s strict checks; an invalid one stops the command;
* ``breeze``: Breeze history directly (credentials required), nothing cached;
* ``auto`` (the EOD job's default): ``hybrid`` when the credentials exist, ``csv`` otherwise.

``select_feed`` returns the feed and one line saying which one it is and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.errors import ConfigError, DataError
from core.model import Interval
from ports.market_data import MarketDataFeed

DATA_SOURCES = ("csv", "hybrid", "breeze")


def _credentials(environ: Any, dotenv_path: Path | None) -> Any:
    from applications.wiring.breeze import load_credentials
    try:
        return load_credentials(environ, dotenv_path=dotenv_path)
    except ConfigError:
        return None


def _check_cache(cache_dir: Path, symbols: Sequence[str], intervals: Sequence[Interval]) -> None:
    from applications.wiring.breeze import validate_cache_files
    for symbol in symbols:
        for interval in intervals:
            folder = cache_dir / symbol / interval.value
            if not folder.is_dir():
                continue
            bad = [r for r in validate_cache_files(folder, symbol, interval) if not r["ok"]]
            if bad:
                first = bad[0]["errors"][0]["message"] if bad[0].get("errors") else "invalid"
                raise DataError(f"cached bars {bad[0]['path']} fail validation ({first}); delete the file and its "
                                "entry in metadata.json, then run `sensequant data fetch` again",
                                path=str(bad[0]["path"]))


def select_feed(source: str, *, csv_feed: Callable[[], MarketDataFeed], symbols: Sequence[str],
                intervals: Sequence[Interval] = (), cache_dir: Path | None = None, environ: Any = None,
                dotenv_path: Path | None = None, sdk_factory: Any = None, clock: Any = None
                ) -> tuple[MarketDataFeed, str]:
    """The feed for ``source`` and a one-line description of what was chosen."""
    if source not in (*DATA_SOURCES, "auto"):
        raise ConfigError(f"unknown data source {source!r}; use one of csv, hybrid, breeze, auto")
    if source == "csv":
        return csv_feed(), "data source: csv (validated CSV files)"
    credentials = _credentials(environ, dotenv_path)
    if source == "auto":
        if credentials is None:
            return csv_feed(), "data source: csv (no BREEZE_* credentials, so not hybrid)"
        source = "hybrid"
    from adapters.system import WallClock
    from applications.wiring.breeze import default_cache_dir, open_breeze_history_cache, open_cache

    clock = clock or WallClock()
    root = cache_dir or default_cache_dir()
    if source == "breeze":
        if credentials is None:
            from applications.wiring.breeze import load_credentials
            load_credentials(environ, dotenv_path=dotenv_path)  # raises, naming what is missing
        opened = open_breeze_history_cache(credentials, clock, list(symbols), root, sdk_factory=sdk_factory)
        return opened.history, "data source: breeze (Breeze history, not cached)"
    _check_cache(root, symbols, intervals)
    if credentials is None:
        return open_cache(root), f"data source: hybrid, cache only ({root}; no BREEZE_* credentials to fetch gaps)"
    opened = open_breeze_history_cache(credentials, clock, list(symbols), root, sdk_factory=sdk_factory)
    return opened.feed, f"data source: hybrid ({root}, Breeze history for what it lacks)"


__all__ = ["DATA_SOURCES", "select_feed"]
