"""Style checks that hold for every chapter notebook alike.

Code lines fit the page: the book's column shows about 80 characters before a code block
scrolls sideways, so no line of a code cell may be longer than 88 (STYLE.md, principle 11).
"""

import nbformat
import pytest

import book

MAX_LINE = 88  # characters in a notebook code line (black's default)


def long_lines(notebook) -> list[str]:
    """One report line per code line over MAX_LINE: the cell (its id, its tags, so that a
    `parameters` cell stands out, and how it starts), the line's number in the cell, its
    length, and the line itself."""
    found = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        tags = ",".join(cell.metadata.get("tags", []))
        where = f"cell {cell.id}" + (f" [{tags}]" if tags else "") + f" ({lines[0][:30]!r}...)"
        for number, line in enumerate(lines, start=1):
            if len(line) > MAX_LINE:
                found.append(f"{where} line {number}, {len(line)} chars: {line.strip()}")
    return found


def test_every_chapter_is_checked():
    chapters = [path.stem[:2] for path in book.chapter_notebooks()]
    assert chapters == ["01", "02", "03", "04", "05", "06"], chapters


@pytest.mark.parametrize("notebook", book.chapter_notebooks(), ids=lambda path: path.stem)
def test_code_lines_fit_the_page(notebook):
    found = long_lines(notebook)
    if found:
        pytest.fail(f"{notebook.name}: {len(found)} code line(s) longer than {MAX_LINE} characters; "
                    "wrap them by hand (one argument per line, shorter comments):\n"
                    + "\n".join(found), pytrace=False)


def test_a_long_line_is_reported_with_its_cell_and_length(tmp_path):
    notebook = nbformat.v4.new_notebook()
    short, long = "x = 1", "y = " + "1 + " * 30 + "1"
    notebook.cells = [nbformat.v4.new_markdown_cell("m" * 200), nbformat.v4.new_code_cell(short),
                      nbformat.v4.new_code_cell(f"{short}\n{long}")]
    notebook.cells[2].id, notebook.cells[2].metadata["tags"] = "c2", ["parameters"]
    path = tmp_path / "07_x.ipynb"
    nbformat.write(notebook, path)
    assert long_lines(path) == [f"cell c2 [parameters] ('x = 1'...) line 2, {len(long)} chars: {long}"]


MAX_LOOP = 35  # lines of a training-loop cell: the lesson, read in one screen
SETUP_IN_LOOP = ("torch.optim.", "gh.TrainingRun(", "gh.InMemoryLoader(")


def loop_cells(notebook) -> list:
    """The code cells that run a training loop (``for epoch in <run>.epochs():``)."""
    return [cell for cell in nbformat.read(notebook, as_version=4).cells
            if cell.cell_type == "code" and ".epochs():" in cell.source]


@pytest.mark.parametrize("notebook", book.chapter_notebooks(), ids=lambda path: path.stem)
def test_a_training_loop_is_its_own_short_cell(notebook):
    """The loop cell holds the loop only: optimisers, loader and the run's bookkeeping are made
    in a cell before it (as chapter 1 does), it fits MAX_LOOP lines, and nothing is bound
    afresh at every step that could be bound once (``bce = F.binary_...`` inside the loop)."""
    for cell in loop_cells(notebook):
        lines = cell.source.splitlines()
        assert lines[0].startswith("for epoch in "), f"cell {cell.id} does more than loop: {lines[0]!r}"
        assert len(lines) <= MAX_LOOP, f"cell {cell.id}: {len(lines)} lines, more than {MAX_LOOP}"
        setup = [line.strip() for line in lines if any(part in line for part in SETUP_IN_LOOP)]
        assert not setup, f"cell {cell.id} sets up inside the loop cell: {setup}"
        rebound = [line.strip() for line in lines if line.startswith(" ") and "= F." in line
                   and "(" not in line.split("= F.", 1)[1]]
        assert not rebound, f"cell {cell.id} binds a function inside the loop: {rebound}"


def test_every_training_chapter_has_a_loop_cell():
    with_loops = [path.stem[:2] for path in book.chapter_notebooks() if loop_cells(path)]
    assert with_loops == ["01", "02", "03", "04", "05"], with_loops
