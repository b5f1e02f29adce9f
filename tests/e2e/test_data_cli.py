"""`sensequant data validate` / `data inspect` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from applications.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
MARKET = ROOT / "data" / "market"
BROKEN = ROOT / "tests" / "data" / "broken"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_validate_shipped_data_is_clean_json():
    result = run("data", "validate", str(MARKET), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["ok"] is True and len(doc["files"]) == 9
    assert [Path(p).name for p in doc["skipped"]] == ["corporate_actions.csv"]
    nifty = next(f for f in doc["files"] if f["symbol"] == "NIFTY50")
    assert nifty["label"] == "end" and nifty["first"] == "2016-07-01 09:15" and nifty["sessions"] == 62
    reliance = next(f for f in doc["files"] if f["symbol"] == "RELIANCE")
    assert reliance["big_moves"][0]["date"] == "2017-09-07"


def test_validate_text_report_and_exit_code_on_broken_files():
    result = run("data", "validate", str(BROKEN), "--interval", "1minute")
    assert result.exit_code == 1
    out = " ".join(result.output.split())  # undo terminal wrapping
    assert "high_below_low__row2_high.csv INVALID" in out
    assert "row 2, column 'high': high 99.0 is below low 100.0" in out
    assert "0 of 10 file(s) valid; 10 invalid" in out


def test_validate_mixed_good_and_bad_json(tmp_path):
    good = MARKET / "TCS_1minute.csv.gz"
    bad = BROKEN / "unsorted__row3_timestamp.csv"
    result = run("data", "validate", str(good), str(bad), "--interval", "1minute", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert [f["ok"] for f in doc["files"]] == [True, False]
    err = doc["files"][1]["errors"][0]
    assert (err["row"], err["column"]) == (3, "timestamp") and "not sorted" in err["message"]


def test_validate_declares_label_and_timezone_for_loose_files(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("time,o,h,l,c\n2024-01-02 03:46:00,10,11,9,10\n2024-01-02 03:47:00,10,11,9,10\n")
    result = run("data", "validate", str(path), "--interval", "1m", "--tz", "UTC", "--label", "end", "--json")
    assert result.exit_code == 0, result.output
    f = json.loads(result.output)["files"][0]
    assert (f["first"], f["last"], f["timezone"], f["label"]) == ("2024-01-02 09:15", "2024-01-02 09:16", "UTC", "end")
    result = run("data", "validate", str(path))
    assert result.exit_code == 1 and "pass --interval" in result.output
    result = run("data", "validate", str(path), "--interval", "1m", "--tz", "Mars/Base")
    assert result.exit_code != 0 and "unknown timezone 'Mars/Base'" in result.output


def test_inspect_json_and_text():
    result = run("data", "inspect", "NIFTY50", "--interval", "15minute", "--data-dir", str(MARKET),
                 "--start", "2016-08-01", "--end", "2016-08-05", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["bars"] == 5 * 25 and doc["sessions"] == 5
    assert doc["first"] == "2016-08-01 09:15" and doc["last"] == "2016-08-05 15:15"
    assert doc["feed"]["root"] == str(MARKET) and doc["has_volume"] is False
    result = run("data", "inspect", "TCS", "--interval", "1minute")
    assert result.exit_code == 0
    assert "14,625 bar(s) in 39 session(s)" in " ".join(result.output.split())


def test_inspect_unknown_symbol_is_one_clear_line():
    result = CliRunner().invoke(cli, ["data", "inspect", "NOPE", "--interval", "1day"])
    assert result.exit_code == 2
    assert "DataError: no 1day data for symbol 'NOPE'" in " ".join(result.output.split())


def test_help_runs_as_a_subprocess():
    out = subprocess.run([sys.executable, "-m", "applications", "data", "validate", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--label [start|end]" in out.stdout


def test_validate_reports_conflicting_overlapping_files_of_one_symbol(tmp_path):
    folder = tmp_path / "X" / "1minute"
    folder.mkdir(parents=True)
    head = "timestamp,open,high,low,close\n"
    (folder / "a.csv").write_text(head + "2024-01-01 09:15:00,10,11,9,10\n2024-01-01 09:16:00,10,11,9,10\n")
    (folder / "b.csv").write_text(head + "2024-01-01 09:16:00,10,11,9,10\n2024-01-01 09:17:00,10,11,9,10\n")
    assert run("data", "validate", str(tmp_path)).exit_code == 0  # identical overlap: de-duplicated
    (folder / "b.csv").write_text(head + "2024-01-01 09:16:00,10,12,9,10\n2024-01-01 09:17:00,10,11,9,10\n")
    result = run("data", "validate", str(tmp_path), "--json")
    assert result.exit_code == 1
    files = {Path(f["path"]).name: f for f in json.loads(result.output)["files"]}
    assert files["a.csv"]["ok"] and not files["b.csv"]["ok"]
    err = files["b.csv"]["errors"][0]
    assert err["row"] == 1 and "a.csv row 2" in err["message"]
