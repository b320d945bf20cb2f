"""Auto-checked exercises: a check cell prints a clear pass, or a hint, never a traceback.

In a notebook::

    with gh.exercise("1 · D's loss", hint="log D(x) = F.logsigmoid(real_logits)", points=2):
        real_logits, fake_logits = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
        gh.expect_close(discriminator_loss(real_logits, fake_logits), 1.2314, "the loss of ...")

The solution cells of the instructor's notebook wrap the answer in ``### BEGIN SOLUTION`` and
``### END SOLUTION``; ``tools/editions.py`` (``make student``) replaces that block by a stub.
A check cell may hold extra cases between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``:
the student edition drops them, the grader runs them.

``expect_own_code`` fails an answer that calls the helper it re-implements; ``yours_or_reference``
lets a chapter train with the student's piece once it works (the course's version from
:mod:`gan_helpers.reference` until then). How to write a check: book/instructors.md.

When ``tools/coursework.py grade`` grades a submission, it replaces every check cell by the
instructor's and runs it through :func:`run_check`, which publishes what each ``exercise`` block
found as one display output tagged with a secret of that run; the grader reads nothing else.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import torch

PASSED = "PASSED"
NOT_DONE = "NOT DONE"
FAILED = "NOT YET RIGHT"
RESULT_MIME = "application/vnd.gan-course.check+json"  # what run_check publishes for the grader

_records: ContextVar[list | None] = ContextVar("exercise_records", default=None)


class ExerciseResult:
    """What a check found: the exercise, its points, ``passed``, ``status`` and the line it printed."""

    def __init__(self, name: str, points: int) -> None:
        self.name, self.points = name, points
        self.passed = False
        self.status = FAILED
        self.message = ""


@contextmanager
def exercise(name: str, hint: str, points: int = 1) -> Iterator[ExerciseResult]:
    """Run the checks in the ``with`` block; print one line for the student, swallow the error.

    ``name`` and ``points`` (a positive whole number, the exercise's weight in the grade) must be
    written as literals: the grader reads them from the instructor's notebook without running it.
    """
    if not isinstance(points, int) or isinstance(points, bool) or points < 1:
        raise ValueError(f"exercise {name!r}: points must be a whole number >= 1, got {points!r}")
    result = ExerciseResult(name, points)
    try:
        yield result
    except NotImplementedError:
        result.status = NOT_DONE
        result.message = f"[{NOT_DONE}] Exercise {name}: replace `raise NotImplementedError` with your code.\n  Hint: {hint}"
    except AssertionError as error:
        result.message = f"[{FAILED}] Exercise {name}: {error}\n  Hint: {hint}"
    except Exception as error:  # the student's code crashed: say where, without a traceback
        result.message = f"[{FAILED}] Exercise {name}: your code raised {type(error).__name__}: {error}\n  Hint: {hint}"
    else:
        result.passed, result.status = True, PASSED
        result.message = f"[{PASSED}] Exercise {name}"
    print(result.message)
    records = _records.get()
    if records is not None:  # a grader's run_check is listening
        records.append(result)


def run_check(source: str, token: str, namespace: dict) -> None:
    """Run a check cell's ``source`` in ``namespace`` (the notebook's globals) for the grader.

    Publishes one display output of type ``RESULT_MIME``: ``{"token": token, "results": [{"name",
    "status", "message"}, ...], "error": "..."}``, one result per ``exercise`` block that finished;
    ``error`` says what stopped the cell early (an error outside every ``exercise`` block, or the
    interrupt of a time limit). Only the grader, which wrote ``token`` into this cell, knows it.
    """
    from IPython.display import publish_display_data

    _restore_helpers(namespace)
    records: list = []
    listening = _records.set(records)
    error = ""
    try:
        exec(compile(source, "<check cell>", "exec"), namespace)
    except BaseException as failure:  # KeyboardInterrupt too: a time limit still reports what ran
        error = f"{type(failure).__name__}: {failure}"
    finally:
        _records.reset(listening)
    results = [{"name": r.name, "status": r.status, "message": r.message} for r in records]
    payload = {"token": token, "results": results, "error": error}
    publish_display_data({RESULT_MIME: payload, "text/plain": f"{len(results)} exercise result(s)"})


def _restore_helpers(namespace: dict) -> None:
    """Undo a notebook's rebinding of the check helpers (``gh.expect = ...``, ``expect = ...``)."""
    import gan_helpers

    for name, genuine in _GENUINE.items():
        globals()[name] = genuine
        for holder in (vars(gan_helpers), namespace):
            if name in holder:
                holder[name] = genuine


def expect_close(actual, expected, what: str, atol: float = 1e-4) -> None:
    """Assert two numbers or tensors agree to ``atol``, with a message a student can act on."""
    actual_t = torch.as_tensor(actual, dtype=torch.float64).detach() if not isinstance(actual, torch.Tensor) else actual.detach().double()
    expected_t = torch.as_tensor(expected, dtype=torch.float64)
    if actual_t.shape != expected_t.shape:
        raise AssertionError(f"{what}: expected shape {tuple(expected_t.shape)}, got {tuple(actual_t.shape)}")
    if not torch.allclose(actual_t, expected_t, atol=atol, rtol=0):
        raise AssertionError(f"{what}: expected {_fmt(expected_t)}, got {_fmt(actual_t)}")


def expect_shape(tensor: torch.Tensor, shape: tuple, what: str) -> None:
    """Fail the exercise unless ``tensor`` is a tensor of exactly ``shape``; ``what`` names it in the message."""
    if not isinstance(tensor, torch.Tensor):
        raise AssertionError(f"{what}: expected a tensor, got {type(tensor).__name__}")
    if tuple(tensor.shape) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(tensor.shape)}")


def expect(condition: bool, message: str) -> None:
    """Fail the exercise with ``message`` (what was expected, in words) unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def expect_own_code(function, forbidden: list, what: str) -> None:
    """Assert that ``function`` (or any method of a class) calls none of ``forbidden``.

    For exercises that re-implement a helper, e.g. ``gh.expect_own_code(slerp, [gh.slerp,
    gh.interpolate], "slerp")``. It reads the names the compiled code uses, so it needs no
    source: a global that *is* a forbidden object (``s = gh.slerp`` counts), an attribute of a
    module reached that way (``gh.slerp``, ``F.binary_cross_entropy_with_logits``), or an
    attribute named like one (``self.helpers.slerp``) fails with a message naming it.
    """
    if any(function is banned for banned in forbidden) or (
            isinstance(function, type) and any(base is banned for base in function.__mro__ for banned in forbidden)):
        raise AssertionError(f"{what}: this is the course's own version; this exercise asks you to write it")
    functions = [f for f in vars(function).values() if callable(f)] if isinstance(function, type) else [function]
    banned_names = {getattr(f, "__name__", "") for f in forbidden} - {""}
    for f in functions:
        f = inspect.unwrap(f)
        code, scope = getattr(f, "__code__", None), getattr(f, "__globals__", {})
        if code is None:
            if isinstance(function, type):  # a class attribute that is no function of its own
                continue
            raise AssertionError(f"{what}: write it as a function (def), not as {type(f).__name__}")
        used = set(_names(code))
        modules = [scope[n] for n in used if inspect.ismodule(scope.get(n))]
        for depth in range(3):  # gh.reference.x: modules reached through modules
            modules += [getattr(m, n) for m in modules for n in used if inspect.ismodule(getattr(m, n, None))]
        for name in sorted(used):
            reached = [scope[name]] if name in scope else []
            reached += [getattr(m, name) for m in modules if hasattr(m, name)]
            if any(r is banned for r in reached for banned in forbidden) or (name not in scope and name in banned_names):
                raise AssertionError(f"{what}: your code uses {name}; this exercise asks you to do without it")


def _names(code) -> list[str]:
    """Every global or attribute name a code object (and the code nested in it) refers to."""
    names = list(code.co_names)
    for constant in code.co_consts:
        if inspect.iscode(constant):
            names += _names(constant)
    return names


def yours_or_reference(yours, reference, probe, exercise: str):
    """``yours`` once ``probe(yours)`` runs without ``NotImplementedError``; until then
    ``reference``, with a printed note. A chapter trains with the student's piece this way.

    ``probe`` tries the piece on something small (``lambda loss: loss(torch.zeros(2))``); it runs
    on a forked random-number state, so the choice changes no later result. Other errors are
    the student's to see: they are raised.
    """
    with torch.random.fork_rng(devices=[]):
        try:
            probe(yours)
        except NotImplementedError:
            print(f"note: exercise {exercise} is not done yet, so the chapter uses the course's "
                  f"{reference.__name__} meanwhile; run this cell again once it is.")
            return reference
    return yours


def _fmt(t: torch.Tensor) -> str:
    return f"{t.item():.4f}" if t.numel() == 1 else str([round(v, 4) for v in t.flatten().tolist()][:8])


# Keep this last: the helpers as defined, which run_check puts back before a graded check.
_GENUINE = {name: value for name, value in list(globals().items())
            if callable(value) and getattr(value, "__module__", None) == __name__ and not name.startswith("_")}
