"""Every command and option with hostile values: no traceback, only the documented exit codes (issue 19).

Each command gets a cheap baseline (a tiny date range, one symbol, no sentiment) so that an
accepted value does real but short work; then one option at a time is given each hostile
value: empty, blank, negative, zero, huge, inf/nan, rich-markup brackets, unicode, a path
under a file, an unwritable path and a non-UTF-8 file. Any uncaught exception (a
traceback) or an exit code other than 0/1/2 fails the test, naming the command line.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from applications.cli.main import cli

DOCUMENTED_EXIT_CODES = {0, 1, 2}

# Commands that serve or trade until stopped, or need broker credentials: their option
# parsing is covered through the shared option types; they are not started here.
NOT_STARTED = {("dashboard",), ("eod", "schedule"), ("live",)}

# A cheap baseline per command (None: no baseline needed).
BASELINES: dict[tuple[str, ...], list[str]] = {
    ("backtest",): ["--strategy", "intraday", "--symbols", "TCS", "--start", "2024-02-23", "--no-sentiment",
                    "--no-telemetry"],
    ("paper",): ["--start", "2024-02-23", "--end", "2024-02-23", "--no-sentiment", "--replay-speed", "0"],
}
# Too slow to fuzz every option of (model training / walk-forward): only their validation-heavy options.
SLOW = {("models", "train"), ("validate",), ("eod", "run-now"), ("eod", "run")}


def hostile_values(tmp: Path) -> list[str]:
    a_file = tmp / "a_file.txt"
    a_file.write_text("x")
    non_utf8 = tmp / "latin1.toml"
    non_utf8.write_bytes(b"[backtest]\nlabel = \"caf\xe9\"\n\xff\xfe")
    locked = tmp / "locked"
    locked.mkdir(exist_ok=True)
    locked.chmod(0o500)
    return ["", " ", "-1", "0", "-3", "99999999999999999999999", "1e999", "inf", "nan", "[/x]", "[red]x",
            "ü∂ 日本", str(a_file / "under"), str(locked / "sub" / "out"), str(non_utf8)]


def commands() -> list[tuple[tuple[str, ...], click.Command]]:
    out = []

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))
        else:
            out.append((path, cmd))

    walk(cli, ())
    return out


def _invoke(runner: CliRunner, args: list[str]):
    return runner.invoke(cli, args, catch_exceptions=True)


def _problem(args: list[str], result) -> str | None:
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        return f"sensequant {' '.join(args)!r}: {type(exc).__name__}: {exc}"
    text = (result.output or "") + (getattr(result, "stderr", "") or "")
    if "Traceback" in text:
        return f"sensequant {' '.join(args)!r}: printed a traceback"
    if result.exit_code not in DOCUMENTED_EXIT_CODES:
        return f"sensequant {' '.join(args)!r}: exit code {result.exit_code}"
    return None


@pytest.fixture
def fuzz_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSEQUANT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SENSEQUANT_DB_URL", f"sqlite:///{tmp_path / 'fuzz.db'}")
    work = tmp_path / "cwd"  # relative paths a hostile value names (--out 0) land here, not in the repo
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("BREEZE_API_KEY", raising=False)
    yield tmp_path
    (tmp_path / "locked").chmod(0o700)


def test_every_option_with_hostile_values(fuzz_env):
    if os.geteuid() == 0:
        pass  # root can write anywhere: the unwritable-path value then just works, which is fine
    values = hostile_values(fuzz_env)
    runner = CliRunner()
    problems: list[str] = []
    for path, cmd in commands():
        if path in NOT_STARTED:
            continue
        base = [*path, *BASELINES.get(path, [])]
        targets = [p for p in cmd.params if not getattr(p, "is_flag", False) and p.name not in ("help",)]
        if path in SLOW:
            targets = [p for p in targets if isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType,
                                                                   click.IntRange, click.FloatRange))]
        for param in targets:
            for value in values:
                if isinstance(param, click.Argument):
                    args = [*base, value]
                else:
                    args = [*base, param.opts[0], value]
                if path in SLOW and value not in ("-1", "0", "inf", "nan", "1e999"):
                    continue
                problem = _problem(args, _invoke(runner, args))
                if problem:
                    problems.append(problem)
    assert not problems, f"{len(problems)} hostile invocations failed:\n" + "\n".join(problems[:80])
