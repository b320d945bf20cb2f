"""Student editions of the chapters: solutions and hidden tests out, answer keys left out.

    python tools/coursework.py student notebooks student              # what `make student` runs

In the instructor's notebooks (notebooks/), each solution sits in a code cell tagged
``solution`` between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. The student edition
replaces every such block with ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the
same indentation, drops the book's ``hide-input`` tag and clears all outputs. A **check cell** is
a code cell with a ``gh.exercise("name", hint=..., points=N)`` block; the student edition keeps
it, without what stands between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``.
Markdown cells tagged ``answer-key`` (the instructor's answers to the open exercises) are left
out, and the Colab badge opens the student edition (``--repository``, ``--branch``: by default
the course's, from tools/course.toml, and the target folder's path in it).

Needs only nbformat (any Python 3.10+ with it: ``make student`` makes a small venv for it when
needed). The grader (tools/grading.py) reads the check cells with :func:`check_exercises`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB = "{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()"
HIDDEN_NOTE = "{indent}# (hidden tests: more cases are checked when the notebook is graded)"
NBVAL_COMMENT = re.compile(r"^[ \t]*# NBVAL_CHECK_OUTPUT[ \t]*\n", re.M)  # older chapters' nbval marker
ANSWER_KEY = "answer-key"  # tag of the markdown cells that hold the instructor's answers
ROOT = Path(__file__).resolve().parents[1]
# a Colab badge's target: https://colab.research.google.com/github/<owner>/<name>/blob/<ref>/<path>.ipynb
COLAB = re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w./-]+?/(?:[\w.-]+/)*(?P<name>[\w.-]+\.ipynb)")


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


def student_edition(notebook: nbformat.NotebookNode, badge: str | None = None,
                    keep_outputs: bool = False) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with solutions replaced by stubs, no hidden tests, no answer key
    and no outputs; ``badge`` (a URL with ``{name}`` for the file name) retargets the Colab badges.

    ``keep_outputs`` keeps the outputs of the cells that are neither solutions nor checks: the
    student edition of the book, built from an executed instructor edition.
    """
    notebook = nbformat.from_dict(notebook)
    notebook.cells = [c for c in notebook.cells if ANSWER_KEY not in c.metadata.get("tags", [])]
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and badge:
            cell.source = COLAB.sub(lambda m: badge.format(name=m.group("name")), cell.source)
        if cell.cell_type != "code":
            continue
        where = f"cell {cell.get('id')}"
        cell.source = NBVAL_COMMENT.sub("", cell.source)  # nbval's marker is for the tests, not readers
        is_check = bool(check_exercises(cell.source))
        tags = cell.metadata.get("tags", [])
        if not keep_outputs or is_check or "solution" in tags:
            cell.outputs, cell.execution_count = [], None
        if HIDDEN_BEGIN in cell.source or HIDDEN_END in cell.source:
            if not is_check:
                raise ValueError(f"{where} has hidden tests but no gh.exercise(...) block to run them")
            cell.source = strip_hidden_tests(cell.source)
            if HIDDEN_BEGIN in cell.source or HIDDEN_END in cell.source:
                raise ValueError(f"{where}: every {HIDDEN_BEGIN} needs its own {HIDDEN_END} below it")
            try:
                ast.parse(cell.source)
            except SyntaxError:
                raise ValueError(f"{where} is not valid Python without its hidden tests: keep at least "
                                 "one visible statement in each with-block") from None
        if "solution" not in tags:
            if BEGIN in cell.source:
                raise ValueError(f"{where} has solution markers but no 'solution' tag")
            continue
        if not solution_blocks(cell.source):
            raise ValueError(f"solution {where} has no {BEGIN} ... {END} block")
        cell.source = strip_solutions(cell.source)
        cell.metadata["tags"] = [t for t in tags if t != "hide-input"]
    return notebook


def read_course(path: Path = ROOT / "tools" / "course.toml") -> dict:
    """``repository`` and ``branch`` from tools/course.toml (plain ``key = "value"`` lines, read
    without tomllib so that Python 3.10 with nbformat is enough); {} when the file is missing."""
    if not path.exists():
        return {}
    found = re.findall(r'^(\w+)\s*=\s*"([^"]*)"', path.read_text(), re.M)
    return {key: value for key, value in found if key in ("repository", "branch")}


def student_badge(target_dir: Path, repository: str | None = None, branch: str | None = None) -> str | None:
    """The Colab URL (with ``{name}``) of the student editions written to ``target_dir``: the
    course's repository and branch unless given, and ``target_dir``'s path inside the repository."""
    course = read_course()
    repository, branch = repository or course.get("repository"), branch or course.get("branch", "main")
    if not repository:
        return None
    try:
        folder = Path(target_dir).resolve().relative_to(ROOT).as_posix()
    except ValueError:  # written outside the repository: the editions sit at its top
        folder = "."
    path = "{name}" if folder == "." else f"{folder}/{{name}}"
    return f"https://colab.research.google.com/github/{repository}/blob/{branch}/{path}"


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


def write_student_editions(source_dir: Path, target_dir: Path, repository: str | None = None,
                           branch: str | None = None) -> list[Path]:
    """Write the student edition of every ``NN_*.ipynb`` in ``source_dir`` to ``target_dir``,
    its Colab badge opening itself there (see :func:`student_badge`); returns the files written."""
    target_dir.mkdir(parents=True, exist_ok=True)
    badge = student_badge(target_dir, repository, branch)
    written = []
    for path in sorted(source_dir.glob("[0-9][0-9]_*.ipynb")):
        edition = student_edition(nbformat.read(path, as_version=4), badge=badge)
        nbformat.write(edition, target_dir / path.name)
        n = sum("solution" in c.metadata.get("tags", []) for c in edition.cells)
        print(f"{target_dir / path.name}: {n} exercise cells stubbed")
        written.append(target_dir / path.name)
    return written
