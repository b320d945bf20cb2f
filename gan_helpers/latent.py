"""Walks through the latent space: linear and spherical interpolation between noise vectors."""

from __future__ import annotations

import torch

MODES = ("linear", "spherical")


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """(1 - t) z0 + t z1."""
    return torch.lerp(z0, z1, torch.as_tensor(t, dtype=z0.dtype))


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation along the great circle from z0 to z1 (last dimension).

    sin((1-t) w)/sin(w) z0 + sin(t w)/sin(w) z1, with w the angle between them. Gaussian noise
    lives near a sphere of radius sqrt(latent_dim); slerp stays near it, while lerp passes
    through the low-norm middle that G rarely saw in training (White, 2016).
    """
    t = torch.as_tensor(t, dtype=z0.dtype)
    norms = z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True)
    if (norms < 1e-12).any():  # a zero vector has no direction: the straight line is all there is
        return lerp(z0, z1, t)
    cos = (z0 * z1).sum(-1, keepdim=True) / norms
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    sin = torch.sin(omega)
    if (sin.abs() < 1e-6).any():  # (anti)parallel vectors: no unique great circle, fall back
        return lerp(z0, z1, t)
    return (torch.sin((1 - t) * omega) / sin) * z0 + (torch.sin(t * omega) / sin) * z1


def interpolate(z0: torch.Tensor, z1: torch.Tensor, n_steps: int, mode: str = "spherical") -> torch.Tensor:
    """``n_steps`` points from z0 to z1 (both ends included): shape (n_steps, latent_dim)."""
    if mode not in MODES:
        raise ValueError(f"INTERPOLATION={mode!r} is not a mode; allowed: {', '.join(MODES)}")
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2 (both ends), got {n_steps}")
    blend = lerp if mode == "linear" else slerp
    return torch.stack([blend(z0, z1, float(t)) for t in torch.linspace(0, 1, n_steps)])
