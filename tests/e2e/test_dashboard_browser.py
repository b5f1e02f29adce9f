"""`sensequant dashboard` in a real headless Chromium, against a SQLite store holding a real
backtest run: every panel renders without a browser-console error, choosing a symbol
changes the trades table, the JSON export downloads, and a screenshot is kept under
``test-artifacts/``. Skips (with the reason) when Debian's chromium is not installed;
``scripts/test`` installs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.test_dashboard_cli import free_port
from tests.integration.dashboard_support import backtest_db  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(backtest_db):  # noqa: F811
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (scripts/test installs it: apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="the python playwright package is not installed")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENSEQUANT_DASHBOARD_")}
    log = open(Path(backtest_db.url.removeprefix("sqlite:///")).parent / "dashboard.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "applications", "--db", backtest_db.url, "dashboard",
                             "--port", str(port), "--refresh", "1"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                if resp.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail(f"the dashboard did not start:\n{log.read()}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_every_panel_renders_and_the_page_reacts(server, backtest_db, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 2200}, accept_downloads=True)
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(server, timeout=90_000)
            page.wait_for_selector(".sq-trades .tabulator-row", timeout=90_000)

            # every panel is on the page and drawn
            assert "Run " + backtest_db.run_id[:12] in page.locator(".sq-title h2").inner_text()
            assert page.locator(".sq-badge .sq-badge-historical").inner_text() == "HISTORICAL"
            for name in ("intraday", "swing"):
                card = page.locator(f".sq-card-{name} .sq-card")
                assert "Precision (LONG)" in card.inner_text() and "Sharpe" in card.inner_text()
                page.locator(f".sq-confusion-{name} canvas").first.wait_for(timeout=30_000)
            for pane in ("returns", "drawdown", "price"):
                page.locator(f".sq-{pane} canvas").first.wait_for(timeout=30_000)
            assert page.locator(".sq-alerts li.sq-alert").count() >= 1
            books = page.locator(".sq-portfolio .sq-portfolio-table tbody tr").all_inner_texts()
            assert len(books) == 2 and books[0].startswith("intraday") and books[1].startswith("swing")
            assert page.locator(".sq-replay").count() == 1
            assert page.locator(".sq-replay-info b").inner_text() == "latest"

            # choosing a symbol changes the trades table
            symbols = page.locator('.sq-trades .tabulator-cell[tabulator-field="symbol"]')
            first = symbols.first.inner_text()
            other = "RELIANCE" if first != "RELIANCE" else "TCS"
            page.locator(".sq-symbol select").select_option(other)
            deadline = time.monotonic() + 30
            while symbols.first.inner_text().strip() != other and time.monotonic() < deadline:
                page.wait_for_timeout(200)  # the table lives in a shadow root: poll through the locator
            assert {t.strip() for t in symbols.all_inner_texts()} == {other}

            # the JSON export downloads the current metrics
            with page.expect_download(timeout=60_000) as info:
                page.locator(".sq-export button").click()
            target = tmp_path / info.value.suggested_filename
            info.value.save_as(target)
            doc = json.loads(target.read_text(encoding="utf-8"))
            assert doc["run_id"] == backtest_db.run_id and doc["filters"]["symbol"] == other
            assert set(doc["strategies"]) == {"intraday", "swing"}

            page.wait_for_timeout(1500)  # let the last plot finish drawing
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 50_000
    shutil.copy(ARTIFACTS / "dashboard.png", tmp_path / "dashboard.png")
