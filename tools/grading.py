"""Grade submitted notebooks against the instructor edition; `coursework.py grade` runs this.

For each submission:

1. The exercises (names, points) are read from the instructor edition's check cells.
2. Every check cell of the submission is replaced by the instructor's cell with the same cell id
   (hidden tests included); a check the student deleted is put back after the nearest earlier
   cell that still stands (or before the nearest later one); one that cannot be placed fails.
3. The notebook is executed cell by cell with nbclient, in a fresh folder: a per-cell timeout, a
   time limit for the whole notebook, and an error in a cell does not stop the cells after it.
4. Each check put back runs through ``gan_helpers.coursework.run_check`` with a secret token that
   only this run knows; the results are read from that cell's own outputs, from the one display
   output carrying the token. Printed text is never read.

What this does not defend against (code in the notebook runs in the same process as the checks
and can monkeypatch them) is written in book/instructors.md; the report flags code that looks
like it tries.
"""

from __future__ import annotations

import asyncio
import csv
import math
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import coursework

ROOT = Path(__file__).resolve().parents[1]
RESULT_MIME = "application/vnd.gan-course.check+json"  # gan_helpers.coursework.RESULT_MIME
PASSED, MISSING, TIMED_OUT, NOT_RUN, NO_RESULT = "PASSED", "MISSING", "TIMED OUT", "NOT RUN", "NO RESULT"
TIMEOUT_ENAME = "GraderTimeout"
GRACE_S = 10  # how long a kernel may take to stop after an interrupt before the run is abandoned

INJECTED = """\
# The instructor's check (cell {cell_id}), put back by the grader.
{import_gh}import gan_helpers.coursework as _grading
_grading.run_check({source!r}, token={token!r}, namespace=globals())
"""

SUSPICIOUS = {  # patterns in the student's own cells, and what to look for when reading them
    r"get_ipython|\b_ih\b|\bIn\[": "reaches into IPython (cell history, hooks)",
    r"sys\.modules|importlib|__import__|\bbuiltins\b": "changes modules or built-ins",
    r"settrace|setprofile|\bimport threading|from threading|signal\.signal": "traces, threads or signals",
    r"\bgh\.\w+\s*=(?!=)|\bsetattr\(": "rebinds a course helper",
    r"run_check|_records|RESULT_MIME|vnd\.gan-course": "touches the grading machinery",
    r"\[PASSED\]": "prints a PASSED line",
}


@dataclass
class Check:
    """An instructor's check cell: its id, its source and the (name, points) of its exercises."""

    cell_id: str
    source: str
    exercises: list[tuple[str, int]]


@dataclass
class Outcome:
    """One exercise of one submission: points earned only when the status is PASSED."""

    exercise: str
    points: int
    status: str
    reason: str = ""

    @property
    def earned(self) -> int:
        return self.points if self.status == PASSED else 0


@dataclass
class Grade:
    submission: Path
    instructor: Path
    outcomes: list[Outcome]
    notes: list[str] = field(default_factory=list)  # what the instructor should know or read

    @property
    def earned(self) -> int:
        return sum(o.earned for o in self.outcomes)

    @property
    def total(self) -> int:
        return sum(o.points for o in self.outcomes)


def instructor_checks(notebook: nbformat.NotebookNode) -> list[Check]:
    """The check cells of an instructor edition, in order; exercise names must be unique."""
    checks, names = [], set()
    for cell in notebook.cells:
        exercises = coursework.check_exercises(cell.source) if cell.cell_type == "code" else []
        if not exercises:
            continue
        if not cell.get("id"):
            raise ValueError("the instructor edition has cells without ids: save it with Jupyter (nbformat >= 4.5)")
        for name, _ in exercises:
            if name in names:
                raise ValueError(f"two exercises are called {name!r}: give each its own name")
            names.add(name)
        checks.append(Check(cell.id, cell.source, exercises))
    return checks


def find_instructor(submission: Path, notebooks: Path = ROOT / "notebooks") -> Path:
    """notebooks/NN_*.ipynb for a submission whose file name starts with NN_."""
    match = re.match(r"(\d\d)_", submission.name)
    found = sorted(notebooks.glob(f"{match.group(1)}_*.ipynb")) if match else []
    if len(found) != 1:
        raise ValueError(f"{submission}: cannot tell which chapter this is from its name; "
                         "name it like the chapter (01_vanilla_gan.ipynb) or pass --instructor")
    return found[0]


def assemble(submission: nbformat.NotebookNode, instructor: nbformat.NotebookNode, checks: list[Check],
             tokens: dict[str, str], parameters: dict) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The notebook to execute: the submission with the instructor's checks in place of its own.

    Returns it and {check cell id: why it could not be placed} for the checks left out.
    """
    cells = [nbformat.from_dict(c) for c in submission.cells]
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    order = [c.get("id") for c in instructor.cells]
    unplaced = {}
    for check in checks:
        injected = nbformat.v4.new_code_cell(_injected_source(check, tokens[check.cell_id]))
        injected.id = check.cell_id
        copies = [i for i, c in enumerate(cells) if c.get("id") == check.cell_id] or [
            i for i, c in enumerate(cells) if _names_exercise(c, check)]  # a copy whose id was lost
        if copies:  # the student's copy, edited or not, is replaced; duplicates dropped
            cells[copies[0]] = injected
            cells = [c for i, c in enumerate(cells) if i not in copies[1:]]
            continue
        position = _neighbour_position(order, order.index(check.cell_id), [c.get("id") for c in cells])
        if position is None:
            unplaced[check.cell_id] = "the check cell was deleted and no cell around it is left to place it by"
        else:
            cells.insert(position, injected)
    if parameters and any("parameters" in c.metadata.get("tags", []) for c in instructor.cells):
        tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
        source = "# Parameters set by the grader\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
        cells.insert(tagged[0] + 1 if tagged else 0, nbformat.v4.new_code_cell(source))
    return nbformat.from_dict({**submission, "cells": cells}), unplaced


def _names_exercise(cell, check: Check) -> bool:
    """A code cell, not a solution, that opens one of ``check``'s exercises by name."""
    if cell.cell_type != "code" or "solution" in cell.metadata.get("tags", []):
        return False
    opens = [r"exercise\(\s*[\"']" + re.escape(name) + r"[\"']" for name, _ in check.exercises]
    return any(re.search(pattern, cell.source) for pattern in opens)


def _neighbour_position(order: list, index: int, present: list) -> int | None:
    """Where the instructor's cell ``order[index]`` goes among ``present`` ids, or None."""
    for before in reversed(order[:index]):
        if before in present:
            return present.index(before) + 1
    for after in order[index + 1:]:
        if after in present:
            return present.index(after)
    return None


def _injected_source(check: Check, token: str) -> str:
    import_gh = "import gan_helpers as gh\n" if re.search(r"\bgh\.", check.source) else ""
    return INJECTED.format(cell_id=check.cell_id, import_gh=import_gh, source=check.source, token=token)


def _kernel_config(folder: Path) -> "traitlets.config.Config":
    """The kernel talks to the grader over IPC sockets (files only this user can open, in the
    submission's own folder, by absolute path) where the system has them (not on Windows): no
    other user of a shared machine can connect to a student's kernel, and ipykernel no longer
    warns, for every submission, that its TCP ports carry code and outputs unencrypted. A folder
    whose path is too long for a socket's name (about 100 bytes) keeps TCP."""
    from traitlets.config import Config

    prefix = folder.resolve() / "kernel"
    if os.name == "nt" or len(str(prefix)) > 80:
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": str(prefix)}})


async def _execute(notebook, cwd: Path, cell_timeout: float, time_limit: float) -> dict[int, tuple[str, str]]:
    """Run every code cell; {cell index: (state, detail)}, state one of ok, error, timed out, not run."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    replies, states, deadline = {}, {}, math.inf
    client = NotebookClient(
        notebook, kernel_name="python3", config=_kernel_config(cwd), allow_errors=True, interrupt_on_timeout=True,
        iopub_timeout=GRACE_S,
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "", "traceback": []}, shutdown_kernel="immediate",
        resources={"metadata": {"path": str(cwd)}},
        timeout_func=lambda cell: max(1, math.ceil(min(cell_timeout, deadline - time.monotonic()))))
    client.on_cell_executed = lambda cell, cell_index, execute_reply: replies.update({cell_index: execute_reply})
    client.reset_execution_trackers()
    env = {**os.environ, "GAN_OUT_ROOT": str(cwd / "outputs"),
           "GAN_DATA_ROOT": os.environ.get("GAN_DATA_ROOT", str(ROOT / "data"))}
    async with client.async_setup_kernel(env=env):
        # The checks' helpers are imported before the clock starts: not the student's time.
        reply = await client.kc.execute("import gan_helpers.coursework", store_history=False, reply=True,
                                        timeout=300)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the grading kernel cannot import gan_helpers ({reply['content'].get('evalue')}): "
                               "run the grader with the course's environment (make setup; .venv/bin/python)")
        deadline, stop = time.monotonic() + time_limit, ""
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            if not stop and time.monotonic() >= deadline:
                stop = f"the notebook's time limit ({time_limit:g} s) was reached before this cell"
            if stop:
                states[index] = ("not run", stop)
                continue
            try:
                await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except DeadKernelError:
                states[index] = ("not run", "the kernel died in this cell")
                stop = f"the kernel died in cell {index}"
                continue
            content = replies.get(index, {}).get("content", {"status": "ok"})
            if content["status"] == "ok":
                states[index] = ("ok", "")
            elif content.get("ename") != TIMEOUT_ENAME:
                states[index] = ("error", f"{content.get('ename')}: {content.get('evalue')}")
            else:
                limit = (("the notebook's time limit", time_limit) if time.monotonic() >= deadline
                         else ("the cell time limit", cell_timeout))
                states[index] = ("timed out", "ran past {} ({:g} s) and was interrupted".format(*limit))
                if not await _responsive(client.kc):
                    stop = f"the kernel did not stop after the interrupt of cell {index}"
    return states


async def _responsive(kc) -> bool:
    """Whether the kernel runs a new cell within GRACE_S (after an interrupt)."""
    try:
        await kc.execute("pass", store_history=False, reply=True, timeout=GRACE_S)
    except TimeoutError:
        return False
    return True


def _outcomes(notebook, checks: list[Check], tokens: dict, states: dict, unplaced: dict) -> list[Outcome]:
    """Each exercise's outcome, from the token-carrying output of its own check cell only."""
    position = {c.get("id"): i for i, c in enumerate(notebook.cells)}
    outcomes = []
    for check in checks:
        if check.cell_id in unplaced:
            outcomes += [Outcome(n, p, MISSING, unplaced[check.cell_id]) for n, p in check.exercises]
            continue
        index = position[check.cell_id]
        state, detail = states.get(index, ("not run", "the notebook was not executed"))
        published = [o["data"][RESULT_MIME] for o in notebook.cells[index].get("outputs", [])
                     if RESULT_MIME in o.get("data", {})]
        payloads = [p for p in published if isinstance(p, dict) and p.get("token") == tokens[check.cell_id]]
        for name, points in check.exercises:
            if len(payloads) > 1:
                outcomes.append(Outcome(name, points, NO_RESULT, "the check reported more than once: something in "
                                        "the notebook imitates the grader"))
                continue
            found = [r for r in payloads[0]["results"] if r["name"] == name] if payloads else []
            if found:
                failed = [r for r in found if r["status"] != PASSED]
                record = failed[0] if failed else found[0]
                outcomes.append(Outcome(name, points, record["status"], _reason(record)))
            elif state in ("timed out", "not run"):
                outcomes.append(Outcome(name, points, TIMED_OUT if state == "timed out" else NOT_RUN, detail))
            elif payloads and payloads[0]["error"]:
                why = f"the check stopped before it: {payloads[0]['error']}"
                outcomes.append(Outcome(name, points, NO_RESULT, why))
            else:
                why = detail or "the check ran but reported nothing: were the course's helpers replaced?"
                outcomes.append(Outcome(name, points, NO_RESULT, why))
    return outcomes


def _reason(record: dict) -> str:
    """The first line of a check's message, without its ``[STATUS] Exercise name`` prefix."""
    first = (record["message"].splitlines() or [""])[0]
    return first.removeprefix(f"[{record['status']}] Exercise {record['name']}").removeprefix(": ")


def flags(submission: nbformat.NotebookNode, checks: list[Check]) -> list[str]:
    """Notes on the student's own code cells that look like they reach for the grader."""
    check_ids = {c.cell_id for c in checks}
    notes = []
    for index, cell in enumerate(submission.cells):
        if cell.cell_type != "code" or cell.get("id") in check_ids:
            continue
        found = [why for pattern, why in SUSPICIOUS.items() if re.search(pattern, cell.source)]
        if found:
            notes.append(f"read cell {index} (id {cell.get('id')}): it {'; '.join(found)}")
    return notes


def grade(submission: Path, instructor: Path | None = None, profile: str = "smoke",
          cell_timeout: float = 300, time_limit: float = 1200, executed: Path | None = None) -> Grade:
    """Grade one submitted notebook against ``instructor`` (default: the chapter it is named after).

    ``executed``: where to save the graded notebook as it ran (for reading it), if anywhere.
    """
    instructor = instructor or find_instructor(submission)
    source = nbformat.read(instructor, as_version=4)
    checks = instructor_checks(source)
    try:
        student = nbformat.read(submission, as_version=4)
    except Exception as error:  # a broken upload is graded, not a reason to stop the class's grading
        why = f"the submission is not a readable notebook ({type(error).__name__}: {error})"
        return Grade(submission, instructor, [Outcome(n, p, NOT_RUN, why) for c in checks for n, p in c.exercises])
    tokens = {check.cell_id: secrets.token_hex(16) for check in checks}
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        cwd = Path(tmp)
        parameters = {"PROFILE": profile, "OUT_DIR": str(cwd / "outputs"), "INTERACTIVE": False}
        notebook, unplaced = assemble(student, source, checks, tokens, parameters)
        states = {}
        if len(unplaced) < len(checks):
            states = asyncio.run(_execute(notebook, cwd, cell_timeout, time_limit))
    if executed:
        nbformat.write(notebook, executed)
    notes = []
    for index, (state, detail) in sorted(states.items()):
        if state != "ok" and notebook.cells[index].get("id") not in tokens:
            notes.append(f"cell {index} (id {notebook.cells[index].get('id')}): {state}: {detail}")
        if state == "not run":
            break  # and so were all cells after it
    return Grade(submission, instructor, _outcomes(notebook, checks, tokens, states, unplaced),
                 notes + flags(student, checks))


def write_report(result: Grade, out_dir: Path, label: str) -> None:
    """``label.csv`` (one row per exercise) and ``label.md`` (the same, with totals and notes)."""
    rows = [{"exercise": o.exercise, "points": o.earned, "max_points": o.points, "status": o.status,
             "reason": o.reason} for o in result.outcomes]
    _write_csv(out_dir / f"{label}.csv", rows, ["exercise", "points", "max_points", "status", "reason"])
    lines = [f"# {result.submission}", "",
             f"Graded against `{result.instructor}`: **{result.earned} of {result.total} points**.", "",
             "| Exercise | Points | Status | Why |", "| --- | --- | --- | --- |"]
    lines += [f"| {o.exercise} | {o.earned} / {o.points} | {o.status} | {_cell(o.reason)} |" for o in result.outcomes]
    if result.notes:
        lines += ["", "Notes:", ""] + [f"- {_cell(note)}" for note in result.notes]
    (out_dir / f"{label}.md").write_text("\n".join(lines) + "\n")


def write_summary(results: list[Grade], out_dir: Path) -> list[dict]:
    """The class summary: ``grades.csv`` (one row per submission), ``summary.csv`` (one row per
    exercise: mean points and share passed, hardest first) and ``summary.md`` (both tables)."""
    per_exercise: dict[tuple, list[Outcome]] = {}
    for result in results:
        for o in result.outcomes:
            per_exercise.setdefault((result.instructor.stem, o.exercise), []).append(o)
    summary = [{"chapter": chapter, "exercise": name, "max_points": found[0].points, "submissions": len(found),
                "passed": sum(o.status == PASSED for o in found),
                "mean_points": round(sum(o.earned for o in found) / len(found), 3)}
               for (chapter, name), found in per_exercise.items()]
    summary.sort(key=lambda row: row["mean_points"] / row["max_points"])
    _write_csv(out_dir / "summary.csv", summary, list(summary[0]) if summary else ["chapter", "exercise"])
    names = list(dict.fromkeys(o.exercise for r in results for o in r.outcomes))
    grades = [{"submission": str(r.submission), "chapter": r.instructor.stem, "points": r.earned,
               "max_points": r.total, **{o.exercise: o.status for o in r.outcomes}, "notes": " | ".join(r.notes)}
              for r in results]
    _write_csv(out_dir / "grades.csv", grades, ["submission", "chapter", "points", "max_points", *names, "notes"])
    lines = ["# Class summary", "", f"{len(results)} submissions. Per exercise, hardest first:", "",
             "| Chapter | Exercise | Mean points | Passed |", "| --- | --- | --- | --- |"]
    lines += [f"| {s['chapter']} | {s['exercise']} | {s['mean_points']:g} / {s['max_points']} | "
              f"{s['passed']} of {s['submissions']} |" for s in summary]
    lines += ["", "| Submission | Points | Notes |", "| --- | --- | --- |"]
    lines += [f"| {r.submission} | {r.earned} / {r.total} | {len(r.notes)} |" for r in results]
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")
    return summary


def grade_and_report(submissions: list[Path], out_dir: Path, instructor: Path | None = None, **options) -> list[Grade]:
    """Grade every submission, write its reports and the executed copy to ``out_dir``, then the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = [path.stem for path in submissions]
    results = []
    for path in submissions:
        label = path.stem if stems.count(path.stem) == 1 else f"{path.parent.name}-{path.stem}"
        result = grade(path, instructor, executed=out_dir / f"{label}.graded.ipynb", **options)
        write_report(result, out_dir, label)
        notes = f" ({len(result.notes)} notes to read)" if result.notes else ""
        print(f"{path}: {result.earned}/{result.total} points{notes}")
        results.append(result)
    write_summary(results, out_dir)
    print(f"reports in {out_dir}/ (summary.md, grades.csv, summary.csv, one .md and .csv per submission)")
    return results


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
