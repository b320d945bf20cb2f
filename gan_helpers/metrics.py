"""Sample-quality metrics as pure functions of features and class probabilities.

The mathematics is kept apart from any network, so tests can check it against closed forms;
``classifier.py`` supplies the digit classifier whose features and probabilities feed it.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


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


def conditioned_accuracy(predicted: np.ndarray, requested: np.ndarray, num_classes: int = 10) -> tuple[float, np.ndarray]:
    """Share of samples generated for label k that a classifier reads as k: (overall, per class (K,))."""
    predicted, requested = np.asarray(predicted), np.asarray(requested)
    if predicted.shape != requested.shape:
        raise ValueError(f"predicted {predicted.shape} and requested {requested.shape} labels differ in shape")
    hits = predicted == requested
    per_class = np.array([hits[requested == k].mean() if (requested == k).any() else np.nan for k in range(num_classes)])
    return float(hits.mean()), per_class
