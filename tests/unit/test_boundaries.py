"""Architecture boundaries: `lint-imports` passes, catches a planted violation, and covers
every package (a new package must be placed in `.importlinter` before it can exist)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("core", "ports", "adapters", "applications")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} not found: install the dev tools with scripts/setup --dev")
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_lint_imports_passes():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Contracts: \d+ kept, 0 broken", result.stdout), result.stdout


def test_lint_imports_catches_a_planted_violation(tmp_path):
    # A copy, so that concurrent test workers never see the planted modules.
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    (tmp_path / "core" / "_planted_violation.py").write_text("import sqlalchemy  # planted\n")
    (tmp_path / "adapters" / "memory" / "_planted_violation.py").write_text("import adapters.sql  # planted\n")
    result = lint_imports(tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "core and ports stay free of I/O, scheduling, UI, ML and broker libraries BROKEN" in out, out
    assert "core._planted_violation -> sqlalchemy" in out, out
    assert "Adapters never import each other BROKEN" in out, out
    assert "adapters.memory._planted_violation -> adapters.sql" in out, out


def named_in_contracts() -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter", encoding="utf-8")
    names: set[str] = set()
    for section in parser.sections():
        if not section.startswith("importlinter:contract:"):
            continue
        for key in ("layers", "modules", "source_modules", "containers"):
            for token in re.split(r"[\s:|]+", parser[section].get(key, "")):
                token = token.strip("()")
                if token:
                    names.add(token)
    return names


def children(package: str, *, modules: bool) -> list[str]:
    found = []
    for entry in sorted((ROOT / package).iterdir()):
        if entry.is_dir() and (entry / "__init__.py").exists():
            found.append(entry.name)
        elif modules and entry.suffix == ".py":
            found.append(entry.stem)
    return found


def test_every_package_is_placed_in_a_contract():
    named = named_in_contracts()
    missing = [f"core.{n}" for n in children("core", modules=False) if f"core.{n}" not in named]
    missing += [f"adapters.{n}" for n in children("adapters", modules=False) if f"adapters.{n}" not in named]
    assert not missing, (
        f"{missing} are not named in .importlinter: put each core package in the `layers` contract at "
        "its level and each adapter package in `adapters-independent`")


def test_every_application_module_is_placed():
    """The folders say what a module is: a root under roots/, a shared use case under services/;
    each must be named in its contract, and nothing lives loose at the top of applications/."""
    named = named_in_contracts()
    loose = [n for n in children("applications", modules=True)
             if n not in ("__init__", "__main__") and not (ROOT / "applications" / n).is_dir()]
    assert not loose, (f"applications/{loose} are loose modules: put a composition root under applications/roots/, "
                       "a use case under applications/services/, settings or adapter construction under "
                       "applications/wiring/")
    missing = [f"applications.{n}" for n in children("applications", modules=False) if f"applications.{n}" not in named]
    missing += [f"applications.roots.{n}" for n in children("applications/roots", modules=True)
                if n != "__init__" and f"applications.roots.{n}" not in named]
    missing += [f"applications.services.{n}" for n in children("applications/services", modules=True)
                if n != "__init__" and f"applications.services.{n}" not in named]
    assert not missing, (
        f"{missing} are not named in .importlinter: add a root to `roots-independent`, a service to "
        "`services-layers` at its level, and a new applications package to `applications-layers`")
