"""The course's finished runs, read back (chapter 6's leaderboard).

Every chapter saves what it trained in its ``OUT_DIR`` (``outputs/<profile>/<chapter>``):
``samples.npz`` (uint8 images, and labels where the GAN was conditioned), ``metrics.json`` and
``config.json``. A chapter that trains several GANs (chapter 5: a DCGAN baseline and a WGAN-GP)
writes one ``metrics.json`` with an entry per GAN under ``"gans"``, and each GAN's samples in a
folder of their own (``OUT_DIR`` and ``OUT_DIR/dcgan``)::

    runs = gh.course_runs("outputs/cpu")      # one ChapterRun per GAN of chapters 1 to 5
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np


class CourseGAN(NamedTuple):
    """Where one GAN of the course keeps its results, under the profile's outputs folder."""

    chapter: str  # the chapter's folder: its metrics.json and config.json
    folder: str  # the folder of its samples.npz, inside the chapter's ("" for the chapter's own)
    gan: str  # its entry under "gans" in the chapter's metrics.json ("" when the chapter trains one GAN)
    label: str  # its name in the leaderboard


COURSE_GANS = (
    CourseGAN("01_vanilla_gan", "", "", "1 · vanilla GAN"),
    CourseGAN("02_conditional_gan", "", "", "2 · conditional GAN"),
    CourseGAN("03_dcgan_celeba", "", "", "3 · DCGAN, CelebA"),
    CourseGAN("04_dcgan_anime", "", "", "4 · DCGAN, anime faces"),
    CourseGAN("05_wgan_gp_cifar10", "", "WGAN-GP", "5 · WGAN-GP, CIFAR-10"),
    CourseGAN("05_wgan_gp_cifar10", "dcgan", "DCGAN", "5 · DCGAN, CIFAR-10"),
)
# Chapters whose samples are CIFAR-10 images: the CIFAR-10 classifier and the CIFAR-10 Inception
# reference apply to them, not to the faces (also colour 32x32 in `cpu`) of chapters 3 and 4.
CIFAR10_CHAPTERS = {"05_wgan_gp_cifar10"}


@dataclass
class ChapterRun:
    """One GAN of the course as its chapter left it.

    folder: where its samples.npz is (or would be);
    status: "found" (samples.npz and metrics.json), "no metrics" or "missing" (no samples.npz);
    images: the samples, uint8 (N, H, W) grey or (N, H, W, 3) colour, None when missing;
    labels: (N,) the classes the samples were generated for, None when unconditioned;
    metrics, config: the chapter's metrics.json (with the GAN's own entry on top) and config.json
    ({} when absent).
    """

    chapter: str
    label: str
    folder: Path
    status: str
    images: np.ndarray | None = None
    labels: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """"digits" (grey 28x28), "grey" (other grey sizes), "colour32" (colour 32x32),
        "colour" (other colour sizes) or "-" (no samples)."""
        if self.images is None:
            return "-"
        if self.images.ndim == 3:
            return "digits" if self.images.shape[1:] == (28, 28) else "grey"
        return "colour32" if self.images.shape[1:3] == (32, 32) else "colour"

    @property
    def on_cifar10(self) -> bool:
        """Whether the GAN learned CIFAR-10 (its chapter is one of ``CIFAR10_CHAPTERS``)."""
        return self.chapter in CIFAR10_CHAPTERS

    def stored_fid(self) -> tuple[float, int | None] | None:
        """The standard FID the chapter stored, with its sample count when recorded (None: no FID)."""
        value = self.metrics.get("FID")
        if not isinstance(value, (int, float)):
            return None
        n = self.metrics.get("FID n")
        if n is None:
            found = re.search(r"FID@([\d,]+)", str(self.metrics.get("headline", "")))
            n = int(found.group(1).replace(",", "")) if found else None
        return float(value), None if n is None else int(n)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def read_run(chapter_folder: str | Path, folder: str = "", gan: str = "", label: str = "") -> ChapterRun:
    """The GAN whose samples.npz is in ``chapter_folder/folder``, with the chapter's metrics.json
    and config.json (whichever exist). ``gan`` names its entry under ``"gans"`` in metrics.json
    (chapters that train several GANs): that entry's numbers replace the chapter's, and its
    ``seconds`` become the run's ``train_seconds``."""
    chapter_folder = Path(chapter_folder)
    metrics, config = _read_json(chapter_folder / "metrics.json"), _read_json(chapter_folder / "config.json")
    if gan and metrics:
        metrics = {**metrics, **metrics.get("gans", {}).get(gan, {})}
        if isinstance(metrics.get("seconds"), (int, float)):
            metrics["train_seconds"] = metrics["seconds"]
    samples = chapter_folder / folder / "samples.npz"
    run = ChapterRun(chapter_folder.name, label or chapter_folder.name, samples.parent, "missing",
                     metrics=metrics, config=config)
    if samples.is_file():
        with np.load(samples, allow_pickle=False) as stored:
            run.images = stored["images"]
            run.labels = stored["labels"] if "labels" in stored else None
        run.status = "found" if metrics else "no metrics"
    return run


def course_runs(root: str | Path, gans: tuple[CourseGAN, ...] = COURSE_GANS) -> list[ChapterRun]:
    """Every GAN of ``gans`` under ``root`` (``outputs/<profile>``: each chapter's default
    OUT_DIR is ``root/<chapter>``), in the course's order; a chapter that has not run is listed
    with status "missing", not left out."""
    root = Path(root)
    return [read_run(root / g.chapter, g.folder, g.gan, g.label) for g in gans]
