"""What the chapters' exercise tests share: run a check cell of the instructor edition on a
candidate answer, as the grader would (no training, hidden cases included unless asked), and
read its verdict. Each chapter's test file keeps its own answers: the known-wrong ones, those
only a hidden case catches, and valid variants."""

from __future__ import annotations

import contextlib
import io
import textwrap

import nbformat
import pytest

import coursework


def code_cells(notebook) -> list:
    return [cell for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"]


def check_source(notebook, name: str) -> str:
    """The check cell of exercise ``name`` (the cell that opens ``gh.exercise("<name>"``)."""
    return next(cell.source for cell in code_cells(notebook) if f'gh.exercise("{name}"' in cell.source)


def solution_source(notebook, function: str) -> str:
    """The instructor's solution cell that defines ``function``, its markers removed."""
    cell = next(c.source for c in code_cells(notebook)
                if "solution" in c.metadata.get("tags", []) and f"def {function}(" in c.source)
    return "\n".join(line for line in cell.splitlines() if "### " not in line)


def run_check(check: str, answer: str, namespace: dict, hidden: bool = True) -> str:
    """Define ``answer`` in ``namespace`` (the chapter's imports, and whatever else its check
    needs), then run the check cell ``check``; ``hidden=False`` runs the student edition's check
    (hidden cases stripped). Returns what the check printed."""
    exec(compile(textwrap.dedent(answer), "answer", "exec"), namespace)
    if not hidden:
        check = coursework.strip_hidden_tests(check)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(check, "check", "exec"), namespace)
    return printed.getvalue()


def passed(name: str, output: str) -> bool:
    return f"[PASSED] Exercise {name}" in output


def failed_with_hint(name: str, output: str) -> bool:
    return f"[NOT YET RIGHT] Exercise {name}" in output and "Hint:" in output


def cases(table: dict) -> list:
    """pytest parameters (exercise, label, answer) from {exercise: {label: answer}}."""
    return [pytest.param(name, label, answer, id=f"{name[:1]}-{label}")
            for name, answers in table.items() for label, answer in answers.items()]


def standard_tests(notebook, run, solution, wrong: dict, hidden_only: dict, valid: dict,
                   min_wrong: int = 3) -> dict:
    """The tests every chapter's exercises must pass, as module-level test functions (use
    ``globals().update(standard_tests(...))``): every exercise of the notebook is listed here
    with at least ``min_wrong`` known-wrong answers; the solution passes and the student stub
    says NOT DONE; each wrong answer fails with its hint; each of ``hidden_only`` passes the
    student edition's check and fails the full one; each valid variant passes.

    ``run(name, answer, hidden=True)`` runs a check; ``solution(name)`` gives the solution cell.
    """
    exercises = sorted(wrong)

    def test_every_exercise_of_the_chapter_is_listed_and_has_wrong_answers():
        in_notebook = {name for cell in code_cells(notebook) for name, _ in coursework.check_exercises(cell.source)}
        assert in_notebook == set(wrong)
        assert all(len(wrong[name]) >= min_wrong for name in wrong)

    @pytest.mark.parametrize("name", exercises)
    def test_the_solution_passes_and_the_stub_is_not_done(name):
        assert passed(name, run(name, solution(name)))
        out = run(name, coursework.strip_solutions(solution(name)), hidden=False)
        assert f"[NOT DONE] Exercise {name}" in out and "Hint:" in out, out

    @pytest.mark.parametrize("name, label, answer", cases(wrong))
    def test_a_known_wrong_answer_fails_with_its_hint(name, label, answer):
        out = run(name, answer)
        assert f"[NOT YET RIGHT] Exercise {name}" in out and "\n  Hint: " in out, out

    @pytest.mark.parametrize("name, label, answer", cases(hidden_only))
    def test_a_hidden_case_catches_what_the_visible_ones_let_through(name, label, answer):
        assert passed(name, run(name, answer, hidden=False))
        assert f"[NOT YET RIGHT] Exercise {name}" in run(name, answer)

    @pytest.mark.parametrize("name, label, answer", cases(valid))
    def test_a_valid_variant_passes(name, label, answer):
        out = run(name, answer)
        assert passed(name, out), out

    return {test.__name__: test for test in (
        test_every_exercise_of_the_chapter_is_listed_and_has_wrong_answers,
        test_the_solution_passes_and_the_stub_is_not_done, test_a_known_wrong_answer_fails_with_its_hint,
        test_a_hidden_case_catches_what_the_visible_ones_let_through, test_a_valid_variant_passes)}
