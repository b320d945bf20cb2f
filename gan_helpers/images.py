"""Folders of JPEG/PNG images as one uint8 tensor in memory, decoded once and cached.

The colour chapters (DCGAN on CelebA and on anime faces, WGAN-GP on CIFAR-10) train on real
image folders. Decoding JPEGs every epoch would cost more than a small GAN's step, so a folder
is decoded once into a uint8 cache file ``(N, C, H, W)``; later epochs and later runs read it
back in a fraction of a second and batch it with :class:`gan_helpers.data.InMemoryLoader`::

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
(``folder/train/<class>/*.png``: ``split`` picks one).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib.util
import json
import os
import socket
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data import DataNotFoundError, to_unit_range

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLIT_NAMES = ("train", "test", "val", "valid", "validation")
CACHE_FOLDER = ".gan_cache"  # inside the data folder; hidden, so the image scan skips it
_CACHE_VERSION = 1  # bump when decoding changes, so that old caches are not reused

# The standard datasets: where each lives under DATA_ROOT and every way to get it. The way that
# starts with DOWNLOAD_WAY is torchvision's download (DOWNLOAD = True; CelebA's needs gdown).
DOWNLOAD_WAY = "torchvision"
DATASETS = {
    "celeba": {
        "title": "CelebA aligned faces (Liu et al., 2015; non-commercial research use only)",
        "folder": "celeba/img_align_celeba",
        "size": 64,
        "get": [
            "torchvision (when its Google Drive source answers): DOWNLOAD = True in the parameters cell, or\n"
            "      python -c \"import torchvision; torchvision.datasets.CelebA('{root}', split='all', download=True)\"",
            "Kaggle CLI: kaggle datasets download -d jessicali9530/celeba-dataset -p {root}\n"
            "      then unzip {root}/celeba-dataset.zip -d {folder} (and unzip any img_align_celeba.zip inside it there)",
            "from the authors' page https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html: download img_align_celeba.zip\n"
            "      and unzip img_align_celeba.zip -d {root}/celeba",
            "any folder of face images: IMAGE_FOLDER = '/path/to/images' in the parameters cell",
        ],
    },
    "anime_faces": {
        "title": "Anime Face Dataset (Kaggle, splcher; scraped from getchu.com, images keep their owners' rights)",
        "folder": "anime_faces",
        "size": 64,
        "get": [
            "Kaggle CLI (needs a Kaggle account and ~/.kaggle/kaggle.json):\n"
            "      kaggle datasets download -d splcher/animefacedataset -p {root}\n"
            "      then unzip {root}/animefacedataset.zip -d {folder}",
            "from https://www.kaggle.com/datasets/splcher/animefacedataset in a browser, then\n"
            "      unzip archive.zip -d {folder}",
            "any folder of face images: IMAGE_FOLDER = '/path/to/images' in the parameters cell",
        ],
    },
    "cifar10": {
        "title": "CIFAR-10 (Krizhevsky, 2009)",
        "folder": "cifar10",  # an image folder; torchvision's files live in cifar-10-batches-py
        "size": 32,
        "get": [
            "torchvision (checks the archive's MD5): DOWNLOAD = True in the parameters cell, or\n"
            "      python -c \"import torchvision; torchvision.datasets.CIFAR10('{root}', download=True)\"",
            "the archive from https://www.cs.toronto.edu/~kriz/cifar.html: tar -xzf cifar-10-python.tar.gz -C {root}",
            "an image folder with one subfolder per class (train/<class>/*.png, test/<class>/*.png):\n"
            "      unzip it into {folder}, or IMAGE_FOLDER = '/path/to/folder' in the parameters cell",
        ],
    },
}


@dataclass
class ImageData:
    """An image dataset in memory.

    images: (N, C, H, W), uint8 in [0, 255] or float32 in [-1, 1] (the ``dtype`` asked for);
    labels: int64 (N,) class indices into ``classes``, or None for a folder without classes;
    source: where the images came from; decode_seconds: time spent decoding files in this call
    (0 when the cache answered); cache_path / cache_bytes: the uint8 cache file (None / 0 without
    one); skipped: files that could not be decoded and were left out, as "path: reason".
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str]
    source: str
    folder: Path
    decode_seconds: float
    load_seconds: float
    cache_path: Path | None
    cache_bytes: int
    from_cache: bool
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def describe(self) -> str:
        """One paragraph: what was loaded, from where, and what decoding and the cache cost."""
        classes = f" in {len(self.classes)} classes" if self.labels is not None else ""
        text = f"{len(self):,} images of {tuple(self.images.shape[1:])}{classes} from {self.folder}\n  source: {self.source}"
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


# --- finding the images -------------------------------------------------------------------


@dataclass
class _Listing:
    root: Path  # the folder the images are under (a split subfolder when one was picked)
    files: list[tuple[str, int, int]]  # (path relative to root, size in bytes, mtime in ns), sorted
    labels: list[int] | None
    classes: list[str]
    ignored: int  # files that are not images by their extension


def _walk(folder: Path) -> tuple[list[tuple[str, int, int]], list[str]]:
    """Image files (relative path, size, mtime_ns) and other files (relative path) under ``folder``,
    hidden files and folders skipped, sorted. Plain strings and scandir: 200,000 files in a second."""
    images, others, pending, seen = [], [], [""], {os.path.realpath(folder)}
    while pending:
        relative_dir = pending.pop()
        with os.scandir(os.path.join(folder, relative_dir)) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                relative = os.path.join(relative_dir, entry.name)
                if entry.is_dir():
                    if os.path.realpath(entry.path) not in seen:  # a link back up is read once
                        seen.add(os.path.realpath(entry.path))
                        pending.append(relative)
                elif entry.name.lower().endswith(IMAGE_EXTENSIONS):
                    stat = entry.stat()
                    images.append((relative, stat.st_size, stat.st_mtime_ns))
                else:
                    others.append(relative)
    return sorted(images), sorted(others)


def _no_images_message(folder: Path, others: list[str]) -> str:
    if not others:
        found = "it is empty"
    else:
        kinds = sorted({os.path.splitext(p)[1].lower() or os.path.basename(p) for p in others})
        found = f"it holds {len(others)} other file(s) ({', '.join(kinds[:8])}), e.g. {folder / others[0]}"
    archives = [p for p in others if p.lower().endswith((".zip", ".tar", ".gz", ".tgz"))]
    hint = f"\nIt holds an archive: unpack it there first, e.g. `unzip {folder / archives[0]} -d {folder}`." if archives else ""
    return f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {folder}: {found}.{hint}"


def _list_images(folder: str | Path, split: str | None = "train", labelled: bool | None = None) -> _Listing:
    """The image files under ``folder``, sorted, with class labels where the layout has them
    (``split`` and ``labelled`` as in :func:`load_image_folder`). Other files are counted."""
    folder = Path(folder).expanduser().resolve()  # one name for a folder reached through links
    if not folder.is_dir():
        raise DataNotFoundError(f"{folder.resolve()} is not a folder of images (it does not exist).")
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(IMAGE_EXTENSIONS)]
    if subfolders and not loose and all(p.name.lower() in SPLIT_NAMES for p in subfolders):
        names = [p.name for p in subfolders]
        if split is None or split not in names:
            raise ValueError(f"{folder} is divided into splits {names}; pick one with split= (got {split!r})")
        folder = folder / split
    files, others = _walk(folder)
    if not files:
        raise DataNotFoundError(_no_images_message(folder.resolve(), others))
    tops = [relative.split(os.sep, 1)[0] if os.sep in relative else None for relative, _, _ in files]
    first_level = sorted({top for top in tops if top is not None})
    class_layout = len(first_level) >= 2 and None not in tops
    if labelled and not class_layout:
        raise ValueError(
            f"labels were asked for, but {folder} is not in the ImageFolder layout "
            f"(one subfolder per class, two or more, and no images directly inside it)"
        )
    if labelled is False or not class_layout:
        return _Listing(folder, files, None, [], len(others))
    index = {name: i for i, name in enumerate(first_level)}
    return _Listing(folder, files, [index[top] for top in tops], first_level, len(others))


# --- the cache -----------------------------------------------------------------------------


def _source_note(*folders: Path) -> str | None:
    """The "source" of a SOURCE.json in one of ``folders`` (written by whoever provisioned the data)."""
    for directory in folders:
        if (directory / "SOURCE.json").is_file():
            return str(json.loads((directory / "SOURCE.json").read_text()).get("source"))
    return None


def _cache_key(listing: _Listing, settings: dict) -> tuple[str, str]:
    """(slot, key): the slot names a folder and its settings; the key adds every file's name, size
    and modification time, so any change in the folder gives a new key."""
    slot = hashlib.sha256(json.dumps({"folder": str(listing.root.resolve()), **settings}, sort_keys=True).encode())
    key = slot.copy()
    for relative, size, mtime_ns in listing.files:
        key.update(f"{relative}\0{size}\0{mtime_ns}\n".encode())
    key.update(json.dumps(listing.classes).encode())
    return slot.hexdigest()[:8], key.hexdigest()[:16]


def default_cache_dir() -> Path:
    """Where caches go when neither the data folder nor ``cache_dir`` is writable:
    $GAN_CACHE_DIR, else ~/.cache/gan_course/images."""
    return Path(os.environ.get("GAN_CACHE_DIR", Path.home() / ".cache" / "gan_course" / "images"))


def _can_write(directory: Path) -> bool:
    """Try it: permissions alone do not tell (read-only mounts, root)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
        return True
    except OSError:
        return False


def _find_cache(candidates: list[Path], name: str, key: str) -> tuple[Path, np.ndarray, np.ndarray | None, dict] | None:
    """(path, images, labels, meta) of the first cache file called ``name`` in ``candidates`` whose
    key matches; None when there is none (an unreadable one is ignored with a warning)."""
    for path in (directory / name for directory in candidates):
        if not path.is_file():
            continue
        try:
            with np.load(path, allow_pickle=False) as stored:
                meta = json.loads(bytes(stored["meta"]).decode())
                if meta.get("key") == key:
                    return path, stored["images"], stored["labels"] if "labels" in stored else None, meta
        except (OSError, ValueError, KeyError) as error:
            warnings.warn(f"ignoring an unreadable image cache {path} ({error}); decoding again")
    return None


def _write_cache(candidates: list[Path], name: str, images: np.ndarray, labels: np.ndarray | None, meta: dict) -> Path | None:
    """Write to the first writable folder of ``candidates``, atomically (a reader never sees half a
    file), then delete older caches of the same folder and settings. None when nothing is writable."""
    directory = next((d for d in candidates if _can_write(d)), None)
    if directory is None:
        warnings.warn(f"no writable folder for the image cache (tried {', '.join(map(str, candidates))}); "
                      "the next run decodes again")
        return None
    path, tmp = directory / name, directory / f".{name}.{os.getpid()}.tmp"
    arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    tmp.replace(path)
    slot_prefix = name.rsplit("-", 1)[0] + "-"  # name = <folder>-<size>px-<slot>-<key>.npz
    for old in directory.glob(f"{slot_prefix}*.npz"):
        if old != path:
            old.unlink(missing_ok=True)
    return path


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


def _decode_listing(listing: _Listing, size: int, crop: float, channels: int, workers: int | None,
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
            writable, else in ``cache_dir`` (notebooks pass OUT_DIR), else :func:`default_cache_dir`.
        workers: decode in this many threads (None: one per CPU core, at most 4, for folders
            of more than 1,000 files; 0 or 1: in this thread).
        on_corrupt: "skip" leaves unreadable files out, warns with their number and lists them in
            ``skipped``; "raise" stops at the first one. A folder where nothing decodes always raises.
        source: what to print as the data's source (default: ``SOURCE.json``'s "source" in the
            folder if there is one, else the folder).

    Returns an :class:`ImageData`. Raises :class:`DataNotFoundError` for a missing folder or one
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

    listing = _list_images(folder, split=split, labelled=labelled)
    if n is not None and n < len(listing.files):
        keep = np.sort(np.random.default_rng(0).permutation(len(listing.files))[:n])
        listing.files = [listing.files[i] for i in keep]
        listing.labels = None if listing.labels is None else [listing.labels[i] for i in keep]
    settings = {"version": _CACHE_VERSION, "size": size, "crop": crop, "n": n, "channels": channels, "labelled": listing.labels is not None}
    slot, key = _cache_key(listing, settings)
    name = "-".join(dict.fromkeys([Path(folder).resolve().name, listing.root.name]))  # e.g. cifar10-train
    cache_name = f"{name or 'images'}-{size}px-{slot}-{key}.npz"
    candidates = [listing.root / CACHE_FOLDER] + ([Path(cache_dir)] if cache_dir is not None else []) + [default_cache_dir()]

    stored = _find_cache(candidates, cache_name, key) if cache else None
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
            cache_path = _write_cache(candidates, cache_name, pixels, labels, meta)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image file(s) under {listing.root}, e.g. {skipped[0]}")

    images = torch.from_numpy(np.ascontiguousarray(pixels))
    if dtype == torch.float32:
        images = to_unit_range(images)
    if source is None:
        source = _source_note(Path(folder), listing.root) or f"image folder {Path(folder).resolve()}"
    return ImageData(
        images=images,
        labels=None if labels is None else torch.from_numpy(np.asarray(labels, dtype=np.int64)),
        classes=list(listing.classes),
        source=source,
        folder=listing.root.resolve(),
        decode_seconds=decode_seconds,
        load_seconds=time.perf_counter() - start,
        cache_path=cache_path,
        cache_bytes=cache_path.stat().st_size if cache_path is not None else 0,
        from_cache=stored is not None,
        skipped=skipped,
    )


# --- the standard datasets -----------------------------------------------------------------


def missing_data_message(name: str, data_root: str | Path, looked: list[Path] | None = None, *,
                         download_failed: bool = False) -> str:
    """Where the dataset ``name`` was looked for and every way to get it (the text of the error,
    also used by the book for a chapter whose data is missing). ``download_failed``: torchvision's
    download has just failed, so the other ways come first and the download last, as a retry."""
    card = DATASETS[name]
    root = Path(data_root).expanduser().resolve()
    folder = root / card["folder"]
    places = "\n".join(f"  - {p}" for p in (looked or [folder]))
    ways = list(card["get"])
    if download_failed:
        retry = ("the download that just failed: worth a retry later" if importlib.util.find_spec("gdown")
                 or name != "celeba" else "needs gdown for Google Drive: pip install gdown, then retry")
        ways = [way for way in ways if not way.startswith(DOWNLOAD_WAY)] + [
            f"{way}\n      ({retry})" for way in ways if way.startswith(DOWNLOAD_WAY)]
    ways = "\n".join(f"  {i}. {way.format(root=root, folder=folder)}" for i, way in enumerate(ways, 1))
    return f"{card['title']} was not found. Looked in:\n{places}\nGet it in one of these ways:\n{ways}"


def _download(name: str, root: Path, split: str) -> None:
    """torchvision's download (CelebA, CIFAR-10); a failure becomes DataNotFoundError."""
    import torchvision

    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # an offline machine fails fast instead of hanging
    try:
        if name == "celeba":
            torchvision.datasets.CelebA(str(root), split="all", target_type=[], download=True)
        else:
            torchvision.datasets.CIFAR10(str(root), train=(split == "train"), download=True)
    except Exception as error:  # network, quota (Google Drive) and checksum errors alike
        raise DataNotFoundError(f"the download failed ({type(error).__name__}: {error}).\n\n"
                                + missing_data_message(name, root, download_failed=True)) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)


def _cifar10_from_torchvision(root: Path, split: str, size: int, crop: float, n: int | None, dtype: torch.dtype) -> ImageData:
    """CIFAR-10 from torchvision's own files (cifar-10-batches-py, MD5-checked before reading)."""
    import torchvision
    from PIL import Image

    start = time.perf_counter()
    dataset = torchvision.datasets.CIFAR10(str(root), train=(split == "train"), download=False)
    pixels, labels = dataset.data, np.asarray(dataset.targets, dtype=np.int64)  # (N, 32, 32, 3) uint8
    if n is not None and n < len(pixels):
        keep = np.sort(np.random.default_rng(0).permutation(len(pixels))[:n])
        pixels, labels = pixels[keep], labels[keep]
    if (size, crop) != (32, 1.0):
        pixels = np.stack([np.asarray(fit_square(Image.fromarray(p), size, crop)) for p in pixels])
    images = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
    seconds = time.perf_counter() - start
    return ImageData(
        images=to_unit_range(images) if dtype == torch.float32 else images,
        labels=torch.from_numpy(labels), classes=list(dataset.classes),
        source=f"{DATASETS['cifar10']['title']}, torchvision files ({split})",
        folder=(root / "cifar-10-batches-py").resolve(), decode_seconds=seconds, load_seconds=seconds,
        cache_path=None, cache_bytes=0, from_cache=False,
    )


def _has_entries(folder: Path) -> bool:
    """A folder that exists and holds something besides hidden files."""
    return folder.is_dir() and any(not entry.name.startswith(".") for entry in os.scandir(folder))


def find_dataset(name: str, data_root: str | Path, image_folder: str | Path | None = None, *,
                 split: str = "train", download: bool = False) -> Path:
    """Where dataset ``name`` is, without decoding anything (the book uses it to skip a chapter).

    ``image_folder`` (a chapter's IMAGE_FOLDER) wins when given; else the dataset's standard place
    under ``data_root``: ``DATASETS[name]["folder"]``, and for CIFAR-10 first torchvision's
    ``cifar-10-batches-py``. ``download=True`` lets torchvision fetch CelebA or CIFAR-10 when they
    are missing (needs the internet). Raises :class:`DataNotFoundError` saying where it looked
    and every way to get the data.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)} (or IMAGE_FOLDER for any folder)")
    root = Path(data_root).expanduser()
    if image_folder is not None:
        folder = Path(image_folder).expanduser()
        if not _has_entries(folder):
            raise DataNotFoundError(f"IMAGE_FOLDER {folder.resolve()} does not exist or is empty.\n\n"
                                    + missing_data_message(name, root, [folder.resolve()]))
        return folder
    places = ([root / "cifar-10-batches-py"] if name == "cifar10" else []) + [root / DATASETS[name]["folder"]]
    if download and name in ("celeba", "cifar10") and not any(map(_has_entries, places)):
        _download(name, root, split)
    found = next((place for place in places if _has_entries(place)), None)
    if found is None:
        raise DataNotFoundError(missing_data_message(name, root, [place.resolve() for place in places]))
    return found


def load_dataset_images(
    name: str,
    data_root: str | Path,
    image_folder: str | Path | None = None,
    *,
    size: int | None = None,
    split: str = "train",
    download: bool = False,
    **options,
) -> ImageData:
    """A standard dataset (``celeba``, ``anime_faces``, ``cifar10``) or any folder of images.

    Found by :func:`find_dataset` (``image_folder=None``: the dataset's standard place; a path:
    every image under that folder), then read by :func:`load_image_folder`, or for CIFAR-10 from
    torchvision's files when those are there. ``size`` defaults to the dataset's training size
    (64 for the faces, 32 for CIFAR-10). Other keyword arguments (crop, n, dtype, cache_dir,
    workers, on_corrupt, ...) go to :func:`load_image_folder` (torchvision's CIFAR-10 files use
    only crop, n and dtype: they need no cache).

    Raises :class:`DataNotFoundError` saying where it looked and every way to get the data.
    """
    folder = find_dataset(name, data_root, image_folder, split=split, download=download)
    card, root = DATASETS[name], Path(data_root).expanduser()
    size = card["size"] if size is None else size
    if folder.name == "cifar-10-batches-py" and image_folder is None:
        try:
            return _cifar10_from_torchvision(root, split, size, options.get("crop", 1.0), options.get("n"),
                                             options.get("dtype", torch.uint8))
        except RuntimeError as error:  # torchvision's "Dataset not found or corrupted"
            raise DataNotFoundError(f"{folder.resolve()} is incomplete or corrupted ({error}).\n\n"
                                    + missing_data_message(name, root, [folder.resolve()])) from None
    if image_folder is None:
        note = _source_note(folder)
        options.setdefault("source", card["title"] + (f"; {note}" if note else ""))
    try:
        return load_image_folder(folder, size, split=split, **options)
    except DataNotFoundError as error:  # the folder is there but holds no images
        raise DataNotFoundError(f"{error}\n\n" + missing_data_message(name, root, [folder.resolve()])) from None
