"""A small folder of structured coloured images for tests: a stand-in, never a dataset.

The image chapters (CelebA, anime faces) train on real photographs that CI and offline machines
do not have. Their smoke runs in the tests, and the smoke outputs stored for nbval, use this
folder instead, and say so: its ``SOURCE.json`` reads "test stand-in", which the chapter prints
as the data's source. Nothing here is meant to be learned well; it gives a GAN something with
structure (a shape on a background) so that shapes, ranges and first-epoch losses can be checked.

    python tools/standin.py /tmp/standin          # 160 images of 44 x 54 pixels
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

SOURCE = "test stand-in: coloured shapes drawn by tools/standin.py (not a real dataset)"


def standin_image(seed: int, width: int = 44, height: int = 54):
    """One PIL image: a vertical two-colour gradient with an ellipse, a square or a triangle of
    a random colour near the centre (the faces' layout, roughly: a blob in the middle)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, height)[:, None, None]
    background = (top * (1 - ramp) + bottom * ramp).repeat(width, axis=1).astype(np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    r = int(rng.integers(width // 5, width // 3))
    cx = width // 2 + int(rng.integers(-3, 4))
    cy = height // 2 + int(rng.integers(-3, 4))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    kind = seed % 3
    if kind == 0:
        draw.ellipse((cx - r, cy - r, cx + r, cy + int(1.3 * r)), fill=colour)
    elif kind == 1:
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return image


def write_standin_folder(folder: str | Path, count: int = 160, width: int = 44, height: int = 54) -> Path:
    """Write ``count`` stand-in JPEGs and a ``SOURCE.json`` saying what they are; returns the folder.

    Deterministic: the same arguments give the same files (a cache keyed by the folder's
    listing is then reused only while the files are unchanged).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"shape_{i:04d}.jpg"
        if not path.exists():
            standin_image(i, width, height).save(path, quality=95)
    (folder / "SOURCE.json").write_text(json.dumps({"source": SOURCE}) + "\n")
    return folder


KINDS = ("ellipse", "square", "triangle")  # standin_image's shape for seed % 3


def write_standin_classes(folder: str | Path, count: int = 192, width: int = 44, height: int = 54) -> Path:
    """Like :func:`write_standin_folder`, in the ImageFolder layout: one subfolder per shape
    (``ellipse/``, ``square/``, ``triangle/``), so that a chapter that keeps class labels
    (CIFAR-10, chapter 5) has classes to read. Deterministic, with the same ``SOURCE.json``."""
    folder = Path(folder)
    for i in range(count):
        path = folder / KINDS[i % 3] / f"shape_{i:04d}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            standin_image(i, width, height).save(path, quality=95)
    (folder / "SOURCE.json").write_text(json.dumps({"source": SOURCE}) + "\n")
    return folder


def standin_folders(root: str | Path) -> dict[str, Path]:
    """The stand-in folder for each image dataset, under ``root``: the shapes for the faces,
    the shapes in class subfolders for CIFAR-10 (what ``tools/book.py execute`` takes)."""
    shapes = write_standin_folder(Path(root) / "shapes")
    return {"celeba": shapes, "anime_faces": shapes, "cifar10": write_standin_classes(Path(root) / "classes")}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python tools/standin.py FOLDER")
    print(write_standin_folder(sys.argv[1]))
