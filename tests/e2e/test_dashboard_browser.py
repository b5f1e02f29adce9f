"""`sensequant dashboard` in a real headless Chromium, against a store (SQLite, and PostgreSQL
when configured) holding two real backtest runs (both books on a slice of the shipped data, and the reference
``sma_cross``): checks what the page *means*, not only that it draws.

- every card figure equals ``sensequant runs show --json`` for the run shown;
- after switching runs, every trade in the table belongs to the new run and the cards
  are the new run's books (``sma_cross`` is labelled ``sma_cross``; no card for a book the
  run does not have);
- the book filter, the direction, the x axis and the replay slider raise no server
  exception (any traceback in the server log fails the test) and no console error;
- the replay slider's portfolio is what a fold of the log up to that seq gives;
- a run written while the page is open appears without reload (the page follows it);
- a screenshot per view is kept under ``test-artifacts/``.

Skips (with the reason) when Debian's chromium is not installed; ``scripts/test`` installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import attrs
import pytest

from applications.dashboard.viewmodel import formats as fmt
from applications.wiring.store import open_store
from core.events.catalog import PositionChanged, TradeClosed
from tests.e2e.test_dashboard_cli import free_port
from tests.integration.dashboard_support import backtest_db, copy_events  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser


def cli(url: str, *args: str, timeout: float = 180) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENSEQUANT_DASHBOARD_")}
    out = subprocess.run([sys.executable, "-m", "applications", "--db", url, *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store_url(request, backtest_db, tmp_path_factory):  # noqa: F811
    """A copy of the shared two-book run plus a reference ``sma_cross`` run (the newest), in
    SQLite and in a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("browser") / "events.db"
        shutil.copy(backtest_db.url.removeprefix("sqlite:///"), target)
        url = f"sqlite:///{target}"
    else:
        schemas = request.getfixturevalue("pg_schemas")
        schema, url = schemas.create()
        request.addfinalizer(lambda: schemas.drop(schema))
        source, store = open_store(backtest_db.url), open_store(url)
        try:
            # written as a run is: started, its events appended, then sealed (hash chain head)
            info = source.get_run(backtest_db.run_id)
            store.start_run(attrs.evolve(info, status="running", ended_at=None))
            copy_events(backtest_db.events, store)
            store.finish_run(info.run_id, info.status, info.ended_at)
        finally:
            source.close()
            store.close()
    cli(url, "backtest", "--strategy", "sma_cross", "--symbols", "TCS", "--interval", "1minute",
        "--start", "2024-01-01", "--end", "2024-01-12", "--no-sentiment", "--json")
    return url


@pytest.fixture(scope="module")
def server(store_url, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (scripts/test installs it: apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="the python playwright package is not installed")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENSEQUANT_DASHBOARD_")}
    log_path = tmp_path_factory.mktemp("dashboard-log") / "dashboard.log"
    log = open(log_path, "w+")
    proc = subprocess.Popen([sys.executable, "-m", "applications", "--db", store_url, "dashboard",
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
    yield url, log_path
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def wait_until(check, what: str, timeout: float = 120.0, page=None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - the element may be mid-replacement: poll again
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if page is not None:
            page.wait_for_timeout(200)
        else:
            time.sleep(0.2)


def card_figures(page) -> dict[str, dict[str, object]]:
    """Book -> {field: raw value} read from the cards' ``data-value`` attributes."""
    out: dict[str, dict[str, object]] = {}
    for card in page.locator(".sq-cards-pane .sq-card").all():
        book = card.get_attribute("data-book")
        figures = {}
        for cell in card.locator(".sq-fig").all():
            figures[cell.get_attribute("data-field")] = _literal(cell.get_attribute("data-value"))
        out[book] = figures
    return out


def _literal(text: str):
    return None if text == "None" else (int(text) if re.fullmatch(r"-?\d+", text) else float(text))


def runs_show(url: str, run_id: str) -> dict[str, dict[str, object]]:
    doc = json.loads(cli(url, "runs", "show", run_id, "--json"))
    return {b["strategy"]: b for b in doc["books"]}


def assert_cards_equal_cli(page, url: str, run_id: str) -> None:
    shown = card_figures(page)
    cli_books = runs_show(url, run_id)
    assert set(shown) == set(cli_books), (shown.keys(), cli_books.keys())
    for book, figures in shown.items():
        for field, value in figures.items():
            assert value == cli_books[book][field], f"{book} {field}: page {value!r} vs runs show {cli_books[book][field]!r}"


def run_trade_ids(url: str, run_id: str) -> set[str]:
    store = open_store(url)
    try:
        return {r.event.trade_id for r in store.read_all(0, 1_000_000, run_id=run_id)
                if isinstance(r.event, TradeClosed)}
    finally:
        store.close()


def cash_after(url: str, run_id: str, seq: int) -> dict[str, int]:
    """Book -> cash after its last fill at or before ``seq``: a plain fold of the log."""
    store = open_store(url)
    try:
        cash: dict[str, int] = {}
        for rec in store.read_all(0, 1_000_000, run_id=run_id):
            if rec.seq <= seq and isinstance(rec.event, PositionChanged):
                cash[rec.stream_id.rsplit(":", 1)[-1]] = rec.event.cash_paise
        return cash
    finally:
        store.close()


def choose_run(page, run_id: str) -> None:
    """Pick ``run_id`` in the run picker (its options are labelled, the label ends in the id's head)."""
    label = next(t for t in page.locator(".sq-run select option").all_inner_texts() if run_id[:8] in t)
    page.locator(".sq-run select").select_option(label=label)


def test_the_page_means_what_the_cli_says(server, store_url, backtest_db, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    url, log_path = server
    both, sma = backtest_db.run_id, json.loads(cli(store_url, "runs", "list", "--json"))[0]["run_id"]
    assert sma != both
    problems: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 2400}, accept_downloads=True)
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

            # a URL per run: ?run=ID opens it
            page.goto(f"{url}?run={both}", timeout=90_000)
            page.wait_for_selector(".sq-trades .tabulator-row", timeout=90_000)
            assert "Run " + both[:12] in page.locator(".sq-title h2").inner_text()
            assert page.locator(".sq-badge .sq-badge-historical").inner_text() == "HISTORICAL"
            for pane in ("returns", "drawdown", "price"):
                page.locator(f".sq-{pane} canvas").first.wait_for(timeout=30_000)
            assert page.locator(".sq-confusion-pane .sq-confusion").count() == 2
            assert_cards_equal_cli(page, store_url, both)
            text = page.locator(".sq-cards-pane .sq-cards").inner_text()
            assert "Costs paid" in text and "Profit factor" in text and "Calmar" in text and "Average hold" in text
            books = page.locator(".sq-portfolio .sq-portfolio-table tbody tr").all_inner_texts()
            assert len(books) == 2 and books[0].startswith("intraday") and books[1].startswith("swing")
            ids = {t.strip() for t in page.locator('.sq-trades .tabulator-cell[tabulator-field="trade_id"]')
                   .all_inner_texts()}
            assert ids and ids <= run_trade_ids(store_url, both)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # the book filter narrows every panel and raises nothing
            page.locator(".sq-strategy select").select_option("swing")
            wait_until(lambda: set(card_figures(page)) == {"swing"}, "the swing card alone", page=page)
            page.locator(".sq-strategy select").select_option("all")
            wait_until(lambda: set(card_figures(page)) == {"intraday", "swing"}, "both cards again", page=page)
            page.locator(".sq-cards-pane").get_by_text("Precision (LONG)").first.wait_for()
            # the direction of precision/recall/F1, and the x axis
            page.locator("select").filter(has_text="SHORT").select_option("SHORT")
            page.locator(".sq-cards-pane").get_by_text("Precision (SHORT)").first.wait_for(timeout=30_000)
            page.get_by_role("button", name="by session #").click()
            page.wait_for_timeout(800)

            # the replay slider: the portfolio is the fold of the log up to the seq shown
            track = page.locator(".sq-replay .noUi-base").first
            box = track.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2)
            wait_until(lambda: "replay point: after seq" in page.locator(".sq-portfolio-where").inner_text(),
                       "the replay cut", page=page)
            seq = int(re.search(r"after seq ([\d,]+)", page.locator(".sq-portfolio-where").inner_text())
                      .group(1).replace(",", ""))
            expected = cash_after(store_url, both, seq)
            rows = page.locator(".sq-portfolio .sq-portfolio-table tbody tr").all_inner_texts()
            for book, cash in expected.items():
                row = next(r for r in rows if r.startswith(book))
                assert fmt.rupees(cash, decimals=2) in row, (book, row, cash)
            page.screenshot(path=str(ARTIFACTS / "dashboard-replay.png"), full_page=True)
            page.locator(".sq-latest button, button:has-text('Jump to latest')").first.click()

            # switching runs: every panel follows, no trade of the old run stays
            choose_run(page, sma)
            wait_until(lambda: "Run " + sma[:12] in page.locator(".sq-title h2").inner_text(), "the sma run", page=page)
            wait_until(lambda: set(card_figures(page)) == {"sma_cross"}, "the sma_cross card alone", page=page)
            assert_cards_equal_cli(page, store_url, sma)
            assert "Swing" not in page.locator(".sq-cards-pane .sq-cards").inner_text()
            sma_ids = run_trade_ids(store_url, sma)
            wait_until(lambda: {t.strip() for t in page.locator(
                '.sq-trades .tabulator-cell[tabulator-field="trade_id"]').all_inner_texts()} <= sma_ids,
                "the trades table to hold only the new run's trades", page=page)
            books = page.locator(".sq-portfolio .sq-portfolio-table tbody tr").all_inner_texts()
            assert len(books) == 1 and books[0].startswith("sma_cross")
            assert page.locator(".sq-strategy select option").all_inner_texts() == ["all", "sma_cross"]
            page.screenshot(path=str(ARTIFACTS / "dashboard-sma-cross.png"), full_page=True)

            # side by side with the two-book run: every book of both, a verdict and the t-test
            label = next(t for t in page.locator(".sq-compare select option").all_inner_texts() if both[:8] in t)
            page.locator(".sq-compare select").select_option(label=label)
            wait_until(lambda: "Welch t-test" in page.locator(".sq-comparison .sq-compare-verdict").inner_text(),
                       "the comparison", page=page)
            heads = page.locator(".sq-comparison .sq-compare-table thead th").all_inner_texts()
            assert [h.split()[0] for h in heads[1:]] == ["sma_cross", "intraday", "swing"], heads
            page.locator(".sq-comparison-card").screenshot(path=str(ARTIFACTS / "dashboard-compare.png"))
            page.locator(".sq-compare select").select_option(label="(none)")

            # a run written while the page is open appears without reload, and is followed
            choose_run(page, both)
            page.locator(".sq-follow input[type=checkbox]").check()  # ?run=ID opened the page unfollowed
            page.wait_for_timeout(500)
            cli(store_url, "backtest", "--strategy", "sma_cross", "--symbols", "TCS", "--interval", "1minute",
                "--start", "2024-01-15", "--end", "2024-01-19", "--no-sentiment", "--json")
            newest = json.loads(cli(store_url, "runs", "list", "--json"))[0]["run_id"]
            wait_until(lambda: page.locator(".sq-run select option").count() == 3, "the new run in the picker",
                       page=page, timeout=120)
            wait_until(lambda: "Run " + newest[:12] in page.locator(".sq-title h2").inner_text(),
                       "the page to follow the new run", page=page, timeout=120)
            wait_until(lambda: set(card_figures(page)) <= {"sma_cross"}, "the new run's cards", page=page)
            page.wait_for_timeout(800)
            page.screenshot(path=str(ARTIFACTS / "dashboard-followed.png"), full_page=True)
        finally:
            browser.close()
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "Error" not in log.replace("ErrorHandler", ""), log[-4000:]
    assert not problems, "\n".join(problems)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 50_000
    shutil.copy(ARTIFACTS / "dashboard.png", tmp_path / "dashboard.png")
