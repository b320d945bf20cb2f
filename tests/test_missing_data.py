"""A chapter whose dataset is missing is not executed: `book.execute` records why, and the book
shows the unexecuted notebook under a note saying which dataset is missing, where it was looked
for and how to get it (nothing trains on made-up data to fill the gap)."""

from __future__ import annotations

import pytest

import book

# dataset (notebook metadata gan_course.dataset) -> how the reason starts, a way to get it the note names
DATASETS = {
    "celeba": ("CelebA aligned faces", "kaggle datasets download -d jessicali9530/celeba-dataset"),
    "anime_faces": ("Anime Face Dataset", "kaggle datasets download -d splcher/animefacedataset"),
    "cifar10": ("CIFAR-10 (Krizhevsky, 2009)", "torchvision.datasets.CIFAR10"),
}
CHAPTERS = [path for path in book.chapter_notebooks() if book.chapter_dataset(path)]


def test_every_chapter_that_needs_a_dataset_is_tested_here():
    assert [book.chapter_dataset(path) for path in CHAPTERS] == list(DATASETS)


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda path: path.stem)
def test_a_missing_dataset_skips_the_chapter_with_a_page_that_says_how_to_get_it(source, tmp_path):
    chapter, (reason, how) = source.stem, DATASETS[book.chapter_dataset(source)]
    target = book.execute("smoke", force=True, notebooks=[source], out_root=tmp_path / "executed",
                          outputs_root=tmp_path / "outputs", parameters={"DATA_ROOT": str(tmp_path / "no-data")})
    status = book.read_status(target, chapter)
    assert status["status"] == "skipped" and not (target / f"{chapter}.ipynb").exists()
    assert status["reason"].startswith(reason) and "not found" in status["reason"]
    page = book.skipped_page(source, status["missing"])
    note = page.cells[1].source
    assert note.startswith(":::{admonition} Not executed: the data is missing")
    assert how in note and str(tmp_path / "no-data") in note
    assert not any(c.get("outputs") for c in page.cells if c.cell_type == "code")
    table = book.summary_table("smoke", target)
    assert f"| {chapter} | skipped: {reason}" in table
    assert "| 01_vanilla_gan | not executed | - | - | - |" in table
