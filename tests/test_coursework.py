"""Student editions: stubs replace solutions, checks fail helpfully, pasted-back solutions pass."""

import nbformat
import pytest

import book
import coursework
from conftest import stream_text

CHAPTERS = book.chapter_notebooks()


def exercise_count(notebook) -> int:
    return sum(c.source.count("gh.exercise(") for c in notebook.cells if c.cell_type == "code")


def test_strip_keeps_indentation_and_signature():
    source = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n'
    stripped = coursework.strip_solutions(source)
    assert stripped == 'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n'
    namespace = {}
    exec(stripped, namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](1)


def test_untagged_markers_are_refused():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    with pytest.raises(ValueError, match="no 'solution' tag"):
        coursework.student_edition(notebook)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_edition_hides_every_solution_and_keeps_every_check(path):
    instructor = nbformat.read(path, as_version=4)
    student = coursework.student_edition(instructor)
    solutions = [c for c in instructor.cells if "solution" in c.metadata.get("tags", [])]
    assert 3 <= exercise_count(instructor) <= 5
    assert exercise_count(student) == exercise_count(instructor)
    for cell in student.cells:
        assert "BEGIN SOLUTION" not in cell.source and not cell.get("outputs")
        if "solution" in cell.metadata.get("tags", []):
            assert "# YOUR CODE HERE" in cell.source and "hide-input" not in cell.metadata["tags"]
    taught = "\n".join(c.source for c in instructor.cells if c not in solutions)  # the chapter's own code
    text = "\n".join(c.source for c in student.cells)
    for original in solutions:  # no line of an answer survives, unless the chapter itself shows it
        for block in coursework.solution_blocks(original.source):
            body = [line.strip() for line in block.splitlines()[1:-1] if line.strip() and line.strip() not in taught]
            assert not any(line in text for line in body), body
    pasted = coursework.paste_solutions(student, instructor)
    assert [c.source for c in pasted.cells] == [c.source for c in instructor.cells]


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    """Student and pasted-back editions of every chapter, executed in smoke."""
    base = tmp_path_factory.mktemp("coursework")
    paths = {"student": [], "pasted": []}
    for kind in paths:
        (base / kind).mkdir()
    for path in CHAPTERS:
        instructor = nbformat.read(path, as_version=4)
        student = coursework.student_edition(instructor)
        nbformat.write(student, base / "student" / path.name)
        nbformat.write(coursework.paste_solutions(student, instructor), base / "pasted" / path.name)
        paths["student"].append(base / "student" / path.name)
        paths["pasted"].append(base / "pasted" / path.name)
    return {kind: book.execute("smoke", force=True, notebooks=files, out_root=base / f"{kind}-executed", outputs_root=base / f"{kind}-outputs")
            for kind, files in paths.items()}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_edition_fails_every_check_with_a_hint_and_no_traceback(editions, path):
    executed = nbformat.read(editions["student"] / path.name, as_version=4)
    text = stream_text(executed)
    n = exercise_count(nbformat.read(path, as_version=4))
    assert text.count("[NOT DONE] Exercise") == n
    assert text.count("  Hint: ") == n
    assert "[PASSED]" not in text and "Traceback" not in text
    assert not any(o.output_type == "error" for c in executed.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_pasted_back_solutions_pass_every_check(editions, path):
    text = stream_text(nbformat.read(editions["pasted"] / path.name, as_version=4))
    assert text.count("[PASSED] Exercise") == exercise_count(nbformat.read(path, as_version=4))
    assert "[NOT DONE]" not in text and "[NOT YET RIGHT]" not in text


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_grading_reads_each_exercise(editions, path):
    n = exercise_count(nbformat.read(path, as_version=4))
    student = coursework.results(nbformat.read(editions["student"] / path.name, as_version=4))
    pasted = coursework.results(nbformat.read(editions["pasted"] / path.name, as_version=4))
    assert len(student) == len(pasted) == n
    assert set(student.values()) == {"NOT DONE"} and set(pasted.values()) == {"PASSED"}
