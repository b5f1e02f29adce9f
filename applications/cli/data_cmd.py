"""`sensequant data ...`: validate bar files and inspect what the CSV feed delivers."""

from __future__ import annotations

from datetime import datetime, time as dtime, timedelta, timezone as dt_timezone
from pathlib import Path
from typing import Any

import click

from applications.cli.options import count, finite, non_empty
import numpy as np
from rich.markup import escape

from applications.cli.output import console, print_json, print_table
from core.errors import ConfigError, DataError
from core.model import IST_OFFSET_NS, Interval

IST = dt_timezone(timedelta(hours=5, minutes=30), "IST")
INTERVALS = [i.value for i in Interval]


def _interval(ctx: click.Context, param: click.Parameter, value: str | None) -> Interval | None:
    if value is None:
        return None
    try:
        return Interval.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _find_manifest(file: Path, stop: Path):
    from adapters.csv import Manifest
    from adapters.csv.manifest import MANIFEST_NAME

    here = file.parent
    stop = stop.resolve()
    for _ in range(4):
        if (here / MANIFEST_NAME).is_file():
            return Manifest.load(here)
        if here.resolve() == stop or here.parent == here:
            break
        here = here.parent
    return Manifest.empty(file.parent)


def _targets(paths: tuple[Path, ...], interval: Interval | None, symbol: str | None
             ) -> tuple[list[tuple[Path, Path, str | None, Interval | None]], list[str]]:
    """(file, the PATH it came from, symbol, interval) for every CSV file named or found, and
    the files skipped inside folders (names that are not bar files, e.g. corporate_actions.csv)."""
    from adapters.csv.feed import SUFFIXES, _parse_interval, _strip_suffix

    out = []
    skipped: list[str] = []
    for p in paths:
        files = [p] if p.is_file() else sorted(
            f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(SUFFIXES))
        if p.is_dir() and not files:
            raise click.BadParameter(f"{p} holds no .csv or .csv.gz files", param_hint="PATH")
        for f in files:
            stem = _strip_suffix(f.name) or f.stem
            named = (_parse_interval(stem.rpartition("_")[2]) is not None and "_" in stem) or (
                _parse_interval(f.parent.name) is not None)
            if p.is_dir() and not named and interval is None:
                skipped.append(str(f))
                continue
            sym, iv = symbol, interval
            head, _, tail = stem.rpartition("_")
            if head and _parse_interval(tail) is not None:
                sym = sym or head
                iv = iv or _parse_interval(tail)
            elif _parse_interval(f.parent.name) is not None:
                sym = sym or f.parent.parent.name
                iv = iv or _parse_interval(f.parent.name)
            out.append((f, p, sym or stem, iv))
    return out, skipped


def _report_lines(r: dict[str, Any]) -> list[str]:
    status = "[green]OK[/]" if r["ok"] else "[bold red]INVALID[/]"
    lines = [f"[bold]{escape(r['path'])}[/]  {status}  {escape(str(r['symbol']))} {r['interval']}  "
             f"label={escape(str(r['label']))} tz={escape(str(r['timezone']))} ({escape(str(r['declared_by']))})"]
    if r["ok"]:
        lines.append(f"  rows: {r['rows_read']:,} read, {r['rows_used']:,} used; {r['first']} -> {r['last']} IST; "
                     f"{r['sessions']:,} session(s)")
        if r["interval"] != "1day":
            lines.append(f"  gaps: {r['gaps']} inside sessions, {r['missing_bars']:,} missing bar(s); "
                         f"out-of-session rows dropped: {r['out_of_session']:,}"
                         + (f" (by label: {', '.join(f'{k} x{v}' for k, v in r['out_of_session_by_time'].items())})"
                            if r["out_of_session"] else ""))
            for s in r["short_sessions"][:5]:
                lines.append(f"  short session {s['date']}: {s['bars']} of {s['expected']} bars")
            for g in r["largest_gaps"][:3]:
                lines.append(f"  gap after {g['after']}: {g['minutes']} min")
        if r["missing_sessions"]:
            lines.append(f"  missing sessions ({len(r['missing_sessions'])}): {', '.join(r['missing_sessions'][:8])}"
                         + (" ..." if len(r["missing_sessions"]) > 8 else ""))
        if r["extra_sessions"]:
            lines.append(f"  extra sessions ({len(r['extra_sessions'])}): {', '.join(r['extra_sessions'][:8])}")
        for s in r["special_sessions"]:
            lines.append(f"  special session {escape(s)}")
        for m in r["big_moves"]:
            lines.append(f"  big move {m['date']}: {m['prev_close']} -> {m['close']} ({m['change_pct']:+.1f}%)"
                         + (f" {m['hint']}" if m["hint"] else ""))
        if r["duplicates_dropped"]:
            lines.append(f"  exact duplicates dropped (lenient): {r['duplicates_dropped']}")
        for w in r["warnings"]:
            lines.append(f"  [yellow]warning:[/] {escape(w)}")
    for e in r["errors"]:
        lines.append(f"  [red]error:[/] {escape(e['message'])}")
    return lines


def _parse_interval_dir(file: Path) -> bool:
    """True for files of the {SYMBOL}/{interval}/*.csv layout (concatenated by the feed)."""
    from adapters.csv.feed import _parse_interval

    return _parse_interval(file.parent.name) is not None


def _check_overlaps(groups: dict[tuple[str, str, Interval], list]) -> None:
    """Files the feed concatenates must agree where they overlap; report a conflict on the later file."""
    from adapters.csv.feed import merge_files

    for members in groups.values():
        if len(members) < 2:
            continue
        try:
            merge_files([m[1] for m in members], [m[0] for m in members])
        except DataError as exc:
            for file, _, rep in members:
                if exc.path == str(file):
                    rep["ok"] = False
                    rep["errors"].append({"message": str(exc), "reason": exc.reason, "row": exc.row,
                                          "column": exc.column})


@click.group("data")
def data() -> None:
    """Check market data files and see what the CSV feed delivers from them."""


@data.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tz", "tz", metavar="ZONE",
              help="Timezone of naive timestamps for files sources.toml does not declare "
                   "(default Asia/Kolkata; e.g. UTC).")
@click.option("--label", type=click.Choice(["start", "end"]),
              help="Bar label convention for undeclared files: stamped at the bar's start (09:15 first) "
                   "or its end (09:16 first). Default: start.")
@click.option("--interval", callback=_interval, metavar="|".join(INTERVALS),
              help="Interval of the files; needed when the file name does not say "
                   "(SYMBOL_1minute.csv.gz or SYMBOL/1minute/*.csv).")
@click.option("--symbol", help="Symbol for files whose name does not give it (default: from the name).")
@click.option("--lenient", is_flag=True, help="Drop exact duplicate rows (warned) instead of rejecting the file.")
@click.option("--big-move", "big_move", type=finite(0, 100, min_open=True), default=0.20, show_default=True,
              help="Report day-over-day close moves beyond this fraction (unadjusted splits/bonuses).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def validate(paths: tuple[Path, ...], tz: str | None, label: str | None, interval: Interval | None,
             symbol: str | None, lenient: bool, big_move: float, as_json: bool) -> None:
    """Validate bar files (.csv / .csv.gz) or every such file under a folder.

    Prints a per-file report: rows, date range, sessions, gaps, out-of-session rows, big
    moves, warnings and errors (each naming the row and column). Exits 1 if any file is
    invalid. Reading settings come from a sources.toml next to the files, then the flags.

    \b
    Examples:
      sensequant data validate data/market
      sensequant data validate raw/NIFTY.csv.gz --interval 1minute --label end --tz UTC --json
    """
    from rich.progress import Progress

    from adapters.csv import NseCalendar, read_bar_file
    from adapters.csv.manifest import check_label, check_timezone

    if tz is not None:
        check_timezone(tz, "--tz")
    if label is not None:
        label = check_label(label, "--label")
    targets, skipped = _targets(paths, interval, symbol)
    groups: dict[tuple[str, str, Interval], list] = {}
    calendar = NseCalendar()
    reports: list[dict[str, Any]] = []
    with Progress(transient=True, disable=as_json or len(targets) < 3, console=console) as progress:
        task = progress.add_task("validating", total=len(targets))
        for file, root, sym, iv in targets:
            progress.update(task, description=f"validating {file.name}")
            if iv is None:
                err = DataError("cannot tell the interval from the file name; name it SYMBOL_1minute.csv[.gz] "
                                "(or 5minute/15minute/1day) or pass --interval", path=str(file))
                reports.append({"path": str(file), "symbol": sym, "interval": None, "ok": False,
                                "errors": [{"message": str(err), "reason": err.reason, "row": None,
                                            "column": None}]})
                progress.advance(task)
                continue
            try:
                manifest = _find_manifest(file, root if root.is_dir() else file.parent)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
            spec = manifest.resolve(file, timezone=tz, label=label)
            cols, rep = read_bar_file(file, symbol=str(sym), interval=iv, spec=spec, lenient=lenient,
                                      calendar=calendar, big_move_threshold=big_move)
            reports.append(rep.to_dict())
            if cols is not None and _parse_interval_dir(file):
                groups.setdefault((str(file.parent), str(sym), iv), []).append((file, cols, reports[-1]))
            progress.advance(task)
    _check_overlaps(groups)
    bad = [r for r in reports if not r["ok"]]
    if as_json:
        print_json({"ok": not bad, "files": reports, "skipped": skipped})
    else:
        for r in reports:
            if r.get("interval") is None:
                console.print(f"[bold]{escape(r['path'])}[/]  [bold red]INVALID[/]", soft_wrap=True)
                for e in r["errors"]:
                    console.print(f"  [red]error:[/] {escape(e['message'])}", soft_wrap=True)
                continue
            for line in _report_lines(r):
                console.print(line, soft_wrap=True)
        for name in skipped:
            console.print(f"skipped {escape(name)} (not named SYMBOL_<interval>.csv[.gz]; pass --interval "
                          f"to validate it as bars)", soft_wrap=True)
        console.print(f"{len(reports) - len(bad)} of {len(reports)} file(s) valid"
                      + (f"; {len(bad)} invalid" if bad else ""))
    if bad:
        raise click.exceptions.Exit(1)


def _parse_when(value: str | None, name: str, end: bool) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date or ISO date-time (e.g. 2024-01-15 or "
                                 f"2024-01-15T10:00)", param_hint=name) from None
    date_only = len(value.strip()) <= 10
    if when.tzinfo is None:
        when = when.replace(tzinfo=IST)
    if end and date_only:
        when = datetime.combine(when.date() + timedelta(days=1), dtime(0), tzinfo=when.tzinfo)
    return when


def _bar_rows(series, idx: range) -> list[tuple[str, ...]]:
    rows = []
    for i in idx:
        ist = np.datetime64(int(series.start_ns[i]) + IST_OFFSET_NS, "ns").astype("datetime64[m]")
        v = series.volume[i]
        rows.append((str(ist).replace("T", " "), f"{series.open[i]:.2f}", f"{series.high[i]:.2f}",
                     f"{series.low[i]:.2f}", f"{series.close[i]:.2f}", "" if v != v else f"{int(v):,}"))
    return rows


@data.command("inspect")
@click.argument("symbol", callback=non_empty)
@click.option("--interval", callback=_interval, required=True, metavar="|".join(INTERVALS),
              help="Bar interval (5/15-minute are built from 1-minute files if needed).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of bar files (default: the shipped data/market).")
@click.option("--start", callback=non_empty, help="First bar start, inclusive: a date (IST) or ISO date-time.")
@click.option("--end", help="End, exclusive for date-times; a date includes that whole day.")
@click.option("--tz", "tz", metavar="ZONE", help="Timezone of naive timestamps for undeclared files.")
@click.option("--label", type=click.Choice(["start", "end"]), help="Bar label convention for undeclared files.")
@click.option("--lenient", is_flag=True, help="Drop exact duplicate rows instead of rejecting the file.")
@click.option("--bars", "n_bars", default=3, show_default=True, type=count(0, 100_000), help="How many first/last bars to show.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect_cmd(symbol: str, interval: Interval, data_dir: Path | None, start: str | None, end: str | None,
            tz: str | None, label: str | None, lenient: bool, n_bars: int, as_json: bool) -> None:
    """Show what the CSV feed would deliver for SYMBOL: first/last bars, counts, sessions, gaps.

    Bars are normalised to bar-start labels in IST, restricted to NSE session hours.
    """
    from adapters.csv import CsvFeed
    from applications.wiring.store import project_root

    root = data_dir or project_root() / "data" / "market"
    feed = CsvFeed(root, timezone=tz, label=label, lenient=lenient)
    lo = _parse_when(start, "--start", end=False)
    hi = _parse_when(end, "--end", end=True)
    series = feed.history_series(symbol, interval, lo, hi)
    reports = [r.to_dict() for r in feed.reports(symbol, interval)]
    n = len(series)
    days = np.unique((series.start_ns + IST_OFFSET_NS) // (86_400 * 10**9)) if n else np.array([], dtype=np.int64)
    gaps = 0
    if n > 1 and interval.is_intraday:
        step = np.diff(series.start_ns)
        same_day = np.diff((series.start_ns + IST_OFFSET_NS) // (86_400 * 10**9)) == 0
        gaps = int((same_day & (step > int(interval.duration.total_seconds()) * 10**9)).sum())
    k = min(n_bars, n)
    first_rows = _bar_rows(series, range(k))
    last_rows = _bar_rows(series, range(max(k, n - k), n))
    vol = series.volume[~np.isnan(series.volume)] if n else np.array([])
    summary = {
        "symbol": symbol, "interval": interval.value, "bars": n, "sessions": int(len(days)),
        "first": first_rows[0][0] if n else None, "last": last_rows[-1][0] if last_rows else (
            first_rows[-1][0] if n else None),
        "gaps_inside_sessions": gaps, "has_volume": bool(len(vol)),
        "first_bars": first_rows, "last_bars": last_rows, "files": reports, "feed": feed.describe(),
    }
    if as_json:
        print_json(summary)
        return
    console.print(f"[bold]{escape(symbol)}[/] {interval.value} from {escape(str(root))}: {n:,} bar(s) in {len(days)} session(s), "
                  f"{summary['first']} -> {summary['last']} IST (bar start); {gaps} gap(s) inside sessions; "
                  f"volume {'yes' if len(vol) else 'none'}")
    cols = ["start (IST)", "open", "high", "low", "close", "volume"]
    if n:
        print_table("first bars", cols, first_rows)
        print_table("last bars", cols, last_rows)
    for r in reports:
        console.print(f"source {escape(r['path'])}: label={r['label']} tz={r['timezone']} ({r['declared_by']}), "
                      f"{r['rows_read']:,} rows read, {r['rows_used']:,} used, "
                      f"{r['out_of_session']:,} out-of-session dropped, {r['missing_bars']:,} missing bar(s)")
        for w in r["warnings"]:
            console.print(f"  [yellow]warning:[/] {escape(w)}", soft_wrap=True)


COMMANDS = [data]


from applications.cli.data_fetch_cmd import fetch as _fetch  # noqa: E402  (the `data fetch` subcommand)

data.add_command(_fetch)
