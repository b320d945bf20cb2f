"""Interactive latent-space explorers (ipywidgets), with a static picture for the book.

In JupyterLab or Colab (``interactive=True``) the reader drags a slider between two noise
vectors (and picks a class, for conditional models) and the generated image follows. In the
published book no kernel runs, so the same call returns a precomputed strip instead of a widget
that could not move.
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
