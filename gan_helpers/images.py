"""A folder of JPEG/PNG images as one uint8 tensor in memory, decoded once and cached.

The colour chapters (DCGAN on CelebA and on anime faces, WGAN-GP on CIFAR-10) train on real
image folders. Decoding JPEGs every epoch would cost more than a small GAN's step, so a folder
is decoded once into a uint8 cache file ``(N, C, H, W)`` (:mod:`gan_helpers.image_cache`); later
epochs and later runs read it back in a fraction of a second and batch it with
:class:`gan_helpers.data.InMemoryLoader`::

    data = gh.load_dataset_images("celeba", DATA_ROOT, IMAGE_FOLDER, size=64, cache_dir=OUT_DIR)
    print(data.describe())
    loader = gh.InMemoryLoader(data.images, batch_size=128, seed=SEED)
    for (real,) in loader:
        real = gh.to_unit_range(real)           # uint8 -> float in [-1, 1]

Crop rule: the largest centred square times ``crop`` (a fraction of the shorter side), then
resized to ``size`` x ``size``. A fraction, not pixels, so a half-size copy of a dataset gives the
same region: CelebA's aligned faces are 178 x 218 and the DCGAN tutorial crops the centred
178 x 178 square (``crop=1.0``); the 89 x 109 copies give the centred 89 x 89 square, the same
faces. With ``crop=1.0`` images that are already square at the target size pass unchanged.

Layouts: flat (``folder/*.jpg``), nested at any depth, torchvision's ``ImageFolder``
(``folder/<class>/*.png``, labels kept, classes sorted by name) and split folders
(``folder/train/<class>/*.png``: ``split`` picks one), found by :mod:`gan_helpers.image_files`.
The standard datasets and where they live are in :mod:`gan_helpers.datasets`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data import to_unit_range
from .image_cache import CACHE_VERSION, cache_file, cache_places, find_cache, write_cache
from .image_files import Listing, list_images, source_note


def file_safe_name(text: str) -> str:
    """``text`` with every character other than ASCII letters, digits, '.', '_' and '-' replaced
    by '_' (``"my faces (2)"`` -> ``"my_faces__2_"``): a name that can start a file's name on any
    system. A name is safe exactly when ``file_safe_name(name) == name`` and it is not empty."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text)


@dataclass
class ImageData:
    """An image dataset in memory.

    images: (N, C, H, W), uint8 in [0, 255] or float32 in [-1, 1] (the ``dtype`` asked for);
    labels: int64 (N,) class indices into ``classes``, or None for a folder without classes;
    name: what the data is, safe in a file name (:func:`file_safe_name`): ``"celeba"``,
    ``"anime_faces"``, ``"cifar10"``, or for any other folder its own name (caches of the real
    images' statistics are named after it); source: where the images came from;
    decode_seconds: time spent decoding files in this call (0 when the cache answered);
    cache_path / cache_bytes: the uint8 cache file (None / 0 without one); skipped: files that
    could not be decoded and were left out, as "path: reason"; stands_in_for: the standard
    dataset these images replace (a chapter's IMAGE_FOLDER is set), else None.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str]
    name: str
    source: str
    folder: Path
    decode_seconds: float
    load_seconds: float
    cache_path: Path | None
    cache_bytes: int
    from_cache: bool
    skipped: list[str] = field(default_factory=list)
    stands_in_for: str | None = None

    def __len__(self) -> int:
        return len(self.images)

    def describe(self) -> str:
        """One paragraph: what was loaded, from where (and what it stands in for), and what
        decoding and the cache cost."""
        classes = f" in {len(self.classes)} classes" if self.labels is not None else ""
        text = f"{len(self):,} images of {tuple(self.images.shape[1:])}{classes} from {self.folder}\n  source: {self.source}"
        if self.stands_in_for is not None:
            text += f"\n  IMAGE_FOLDER is set: these images stand in for {self.stands_in_for}"
        if self.from_cache:
            text += f"\n  read from the cache in {self.load_seconds:.1f} s (nothing decoded)"
        else:
            rate = len(self) / self.decode_seconds if self.decode_seconds > 0 else float("inf")
            text += f"\n  decoded in {self.decode_seconds:.1f} s ({rate:,.0f} images/s)"
        if self.cache_path is not None:
            text += f"\n  cache: {self.cache_path} ({self.cache_bytes / 2**20:,.1f} MiB)"
        if self.skipped:
            text += f"\n  skipped {len(self.skipped)} unreadable file(s), e.g. {self.skipped[0]}"
        return text

    def subset(self, index: torch.Tensor, source: str | None = None) -> ImageData:
        """The images (and labels) at ``index`` (int64 (M,)), the rest of the record kept;
        ``source`` replaces the source (say how the subset was chosen)."""
        labels = None if self.labels is None else self.labels[index]
        return dataclasses.replace(self, images=self.images[index], labels=labels,
                                   source=self.source if source is None else source)


# --- the crop: pure functions --------------------------------------------------------------


def crop_box(width: int, height: int, crop: float = 1.0) -> tuple[float, float, float, float]:
    """The centred square (left, top, right, bottom) in pixels, side ``crop * min(width, height)``.

    Coordinates are floats: the box is the same fraction of the image at any scale
    (178 x 218 -> (0, 20, 178, 198); 89 x 109 -> (0, 10, 89, 99)).
    """
    if not 0 < crop <= 1:
        raise ValueError(f"crop must be a fraction of the shorter side in (0, 1], got {crop}")
    side = crop * min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


def fit_square(image, size: int, crop: float = 1.0):
    """A PIL image cropped by :func:`crop_box` and resized to ``size`` x ``size``.

    Resizing is bilinear with antialiasing (torchvision's ``Resize`` on PIL images). An image
    already ``size`` x ``size`` with ``crop=1.0`` is returned as it is.
    """
    from PIL import Image

    if image.size == (size, size) and crop == 1.0:
        return image
    return image.resize((size, size), Image.BILINEAR, box=crop_box(*image.size, crop))


def decode_image(path: str | Path, size: int, crop: float = 1.0, channels: int = 3) -> np.ndarray:
    """One image file -> uint8 array (size, size, channels), cropped and resized by :func:`fit_square`.

    JPEGs are decoded at a reduced scale (1/2, 1/4, 1/8, done by the JPEG decoder itself) when the
    cropped square stays at least ``size`` pixels wide: a 178 x 218 CelebA face for 64 x 64 is
    decoded at 89 x 109, much faster and the same region. Raises OSError/SyntaxError/ValueError
    for a file that is not a readable image (Pillow's errors).
    """
    from PIL import Image

    mode = {1: "L", 3: "RGB"}[channels]
    with Image.open(path) as image:
        if image.format == "JPEG":
            shorter = crop * min(image.size)
            scale = size / shorter
            image.draft(mode, (int(np.ceil(image.size[0] * scale)), int(np.ceil(image.size[1] * scale))))
        image = image.convert(mode)  # loads the pixels: a truncated or corrupt file raises here
        return np.asarray(fit_square(image, size, crop)).reshape(size, size, channels)


# --- decoding ------------------------------------------------------------------------------


def _decode_chunk(paths: list[str], size: int, crop: float, channels: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode a list of files; returns (uint8 array (len, channels, size, size), [(index, error)])."""
    from PIL import Image

    out = np.zeros((len(paths), channels, size, size), dtype=np.uint8)
    errors = []
    for i, path in enumerate(paths):
        try:
            out[i] = decode_image(path, size, crop, channels).transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:  # Pillow's "not an image"
            errors.append((i, f"{type(error).__name__}: {error}"))
    return out, errors


def _decode_all(names: list[str], size: int, crop: float, channels: int, workers: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """All files -> (N, channels, size, size) uint8 and the failures, in ``workers`` threads.

    Threads, not processes: Pillow releases the GIL while it decodes and resizes, and threads
    write straight into one array. Measured on 2 cores: 2 threads decode 1.4 to 1.6x faster than
    1 when the machine is otherwise idle (1.0 to 1.2x when other jobs share it); 2 worker
    processes were slower than 2 threads, since each result is copied back.
    """
    if workers <= 1:
        return _decode_chunk(names, size, crop, channels)
    out = np.empty((len(names), channels, size, size), dtype=np.uint8)
    chunk = min(256, max(8, len(names) // (4 * workers)))
    starts = range(0, len(names), chunk)
    errors = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        decoded = pool.map(lambda s: _decode_chunk(names[s : s + chunk], size, crop, channels), starts)
        for start, (pixels, failed) in zip(starts, decoded):
            out[start : start + len(pixels)] = pixels
            errors += [(start + i, reason) for i, reason in failed]
    return out, errors


def _decode_listing(listing: Listing, size: int, crop: float, channels: int, workers: int | None,
                    on_corrupt: str) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """(images (N, C, size, size) uint8, labels (N,) int64 or None, skipped files as "path: reason")."""
    if workers is None:
        workers = min(4, os.cpu_count() or 1) if len(listing.files) > 1000 else 0
    paths = [os.path.join(listing.root, relative) for relative, _, _ in listing.files]
    pixels, errors = _decode_all(paths, size, crop, channels, workers)
    skipped = [f"{paths[i]}: {reason}" for i, reason in errors]
    if errors and len(errors) == len(paths):  # skipping them would leave nothing to train on
        raise ValueError(
            f"none of the {len(paths)} image file(s) under {listing.root} could be decoded, "
            f"e.g. {skipped[0]}. They are not readable images (a download or unzip that stopped "
            f"early, or files named .jpg/.png that are something else): get the data again, or "
            f"set IMAGE_FOLDER in the parameters cell to a folder of readable JPEG or PNG images."
        )
    if errors and on_corrupt == "raise":
        raise ValueError(
            f"{len(errors)} of {len(paths)} image file(s) under {listing.root} could not be decoded, "
            f"e.g. {skipped[0]}. Delete or replace them, or load with on_corrupt='skip' (what the "
            f"chapters do) to leave them out with a warning."
        )
    labels = None if listing.labels is None else np.asarray(listing.labels, dtype=np.int64)
    if errors:  # leave the unreadable files out (a copy, so only when there are some)
        good = np.setdiff1d(np.arange(len(paths)), [i for i, _ in errors])
        pixels, labels = pixels[good], None if labels is None else labels[good]
    return pixels, labels, skipped


def load_image_folder(
    folder: str | Path,
    size: int,
    *,
    crop: float = 1.0,
    n: int | None = None,
    channels: int = 3,
    split: str | None = "train",
    labelled: bool | None = None,
    dtype: torch.dtype = torch.uint8,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    on_corrupt: str = "skip",
    source: str | None = None,
    name: str | None = None,
) -> ImageData:
    """Every image under ``folder``, cropped and resized to (channels, size, size), as one tensor.

    Arguments:
        size: the side of the square images returned, in pixels.
        crop: the side of the centred square kept, as a fraction of the shorter side (1.0: the
            largest square; see :func:`crop_box`).
        n: decode only n images (fewer if some are skipped): a fixed random subset, the same in
            every run, spread over all classes, and contained in the subset of any larger n; None: all.
        split: when ``folder``'s subfolders are all split names (train, test, val, ...), the one
            to read, e.g. ``folder/train/<class>/*.png``.
        labelled: None decides from the layout: images in two or more subfolders and none directly
            in ``folder`` (torchvision's ``ImageFolder``) are labelled by their first-level
            subfolder, classes sorted by name; anything else has no labels. True insists on the
            class layout, False gives no labels.
        dtype: ``torch.uint8`` (pixels in [0, 255], 4x smaller) or ``torch.float32`` (in [-1, 1]).
        cache: read/write the uint8 cache: in ``folder/.gan_cache/`` when the data folder is
            writable, else in ``cache_dir`` (notebooks pass OUT_DIR), else in the course's
            cache folder, ``gan_helpers.cache_dir("images")`` (see :mod:`gan_helpers.image_cache`).
        workers: decode in this many threads (None: one per CPU core, at most 4, for folders
            of more than 1,000 files; 0 or 1: in this thread).
        on_corrupt: "skip" leaves unreadable files out, warns with their number and lists them in
            ``skipped``; "raise" stops at the first one. A folder where nothing decodes always raises.
        source: what to print as the data's source (default: ``SOURCE.json``'s "source" in the
            folder if there is one, else the folder).
        name: the data's name (``ImageData.name``; default: the folder's own name made safe for
            a file name by :func:`file_safe_name`, e.g. ``"my_faces"``).

    Returns an :class:`ImageData`. Raises :class:`gan_helpers.DataNotFoundError` for a missing folder or one
    without images, ValueError for bad arguments.
    """
    start = time.perf_counter()
    if not (isinstance(size, int) and size > 0):
        raise ValueError(f"size must be a positive number of pixels, got {size!r}")
    crop_box(1, 1, crop)  # validates crop
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if n is not None and not (isinstance(n, int) and n > 0):
        raise ValueError(f"n must be a positive number of images or None (all), got {n!r}")
    if dtype not in (torch.uint8, torch.float32):
        raise ValueError(f"dtype must be torch.uint8 or torch.float32, got {dtype}")
    if on_corrupt not in ("skip", "raise"):
        raise ValueError(f"on_corrupt must be 'skip' or 'raise', got {on_corrupt!r}")
    if name is not None and not (name and file_safe_name(name) == name):
        raise ValueError(f"name {name!r} must be letters, digits, '.', '_' and '-' only: it names files")

    listing = list_images(folder, split=split, labelled=labelled)
    if n is not None and n < len(listing.files):
        keep = np.sort(np.random.default_rng(0).permutation(len(listing.files))[:n])
        listing.files = [listing.files[i] for i in keep]
        listing.labels = None if listing.labels is None else [listing.labels[i] for i in keep]
    settings = {"version": CACHE_VERSION, "size": size, "crop": crop, "n": n, "channels": channels, "labelled": listing.labels is not None}
    folder = Path(folder).expanduser()
    cache_name, key = cache_file(folder, listing.root, listing.files, listing.classes, settings)
    candidates = cache_places(listing.root, cache_dir)

    stored = find_cache(candidates, cache_name, key) if cache else None
    if stored is not None:
        cache_path, pixels, labels, meta = stored
        skipped, decode_seconds = meta["skipped"], 0.0
    else:
        decode_start = time.perf_counter()
        pixels, labels, skipped = _decode_listing(listing, size, crop, channels, workers, on_corrupt)
        decode_seconds = time.perf_counter() - decode_start
        cache_path = None
        if cache:
            meta = {"key": key, "folder": str(listing.root.resolve()), "classes": listing.classes,
                    "skipped": skipped, "decode_seconds": decode_seconds, **settings}
            cache_path = write_cache(candidates, cache_name, pixels, labels, meta)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image file(s) under {listing.root}, e.g. {skipped[0]}")

    images = torch.from_numpy(np.ascontiguousarray(pixels))
    if dtype == torch.float32:
        images = to_unit_range(images)
    if source is None:
        source = source_note(folder, listing.root) or f"image folder {folder.resolve()}"
    return ImageData(
        images=images,
        labels=None if labels is None else torch.from_numpy(np.asarray(labels, dtype=np.int64)),
        classes=list(listing.classes),
        name=file_safe_name(folder.resolve().name or "images") if name is None else name,
        source=source,
        folder=listing.root.resolve(),
        decode_seconds=decode_seconds,
        load_seconds=time.perf_counter() - start,
        cache_path=cache_path,
        cache_bytes=cache_path.stat().st_size if cache_path is not None else 0,
        from_cache=stored is not None,
        skipped=skipped,
    )


