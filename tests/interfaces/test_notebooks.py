"""Every notebook in notebooks/ runs top to bottom without an error (on a tiny model)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


def test_the_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "agent_workflow.ipynb"}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, model_path, tmp_path, monkeypatch):
    monkeypatch.setenv("HELIUMSQL_MODEL", str(model_path))
    notebook = nbformat.read(path, as_version=4)
    # Raises CellExecutionError (naming the cell and the error) on any failing cell.
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    if path.stem == "agent_workflow":
        # The plot of where the work went was drawn.
        assert any("image/png" in o.get("data", {}) for o in outputs)
