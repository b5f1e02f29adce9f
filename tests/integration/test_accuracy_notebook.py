"""notebooks/accuracy_report.ipynb runs top to bottom on a real run in a real SQLite store.

The kernel is this venv's interpreter, declared in a throw-away kernelspec folder (no
network, no dependence on what is registered on the machine).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from applications.analytics.report import recommendations
from applications.wiring.store import open_store
from tests.builders import build_realistic_run, build_tiny_run

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "accuracy_report.ipynb"
KERNEL = "sensequant-test-venv"


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "SenseQuant venv", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return tmp_path


def _outputs(nb) -> tuple[str, int]:
    text, images = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                pytest.fail(f"cell failed: {out['ename']}: {out['evalue']}")
            text.append(out.get("text", ""))
            data = out.get("data", {})
            text.append(data.get("text/plain", "") + data.get("text/markdown", "") + data.get("text/html", ""))
            images += "image/png" in data
    return "\n".join(text), images


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_executes_on_the_latest_run(kernel_env, monkeypatch):
    db = kernel_env / "events.db"
    store = open_store(f"sqlite:///{db}")
    build_tiny_run(store)
    build_realistic_run(store)  # the latest run: both strategies, 40 sessions
    store.close()
    monkeypatch.setenv("SENSEQUANT_DB_URL", f"sqlite:///{db}")
    monkeypatch.delenv("SENSEQUANT_RUN_ID", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name=KERNEL, timeout=120,
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text, images = _outputs(nb)
    assert "run run-real-0001" in text
    for needle in ("Precision (LONG)", "Sharpe", "better_strategy", "t = ", "composite"):
        assert needle in text, needle
    assert images >= 2  # overlaid cumulative returns + per-strategy histograms


def test_notebook_follows_the_run_id_setting(kernel_env, monkeypatch):
    db = kernel_env / "events.db"
    store = open_store(f"sqlite:///{db}")
    build_tiny_run(store)
    build_realistic_run(store)
    store.close()
    monkeypatch.setenv("SENSEQUANT_DB_URL", f"sqlite:///{db}")
    monkeypatch.setenv("SENSEQUANT_RUN_ID", "run-tiny")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name=KERNEL, timeout=120,
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text, _ = _outputs(nb)
    assert "run run-tiny-0001" in text and "6 prediction traces" in text


def test_recommendations_name_their_figures():
    from adapters.memory import InMemoryEventStore
    from applications.analytics import load_run

    s = InMemoryEventStore()
    build_tiny_run(s)
    traces = load_run(s).traces
    recs = recommendations(traces)
    assert recs[0].startswith(("Intraday scores higher", "Swing scores higher"))
    assert any("not significant (Welch p = " in r for r in recs)
    assert not any("precision is" in r for r in recs)  # both sides have exactly 50 % LONG precision
    build_realistic_run(s)
    real = recommendations(load_run(s, "run-real").traces)
    assert any(r.startswith("intraday: LONG precision is ") for r in real)
    only = recommendations(traces[traces["strategy"] == "swing"])
    assert only[0].startswith("Only swing traded")
    assert recommendations(traces.iloc[0:0])[0].startswith("No prediction traces")
