"""One harness for every chapter's exercise tests: run a check cell of the instructor edition on a
candidate answer, as the grader would (no kernel, no training; hidden cases included unless
asked), and read the verdict each ``gh.exercise`` block records.

A chapter's namespace is what its first cells leave behind: the setup cell (its ``%pip`` line
read as Python), the ``parameters`` cell in the ``smoke`` profile, and any cell a check needs
beyond them (chapter 3's networks), named by id. An exercise is found by its name alone: its
check cell is the code cell whose ``gh.exercise("<name>"`` block it holds, its solution the cell
tagged ``solution`` just before it. Each chapter's test file keeps its own answers (known-wrong
ones with the hint they must show, those only a hidden case catches, valid variants) and turns
them into tests with :func:`standard_tests`. When a student finds an answer that passes wrongly,
it joins that chapter's WRONG (book/instructors.md).
"""

from __future__ import annotations

import textwrap
from functools import cached_property
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

import book
import editions
from gan_helpers import coursework as checks


class Chapter:
    """The instructor edition of chapter ``stem`` (notebooks/<stem>.ipynb), read once.

    ``needs``: ids of the cells, besides setup and parameters, that its checks use.
    """

    def __init__(self, stem: str, needs: tuple[str, ...] = ()) -> None:
        self.stem, self.needs = stem, needs
        self.notebook = nbformat.read(book.NOTEBOOKS / f"{stem}.ipynb", as_version=4)
        self.code = [cell for cell in self.notebook.cells if cell.cell_type == "code"]

    def exercises(self) -> list[str]:
        """The names of the checked exercises, in the notebook's order."""
        return [name for cell in self.code for name, _ in editions.check_exercises(cell.source)]

    def _check_index(self, name: str) -> int:
        found = [i for i, cell in enumerate(self.code) if name in dict(editions.check_exercises(cell.source))]
        if len(found) != 1:
            raise LookupError(f"{self.stem}: {len(found)} check cells hold exercise {name!r}; expected one")
        return found[0]

    def check(self, name: str) -> str:
        """The source of the check cell that holds exercise ``name``."""
        return self.code[self._check_index(name)].source

    def solution(self, name: str) -> str:
        """The instructor's solution of exercise ``name``: the cell tagged ``solution`` just
        before its check cell, markers and all (``editions.strip_solutions`` gives the stub)."""
        index = self._check_index(name)
        before = self.code[index - 1] if index else None
        if before is None or "solution" not in before.metadata.get("tags", []):
            raise LookupError(f"{self.stem}: the cell before exercise {name!r}'s check is no solution cell")
        return before.source

    @cached_property
    def namespace(self) -> dict:
        """The globals after the setup cell, the parameters cell (smoke) and the ``needs`` cells."""
        transform = TransformerManager().transform_cell  # the setup cell's %pip line, as Python
        parameters = next(cell for cell in self.code if "parameters" in cell.metadata.get("tags", []))
        by_id = {cell.id: cell for cell in self.code}
        namespace: dict = {"__name__": "__main__"}
        exec(compile(transform(self.code[0].source), f"<{self.stem} setup>", "exec"), namespace)
        exec(compile(parameters.source + "\nPROFILE = 'smoke'", f"<{self.stem} parameters>", "exec"), namespace)
        for cell_id in self.needs:
            exec(compile(by_id[cell_id].source, f"<{self.stem} {cell_id}>", "exec"), namespace)
        return namespace

    def run(self, name: str, answer: str, hidden: bool = True) -> checks.ExerciseResult:
        """Define ``answer`` in a copy of the namespace, run exercise ``name``'s check there
        (``hidden=False``: the student edition's, hidden cases stripped) and return its verdict."""
        namespace = dict(self.namespace)
        exec(compile(textwrap.dedent(answer), "<answer>", "exec"), namespace)
        source = self.check(name) if hidden else editions.strip_hidden_tests(self.check(name))
        records: list = []
        listening = checks._records.set(records)
        try:
            exec(compile(source, "<check cell>", "exec"), namespace)
        finally:
            checks._records.reset(listening)
        verdicts = {record.name: record for record in records}
        assert name in verdicts, f"exercise {name!r}'s check finished without a verdict: {list(verdicts)}"
        return verdicts[name]


def cases(table: dict) -> list:
    """pytest parameters (exercise, label, answer) from {exercise: {label: answer}}."""
    return [pytest.param(name, label, answer, id=f"{name[:1]}-{label}")
            for name, answers in table.items() for label, answer in answers.items()]


def block(body: str) -> str:
    """``body`` dedented and indented by four spaces: the body of a function in an answer."""
    return textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")


def with_head(head: str, table: dict) -> dict:
    """{label: head + body} for a table of answers that share their first lines ``head``."""
    return {label: head + body for label, body in table.items()}


def standard_tests(chapter: Chapter, wrong: dict, hidden_only: dict, valid: dict, min_wrong: int = 3) -> dict:
    """The tests every chapter's exercises must pass, as module-level test functions (use
    ``globals().update(standard_tests(...))``): every exercise of the notebook is listed in
    ``wrong`` ({exercise: {label: answer}}) with at least ``min_wrong`` known-wrong answers; the
    solution passes; the student stub says NOT DONE with its hint, in the student edition and to
    the grader; each wrong answer fails with its hint; each of ``hidden_only`` passes the student
    edition's check and fails the full one; each of ``valid`` passes; and the chapter's student
    edition leaves out solutions, hidden cases and answer key, its badge opening itself."""
    exercises = chapter.exercises()

    def test_every_exercise_of_the_chapter_is_listed_and_has_wrong_answers():
        assert list(wrong) == exercises, "list every checked exercise in WRONG, in the notebook's order"
        assert set(hidden_only) <= set(wrong) and set(valid) <= set(wrong)
        assert all(len(wrong[name]) >= min_wrong for name in wrong)

    @pytest.mark.parametrize("name", exercises)
    def test_the_solution_passes(name):
        result = chapter.run(name, chapter.solution(name))
        assert result.status == checks.PASSED, result.message

    @pytest.mark.parametrize("hidden", [False, True], ids=["student edition", "grader"])
    @pytest.mark.parametrize("name", exercises)
    def test_the_student_stub_is_not_done(name, hidden):
        result = chapter.run(name, editions.strip_solutions(chapter.solution(name)), hidden=hidden)
        assert result.status == checks.NOT_DONE and "\n  Hint: " in result.message, result.message

    @pytest.mark.parametrize("name, label, answer", cases(wrong))
    def test_a_known_wrong_answer_fails_with_its_hint(name, label, answer):
        result = chapter.run(name, answer)
        assert result.status == checks.FAILED, f"{label!r} was graded {result.status}"
        assert "\n  Hint: " in result.message and len(result.message.split("Hint: ")[1]) > 20, result.message

    @pytest.mark.parametrize("name, label, answer", cases(hidden_only))
    def test_a_hidden_case_catches_what_the_visible_ones_let_through(name, label, answer):
        visible = chapter.run(name, answer, hidden=False)
        assert visible.status == checks.PASSED, visible.message
        assert chapter.run(name, answer).status == checks.FAILED

    @pytest.mark.parametrize("name, label, answer", cases(valid))
    def test_a_valid_variant_passes(name, label, answer):
        result = chapter.run(name, answer)
        assert result.status == checks.PASSED, result.message

    def test_the_student_edition_leaves_out_the_answers_and_opens_itself():
        """No answer key, solution or hidden case in the student edition (nor in the student
        book's pages, which keep the run's other outputs), and its Colab badge opens it."""
        keys = [cell for cell in chapter.notebook.cells if editions.ANSWER_KEY in cell.metadata.get("tags", [])]
        assert keys == [cell for cell in chapter.notebook.cells if "**Answer key" in cell.source]
        assert all(cell.cell_type == "markdown" for cell in keys)
        stored = [c.id for c in chapter.code if c.outputs and not editions.check_exercises(c.source)
                  and "solution" not in c.metadata.get("tags", [])]
        badge = editions.student_badge(book.ROOT / "student", "someone/their-course", "main")
        assert badge == "https://colab.research.google.com/github/someone/their-course/blob/main/student/{name}"
        for keep_outputs in (False, True):
            student = editions.student_edition(chapter.notebook, badge=badge, keep_outputs=keep_outputs)
            text = "\n".join(cell.source for cell in student.cells)
            assert "Answer key" not in text and "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
            assert f"github/someone/their-course/blob/main/student/{chapter.stem}.ipynb" in student.cells[0].source
            assert "colab.research.google.com/github/gan-course" not in text
            checked = [c for c in student.cells if c.cell_type == "code" and editions.check_exercises(c.source)]
            assert [name for c in checked for name, _ in editions.check_exercises(c.source)] == exercises
            assert not any(c.outputs for c in checked)
            kept = [c.id for c in student.cells if c.cell_type == "code" and c.outputs]
            assert kept == (stored if keep_outputs else [])  # the stored nbval outputs of the chapter's own cells

    tests = [test_every_exercise_of_the_chapter_is_listed_and_has_wrong_answers, test_the_solution_passes,
             test_the_student_stub_is_not_done, test_a_known_wrong_answer_fails_with_its_hint,
             test_a_hidden_case_catches_what_the_visible_ones_let_through, test_a_valid_variant_passes,
             test_the_student_edition_leaves_out_the_answers_and_opens_itself]
    if not hidden_only:  # no empty parametrization: it would show as a skipped test
        tests.remove(test_a_hidden_case_catches_what_the_visible_ones_let_through)
    return {test.__name__: test for test in tests}
