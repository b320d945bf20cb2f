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
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from gan_helpers.coursework import RESULT_MIME

import editions

ROOT = Path(__file__).resolve().parents[1]
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
    """One submission's result; ``problem`` (why it could not be graded, and what to do) is empty
    for a graded one. ``source`` is where the instructor handed it in (a path, or the zip and the
    path inside it); ``submission`` is the file read (for a zip's, a temporary copy)."""

    submission: Path
    instructor: Path | None
    outcomes: list[Outcome]
    notes: list[str] = field(default_factory=list)  # what the instructor should know or read
    student: str = ""
    source: str = ""
    problem: str = ""

    def __post_init__(self):
        self.student = self.student or self.submission.stem
        self.source = self.source or str(self.submission)

    @property
    def chapter(self) -> str:
        return self.instructor.stem if self.instructor else "?"

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
        exercises = editions.check_exercises(cell.source) if cell.cell_type == "code" else []
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


class SetupError(RuntimeError):
    """The grader cannot run here at all (no kernel with the course's helpers): stop the class."""


class Unreadable(ValueError):
    """A submission that is not a notebook Jupyter can open."""


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path``; `Unreadable` saying why and what to do when it is none."""
    try:
        notebook = nbformat.read(path, as_version=4)
        if not isinstance(notebook.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as error:
        raise Unreadable(f"not a readable notebook ({type(error).__name__}: {str(error)[:200]}): ask the "
                         "student to download it again (Colab: File > Download > Download .ipynb) "
                         "and hand it in once more") from None
    return notebook


def chapters(notebooks: Path) -> dict[str, Path]:
    """{chapter name: instructor edition} for the notebooks/NN_*.ipynb in ``notebooks``."""
    return {path.stem: path for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))}


def chapter_from_name(name: str, known: dict[str, Path]) -> Path | None:
    """The one chapter a file name names anywhere in it ("Copy of 02_conditional_gan.ipynb",
    "alice_02_conditional_gan.ipynb", "02_gan-1.ipynb"): its stem, else its NN_; None if no one."""
    by_stem = [path for stem, path in known.items() if stem.lower() in name.lower()]
    numbers = set(re.findall(r"(?<!\d)(\d\d)_", name))
    by_number = [path for stem, path in known.items() if stem[:2] in numbers]
    found = by_stem if len(by_stem) == 1 else by_number
    return found[0] if len(found) == 1 else None


def find_instructor(submission: Path, notebooks: Path = ROOT / "notebooks") -> Path:
    """The instructor edition of a submission's chapter: the one its notebook metadata names
    (``gan_course.chapter``, in every edition and kept by Colab's "Save a copy"), else the one
    its file name names. A ValueError says why none fits and what to do."""
    known, unreadable = chapters(notebooks), None
    try:
        chapter = read_submission(submission).metadata.get("gan_course", {}).get("chapter")
    except Unreadable as error:
        chapter, unreadable = None, error
    if chapter:
        if chapter in known:
            return known[chapter]
        raise ValueError(f"its metadata names the chapter {chapter!r}, which {notebooks} does not have "
                         f"({', '.join(known) or 'no NN_*.ipynb'}): grade it with --instructor PATH")
    by_name = chapter_from_name(submission.name, known)
    if by_name:
        return by_name
    if unreadable:
        raise unreadable
    raise ValueError("cannot tell which chapter this is: its notebook metadata names none (it was not "
                     "started from a course notebook, or from an old edition) and neither does its file "
                     "name; grade this file on its own with --instructor notebooks/NN_....ipynb, or rename "
                     "it to contain the chapter's name (like 02_conditional_gan.ipynb)")


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
            raise SetupError(f"the grading kernel cannot import gan_helpers ({reply['content'].get('evalue')}): "
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
          cell_timeout: float = 300, time_limit: float = 1200, executed: Path | None = None,
          notebooks: Path = ROOT / "notebooks") -> Grade:
    """Grade one submitted notebook against ``instructor`` (default: its chapter in ``notebooks``,
    see `find_instructor`; a ValueError when there is none).

    ``executed``: where to save the graded notebook as it ran (for reading it), if anywhere.
    An unreadable submission scores 0 in every exercise (NOT RUN), with its ``problem`` set.
    """
    instructor = instructor or find_instructor(submission, notebooks)
    source = nbformat.read(instructor, as_version=4)
    checks = instructor_checks(source)
    try:
        student = read_submission(submission)
    except Unreadable as error:
        outcomes = [Outcome(n, p, NOT_RUN, str(error)) for c in checks for n, p in c.exercises]
        return Grade(submission, instructor, outcomes, problem=str(error))
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
    """``label.csv`` (one row per exercise) and ``label.md`` (the same, with totals and notes;
    for a submission that could not be graded, why and what to do)."""
    rows = [{"exercise": o.exercise, "points": o.earned, "max_points": o.points, "status": o.status,
             "reason": o.reason} for o in result.outcomes]
    _write_csv(out_dir / f"{label}.csv", rows, ["exercise", "points", "max_points", "status", "reason"])
    lines = [f"# {result.student}: {result.source}", ""]
    if result.problem:
        lines += [f"**Not graded**: {result.problem}", ""]
    if result.instructor:
        lines += [f"Graded against `{result.instructor}`: **{result.earned} of {result.total} points**.", ""]
    if result.outcomes:
        lines += ["| Exercise | Points | Status | Why |", "| --- | --- | --- | --- |"]
        lines += [f"| {o.exercise} | {o.earned} / {o.points} | {o.status} | {_cell(o.reason)} |"
                  for o in result.outcomes]
    if result.notes:
        lines += ["", "Notes:", ""] + [f"- {_cell(note)}" for note in result.notes]
    (out_dir / f"{label}.md").write_text("\n".join(lines) + "\n")


def write_summary(results: list[Grade], out_dir: Path) -> list[dict]:
    """The class summary: ``grades.csv`` (one row per submission), ``summary.csv`` (one row per
    exercise over the graded submissions: mean points and share passed, hardest first) and
    ``summary.md`` (both tables, then the submissions that could not be graded, and why)."""
    graded, failed = [r for r in results if not r.problem], [r for r in results if r.problem]
    per_exercise: dict[tuple, list[Outcome]] = {}
    for result in graded:
        for o in result.outcomes:
            per_exercise.setdefault((result.chapter, o.exercise), []).append(o)
    summary = [{"chapter": chapter, "exercise": name, "max_points": found[0].points, "submissions": len(found),
                "passed": sum(o.status == PASSED for o in found),
                "mean_points": round(sum(o.earned for o in found) / len(found), 3)}
               for (chapter, name), found in per_exercise.items()]
    summary.sort(key=lambda row: row["mean_points"] / row["max_points"])
    _write_csv(out_dir / "summary.csv", summary, list(summary[0]) if summary else ["chapter", "exercise"])
    names = list(dict.fromkeys(o.exercise for r in results for o in r.outcomes))
    grades = [{"student": r.student, "submission": r.source, "chapter": r.chapter, "points": r.earned,
               "max_points": r.total, **{o.exercise: o.status for o in r.outcomes}, "problem": r.problem,
               "notes": " | ".join(r.notes)} for r in results]
    _write_csv(out_dir / "grades.csv", grades,
               ["student", "submission", "chapter", "points", "max_points", *names, "problem", "notes"])
    lines = ["# Class summary", "", count_line(results), "",
             "Per exercise, over the graded submissions, hardest first:", "",
             "| Chapter | Exercise | Mean points | Passed |", "| --- | --- | --- | --- |"]
    lines += [f"| {s['chapter']} | {s['exercise']} | {s['mean_points']:g} / {s['max_points']} | "
              f"{s['passed']} of {s['submissions']} |" for s in summary]
    lines += ["", "| Student | Submission | Chapter | Points | Notes |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {_cell(r.student)} | {_cell(r.source)} | {r.chapter} | {r.earned} / {r.total} | {len(r.notes)} |"
              for r in graded]
    if failed:
        lines += ["", f"## Could not be graded ({len(failed)})", "",
                  "| Student | Submission | Why, and what to do |", "| --- | --- | --- |"]
        lines += [f"| {_cell(r.student)} | {_cell(r.source)} | {_cell(r.problem)} |" for r in failed]
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")
    return summary


def count_line(results: list[Grade]) -> str:
    """"N submissions from S students: G graded, F could not be graded (...)"."""
    failed = sum(bool(r.problem) for r in results)
    students = len({r.student for r in results})
    line = (f"{len(results)} submission{'s' * (len(results) != 1)} from {students} "
            f"student{'s' * (students != 1)}: {len(results) - failed} graded")
    return line + (f", {failed} could not be graded (listed in summary.md)" if failed else "") + "."


# --- collecting a class's submissions ---------------------------------------------------------

@dataclass
class Submission:
    """A file handed in: where it lies here, whose it is, and where the instructor got it."""

    path: Path
    student: str
    source: str


CANVAS = re.compile(r"^(?P<student>[^_]+)(?:_late)?_\d+_\d+_(?P<file>.+)$", re.I)  # Canvas's download
CLASSROOM = re.compile(r"^(?P<student>.+?) - (?P<file>.+)$")  # Classroom's per-student copy "Name - file"
IGNORED = ("__MACOSX", ".ipynb_checkpoints")


def named_student(name: str) -> str | None:
    """The student a file name names: ``alice__02.ipynb``, Canvas's ``alice_12345_67890_02.ipynb``
    (``_late_`` too), Classroom's per-student copy ``Alice Smith - 02.ipynb``; else None."""
    if "__" in name.strip("_"):
        return name.strip("_").split("__", 1)[0]
    canvas = CANVAS.match(name)
    if canvas:
        return canvas["student"]
    classroom = CLASSROOM.match(name)
    if classroom and not re.search(r"(?<!\d)\d\d_", classroom["student"]):  # not "02_gan - v2.ipynb"
        return classroom["student"]
    return None


def _attribute(found: list[tuple[tuple[str, ...], Path, str]]) -> list[Submission]:
    """Submissions from (path parts inside one collected folder or zip, file here, source). The
    student is the one the file name names, else the first folder (a folder per student), else
    the file's own name. Folders every file sits in (an export's wrapper, like "Homework 2/") are
    no student's, except where a file would be left with neither its name nor a folder to tell."""
    if not found:
        return []
    folders = [parts[:-1] for parts, _, _ in found]
    names = [named_student(parts[-1]) for parts, _, _ in found]
    common = max(0, min([len(f) for f in folders] + [len(f) - 1 for f, name in zip(folders, names) if not name]))
    while common and any(f[:common] != folders[0][:common] for f in folders):
        common -= 1
    return [Submission(path, name or (parts[common] if len(parts) - 1 > common else Path(parts[-1]).stem), source)
            for (parts, path, source), name in zip(found, names)]


def _visible(parts: tuple[str, ...]) -> bool:
    return not any(part.startswith(".") or part in IGNORED for part in parts)


def _from_zip(archive: Path, workdir: Path) -> list[Submission]:
    """Every notebook in a zip (an LMS export), copied under ``workdir`` by a name of our own."""
    import zipfile

    try:
        with zipfile.ZipFile(archive) as opened:
            members = [m for m in opened.infolist() if not m.is_dir()]
            found = []
            for member in members:  # each in a folder of its own, by its base name: none lands outside
                parts = tuple(p for p in member.filename.replace("\\", "/").split("/") if p)
                if not (parts and _visible(parts) and parts[-1].lower().endswith(".ipynb")):
                    continue
                target = Path(tempfile.mkdtemp(dir=workdir)) / parts[-1]
                target.write_bytes(opened.read(member))
                found.append((parts, target, f"{archive}: {'/'.join(parts)}"))
    except zipfile.BadZipFile as error:
        raise ValueError(f"{archive} is not a zip file Python can open ({error}): download the export "
                         "again, or unpack it and pass the folder") from None
    return _attribute(found)


def collect(paths: list[Path], workdir: Path, skip: Path | None = None) -> list[Submission]:
    """The notebooks in ``paths``: files, folders (searched through; zips in them opened) and zips
    (LMS exports, unpacked into ``workdir``), each with its student (`_attribute`). ``skip``: a
    folder to leave out (the reports' own). A path that does not exist is a ValueError."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ValueError(f"no such file or folder: {', '.join(missing)}")
    files = [p for p in paths if p.is_file() and p.suffix.lower() != ".zip"]
    zips = [p for p in paths if p.is_file() and p.suffix.lower() == ".zip"]
    collected = []
    if files:  # given one by one (a shell glob): their folders, below the one they share, name students
        parents = {p.resolve().parent for p in files}
        root = Path(os.path.commonpath(parents)) if len(parents) > 1 or len(files) > 1 else parents.pop().parent
        collected += _attribute([(p.resolve().relative_to(root).parts, p, str(p)) for p in files])
    for folder in (p for p in paths if p.is_dir()):
        found = []
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if not _visible(parts) or (skip and path.resolve().is_relative_to(skip.resolve())):
                continue
            if path.suffix.lower() == ".zip":
                zips.append(path)
            elif path.suffix.lower() == ".ipynb" and not path.name.endswith(".graded.ipynb"):
                found.append((parts, path, str(path)))
        collected += _attribute(found)
    for archive in zips:
        collected += _from_zip(archive, workdir)
    return collected


def _labels(submissions: list[Submission]) -> list[str]:
    """A distinct, file-safe report name per submission: "student-file" (or "file")."""
    labels = []
    for sub in submissions:
        stem = Path(sub.path.name).stem
        base = re.sub(r"[^\w.-]+", "_", stem if stem.startswith(sub.student) else f"{sub.student}-{stem}")
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base}-{n}"
        labels.append(label)
    return labels


def grade_and_report(paths: list[Path], out_dir: Path, instructor: Path | None = None,
                     notebooks: Path = ROOT / "notebooks", **options) -> list[Grade]:
    """Grade every submission in ``paths`` (files, folders, zips: `collect`), write its reports and
    the executed copy to ``out_dir``, then the summary. A submission that cannot be identified,
    read or graded gets a report saying why, and the rest are graded."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="submissions-") as workdir:
        submissions = collect(paths, Path(workdir), skip=out_dir)
        if not submissions:
            raise ValueError(f"no notebook (.ipynb) found in {', '.join(map(str, paths))}")
        for sub, label in zip(submissions, _labels(submissions)):
            try:
                result = grade(sub.path, instructor, executed=out_dir / f"{label}.graded.ipynb",
                               notebooks=notebooks, **options)
            except SetupError:
                raise
            except ValueError as error:  # no chapter, an instructor edition the grader cannot use
                result = Grade(sub.path, None, [], problem=str(error))
            except Exception as error:  # the grader itself failed on this one: the others still count
                traceback.print_exc()
                result = Grade(sub.path, None, [], problem=(
                    f"the grader failed on it ({type(error).__name__}: {error}; the traceback is printed "
                    "above this line): open it in Jupyter to see what is unusual, and report it to the course"))
            result.student, result.source = sub.student, sub.source
            write_report(result, out_dir, label)
            if result.problem:
                print(f"{sub.student} ({sub.source}): NOT GRADED: {result.problem}")
            else:
                notes = f" ({len(result.notes)} notes to read)" if result.notes else ""
                print(f"{sub.student} ({sub.source}): {result.chapter}: {result.earned}/{result.total} points{notes}")
            results.append(result)
    write_summary(results, out_dir)
    print(count_line(results))
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
