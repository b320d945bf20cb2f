"""Figures shared by the chapters: image grids, progressions, loss curves, animations.

All functions take images as tensors in [-1, 1] of shape (N, C, H, W) or uint8 (N, H, W[, C])
and return the matplotlib Figure they drew (the notebook shows it; tests inspect it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid


def _as_float_nchw(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.dtype == torch.uint8:  # (N, H, W), (N, H, W, C) or (N, C, H, W) in [0, 255]
        images = images.float().div(127.5).sub(1)
        if images.ndim == 3:
            images = images.unsqueeze(1)
        elif images.ndim == 4 and images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):
            images = images.permute(0, 3, 1, 2)
    if images.ndim != 4:
        raise ValueError(f"expected a batch of images (N, C, H, W), got shape {tuple(images.shape)}")
    return images.detach().cpu().float().contiguous()


def grid_array(images: torch.Tensor | np.ndarray, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """A grid of images as a uint8 array (H, W, 3), ``nrow`` images per row."""
    grid = make_grid(_as_float_nchw(images), nrow=nrow, padding=padding, normalize=True, value_range=(-1, 1), pad_value=1)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def show_images(images: torch.Tensor | np.ndarray, nrow: int = 8, title: str | None = None, row_labels: Sequence[str] | None = None, size: float = 0.6) -> plt.Figure:
    """Show images in a grid, ``nrow`` per row; optional labels at the start of each row."""
    array = grid_array(images, nrow)
    n_rows = -(-len(images) // nrow)
    fig, ax = plt.subplots(figsize=(max(size * nrow, 3), max(size * n_rows, 1.2) + (0.4 if title else 0)))
    ax.imshow(array, interpolation="nearest")
    ax.set_xticks([])
    if row_labels is not None:
        step = array.shape[0] / n_rows
        ax.set_yticks([step * (i + 0.5) for i in range(n_rows)], list(row_labels)[:n_rows])
        ax.tick_params(length=0)
    else:
        ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def show_progression(snapshots: Mapping[int, torch.Tensor], n: int = 10, title: str = "The same noise z, epoch after epoch") -> plt.Figure:
    """One row per snapshot (epoch -> images from a fixed noise batch), the first ``n`` images each."""
    epochs = sorted(snapshots)
    images = torch.cat([_as_float_nchw(snapshots[e])[:n] for e in epochs])
    return show_images(images, nrow=n, title=title, row_labels=[f"epoch {e}" for e in epochs])


def save_animation(snapshots: Mapping[int, torch.Tensor], path: str | Path, nrow: int = 8, ms_per_frame: int = 400) -> Path:
    """Write the snapshots as an animated GIF (one frame per epoch; the last frame held longer)."""
    frames = [Image.fromarray(grid_array(snapshots[e], nrow)) for e in sorted(snapshots)]
    if not frames:
        raise ValueError("no snapshots to animate")
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 5]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path


def plot_losses(history: Sequence[Mapping[str, float]], x_key: str = "epoch") -> plt.Figure:
    """Two panels from per-epoch rows: loss_D and loss_G; mean D(x) and mean D(G(z))."""
    x = [row[x_key] for row in history]
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.2))
    ax_loss.plot(x, [r["loss_D"] for r in history], label="loss_D")
    ax_loss.plot(x, [r["loss_G"] for r in history], label="loss_G")
    ax_loss.axhline(2 * np.log(2), color="grey", ls=":", lw=1, label="loss_D at equilibrium (2 ln 2)")
    ax_loss.set(xlabel=x_key, ylabel="BCE loss", title="Losses")
    ax_loss.legend(fontsize=8)
    ax_score.plot(x, [r["D(x)"] for r in history], label="mean D(x)  (real)")
    ax_score.plot(x, [r["D(G(z))"] for r in history], label="mean D(G(z))  (fake)")
    ax_score.axhline(0.5, color="grey", ls=":", lw=1, label="0.5: D cannot tell")
    ax_score.set(xlabel=x_key, ylabel="D's output (probability 'real')", ylim=(0, 1), title="What D believes")
    ax_score.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gif_html(path: str | Path, width: int = 320) -> str:
    """An <img> tag with the GIF inlined (base64), which Jupyter, Colab and the book all show."""
    import base64

    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/gif;base64,{data}" width="{width}" alt="training progression animation">'
