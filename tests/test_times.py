"""Every chapter's times are kept in one place (its notebook's ``gan_course.times``) and every
document that states them agrees with it (tools/times.py)."""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest

import book
import plan
import times

DOCUMENTS = [book.ROOT / name for name in times.DOCUMENTS]
# promises of a time for the cpu profile that the measured times must bear out
TEN_MINUTE_PROMISE = re.compile(r"(under|within|at most|in less than) (ten|10) minutes", re.I)


def test_every_stated_time_agrees_with_the_notebooks_metadata():
    assert times.problems() == []


def test_every_chapter_has_its_times_and_a_generated_time_paragraph():
    found = times.all_times()
    assert list(found) == [notebook.stem for notebook in book.chapter_notebooks()]
    for stem, t in found.items():
        assert t["smoke_s"] > 0 and t["cpu_min"] > 0 and t["cpu_first_extra_min"] >= 0, stem
        cell = next(c for c in nbformat.read(book.NOTEBOOKS / f"{stem}.ipynb", as_version=4).cells
                    if "<!-- times:timebox -->" in c.source)
        assert f"`cpu` {times.minutes(t['cpu_min'])} for the whole notebook" in cell.source


def test_no_text_promises_ten_minutes_that_a_chapter_does_not_keep():
    """The README and the intro promised "under ten minutes" while chapter 5's cpu run took 13."""
    slow = [stem for stem, t in times.all_times().items() if t["cpu_min"] > times.TEN]
    texts = {path.name: path.read_text() for path in DOCUMENTS}
    for notebook in book.chapter_notebooks():
        cells = nbformat.read(notebook, as_version=4).cells
        texts[notebook.name] = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    generated = re.compile(r"<!-- times:([\w-]+) -->.*?<!-- /times:\1 -->", re.S)  # true by construction
    texts = {name: generated.sub("", text) for name, text in texts.items()}
    if slow:
        promises = {name: TEN_MINUTE_PROMISE.findall(text) for name, text in texts.items()}
        promises = {name: found for name, found in promises.items() if found}
        # a chapter's own text may say its training fits in ten minutes; no overview may
        overviews = {name: found for name, found in promises.items() if not name.endswith(".ipynb")}
        assert not overviews, f"{slow} take over ten minutes in cpu, yet {overviews} promise it"
        assert f"{times.listing([times.number(s) for s in slow])} not yet." in times.summary(times.all_times())


def test_the_gpu_estimates_are_the_plans():
    for notebook in book.chapter_notebooks():
        t = times.read_times(notebook)
        for profile, key in (("gpu", "gpu_t4_min"), ("full", "full_t4_min")):
            if t[key] is None:
                with pytest.raises(ValueError, match="trains no GAN"):
                    plan.estimate_minutes(notebook, profile, gpu="T4")
                continue
            estimate = plan.estimate_minutes(notebook, profile, gpu="T4")
            assert times.minutes(t[key]) == times.minutes(estimate), (
                f"{notebook.stem} {profile}: the metadata says {t[key]} min, the plan {estimate:.2f}: update "
                "gan_course.times and run `python tools/times.py write`")


@pytest.fixture()
def copy_of_the_course(tmp_path, monkeypatch):
    """The documents and notebooks in a folder of their own, where times.py reads and writes."""
    for name in times.DOCUMENTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(book.ROOT / name, tmp_path / name)
    shutil.copytree(book.NOTEBOOKS, tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    monkeypatch.setattr(times, "ROOT", tmp_path)
    monkeypatch.setattr(book, "NOTEBOOKS", tmp_path / "notebooks")
    return tmp_path


def test_a_changed_time_is_flagged_everywhere_it_is_stated_and_written_back(copy_of_the_course):
    path = copy_of_the_course / "notebooks" / "05_wgan_gp_cifar10.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["gan_course"]["times"]["cpu_min"] = 9.5  # chapter 5 made to fit
    nbformat.write(notebook, path)
    flagged = {problem.split(":")[0] for problem in times.problems()}
    cell = next(c.id for c in notebook.cells if "<!-- times:timebox -->" in c.source)
    assert flagged == {"README.md", "book/intro.md", "book/running.md", "book/instructors.md",
                       f"notebooks/05_wgan_gp_cifar10.ipynb#{cell}"}
    times.write()
    assert times.problems() == []
    readme = (copy_of_the_course / "README.md").read_text()
    five = notebook.metadata["gan_course"]["times"]
    first = times.minutes(9.5 + five["cpu_first_extra_min"])
    assert f"| 5 | {five['smoke_s']} s | 9.5 min ({first} the first time) |" in readme
    assert "chapter 5 not yet" not in times.summary(times.all_times())  # now every chapter keeps the aim
    assert "chapters 1, 2, 3, 4 and 6 within 10 minutes" not in readme


def test_a_hand_edited_table_is_flagged(copy_of_the_course):
    path = copy_of_the_course / "book" / "instructors.md"
    path.write_text(path.read_text().replace("| 1 · A vanilla GAN on MNIST | 13 s |", "| 1 · A vanilla GAN on MNIST | 9 s |"))
    assert [p.split(":")[0] for p in times.problems()] == ["book/instructors.md"]


def test_missing_times_or_blocks_say_what_to_add(copy_of_the_course):
    path = copy_of_the_course / "notebooks" / "01_vanilla_gan.ipynb"
    notebook = nbformat.read(path, as_version=4)
    del notebook.metadata["gan_course"]["times"]["smoke_s"]
    nbformat.write(notebook, path)
    with pytest.raises(ValueError, match="gan_course.times has .* expected .*smoke_s"):
        times.all_times()
    readme = copy_of_the_course / "README.md"
    readme.write_text(readme.read_text().replace("<!-- /times:summary -->", ""))
    with pytest.raises(ValueError, match="README.md must hold one '<!-- times:summary -->'"):
        times.replace(readme.read_text(), "summary", "x", "README.md")


def test_minutes_and_listing():
    assert [times.minutes(m) for m in (0.5, 1.5, 9.04, 13, 62.4)] == ["30 s", "1.5 min", "9.0 min", "13 min",
                                                                      "62 min"]
    assert times.listing([5]) == "5" and times.listing([1, 2, 6]) == "1, 2 and 6"
    assert times.span([8.6, 13.0]) == "8.6 to 13 min" and times.span([3.2, 3.2]) == "3.2 min"
