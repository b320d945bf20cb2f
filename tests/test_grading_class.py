"""Grading a class as it is handed in: renamed copies, broken files, folders and LMS exports.

Uses the synthetic chapter of test_coursework.py (three exercises, 4 points), here with the
``gan_course.chapter`` metadata every course notebook carries. Only the mixed class test starts
kernels (one per gradable submission, a few seconds each); the others grade nothing or read only.
"""

import subprocess
import sys
import zipfile

import nbformat
import pytest

import book
import grading
from test_coursework import submission, synthetic_chapter

CHAPTER = "01_synthetic"


def with_metadata(notebook):
    notebook.metadata["gan_course"] = {"chapter": CHAPTER}
    return notebook


@pytest.fixture()
def notebooks(tmp_path):
    """A folder of instructor editions holding the synthetic chapter, as notebooks/ holds the course's."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(with_metadata(synthetic_chapter()), folder / f"{CHAPTER}.ipynb")
    return folder


def write(path, notebook_or_text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook_or_text, str):
        path.write_text(notebook_or_text)
    else:
        nbformat.write(notebook_or_text, path)
    return path


def grade_command(paths, notebooks, out):
    command = [sys.executable, "tools/coursework.py", "grade", *map(str, paths), "--notebooks", str(notebooks),
               "--out", str(out)]
    return subprocess.run(command, cwd=book.ROOT, capture_output=True, text=True)


def test_chapter_from_metadata_then_from_anywhere_in_the_name(tmp_path, notebooks):
    renamed = write(tmp_path / "homework (2).ipynb", with_metadata(submission()))
    assert grading.find_instructor(renamed, notebooks) == notebooks / f"{CHAPTER}.ipynb"
    for name in ("Copy of 01_synthetic.ipynb", "alice_01_synthetic.ipynb", "01_synthetic-1.ipynb", "hw_01_.ipynb"):
        path = write(tmp_path / name, submission())  # no metadata: an edition from before it was added
        assert grading.find_instructor(path, notebooks) == notebooks / f"{CHAPTER}.ipynb", name
    other = submission()
    other.metadata["gan_course"] = {"chapter": "07_diffusion"}
    with pytest.raises(ValueError, match="'07_diffusion', which .* does not have .*01_synthetic.*--instructor"):
        grading.find_instructor(write(tmp_path / "01_synthetic.ipynb", other), notebooks)


def test_a_mixed_class_is_graded_and_each_bad_file_gets_its_own_line(tmp_path, notebooks):
    """Two good submissions, Colab's renamed copy, a misnamed notebook without the metadata and a
    corrupt file, a folder per student: three graded, two listed with why and what to do."""
    handed_in = tmp_path / "class"
    write(handed_in / "ann" / "01_synthetic.ipynb", with_metadata(submission()))
    write(handed_in / "bob" / "01_synthetic.ipynb", with_metadata(submission(neg="def neg(a):\n    return a\n")))
    write(handed_in / "cat" / "Copy of 01_synthetic.ipynb", with_metadata(submission(mul="def mul(a, b):\n    return 0\n")))
    write(handed_in / "dan" / "my homework.ipynb", submission())
    write(handed_in / "eve" / "01_synthetic.ipynb", '{"cells": [{"cell_type": "code", "sour')
    done = grade_command([handed_in], notebooks, tmp_path / "out")
    print(done.stdout)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert f"ann ({handed_in / 'ann' / '01_synthetic.ipynb'}): {CHAPTER}: 4/4 points" in lines
    assert f"bob ({handed_in / 'bob' / '01_synthetic.ipynb'}): {CHAPTER}: 3/4 points" in lines
    assert f"cat ({handed_in / 'cat' / 'Copy of 01_synthetic.ipynb'}): {CHAPTER}: 3/4 points" in lines
    assert "5 submissions from 5 students: 3 graded, 2 could not be graded (listed in summary.md)." in lines
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "## Could not be graded (2)" in summary
    dan = next(line for line in summary.splitlines() if line.startswith("| dan |"))
    assert "cannot tell which chapter" in dan and "--instructor" in dan
    eve = next(line for line in summary.splitlines() if line.startswith("| eve |"))
    assert "not a readable notebook (NotJSONError" in eve and "Download .ipynb" in eve
    assert "| 01_synthetic | 3 · neg | 0.667 / 1 | 2 of 3 |" in summary  # over the three graded only
    assert sorted(p.name for p in (tmp_path / "out").glob("*.md")) == [
        "ann-01_synthetic.md", "bob-01_synthetic.md", "cat-Copy_of_01_synthetic.md", "dan-my_homework.md",
        "eve-01_synthetic.md", "summary.md"]
    assert "**Not graded**: cannot tell" in (tmp_path / "out" / "dan-my_homework.md").read_text()


def test_flat_folders_and_lms_exports_name_their_students(tmp_path):
    flat = tmp_path / "flat"
    for name in ("alice__01_synthetic.ipynb", "bob__Copy of 01_synthetic.ipynb"):
        write(flat / name, "{}")
    write(flat / ".ipynb_checkpoints" / "alice__01_synthetic-checkpoint.ipynb", "{}")
    canvas = tmp_path / "submissions.zip"  # Canvas: "Download Submissions", one flat zip
    with zipfile.ZipFile(canvas, "w") as archive:
        archive.writestr("smithjane_12345_67890_01_synthetic.ipynb", "{}")
        archive.writestr("doejohn_late_23456_78901_01_synthetic-1.ipynb", "{}")
    classroom = tmp_path / "Homework 1.zip"  # a Drive folder downloaded: Classroom's copies, a student's folder
    with zipfile.ZipFile(classroom, "w") as archive:
        archive.writestr("Homework 1/Alice Smith - 01_synthetic.ipynb", "{}")
        archive.writestr("Homework 1/Bo Li/work/01_synthetic.ipynb", "{}")
        archive.writestr("__MACOSX/Homework 1/Bo Li/._01_synthetic.ipynb", "")
        archive.writestr("Homework 1/Bo Li/notes.txt", "")
    (tmp_path / "work").mkdir()
    found = grading.collect([flat, canvas, classroom], tmp_path / "work")
    assert [(s.student, s.path.name) for s in found] == [
        ("alice", "alice__01_synthetic.ipynb"), ("bob", "bob__Copy of 01_synthetic.ipynb"),
        ("smithjane", "smithjane_12345_67890_01_synthetic.ipynb"),
        ("doejohn", "doejohn_late_23456_78901_01_synthetic-1.ipynb"),
        ("Alice Smith", "Alice Smith - 01_synthetic.ipynb"), ("Bo Li", "01_synthetic.ipynb")]
    assert found[5].source == f"{classroom}: Homework 1/Bo Li/work/01_synthetic.ipynb"
    assert all(s.path.read_text() == "{}" for s in found[2:])  # unpacked, under the work folder
    one_by_one = [write(tmp_path / "by_hand" / who / "01_synthetic.ipynb", "{}") for who in ("ann", "ben")]
    assert [s.student for s in grading.collect(one_by_one, tmp_path / "work")] == ["ann", "ben"]
    one_student = [write(tmp_path / "cy" / f"0{n}_synthetic.ipynb", "{}") for n in (1, 2)]  # no folder below: no student
    assert [s.student for s in grading.collect([tmp_path / "cy"], tmp_path / "work")] == ["01_synthetic", "02_synthetic"]
    assert [s.student for s in grading.collect(one_student, tmp_path / "work")] == ["01_synthetic", "02_synthetic"]


def test_grade_command_grades_an_export_under_each_students_name(tmp_path, notebooks):
    """A zip and a flat folder through the command; the notebooks have no check left to run, so
    no kernel starts: every exercise is MISSING, and each report carries its student's name."""
    rebuilt = with_metadata(submission())
    rebuilt.cells = [c for c in rebuilt.cells if "exercise(" not in c.source]
    for i, cell in enumerate(rebuilt.cells):
        cell.id = f"new-{i}"
    export = tmp_path / "submissions.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("smithjane_12345_67890_homework.ipynb", nbformat.writes(rebuilt))
    write(tmp_path / "flat" / "bo__Copy of Untitled.ipynb", rebuilt)
    done = grade_command([export, tmp_path / "flat"], notebooks, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "2 submissions from 2 students: 2 graded." in done.stdout.splitlines()
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert f"| smithjane | {export}: smithjane_12345_67890_homework.ipynb | {CHAPTER} | 0 / 4 | 0 |" in summary
    assert f"| bo | {tmp_path / 'flat' / 'bo__Copy of Untitled.ipynb'} | {CHAPTER} | 0 / 4 | 0 |" in summary
    report = (tmp_path / "out" / "smithjane_12345_67890_homework.md").read_text()
    assert report.startswith(f"# smithjane: {export}: smithjane_12345_67890_homework.ipynb")
