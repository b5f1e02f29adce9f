"""The ``sensequant`` command line.

Each command group lives in its own module and is registered here; commands build
their object graph through the composition roots in ``applications``.
"""

from __future__ import annotations

import logging
import os

import click

from applications.cli.output import fail
from core.errors import SenseQuantError


# Exit codes: 0 success, 1 a check found problems (events verify, data validate), 2 a usage
# or typed error, 70 (EX_SOFTWARE) an unexpected internal error.
INTERNAL_ERROR_EXIT = 70


class SenseQuantGroup(click.Group):
    """Turns SenseQuant's typed errors into one clear line and a non-zero exit."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except SenseQuantError as exc:
            fail(f"{type(exc).__name__}: {exc}")
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except OSError as exc:
            # A path under a file, an unwritable folder, a full disk: the user's environment.
            where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            fail(f"cannot use{where}: {exc.strerror or exc}; check the path and its permissions")
        except Exception as exc:  # noqa: BLE001 - last resort: one line, never a traceback
            if ctx.obj and ctx.obj.get("verbose", 0) >= 2:
                raise
            fail(f"internal error {type(exc).__name__}: {exc} (please report it; -vv shows the traceback)",
                 code=INTERNAL_ERROR_EXIT)


@click.group(cls=SenseQuantGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                    "max_content_width": 100})
@click.option("--db", "db_url", metavar="URL", envvar="SENSEQUANT_DB_URL",
              help="Event store URL: sqlite:///path.db, postgresql+psycopg://host/db or memory://. "
                   "Default: the embedded SQLite under data/runs/.")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.version_option(package_name="sensequant")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, verbose: int) -> None:
    """SenseQuant: event-sourced algorithmic trading for NSE equities.

    Every decision, order, fill, trade and prediction trace is an event in one
    append-only log; reports, the dashboard and the learning jobs read that log.
    Start with `sensequant backtest` (runs on the shipped data) and `sensequant runs list`.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["db_url"] = db_url
    ctx.obj["verbose"] = verbose


def _register() -> None:
    # Imported here so that `sensequant --help` stays importable even while a heavy
    # optional dependency of one group is missing.
    from applications.cli import events_cmd, runs_cmd
    for module in (runs_cmd, events_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)
    for name in OPTIONAL_GROUPS:
        module = __import__(f"applications.cli.{name}", fromlist=["COMMANDS"])
        for command in module.COMMANDS:
            cli.add_command(command)


# Command modules added by each feature area; each exposes COMMANDS = [click commands].
OPTIONAL_GROUPS: list[str] = ["backtest_cmd", "report_cmd", "data_cmd", "models_cmd", "validate_cmd", "eod_cmd", "db_cmd", "dashboard_cmd", "paper_cmd", "live_cmd", "release_cmd", "monitor_cmd", "sentiment_cmd", "optimize_cmd", "projections_cmd"]

_register()


def main() -> None:
    os.environ.setdefault("PYTHONHASHSEED", "0")
    cli(prog_name="sensequant")
