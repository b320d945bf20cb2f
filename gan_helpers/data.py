"""Images in memory on their way to and from the models: pixel ranges, augmentation, batches,
and saving samples. The datasets themselves are loaded by :mod:`gan_helpers.datasets`.

Images reach the models scaled to [-1, 1] (the range of the generator's tanh output) and are
stored as uint8 in [0, 255].
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch


def to_unit_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] -> float32 in [-1, 1]."""
    return images_uint8.float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float images in [-1, 1] (values outside are clipped) -> uint8 in [0, 255]."""
    return images.detach().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)


def random_affine(x: torch.Tensor, generator: torch.Generator, degrees: float = 10.0, shift_px: float = 2.0, scale: float = 0.1) -> torch.Tensor:
    """Small random rotations (+-degrees), shifts (+-shift_px pixels) and scalings (+-scale) of
    images (N, C, H, W) in [-1, 1]; the background stays -1. Used to augment real digits."""
    n, _, height, _ = x.shape
    angle = (torch.rand(n, generator=generator) - 0.5) * 2 * torch.pi * degrees / 180
    zoom = 1 + (torch.rand(n, generator=generator) - 0.5) * 2 * scale
    shift = (torch.rand(n, 2, generator=generator) - 0.5) * 2 * shift_px * 2 / height  # pixels -> [-1, 1] units
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(x)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


def check_enough_images(n_images: int, batch_size: int, batches_per_step: int = 1, *,
                        batch_size_setting: str = "BATCH_SIZE in the parameters cell") -> None:
    """Stop at the data cell when one pass over ``n_images`` cannot make one training step.

    The loaders drop the last incomplete batch, so a pass makes ``n_images // batch_size``
    batches; a step takes ``batches_per_step`` of them (chapter 5: N_CRITIC critic batches per
    G step). With fewer than ``batch_size * batches_per_step`` images the training loop would
    run no step at all and fail later with a message about the loop, not the data.

    ``batch_size_setting``: where the chapter's student changes the batch size (its first word
    names it), e.g. "batch_size in PROFILES" for a chapter without a BATCH_SIZE parameter.
    Raises ValueError with the numbers and every setting that fixes it.
    """
    for name, value in (("batch_size", batch_size), ("batches_per_step", batches_per_step)):
        if not (isinstance(value, int) and value > 0):
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    needed = batch_size * batches_per_step
    if n_images >= needed:
        return
    batch = f"{batch_size} images ({batch_size_setting.split()[0]})"
    fixes = ["more images (a folder with more of them in IMAGE_FOLDER)",
             f"a smaller {batch_size_setting}"]
    if batches_per_step == 1:
        step = f"one step takes a batch of {batch}"
    else:
        step = f"one G step takes {batches_per_step} critic batches (N_CRITIC) of {batch}"
        fixes.append("fewer critic steps per G step (a smaller N_CRITIC in the parameters cell)")
    raise ValueError(
        f"{n_images:,} image(s) are too few to train on: {step}, so at least {needed:,} are "
        f"needed. Any of these fixes it: {'; '.join(fixes)}. Then run the cells again."
    )


class InMemoryLoader:
    """Shuffled mini-batches of tensors already in memory, reproducible from a seed.

    Unlike a DataLoader over a TensorDataset, it slices whole batches at once, so it adds
    almost nothing to a small model's step time. Its shuffling generator is part of the
    checkpoint (``state_dict``), so a resumed run sees the same batches.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if len(tensors[0]) < batch_size:
            raise ValueError(f"batch_size={batch_size} is larger than the dataset ({len(tensors[0])} items)")
        self.tensors = tensors
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        """Full batches per epoch (the last, incomplete one is dropped)."""
        return len(self.tensors[0]) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        # drawn on the CPU (the generator's state is part of the checkpoint), then moved once
        # per epoch to where the data is: indexing GPU tensors with a CPU index would copy the
        # index to the GPU, and wait for it, at every batch
        order = torch.randperm(len(self.tensors[0]), generator=self.generator).to(self.tensors[0].device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield tuple(t[idx] for t in self.tensors)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].to("cpu", torch.uint8))  # a CPU generator


def save_samples(out_dir: str | Path, images: torch.Tensor, labels: torch.Tensor | None = None) -> Path:
    """Write generated samples to ``out_dir/samples.npz`` for any outside tool to evaluate.

    images: (N, C, H, W) floats in [-1, 1]; stored as uint8 ``images`` of shape (N, H, W) for one
    channel or (N, H, W, C) for colour, plus ``labels`` (N,) int64 for conditional chapters.
    """
    import numpy as np

    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    pixels = to_uint8(images).cpu()
    pixels = pixels[:, 0] if pixels.shape[1] == 1 else pixels.permute(0, 2, 3, 1)
    arrays = {"images": pixels.numpy()}
    if labels is not None:
        if len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        arrays["labels"] = labels.cpu().long().numpy()
    path = Path(out_dir) / "samples.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path
