"""Nearest neighbours of generated images among training images: the memorisation check.

A generator that copied its training set would draw images whose nearest training image is
(almost) the same picture. The check finds, for a few samples, their nearest training images
in two spaces and shows them side by side:

    distances, indices = nearest_neighbours(flatten_pixels(samples), flatten_pixels(data.images), k=3)
    # samples: float (N, C, H, W) in [-1, 1]; data.images: uint8 (M, C, H, W); both become [-1, 1]
    distances, indices = nearest_neighbours(sample_features, real_features, k=3)  # any (N, d) features

Pixel space finds copies and near-copies (the same drawing, slightly shifted colours); a feature
space (Inception pool3, say) finds images that look alike to a network even when their pixels
differ. The search is exact, in chunks of the reference set, so tens of thousands of 64x64
images fit in memory.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["flatten_pixels", "nearest_neighbours"]


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
    Euclidean distance.

    Returns ``(distances, indices)``, both (N, k), nearest first: float64 distances (>= 0) and
    int64 row indices into ``references``; equal distances keep the lower index first. Exact:
    the references are compared ``chunk`` rows at a time (in float64), so M may be large; any
    dtype is converted chunk by chunk (pass uint8 images through :func:`flatten_pixels` first).
    """
    queries, references = torch.as_tensor(queries), torch.as_tensor(references)
    if queries.ndim != 2 or references.ndim != 2 or queries.shape[1] != references.shape[1]:
        raise ValueError(f"expected queries (N, d) and references (M, d) with the same d, "
                         f"got {tuple(queries.shape)} and {tuple(references.shape)}")
    if not 1 <= k <= len(references):
        raise ValueError(f"k={k}: expected 1 <= k <= {len(references)} (the number of references)")
    q = queries.detach().cpu().double()
    q_norms = q.pow(2).sum(1, keepdim=True)
    best_d2 = torch.full((len(q), 0), float("inf"), dtype=torch.float64)
    best_idx = torch.zeros((len(q), 0), dtype=torch.int64)
    for start in range(0, len(references), chunk):
        r = references[start:start + chunk].detach().cpu().double()
        # |q - r|^2 = |q|^2 - 2 q.r + |r|^2, clamped: round-off can make an exact match slightly negative
        d2 = (q_norms - 2 * q @ r.T + r.pow(2).sum(1)).clamp_min_(0)
        idx = torch.arange(start, start + len(r)).expand(len(q), -1)
        d2, idx = torch.cat([best_d2, d2], 1), torch.cat([best_idx, idx], 1)
        # a stable sort keeps the lower index first among equal distances (earlier chunks come first)
        order = torch.sort(d2, dim=1, stable=True).indices[:, :k]
        best_d2, best_idx = d2.gather(1, order), idx.gather(1, order)
    return best_d2.sqrt(), best_idx
