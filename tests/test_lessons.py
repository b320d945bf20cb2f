"""Claims the chapters once made that the mathematics, the papers or the runs contradict (issue
17): each is checked for here, so that a rewrite does not bring it back. A claim is matched in
the prose (markdown cells) of the chapter that made it."""

from __future__ import annotations

import re

import nbformat
import pytest

import book

WRONG = [
    # (chapter, pattern of the wrong claim, why it is wrong)
    ("03_dcgan_celeba", r"`full` is the paper's run",
     "Radford et al. never trained on CelebA and their G is 1024-512-256-128: the paper's settings, not its run"),
    ("03_dcgan_celeba", r"paper draws[^.]*batch norm's scale γ from N\(1, 0\.02\)",
     "the paper gives N(0, 0.02) for the weights only; gamma ~ N(1, 0.02) is PyTorch's DCGAN tutorial's"),
    ("04_dcgan_anime", r"hyper-parameters\s+reported for this dataset",
     "no source reports these settings for this dataset: they are the course's choice"),
]


def prose(chapter: str) -> str:
    notebook = nbformat.read(book.NOTEBOOKS / f"{chapter}.ipynb", as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


@pytest.mark.parametrize("chapter, pattern, why", WRONG, ids=[f"{c[:2]}-{i}" for i, (c, _, _) in enumerate(WRONG)])
def test_a_corrected_claim_does_not_come_back(chapter, pattern, why):
    assert not re.search(pattern, prose(chapter)), f"{chapter} says again what is wrong: {why}"


def test_chapter_3_names_where_its_gamma_initialisation_comes_from():
    text = prose("03_dcgan_celeba")
    assert "PyTorch's DCGAN tutorial" in text and "1024-512-256-128" in text
