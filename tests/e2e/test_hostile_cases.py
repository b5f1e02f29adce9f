"""The hostile probe's failed cases (issue 19), one test each: a one-line error, never a traceback.

Exit code 2 and a message naming the problem; nothing written where the case says so.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from applications.cli.main import cli

BASE = ["backtest", "--strategy", "intraday", "--symbols", "TCS", "--start", "2024-02-23", "--no-sentiment"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSEQUANT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SENSEQUANT_DB_URL", f"sqlite:///{tmp_path / 'probe.db'}")
    from applications.wiring.store import open_store
    open_store().close()  # an empty store: read commands refuse a missing one (tested below)
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(result, *needles: str) -> str:
    text = " ".join((result.output or "").split())
    assert result.exit_code == 2, text
    assert "Traceback" not in text and "error:" in text.lower(), text
    for needle in needles:
        assert needle in text, text
    return text


def _runs(env) -> list:
    return json.loads(run("runs", "list", "--json").stdout)


@pytest.mark.parametrize("args, needle", [
    (["runs", "show", "[/x]"], "'[/x]'"),
    (["data", "inspect", "[/x]", "--interval", "1day"], "[/x]"),
    (["backtest", "--symbols", "[/x]", "--start", "2024-02-23", "--no-sentiment"], "[/X]"),
    (["backtest", "--data-dir", "{tmp}/[red]dir", "--no-sentiment"], "[red]dir"),
])
def test_square_brackets_are_shown_as_written(env, args, needle):
    (env / "[red]dir").mkdir()
    one_line_error(run(*[a.replace("{tmp}", str(env)) for a in args]), needle)


@pytest.mark.parametrize("args, needle", [
    (["backtest", "--interval", "7minute"], "unknown interval '7minute'"),
    (["events", "tail", "-f", "--interval", "-1"], "--interval"),
    (["events", "tail", "--after", "99999999999999999999999"], "--after"),
    (["report", "--window", "0"], "--window"),
    (["report", "--start", "2024-13-01"], "not a date"),
    (["runs", "export", "x", "--max-file-mb", "0"], "--max-file-mb"),
    (["runs", "export", "x", "--worst", "-3"], "--worst"),
    (["data", "inspect", "TCS", "--interval", "1day", "--bars", "-1"], "--bars"),
    (["runs", "list", "--limit", "99999999999999999999999"], "--limit"),
    (["backtest", "--symbols", ""], "at least one symbol"),
    (["runs", "show", ""], "must not be empty"),
    (["runs", "export", ""], "must not be empty"),
    (["report", ""], "must not be empty"),
    (["events", "tail", "--run", ""], "must not be empty"),
    # an empty output path is an error, never "the current folder"
    (["runs", "export", "x", "--out", ""], "must not be empty"),
    (["report", "--out", " "], "must not be empty"),
    (["optimize", "--strategy", "swing", "--out", ""], "must not be empty"),
    (["release", "audit", "--out", ""], "must not be empty"),
    (["validate", "--walk-forward", "--out", ""], "must not be empty"),
    (["validate", "--walk-forward", "--markdown", ""], "must not be empty"),
    (["models", "--registry", "", "list"], "must not be empty"),
    (["backtest", "--cache-dir", ""], "must not be empty"),
    (["db", "downgrade", "base", "--backup-dir", ""], "must not be empty"),
    (["data", "sentiment-snapshot", "TCS", "--out", ""], "must not be empty"),
])
def test_bad_options_are_usage_errors(env, args, needle):
    one_line_error(run(*args), needle)


def test_out_under_a_file_and_unwritable_out_are_one_line(env):
    run(*BASE)
    a_file = env / "a_file"
    a_file.write_text("x")
    one_line_error(run("runs", "export", _runs(env)[0]["run_id"], "--out", str(a_file / "sub")), "a_file")
    one_line_error(run("report", "--out", str(a_file / "sub")), "a_file")


@pytest.mark.parametrize("args", [
    ["validate", "--walk-forward", "--symbols", "TCS", "--out", "{file}/sub"],
    ["validate", "--walk-forward", "--symbols", "TCS", "--markdown", "{file}/sub/wf.md"],
    ["optimize", "--strategy", "swing", "--trials", "1", "--out", "{file}/sub"],
    ["models", "--registry", "{file}/reg", "train", "--symbols", "TCS"],
])
def test_an_output_path_under_a_file_is_refused_before_any_work(env, args):
    a_file = env / "a_file"
    a_file.write_text("x")
    one_line_error(run(*[a.replace("{file}", str(a_file)) for a in args]), "a_file", "not a folder")
    assert _runs(env) == [], "work was recorded before the output path was checked"


def test_a_non_utf8_config_is_a_one_line_error(env):
    bad = env / "latin1.toml"
    bad.write_bytes(b"label = \"caf\xe9\"\n")
    one_line_error(run(*BASE, "--config", str(bad)), "not UTF-8")


@pytest.mark.parametrize("toml, needle", [
    ("[intraday]\ninitial_cash_rupees = -1000\n", "intraday.initial_cash_rupees"),
    ("[costs]\ngst_rate = 5.0\n", "costs.gst_rate"),
    ("[costs]\ndelivery_stt_rate = 2.0\n", "costs.delivery_stt_rate"),
    ("[costs.intraday_brokerage]\nrate = 2.0\n", "costs.intraday_brokerage.rate"),
    ("[reference]\ncommission_rate = 2.0\n", "reference.commission_rate"),
    ("[reference]\nfast = 0\n", "reference.fast"),
    ("[reference]\nquantity = -100\n", "reference.quantity"),
    ("event_batch_size = -5\n", "event_batch_size"),
    ("[sentiment]\nlookback_days = -3\n", "sentiment.lookback_days"),
    ("[risk]\ndaily_loss_cap = inf\n", "risk.daily_loss_cap"),
])
def test_out_of_range_settings_name_setting_source_and_range_and_write_nothing(env, toml, needle):
    path = env / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    text = one_line_error(run(*BASE, "--config", str(path)), needle, "bad.toml")
    assert "allowed" in text or "finite" in text
    assert _runs(env) == []


@pytest.mark.parametrize("name, value, needle", [
    ("SENSEQUANT_BACKTEST__RISK__DAILY_LOSS_CAP", "true", "must be a number"),
    ("SENSEQUANT_BACKTEST__RISK__DAILY_LOSS_CAP", "1e999", "finite"),
    ("SENSEQUANT_BACKTEST__INTRADAY__INITIAL_CASH_RUPEES", "-5", "allowed"),
    ("SENSEQUANT_BACKTEST__SENTIMENT__ENABLED", "2", "true or false"),
])
def test_environment_values_are_checked_and_named(env, monkeypatch, name, value, needle):
    monkeypatch.setenv(name, value)
    one_line_error(run(*BASE), needle, name)
    assert _runs(env) == []


def test_the_live_install_hint_keeps_its_extra():
    from rich.console import Console

    from applications.cli import output
    console = Console(record=True, width=200)
    original = output.err_console
    output.err_console = console
    try:
        with pytest.raises(Exception):
            output.fail("install it: pip install 'sensequant[live]'")
    finally:
        output.err_console = original
    assert "pip install 'sensequant[live]'" in console.export_text()


def test_a_fill_that_makes_equity_negative_is_an_error_event_and_stops_the_book(env):
    config = env / "huge.toml"
    config.write_text("[reference]\nquantity = 1000000000\n", encoding="utf-8")
    result = run("backtest", "--strategy", "sma_cross", "--symbols", "TCS", "--interval", "1minute",
                 "--start", "2024-02-20", "--no-sentiment", "--config", str(config))
    one_line_error(result, "NegativeEquityError", "book stopped")
    listed = _runs(env)
    assert [r["status"] for r in listed] == ["failed"]
    tail = run("events", "tail", "--run", listed[0]["run_id"], "--last", "100", "--json").stdout.splitlines()
    types = [json.loads(line)["type"] for line in tail]
    assert "book.stopped" in types
    stopped = [json.loads(line)["payload"] for line in tail if json.loads(line)["type"] == "book.stopped"][0]
    assert stopped["reason"] == "negative_equity" and stopped["equity_paise"] < 0
    # Nothing after the stop: the book's last event is the stop itself.
    book = [json.loads(line)["type"] for line in tail if json.loads(line)["stream_id"].endswith(":sma_cross")]
    assert book[-1] == "book.stopped"


def test_a_file_of_impossible_prices_is_invalid_and_the_backtest_refuses_it(env):
    import gzip
    folder = env / "market"
    folder.mkdir()
    rows = ["timestamp,symbol,open,high,low,close,volume"] + [
        f"2024-01-01T09:{15 + m:02d}:00+05:30,TCS,1e308,1e308,1e308,1e308,10" for m in range(5)]
    with gzip.open(folder / "TCS_1minute.csv.gz", "wt") as fh:
        fh.write("\n".join(rows) + "\n")
    result = run("data", "validate", str(folder))
    assert result.exit_code == 1 and "beyond any NSE share price" in " ".join(result.output.split())
    backtest = run("backtest", "--strategy", "intraday", "--symbols", "TCS", "--data-dir", str(folder),
                   "--no-sentiment")
    one_line_error(backtest, "beyond any NSE share price", "row 1")


@pytest.mark.parametrize("args", [
    ["runs", "list"], ["runs", "show", "abc"], ["runs", "export", "abc"], ["report"],
    ["events", "tail"], ["events", "verify", "--all"], ["monitor", "status"], ["monitor", "alerts"],
])
def test_a_read_command_on_a_missing_store_creates_nothing(tmp_path, monkeypatch, args):
    monkeypatch.setenv("SENSEQUANT_RUNS_DIR", str(tmp_path / "runs"))
    missing = tmp_path / "no" / "such" / "folder" / "events.db"
    result = run("--db", f"sqlite:///{missing}", *args)
    one_line_error(result, "no event store at", "events.db", "sensequant backtest")
    assert not (tmp_path / "no").exists(), "a read command created the folder"
