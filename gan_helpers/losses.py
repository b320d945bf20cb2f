"""The gradient penalty of WGAN-GP (Gulrajani et al., 2017), as a pure function.

Chapter 5 teaches it and has the student write it; this is the course's version, which the chapter
trains with until the student's passes its check (``gh.yours_or_reference``), and which the
benchmarks use. The critic's loss around it stays in the chapter's loop::

    epsilon = torch.rand(len(real), 1, 1, 1)                 # one mixing weight per sample
    penalty, grad_norms = gradient_penalty(critic, real, fake.detach(), epsilon, weight=10.0)
    loss_C = critic(fake).mean() - critic(real).mean() + penalty   # the penalty is *added*

For a linear critic D(x) = w.x + b the gradient is w at every point, so the penalty is
``weight * (||w|| - 1)**2`` and its gradient with respect to w is
``2 * weight * (||w|| - 1) * w / ||w||``: ``tests/test_losses.py`` checks both.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["gradient_penalty"]


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     epsilon: torch.Tensor, weight: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``weight * mean_i (||grad_x D(x_i)||_2 - 1)^2`` at the interpolates ``x_i = eps_i real_i +
    (1 - eps_i) fake_i``; returns ``(penalty, grad_norms)``.

    Args:
        critic: maps a batch (N, ...) to scores (N,) or (N, 1) (no sigmoid).
        real, fake: batches of the same shape (N, C, H, W) (any shape with the batch first); fake
            should be detached from G (the penalty trains the critic only).
        epsilon: mixing weights in [0, 1], one per sample, broadcastable to ``real`` (e.g. (N, 1, 1, 1)).
        weight: lambda, 10 in the paper.

    The gradient is taken with ``create_graph=True``, so the penalty is itself differentiable
    with respect to the critic's weights (without it, the penalty would be a constant that never
    trains the critic). Its norm is taken per sample, over every dimension but the batch.
    ``grad_norms`` (N,) is detached: what the chapter plots. Under fp16 autocast, pass
    ``amp.for_penalty(critic)`` (:class:`gan_helpers.precision.MixedPrecision`) as the critic.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    x = (epsilon * real + (1 - epsilon) * fake).detach().requires_grad_(True)
    scores = critic(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    grad_norms = grad.float().flatten(1).norm(2, dim=1)  # in fp32, also under autocast
    penalty = weight * (grad_norms - 1).pow(2).mean()
    return penalty, grad_norms.detach()
