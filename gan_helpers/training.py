"""Small pieces that every chapter's training loop uses. The loop itself lives in each notebook."""

from __future__ import annotations

import math
import sys
from typing import Iterable

import torch
from torch import nn
from tqdm import tqdm
from tqdm.auto import tqdm as tqdm_auto


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or infinite; the message names the step and what to do."""


def check_finite(step: int, epoch: int, checkpoint: str | None = None, **losses: float) -> None:
    """Stop training at the first NaN or infinite loss, naming the step.

    ``losses`` are plain floats (``loss.item()``). The last good checkpoint is not touched.
    """
    bad = {name: value for name, value in losses.items() if not math.isfinite(value)}
    if bad:
        kept = f"The last good checkpoint is kept at {checkpoint}. " if checkpoint else ""
        details = ", ".join(f"{name} = {value}" for name, value in bad.items())
        raise TrainingDiverged(
            f"training diverged at step {step} (epoch {epoch}): {details}. {kept}"
            "Try a lower learning rate, check the inputs are in [-1, 1], or change SEED."
        )


def progress(total: int, desc: str, interactive: bool = True, initial: int = 0) -> tqdm:
    """A progress bar over ``total`` steps.

    Interactive (Jupyter, Colab): a live widget bar. Otherwise (papermill, the book): a text bar
    on stdout that updates at most every 30 s, so executed notebooks stay short.
    """
    if interactive:
        return tqdm_auto(total=total, desc=desc, initial=initial, unit="step")
    return tqdm(total=total, desc=desc, initial=initial, unit="step", file=sys.stdout, mininterval=30, ascii=True, ncols=100)


@torch.no_grad()
def update_ema(ema_model: nn.Module, model: nn.Module, decay: float) -> None:
    """theta_ema <- decay * theta_ema + (1 - decay) * theta, for every parameter;
    buffers (batch-norm running statistics) are copied as they are."""
    if not 0 <= decay < 1:
        raise ValueError(f"decay must be in [0, 1), got {decay}")
    for p_ema, p in zip(ema_model.parameters(), model.parameters()):
        p_ema.lerp_(p, 1 - decay)
    for b_ema, b in zip(ema_model.buffers(), model.buffers()):
        b_ema.copy_(b)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def epoch_means(rows: Iterable[dict]) -> dict:
    """Average a list of per-step dicts of floats into one per-epoch dict."""
    rows = list(rows)
    return {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}
