"""The course's answers to the exercises whose result a chapter trains with, as a fallback.

A chapter lets the student's piece drive its training once the exercise is done
(``gh.yours_or_reference(yours, gh.reference.X, probe..., exercise="1 · ...")``); until then it
trains with the version here and says so. Nothing here is taught: each piece is explained and
written in its chapter, and the exercise's check forbids calling it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def generator_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Chapter 1: G's loss from D's logits for fakes (N,): ``"non-saturating"`` -mean log D(G(z)),
    ``"saturating"`` mean log(1 - D(G(z))) (the minimax game's)."""
    if kind == "non-saturating":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind == "saturating":
        return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    raise ValueError(f"G_LOSS={kind!r}; allowed: 'non-saturating', 'saturating'")


class LabelConcat(nn.Module):
    """Chapter 2: (z (N, latent_dim), y (N,)) -> (N, latent_dim + embed_dim): [z, embedding(y)]."""

    def __init__(self, num_classes: int, embed_dim: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, self.embed(y)], dim=1)
