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
