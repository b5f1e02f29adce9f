"""The accuracy notebook of a run as one self-contained HTML file (spec 002 §15.9).

``notebooks/accuracy_report.ipynb`` is executed top to bottom (nbclient) on the run —
it reads ``SENSEQUANT_DB_URL`` and ``SENSEQUANT_RUN_ID`` — and rendered with nbconvert's
HTML exporter: plots are inline base64 PNGs and the page's CSS is inlined, and the
external scripts a notebook page may pull (MathJax, RequireJS) are switched off, so the
file opens offline and can be mailed or archived alone.

The kernel is this interpreter, declared in a throw-away kernelspec folder, so rendering
never depends on which Jupyter kernels the machine has registered.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

from applications.wiring.store import project_root
from core.errors import DataError

NOTEBOOK = "notebooks/accuracy_report.ipynb"
_KERNEL = "sensequant-report"
_EXTERNAL = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def external_references(html: str) -> list[str]:
    """Tags that would fetch something from the network when the page opens."""
    return [m.group(0) for m in _EXTERNAL.finditer(html)]


def render_report_html(db_url: str, run_id: str, out_path: Path | str, *, notebook: Path | str | None = None,
                       timeout_seconds: int = 600) -> Path:
    """Execute the accuracy notebook on ``run_id`` and write one self-contained HTML file."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    source = Path(notebook) if notebook is not None else project_root() / NOTEBOOK
    if not source.is_file():
        raise DataError("the accuracy notebook is missing", path=str(source))
    nb = nbformat.read(source, as_version=4)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sensequant-kernel-") as tmp:
        spec = Path(tmp) / "kernels" / _KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "SenseQuant", "language": "python"}), encoding="utf-8")
        env = {**os.environ, "SENSEQUANT_DB_URL": db_url, "SENSEQUANT_RUN_ID": run_id,
               "MPLBACKEND": "module://matplotlib_inline.backend_inline",
               "JUPYTER_PATH": os.pathsep.join([tmp, os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep)}
        previous = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]  # the kernelspec lookup happens in this process
        try:
            client = NotebookClient(nb, kernel_name=_KERNEL, timeout=timeout_seconds,
                                    resources={"metadata": {"path": str(project_root())}})
            client.execute(env=env)
        except CellExecutionError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise DataError(f"the accuracy notebook failed on run {run_id}: {first}", path=str(source)) from None
        finally:
            if previous is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = previous
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    exporter.mathjax_url = ""
    exporter.require_js_url = ""
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": f"Accuracy report {run_id}"}})
    html = re.sub(r"""<script\s+src=["']{2}\s*>\s*</script>""", "", html)  # the switched-off loaders
    tmp_out = out_path.with_name(f".{out_path.name}.tmp")
    try:
        tmp_out.write_text(html, encoding="utf-8")
        os.replace(tmp_out, out_path)
    finally:
        tmp_out.unlink(missing_ok=True)
    return out_path
