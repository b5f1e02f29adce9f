"""Paper trading cannot reach the Breeze order adapter: the import contract catches a planted route."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.unit.test_boundaries import PACKAGES, ROOT, lint_imports


def test_wiring_breeze_orders_into_paper_breaks_the_contract(tmp_path: Path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    paper = tmp_path / "applications" / "roots" / "paper.py"
    paper.write_text(paper.read_text() + "\nfrom adapters.breeze.broker import BreezeBroker  # planted\n")
    shared = tmp_path / "applications" / "services" / "session" / "runner.py"
    shared.write_text(shared.read_text() + "\nimport adapters.breeze  # planted: the package pulls in orders\n")
    out = lint_imports(tmp_path)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "Paper trading cannot reach the real order adapter (Breeze orders are live-only) BROKEN" in text, text
    assert "applications.roots.paper -> adapters.breeze.broker" in text, text
