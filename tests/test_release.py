"""The student editions in student/: committed, current with notebooks/, and what every public
badge opens (README, the chapters' own badges, the student editions' badges)."""

from __future__ import annotations

import shutil

import nbformat

import book  # tools/book.py
import editions  # tools/editions.py
import release  # tools/release.py

COLAB = "https://colab.research.google.com/github/"


def badges(path) -> list[str]:
    """The Colab badge URLs of a README (all of them) or of a notebook (its first markdown cell)."""
    if path.suffix == ".md":
        return [m.group(0) for m in release.BADGE.finditer(path.read_text())]
    first = release.first_cell(nbformat.read(path, as_version=4), "markdown")
    return [m.group(0) for m in release.BADGE.finditer(first.source)]


def test_committed_student_editions_are_what_the_generator_writes_now():
    problems = release.student_problems(release.load_course())
    assert not problems, "\n".join(problems)


def test_every_public_badge_opens_a_committed_student_edition():
    course = release.load_course()
    chapters = book.chapter_notebooks()
    sources = [release.ROOT / "README.md", *chapters, *(release.ROOT / "student" / p.name for p in chapters)]
    found = {path.relative_to(release.ROOT).as_posix(): badges(path) for path in sources}
    assert len(found["README.md"]) == len(chapters) >= 6
    assert all(len(urls) == 1 for name, urls in found.items() if name != "README.md"), found
    home = f"{COLAB}{course.repository}/blob/{course.branch}/"
    for name, urls in found.items():
        for url in urls:
            assert url.startswith(home + "student/"), f"{name}: {url} does not open a student edition"
            assert (release.ROOT / url.removeprefix(home)).is_file(), f"{name}: {url} opens a file the repository lacks"


def test_a_changed_chapter_makes_its_committed_edition_stale_until_written(tmp_path, monkeypatch):
    shutil.copytree(book.NOTEBOOKS, tmp_path / "notebooks")
    monkeypatch.setattr(release, "ROOT", tmp_path)
    monkeypatch.setattr(book, "NOTEBOOKS", tmp_path / "notebooks")
    course = release.load_course()
    assert release.student_problems(course)[0] == "student/01_vanilla_gan.ipynb is missing"
    written = release.write_student_editions(course)
    assert [p.name for p in written] == [p.name for p in book.chapter_notebooks()]
    assert release.student_problems(course) == [] and release.write_student_editions(course) == []

    chapter = tmp_path / "notebooks" / "02_conditional_gan.ipynb"
    notebook = nbformat.read(chapter, as_version=4)
    notebook.cells[-1].source += "\n\nOne more sentence."
    nbformat.write(notebook, chapter)
    (tmp_path / "student" / "07_old_chapter.ipynb").write_text("{}")
    assert release.student_problems(course) == [
        "student/02_conditional_gan.ipynb is stale: notebooks/02_conditional_gan.ipynb changed since it was written",
        "student/07_old_chapter.ipynb has no chapter in notebooks/",
        "run `make student` (or `python tools/release.py write`) and commit student/",
    ]
    assert release.write_student_editions(course) == [tmp_path / "student" / "02_conditional_gan.ipynb"]
    edition = nbformat.read(tmp_path / "student" / "02_conditional_gan.ipynb", as_version=4)
    assert edition.cells[-1].source.endswith("One more sentence.")


def test_make_student_and_the_release_step_write_the_same_files(tmp_path, monkeypatch):
    """`make student` (tools/editions.py) writes what release.py checks, byte for byte."""
    monkeypatch.setattr(editions, "ROOT", tmp_path)  # the editions' folder as if in the repository
    editions.write_student_editions(book.NOTEBOOKS, tmp_path / "student")
    course = release.load_course()
    for path in book.chapter_notebooks():
        edition = (tmp_path / "student" / path.name).read_text()
        assert edition == release.student_edition_text(course, path), path.name
        assert "### BEGIN SOLUTION" not in edition and "BEGIN HIDDEN TESTS" not in edition
        assert "Answer key (instructors" not in edition
