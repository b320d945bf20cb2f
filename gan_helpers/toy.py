"""The 2-D toy of Gulrajani et al. (2017, Fig. 1): two Gaussian mixtures and their measures.

Chapter 5 trains its GANs, critics and loops in the notebook; this module holds only what the
toy reuses: the data, the mode statistics, the exact empirical W1 and the critic's surface::

    data = toy.toy_dataset("8gaussians")              # or "25gaussians"
    gen = torch.Generator(device).manual_seed(0)
    real = data.sample(256, gen)                       # (256, 2) float32 on gen's device
    toy.mode_statistics(G(z), data)                    # {"modes_covered": 8, "n_modes": 8, ...}
    toy.empirical_w1(real_512, fake_512)               # exact W1 of two point sets, a float
    X, Y, values = toy.critic_surface(critic)          # (128, 128) each, for plt.contourf
    arrows = toy.critic_gradient(critic, fake)         # (N, 2): grad_x D(x), what G receives

The mixtures are those of the paper's ``gan_toy.py`` (igul222/improved_wgan_training):

- ``8gaussians``: 8 modes on a ring of radius 2 with std 0.02, the whole set divided by 1.414;
- ``25gaussians``: a 5 x 5 grid with spacing 2 (centres -4, -2, 0, 2, 4) and std 0.05, divided
  by 2.828.

Those divisions make each coordinate's standard deviation about 1. Here they are exactly sqrt(2)
and 2 sqrt(2), so the ring has radius sqrt(2) = 1.414 and std 0.02 / sqrt(2) = 0.0141, and the
grid has spacing 1 / sqrt(2) = 0.707 (centres in [-1.414, 1.414]) and std 0.05 / (2 sqrt(2)) =
0.0177. Both lie within [-1.5, 1.5]^2, inside the paper's plotting box [-3, 3]^2. Each coordinate
has mean 0 and standard deviation exactly sqrt(1 + std^2) (the centres' spread is 1). One
difference: the paper's grid visits every mode equally often, and here every sample picks its
mode at random (equal weights), as the paper's ring does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

__all__ = ["GaussianMixture", "TOY_DATASETS", "toy_dataset", "mode_statistics", "empirical_w1",
           "critic_surface", "critic_gradient"]

TOY_DATASETS = ("8gaussians", "25gaussians")  # the names of the two 2-D mixtures, for toy_dataset


@dataclass(frozen=True)
class GaussianMixture:
    """Equal-weight mixture of isotropic 2-D Gaussians.

    Attributes:
        name: ``"8gaussians"`` or ``"25gaussians"``.
        centres: the K mode centres, float32 (K, 2), on the CPU.
        std: the standard deviation of every mode, per coordinate (> 0).
    """

    name: str
    centres: torch.Tensor
    std: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points (n, 2), float32, on ``generator``'s device (the CPU without one).

        Each point picks a mode uniformly at random and adds N(0, std^2 I). The same seed on
        the same device gives the same points.
        """
        if n < 0:
            raise ValueError(f"n={n}: expected a number of points >= 0")
        device = generator.device if generator is not None else torch.device("cpu")
        modes = torch.randint(len(self.centres), (n,), generator=generator, device=device)
        noise = torch.randn(n, 2, generator=generator, device=device)
        return self.centres.to(device)[modes] + self.std * noise


def toy_dataset(name: str) -> GaussianMixture:
    """The mixture ``name`` (one of ``TOY_DATASETS``) as the paper's toy script scales it."""
    if name == "8gaussians":
        angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
        centres = torch.stack([angles.cos(), angles.sin()], dim=1) * 2 / math.sqrt(2)
        return GaussianMixture(name, centres.float(), 0.02 / math.sqrt(2))
    if name == "25gaussians":
        ticks = torch.arange(-2, 3, dtype=torch.float64) * 2 / (2 * math.sqrt(2))
        centres = torch.cartesian_prod(ticks, ticks)
        return GaussianMixture(name, centres.float(), 0.05 / (2 * math.sqrt(2)))
    raise ValueError(f"unknown toy dataset {name!r}: expected one of {TOY_DATASETS}")


def _as_points(points: torch.Tensor | np.ndarray, what: str) -> np.ndarray:
    """Points as a float64 array (N, d), N >= 1, or a ValueError naming ``what``."""
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(f"{what} must be points (N >= 1, d), got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError(f"{what} holds NaN or inf: the run that made them diverged")
    return points


def mode_statistics(samples: torch.Tensor | np.ndarray, data: GaussianMixture, n_std: float = 3.0,
                    min_count: int = 1) -> dict[str, int | float]:
    """Modes covered and share of high-quality samples (Srivastava et al., 2017, VEEGAN, 5.1).

    VEEGAN's rule: a sample is *high quality* when it lies within ``n_std`` (3) standard
    deviations of its nearest mode centre; the number of *modes captured* is the number of
    mixture components whose centre is nearest to at least one high-quality sample (VEEGAN
    draws 2,500 samples). ``min_count`` raises that "at least one" (VEEGAN: 1) for a stricter
    count; the distance is Euclidean in 2-D.

    Args:
        samples: generated points (N, 2), N >= 1, tensor (any device) or array.
        data: the mixture they imitate (its centres (K, 2) and std).

    Returns:
        ``{"modes_covered": int in [0, K], "n_modes": K, "high_quality": float in [0, 1]}``,
        the record chapter 5 writes to metrics.json for each GAN and dataset.
    """
    if min_count < 1:
        raise ValueError(f"min_count={min_count}: expected at least 1 sample per covered mode")
    points, centres = _as_points(samples, "samples"), data.centres.double().numpy()
    if points.shape[1] != centres.shape[1]:
        raise ValueError(f"samples have {points.shape[1]} coordinates, {data.name}'s modes have {centres.shape[1]}")
    distances = cdist(points, centres)                                   # (N, K)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(points)), nearest] <= n_std * data.std
    counts = np.bincount(nearest[good], minlength=len(centres))
    return {"modes_covered": int((counts >= min_count).sum()), "n_modes": len(centres),
            "high_quality": float(good.mean())}


def empirical_w1(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Exact Wasserstein-1 distance between two equal-size point sets, each point weight 1/N.

    With equal weights an optimal transport plan is a one-to-one matching (Birkhoff), so W1 is
    the smallest mean Euclidean distance over the matchings of ``a`` (N, d) to ``b`` (N, d): an
    assignment problem, solved exactly by ``scipy.optimize.linear_sum_assignment`` on the
    (N, N) distance matrix (about 0.02 s for N = 512). Returns a float >= 0, 0 iff the sets are
    equal as multisets. This is the number a WGAN critic's ``mean D(real) - mean D(fake)``
    estimates (from below, if the critic is 1-Lipschitz).
    """
    a, b = _as_points(a, "a"), _as_points(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a {a.shape} and b {b.shape} must have the same shape (N, d): draw as many "
                         "points of each (the assignment pairs them one to one)")
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def _critic_device(critic: Callable[[torch.Tensor], torch.Tensor], device: torch.device | str | None) -> torch.device:
    """``device`` if given, else the critic's first parameter's device, else the CPU."""
    if device is not None:
        return torch.device(device)
    if isinstance(critic, torch.nn.Module):
        parameter = next(critic.parameters(), None)
        if parameter is not None:
            return parameter.device
    return torch.device("cpu")


@torch.no_grad()
def critic_surface(critic: Callable[[torch.Tensor], torch.Tensor], box: float = 3.0, n: int = 128,
                   device: torch.device | str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The critic's values on an n x n grid over [-box, box]^2, for a contour plot.

    Args:
        critic: maps points (M, 2) to scores (M,) or (M, 1) (a D's logit, or a WGAN critic).
        box: half-width of the square (the paper's plots: 3).
        n: grid points per side (the paper's: 128).
        device: where to evaluate (default: the critic's parameters' device).

    Returns:
        ``(X, Y, values)``, float64 arrays (n, n) with ``X[i, j]`` the j-th x and ``Y[i, j]`` the
        i-th y (``np.meshgrid``'s "xy" layout), so ``plt.contourf(X, Y, values)`` draws it.
    """
    if box <= 0 or n < 2:
        raise ValueError(f"box={box}, n={n}: expected box > 0 and at least 2 points per side")
    ticks = np.linspace(-box, box, n)
    X, Y = np.meshgrid(ticks, ticks)
    points = torch.tensor(np.stack([X.ravel(), Y.ravel()], axis=1), dtype=torch.float32,
                          device=_critic_device(critic, device))
    values = critic(points).reshape(-1)
    if values.numel() != n * n:
        raise ValueError(f"critic returned {values.numel()} scores for {n * n} points: expected one per point")
    return X, Y, values.double().cpu().numpy().reshape(n, n)


def critic_gradient(critic: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor) -> torch.Tensor:
    """grad_x D(x) at each of ``points`` (N, 2): (N, 2), detached, on the points' device.

    Each point's row is the gradient of its own score (the scores are summed, and no score
    depends on another point). Moving G's output along it raises D, which is what the WGAN
    generator's loss ``-mean D(G(z))`` asks; for the non-saturating GAN pass
    ``lambda x: F.logsigmoid(D(x))`` to get the direction its loss ``-log sigmoid(D)`` gives.
    """
    if points.ndim != 2:
        raise ValueError(f"points must be (N, d), got shape {tuple(points.shape)}")
    x = points.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return grad.detach()
