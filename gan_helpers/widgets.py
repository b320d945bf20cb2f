"""Interactive latent-space explorers (ipywidgets), with a static picture for the book.

In JupyterLab or Colab (``interactive=True``) the reader drags a slider between two noise
vectors (and picks a class, for conditional models) and the generated image follows. In the
published book no kernel runs, so the same call returns a precomputed strip instead of a widget
that could not move.

``generation_panel`` is the other control the chapters share: samples from a seed, with the
truncation of z and a latent walk (a picture of the same in the book).
"""

from __future__ import annotations

import io
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import torch
from PIL import Image

from .latent import interpolate, lerp, slerp
from .plotting import grid_array, show_images

# generate(z (n, latent_dim), label or None) -> images (n, C, H, W) in [-1, 1]
Generate = Callable[[torch.Tensor, "int | None"], torch.Tensor]


def _png(images: torch.Tensor, nrow: int, scale: int = 4) -> tuple[bytes, int]:
    """A grid of ``images`` (N, C, H, W) in [-1, 1] as PNG bytes, and its width in pixels."""
    array = grid_array(images, nrow=nrow)
    image = Image.fromarray(array).resize((array.shape[1] * scale, array.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), image.width


def _show(picture, png: tuple[bytes, int]) -> None:
    """Put PNG bytes in an Image widget at their own width (a VBox would stretch it to the page).

    Only the API that ipywidgets 7.7+ (Colab's) and 8.x share: ``value`` as bytes, ``layout.width``.
    """
    value, width = png
    picture.layout.width = f"{width}px"
    picture.value = value


def latent_explorer(
    generate: Generate,
    z0: torch.Tensor,
    z1: torch.Tensor,
    mode: str = "spherical",
    labels: Sequence[str] | None = None,
    n_steps: int = 10,
    interactive: bool = True,
) -> "plt.Figure | object":
    """A slider from z0 (t=0) to z1 (t=1); with ``labels``, a class picker too.

    Returns an ipywidgets box (interactive) or a matplotlib Figure of the whole walk, one row
    per label (static). Either displays as the last expression of a cell.
    """
    with torch.no_grad():
        path = interpolate(z0, z1, n_steps, mode)
        if not interactive:
            rows = range(len(labels)) if labels else [None]
            images = torch.cat([generate(path, row) for row in rows])
            title = f"{mode} interpolation from z0 (left) to z1 (right)"
            figure = show_images(images, nrow=n_steps, row_labels=list(labels) if labels else None, title=title)
            plt.close(figure)  # shown once, as the cell's value, not again by the inline backend
            return figure

    import ipywidgets as widgets  # 7.7 or newer (Colab ships 7.x): only core widgets, same API in 7 and 8

    slider = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=1 / (4 * (n_steps - 1)), description="z0 → z1", continuous_update=True)
    picker = widgets.Dropdown(options=[(name, i) for i, name in enumerate(labels)], value=0, description="class") if labels else None
    picture = widgets.Image(format="png")
    strip = widgets.Image(format="png")

    blend = slerp if mode == "spherical" else lerp

    def redraw_point(*_):
        label = picker.value if picker is not None else None
        with torch.no_grad():
            point = blend(z0, z1, slider.value).view(1, -1)
            _show(picture, _png(generate(point, label), nrow=1, scale=8))

    def redraw_all(*_):
        label = picker.value if picker is not None else None
        with torch.no_grad():
            _show(strip, _png(generate(path, label), nrow=n_steps, scale=2))
        redraw_point()

    slider.observe(redraw_point, names="value")
    if picker is not None:
        picker.observe(redraw_all, names="value")
    redraw_all()
    controls = [slider] + ([picker] if picker is not None else [])
    return widgets.VBox([widgets.HBox(controls), picture, strip])


def truncate_z(z: torch.Tensor, threshold: float | None) -> torch.Tensor:
    """The truncation trick by clipping: each coordinate of z limited to [-threshold, threshold].

    Returns a new tensor (z itself is left alone); ``threshold=None`` returns z unchanged. Smaller
    thresholds keep G near the middle of its noise distribution, where it has seen the most z:
    typical, cleaner images, less variety (Brock et al., 2019, resample instead of clipping).
    """
    if threshold is None:
        return z
    if threshold <= 0:
        raise ValueError(f"truncation threshold must be positive (or None for none), got {threshold}")
    return z.clamp(-threshold, threshold)


def generation_panel(
    generate: Callable[[torch.Tensor], torch.Tensor],
    latent_dim: int,
    seed: int = 0,
    n_images: int = 16,
    truncation: float | None = None,
    n_steps: int = 8,
    nrow: int = 8,
    interactive: bool = True,
    truncate: Callable[[torch.Tensor, "float | None"], torch.Tensor] = truncate_z,
) -> "plt.Figure | object":
    """Samples to play with: seed, number of images, truncation of z, and a latent walk.

    ``generate(z (n, latent_dim)) -> images (n, C, H, W) in [-1, 1]``. The images come from
    z ~ N(0, I) drawn with ``seed`` (the same seed gives the same faces), passed through
    ``truncate(z, truncation)`` (None: no truncation); the walk goes along the great circle
    from the first image's z to the second's, ``n_steps`` images, truncated the same way.

    Returns an ipywidgets box (interactive: a seed box, sliders for the number of images and the
    truncation, a checkbox to switch it off) or, for the book, a matplotlib Figure of the same:
    the samples at ``truncation``, and the walk.
    """
    if not 2 <= n_images <= 64:
        raise ValueError(f"n_images must be between 2 and 64 (the walk needs two), got {n_images}")

    def draw(seed: int, n: int, threshold: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(int(seed)))
        with torch.no_grad():
            walk = interpolate(z[0], z[1], n_steps, "spherical")
            return generate(truncate(z, threshold)), generate(truncate(walk, threshold))

    if not interactive:
        images, walk = draw(seed, n_images, truncation)
        rows = -(-n_images // nrow)
        label = "no truncation" if truncation is None else f"|z_i| clipped at {truncation:g}"
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(0.75 * max(nrow, n_steps), 0.75 * rows + 1.6),
                                             gridspec_kw={"height_ratios": [rows, 1]})
        for ax, batch, columns, title in ((top, images, nrow, f"seed {seed}, {label}"),
                                          (bottom, walk, n_steps, "latent walk: image 1 to image 2 (spherical)")):
            ax.imshow(grid_array(batch, nrow=columns), interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        figure.tight_layout()
        plt.close(figure)  # shown once, as the cell's value
        return figure

    import ipywidgets as widgets  # core widgets only: the same API in 7.7+ (Colab) and 8

    seed_box = widgets.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed")
    count = widgets.IntSlider(value=n_images, min=2, max=64, description="images")
    clip = widgets.FloatSlider(value=truncation or 2.0, min=0.1, max=4.0, step=0.1, description="|z_i| ≤",
                               continuous_update=False)
    use_clip = widgets.Checkbox(value=truncation is not None, description="truncate z")
    picture, walk_picture = widgets.Image(format="png"), widgets.Image(format="png")

    def redraw(*_):
        images, walk = draw(seed_box.value, count.value, clip.value if use_clip.value else None)
        _show(picture, _png(images, nrow=nrow, scale=2))
        _show(walk_picture, _png(walk, nrow=n_steps, scale=2))

    for control in (seed_box, count, clip, use_clip):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([seed_box, count]), widgets.HBox([use_clip, clip]), picture,
                         widgets.Label("latent walk from image 1 to image 2"), walk_picture])
