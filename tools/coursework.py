"""Student editions of the chapters: solutions out, stubs and checks in.

    python tools/coursework.py student notebooks student     # what `make student` runs

In the instructor's notebooks (notebooks/), each solution sits in a code cell tagged
``solution`` between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. The student edition
replaces every such block with ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the
same indentation, drops the book's ``hide-input`` tag, clears all outputs and keeps every check
cell, so each check prints NOT DONE and a hint until the student writes the code.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = "{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()"
BLOCK = re.compile(r"^(?P<indent>[ \t]*)" + re.escape(BEGIN) + r"\n.*?^[ \t]*" + re.escape(END) + r"[ \t]*$", re.S | re.M)


def solution_blocks(source: str) -> list[str]:
    """The solution blocks of a cell, markers included, in order."""
    return [m.group(0) for m in BLOCK.finditer(source)]


def strip_solutions(source: str) -> str:
    return BLOCK.sub(lambda m: STUB.format(indent=m.group("indent")), source)


def student_edition(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with solutions replaced by stubs and no outputs."""
    notebook = nbformat.from_dict(notebook)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        tags = cell.metadata.get("tags", [])
        if "solution" not in tags:
            if BEGIN in cell.source:
                raise ValueError(f"cell {cell.get('id')} has solution markers but no 'solution' tag")
            continue
        if not solution_blocks(cell.source):
            raise ValueError(f"solution cell {cell.get('id')} has no {BEGIN} ... {END} block")
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


RESULT = re.compile(r"^\[(PASSED|NOT DONE|NOT YET RIGHT)\] Exercise (.+?)(?::|$)", re.M)


def results(executed: nbformat.NotebookNode) -> dict[str, str]:
    """{exercise name: PASSED | NOT DONE | NOT YET RIGHT} from an executed notebook's outputs."""
    found = {}
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                for status, name in RESULT.findall(output.text):
                    found[name.strip()] = status
    return found


def grade(submissions: list[Path], profile: str = "smoke") -> list[dict]:
    """Execute each submitted notebook (papermill, ``profile``) and collect its check results."""
    import tempfile

    import papermill

    rows = []
    for path in submissions:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                executed = papermill.execute_notebook(str(path), str(Path(tmp) / path.name), parameters={"PROFILE": profile, "OUT_DIR": tmp,
                                                      "INTERACTIVE": False}, cwd=str(path.parent), kernel_name="python3", progress_bar=False)
                outcome = results(executed)
                error = ""
            except papermill.PapermillExecutionError as failure:  # the notebook itself broke
                outcome, error = results(nbformat.read(Path(tmp) / path.name, as_version=4)), f"{failure.ename}: {failure.evalue}"
        passed = sum(status == "PASSED" for status in outcome.values())
        rows.append({"notebook": str(path), "passed": passed, "exercises": len(outcome), **outcome, "error": error})
        print(f"{path}: {passed}/{len(outcome)} passed" + (f"; the notebook stopped: {error}" if error else ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Write student editions of the chapters.")
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student")
    student.add_argument("source", type=Path)
    student.add_argument("target", type=Path)
    grader = sub.add_parser("grade", help="execute submissions and write a CSV of their check results")
    grader.add_argument("submissions", type=Path, nargs="+")
    grader.add_argument("--profile", default="smoke")
    grader.add_argument("--csv", type=Path, default=Path("grades.csv"))
    args = parser.parse_args()
    if args.command == "student":
        write_student_editions(args.source, args.target)
    else:
        import csv

        rows = grade(args.submissions, args.profile)
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with args.csv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
