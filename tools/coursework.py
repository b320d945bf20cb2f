"""Student editions of the chapters (solutions and hidden tests out), and grading.

    python tools/coursework.py student notebooks student              # what `make student` runs
    python tools/coursework.py grade submissions/*.ipynb --out outputs/grades

In the instructor's notebooks (notebooks/), each solution sits in a code cell tagged
``solution`` between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. The student edition
replaces every such block with ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the
same indentation, drops the book's ``hide-input`` tag and clears all outputs. A **check cell** is
a code cell with a ``gh.exercise("name", hint=..., points=N)`` block; the student edition keeps
it, without what stands between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``.

The student path needs only nbformat; ``grade`` (tools/grading.py) needs the course's
environment, since it executes the submissions.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB = "{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()"
HIDDEN_NOTE = "{indent}# (hidden tests: more cases are checked when the notebook is graded)"


def _block(begin: str, end: str) -> re.Pattern:
    """Lines from ``begin`` to ``end`` (markers included); the group ``indent`` is begin's."""
    return re.compile(
        r"^(?P<indent>[ \t]*)" + re.escape(begin) + r"\n.*?^[ \t]*" + re.escape(end) + r"[ \t]*$",
        re.S | re.M,
    )


BLOCK = _block(BEGIN, END)
HIDDEN = _block(HIDDEN_BEGIN, HIDDEN_END)


def solution_blocks(source: str) -> list[str]:
    """The solution blocks of a cell, markers included, in order."""
    return [m.group(0) for m in BLOCK.finditer(source)]


def strip_solutions(source: str) -> str:
    return BLOCK.sub(lambda m: STUB.format(indent=m.group("indent")), source)


def strip_hidden_tests(source: str) -> str:
    """``source`` with each hidden-test block replaced by a one-line note to the student."""
    return HIDDEN.sub(lambda m: HIDDEN_NOTE.format(indent=m.group("indent")), source)


def check_exercises(source: str) -> list[tuple[str, int]]:
    """The ``(name, points)`` of every ``exercise(...)`` call in a cell; empty if it is no check.

    Read from the source without running it, so name and points must be literals.
    """
    if "exercise(" not in source:
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ValueError(f"a check cell is not valid Python ({error}):\n{source}") from None
    found = []
    for node in ast.walk(tree):
        function = getattr(node, "func", None)
        called = getattr(function, "attr", None) or getattr(function, "id", None)
        if not isinstance(node, ast.Call) or called != "exercise":
            continue
        name = node.args[0] if node.args else None
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            raise ValueError(f"exercise(...) needs its name as a plain string first: {ast.unparse(node)}")
        points = next((k.value for k in node.keywords if k.arg == "points"), ast.Constant(1))
        if not (isinstance(points, ast.Constant) and type(points.value) is int and points.value >= 1):
            raise ValueError(f"exercise {name.value!r}: write points as a whole number >= 1, like points=2")
        found.append((name.value, points.value))
    return found


def student_edition(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with solutions replaced by stubs, no hidden tests and no outputs."""
    notebook = nbformat.from_dict(notebook)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        where = f"cell {cell.get('id')}"
        if HIDDEN_BEGIN in cell.source or HIDDEN_END in cell.source:
            if not check_exercises(cell.source):
                raise ValueError(f"{where} has hidden tests but no gh.exercise(...) block to run them")
            cell.source = strip_hidden_tests(cell.source)
            if HIDDEN_BEGIN in cell.source or HIDDEN_END in cell.source:
                raise ValueError(f"{where}: every {HIDDEN_BEGIN} needs its own {HIDDEN_END} below it")
            try:
                ast.parse(cell.source)
            except SyntaxError:
                raise ValueError(f"{where} is not valid Python without its hidden tests: keep at least "
                                 "one visible statement in each with-block") from None
        tags = cell.metadata.get("tags", [])
        if "solution" not in tags:
            if BEGIN in cell.source:
                raise ValueError(f"{where} has solution markers but no 'solution' tag")
            continue
        if not solution_blocks(cell.source):
            raise ValueError(f"solution {where} has no {BEGIN} ... {END} block")
        cell.source = strip_solutions(cell.source)
        cell.metadata["tags"] = [t for t in tags if t != "hide-input"]
    return notebook


def paste_solutions(student: nbformat.NotebookNode, instructor: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student edition with the instructor's solution blocks pasted back in place of the stubs."""
    student = nbformat.from_dict(student)
    solutions = {cell.id: solution_blocks(cell.source) for cell in instructor.cells if cell.cell_type == "code"}
    stub = re.compile(r"^[ \t]*# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)", re.M)
    for cell in student.cells:
        if "solution" in cell.metadata.get("tags", []):
            blocks = iter(solutions[cell.id])
            cell.source = stub.sub(lambda _: next(blocks), cell.source)
    return student


def write_student_editions(source_dir: Path, target_dir: Path) -> list[Path]:
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source_dir.glob("[0-9][0-9]_*.ipynb")):
        edition = student_edition(nbformat.read(path, as_version=4))
        nbformat.write(edition, target_dir / path.name)
        n = sum("solution" in c.metadata.get("tags", []) for c in edition.cells)
        print(f"{target_dir / path.name}: {n} exercise cells stubbed")
        written.append(target_dir / path.name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Write student editions of the chapters, or grade submissions.")
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write student editions of every NN_*.ipynb in SOURCE to TARGET")
    student.add_argument("source", type=Path)
    student.add_argument("target", type=Path)
    grader = sub.add_parser("grade", help="grade submissions against the instructor editions")
    grader.add_argument("submissions", type=Path, nargs="+")
    grader.add_argument("--instructor", type=Path, help="the instructor edition (default: notebooks/NN_*.ipynb, "
                        "NN from the submission's file name)")
    grader.add_argument("--profile", default="smoke", help="PROFILE parameter of the chapters (default smoke)")
    grader.add_argument("--cell-timeout", type=float, default=300, help="seconds a cell may run (default 300)")
    grader.add_argument("--time-limit", type=float, default=1200, help="seconds a notebook may run (default 1200)")
    grader.add_argument("--out", type=Path, default=Path("outputs/grades"), help="folder for the reports")
    args = parser.parse_args()
    if args.command == "student":
        write_student_editions(args.source, args.target)
    else:
        import grading  # the course's environment: nbclient, a kernel with gan_helpers

        grading.grade_and_report(args.submissions, args.out, instructor=args.instructor, profile=args.profile,
                                 cell_timeout=args.cell_timeout, time_limit=args.time_limit)


if __name__ == "__main__":
    main()
