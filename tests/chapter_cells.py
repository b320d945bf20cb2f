"""Run a chapter's first cells in this process, without papermill: what the chapter tests use to
check what a cell does with given parameters (the data cell's errors, the profiles' sizes) in
seconds instead of executing the whole notebook."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager


def chapter_cells(notebook: Path) -> dict:
    """The notebook's cells by id."""
    return {cell.id: cell for cell in nbformat.read(notebook, as_version=4).cells}


def run_setup(notebook: Path, out_dir: Path, **parameters) -> dict:
    """Run the chapter's setup cell (its first code cell), its parameters cell with
    ``parameters`` (and OUT_DIR=out_dir) set after it, as papermill would, and the cell after
    it (the profiles and the run's folder). Returns the namespace."""
    code = [cell for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"]
    tagged = next(i for i, cell in enumerate(code) if "parameters" in cell.metadata.get("tags", []))
    namespace: dict = {"__name__": "__main__"}
    setup = TransformerManager().transform_cell(code[0].source)  # its %pip line, as IPython would
    exec(compile(setup, "setup", "exec"), namespace)
    exec(compile(code[tagged].source, "parameters", "exec"), namespace)
    namespace.update({"OUT_DIR": str(out_dir), **parameters})
    exec(compile(code[tagged + 1].source, "profiles", "exec"), namespace)
    return namespace


def run_cell(notebook: Path, cell_id: str, namespace: dict) -> str:
    """Run one cell of the notebook in ``namespace``; returns what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(chapter_cells(notebook)[cell_id].source, cell_id, "exec"), namespace)
    return printed.getvalue()
