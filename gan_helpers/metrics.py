"""Sample-quality metrics as pure functions of arrays: features (N, d) or class probabilities (N, K).

Every number the course reports about samples is computed here, apart from any network, so
that tests can check each against a closed form or a value worked out by hand
(tests/test_metrics.py). The networks that turn images into features live elsewhere:
``fid.py`` (Inception pool3) and ``classifier.py`` (the digit and CIFAR-10 classifiers)::

    fid = frechet_distance(*feature_statistics(real), *feature_statistics(fake))
    kid_mean, kid_std = kid(real, fake)                  # unbiased MMD^2 over random subsets
    precision, recall = precision_recall(real, fake, k=3)
    distances, indices = nearest_neighbours(flatten_pixels(samples), flatten_pixels(images), k=3)

Contents: the Fréchet distance (``feature_statistics``, ``frechet_distance``,
``fid_from_features``, ``FrechetReference``, ``fid_extrapolation``); KID (``polynomial_kernel``, ``mmd2_unbiased``,
``kid``); the Inception Score (``inception_score``, ``inception_score_splits``); distances and
neighbours (``pairwise_distances``, ``nearest_neighbours``, ``flatten_pixels``, ``knn_radii``,
``manifold_coverage``, ``precision_recall``); class counts (``conditioned_accuracy``,
``class_histogram``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy import linalg

# ---------------------------------------------------------------------------------------------
# The Fréchet distance of Gaussians fitted to features (FID when the features are Inception's).


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of features (N, d), N >= 2."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features must have shape (N >= 2, d), got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = |mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))   (Dowson & Landau, 1982;
    used as FID by Heusel et al., 2017). Returns a float >= 0 (0 for identical Gaussians).
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shapes do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    # tr((sigma1 sigma2)^(1/2)) is the sum of the square roots of the eigenvalues of sigma1 sigma2,
    # which are real and >= 0 for covariance matrices (round-off aside, hence the clip).
    eigenvalues = linalg.eigvals(sigma1 @ sigma2)
    trace_covmean = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_covmean, 0.0))


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two sets of features (N_a, d) and (N_b, d), N >= 2: the Fréchet distance of
    Gaussians fitted to each (Heusel et al., 2017). Biased upwards at small N: report N with it."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


class FrechetReference:
    """The Fréchet distance of many sets of features against one reference N(mu, sigma), exact
    and fast: the same number as :func:`frechet_distance` (to round-off).

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


def fid_extrapolation(counts: np.ndarray, fids: np.ndarray, min_n: int = 5_000, min_points: int = 3) -> float | None:
    """FID_inf of the line FID_N = FID_inf + b / N fitted by least squares (in 1/N) to mean FIDs
    ``fids`` (K,) measured at sample counts ``counts`` (K,), using only the counts >= ``min_n``
    (Chong & Forsyth, 2020). Returns None when fewer than ``min_points`` counts qualify.

    Why the thresholds: with N below the feature dimension (2,048 for Inception) the fake
    covariance is singular and FID_N is far from linear in 1/N, so a fit over small N misses
    the limit (on 2048-d Gaussians against 2,000 reference points, counts 50 to 1,000 gave
    1,194 for a limit of 303; counts 5,000 to 50,000 against 10,000 gave 65.3 for 65.9); and
    two points always lie on a line, so at least three are needed for the fit to test its form.
    The limit is that of the *fake* sample count only: the reference's statistics, from its
    own finite number of images, keep their small-sample bias in FID_inf.
    """
    counts, fids = np.asarray(counts, dtype=np.float64), np.asarray(fids, dtype=np.float64)
    if counts.shape != fids.shape or counts.ndim != 1:
        raise ValueError(f"counts and fids must be two (K,) arrays, got {counts.shape} and {fids.shape}")
    keep = counts >= min_n
    if keep.sum() < min_points:
        return None
    slope, intercept = np.polyfit(1 / counts[keep], fids[keep], 1)
    return float(intercept)


# ---------------------------------------------------------------------------------------------
# KID: the unbiased squared MMD with a polynomial kernel (Binkowski et al., 2018).


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> np.ndarray:
    """k(x, y) = (gamma x.y + coef0)^degree for all pairs: (N, d), (M, d) -> (N, M); gamma 1/d if None."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (gamma * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> float:
    """Unbiased estimate of the squared MMD between the distributions of x (m, d) and y (n, d),
    m, n >= 2, with the polynomial kernel (Binkowski et al., 2018):

        1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j) - 2/(mn) sum_{i,j} k(x_i, y_j)

    Its expectation is 0 for equal distributions, so single values can be slightly negative.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        raise ValueError(f"features must be (m >= 2, d) and (n >= 2, d), got {x.shape} and {y.shape}")
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = (polynomial_kernel(a, b, degree, gamma, coef0) for a, b in ((x, x), (y, y), (x, y)))
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def kid(real: np.ndarray, fake: np.ndarray, subset_size: int | None = 1000, num_subsets: int = 100, seed: int = 0) -> tuple[float, float]:
    """KID: mean and standard deviation of ``mmd2_unbiased`` over ``num_subsets`` random subsets
    of ``subset_size`` samples from each set (the defaults of torch-fidelity and torchmetrics).

    ``subset_size`` larger than a set (or None) uses the whole smaller set; when it covers both
    sets every subset is the same, so one is computed. KID is unbiased, so it can be compared
    across sample counts, unlike FID. Returns (mean, std), std with ddof=0.
    """
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    size = min(len(real), len(fake)) if subset_size is None else min(subset_size, len(real), len(fake))
    if size == len(real) == len(fake):
        num_subsets = 1
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(real[rng.choice(len(real), size, replace=False)], fake[rng.choice(len(fake), size, replace=False)])
        for _ in range(num_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


# ---------------------------------------------------------------------------------------------
# The Inception Score, from any classifier's probabilities (Salimans et al., 2016).


def inception_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """IS = exp( E_x KL(p(y|x) || p(y)) ) from class probabilities (N, K), rows summing to 1.

    Ranges from 1 (every sample gets the same prediction) to K (confident and evenly spread
    over the K classes); Salimans et al., 2016.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(f"probs must be (N, K) with rows summing to 1, got shape {probs.shape}")
    marginal = probs.mean(axis=0, keepdims=True)
    kl = (probs * (np.log(probs + eps) - np.log(marginal + eps))).sum(axis=1)
    return float(np.exp(kl.mean()))


def inception_score_splits(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """The IS as Salimans et al.'s code reports it: mean and standard deviation (ddof 0) of
    :func:`inception_score` over ``splits`` consecutive equal parts of ``probs`` (N, K).
    ``splits`` larger than N // 2 is reduced to N // 2 (at least 1)."""
    probs = np.asarray(probs, dtype=np.float64)
    splits = max(1, min(splits, len(probs) // 2))
    scores = [inception_score(part) for part in np.array_split(probs, splits)]
    return float(np.mean(scores)), float(np.std(scores))


# ---------------------------------------------------------------------------------------------
# Distances and neighbours; precision and recall (Kynkäänniemi et al., 2019).


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a_i - b_j|^2 (N, M), float64, of the rows of a (N, d) and b (M, d): the one place the
    course computes distances (``pairwise_distances`` and ``nearest_neighbours`` use it)."""
    a, b = a.detach().cpu().double(), b.detach().cpu().double()
    # |a - b|^2 = |a|^2 - 2 a.b + |b|^2, clamped: round-off can make an exact match slightly negative
    return (a.pow(2).sum(1, keepdim=True) - 2 * a @ b.T + b.pow(2).sum(1)).clamp_min_(0)


def _rows(a: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A tensor of ``a``; arrays are copied (a read-only array would make torch warn)."""
    return a if isinstance(a, torch.Tensor) else torch.from_numpy(np.array(a, dtype=np.float64))


def pairwise_distances(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Euclidean distances (N, M) between the rows of a (N, d) and b (M, d), float64, >= 0."""
    a, b = _rows(a), _rows(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, d) and (M, d) with the same d, got {tuple(a.shape)} and {tuple(b.shape)}")
    return _squared_distances(a, b).sqrt_().numpy()


def flatten_pixels(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Images as rows of pixels in [-1, 1]: (N, C, H, W) -> (N, C*H*W), float32.

    uint8 images (values 0-255) are scaled to [-1, 1]; float images must already be in [-1, 1]
    (a generator's tanh output), so that real and generated images are compared on one scale.
    """
    x = torch.as_tensor(np.array(images) if isinstance(images, np.ndarray) else images)
    if x.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.flatten(1).float().div_(127.5).sub_(1)
    if not x.is_floating_point():
        raise ValueError(f"images must be uint8 or float in [-1, 1], got {x.dtype}")
    if x.numel() and (x.min() < -1.01 or x.max() > 1.01):
        raise ValueError(f"float images must lie in [-1, 1], got [{float(x.min()):.3g}, {float(x.max()):.3g}];"
                         " for [0, 1] images pass x * 2 - 1, for uint8 pass them as they are")
    return x.detach().flatten(1).float()


@torch.no_grad()
def nearest_neighbours(queries: torch.Tensor | np.ndarray, references: torch.Tensor | np.ndarray, k: int = 1,
                       chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest rows of ``references`` (M, d) to each row of ``queries`` (N, d), by
    Euclidean distance: the memorisation check (are samples copies of training images?).

    Returns ``(distances, indices)``, both (N, k), nearest first: float64 distances (>= 0) and
    int64 row indices into ``references``; equal distances keep the lower index first. Exact:
    the references are compared ``chunk`` rows at a time (in float64), so M may be large (tens
    of thousands of 64x64 images); pass uint8 images through :func:`flatten_pixels` first.
    """
    queries, references = torch.as_tensor(queries), torch.as_tensor(references)
    if queries.ndim != 2 or references.ndim != 2 or queries.shape[1] != references.shape[1]:
        raise ValueError(f"expected queries (N, d) and references (M, d) with the same d, "
                         f"got {tuple(queries.shape)} and {tuple(references.shape)}")
    if not 1 <= k <= len(references):
        raise ValueError(f"k={k}: expected 1 <= k <= {len(references)} (the number of references)")
    best_d2 = torch.full((len(queries), 0), float("inf"), dtype=torch.float64)
    best_idx = torch.zeros((len(queries), 0), dtype=torch.int64)
    for start in range(0, len(references), chunk):
        d2 = _squared_distances(queries, references[start:start + chunk])
        idx = torch.arange(start, start + d2.shape[1]).expand(len(queries), -1)
        d2, idx = torch.cat([best_d2, d2], 1), torch.cat([best_idx, idx], 1)
        # a stable sort keeps the lower index first among equal distances (earlier chunks come first)
        order = torch.sort(d2, dim=1, stable=True).indices[:, :k]
        best_d2, best_idx = d2.gather(1, order), idx.gather(1, order)
    return best_d2.sqrt(), best_idx


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
# Class counts of a classifier's readings.


def conditioned_accuracy(predicted: np.ndarray, requested: np.ndarray, num_classes: int = 10) -> tuple[float, np.ndarray]:
    """Share of samples generated for label k that a classifier reads as k: (overall, per class (K,))."""
    predicted, requested = np.asarray(predicted), np.asarray(requested)
    if predicted.shape != requested.shape:
        raise ValueError(f"predicted {predicted.shape} and requested {requested.shape} labels differ in shape")
    hits = predicted == requested
    per_class = np.array([hits[requested == k].mean() if (requested == k).any() else np.nan for k in range(num_classes)])
    return float(hits.mean()), per_class


def class_histogram(predicted: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Counts (num_classes,) of each predicted class index in ``predicted`` (N,), int64."""
    predicted = np.asarray(predicted)
    if predicted.size and (predicted.min() < 0 or predicted.max() >= num_classes):
        raise ValueError(f"class indices must be in [0, {num_classes}), got {predicted.min()}..{predicted.max()}")
    return np.bincount(predicted.astype(np.int64).ravel(), minlength=num_classes)
