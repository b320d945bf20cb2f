"""The course's datasets: where each lives under DATA_ROOT, every way to get it, and loading it.

The digits (MNIST, FashionMNIST; chapters 1, 2 and 6) come through torchvision as float
tensors. The colour datasets (CelebA, the anime faces, CIFAR-10; chapters 3 to 6) are image
folders read by :func:`gan_helpers.load_image_folder`, or any folder a chapter's IMAGE_FOLDER
names instead; a missing dataset raises :class:`gan_helpers.DataNotFoundError` saying where it
was looked for and every way to get it::

    data = gh.load_dataset_images("celeba", DATA_ROOT, IMAGE_FOLDER, size=64, cache_dir=OUT_DIR)
    test, train = gh.load_test_and_train("cifar10", DATA_ROOT, IMAGE_FOLDER, n_test=2_000,
                                         n_train=1_000, seed=0)
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import to_unit_range
from .image_files import DataNotFoundError, split_names, source_note
from .images import ImageData, fit_square, load_image_folder

DIGIT_DATASETS = ("MNIST", "FashionMNIST")

# The standard image datasets: where each lives under DATA_ROOT, what an IMAGE_FOLDER stands in
# for ("short"), and every way to get it. The way that starts with DOWNLOAD_WAY is torchvision's
# download (DOWNLOAD = True; CelebA's needs gdown).
DOWNLOAD_WAY = "torchvision"
DATASETS = {
    "celeba": {
        "title": "CelebA aligned faces (Liu et al., 2015; non-commercial research use only)",
        "short": "CelebA",
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
        "short": "the anime faces",
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
        "short": "CIFAR-10",
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
class DigitData:
    """A digit dataset in memory.

    images: float32 (N, 1, 28, 28) in [-1, 1]; labels: int64 (N,); source: where it came from.
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def describe(self) -> str:
        """One line: which digits, how many, their shape and where they came from."""
        return f"{self.name} ({self.split}): {len(self):,} images of {tuple(self.images.shape[1:])} from {self.source}"


def load_digits(name: str, root: str | Path, split: str = "train", n: int | None = None, download: bool = False) -> DigitData:
    """Load MNIST or FashionMNIST from ``root`` (torchvision layout ``root/NAME/raw``).

    ``n`` keeps the first n images (None: all). ``download=True`` lets torchvision fetch the
    data (needs the internet); otherwise missing files raise :class:`DataNotFoundError`.
    """
    import torchvision

    if name not in DIGIT_DATASETS:
        raise ValueError(f"dataset {name!r} is not a digit dataset; expected one of {DIGIT_DATASETS}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if n is not None and n <= 0:
        raise ValueError(f"n must be a positive number of images or None (all), got {n}")
    root = Path(root)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)  # an offline machine fails fast instead of hanging
    try:
        dataset = getattr(torchvision.datasets, name)(str(root), train=(split == "train"), download=download)
    except (RuntimeError, OSError) as error:
        raise DataNotFoundError(
            f"{name} is not in {root.resolve() / name / 'raw'} ({error}).\n"
            f"Get it with one of:\n"
            f"  - `make data` in the course repository (works offline: builds it from npm/Debian packages),\n"
            f"  - `python tools/provision.py --root {root}` (from the course repository),\n"
            f"  - when online, DOWNLOAD = True in the parameters cell (torchvision downloads and checks it)."
        ) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    images, labels = dataset.data, dataset.targets
    if n is not None:
        images, labels = images[:n], labels[:n]
    source_file = root / name / "SOURCE.json"
    source = json.loads(source_file.read_text())["source"] if source_file.exists() else "torchvision files"
    return DigitData(name, split, to_unit_range(images).unsqueeze(1), labels.long(), source)



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
        labels=torch.from_numpy(labels), classes=list(dataset.classes), name="cifar10",
        source=f"{DATASETS['cifar10']['title']}, torchvision files ({split})",
        folder=(root / "cifar-10-batches-py").resolve(), decode_seconds=seconds, load_seconds=seconds,
        cache_path=None, cache_bytes=0, from_cache=False,
    )


def _has_entries(folder: Path) -> bool:
    """A folder that exists and holds something besides hidden files."""
    return folder.is_dir() and any(not entry.name.startswith(".") for entry in os.scandir(folder))


def _torchvision_cifar10(folder: Path, image_folder: str | Path | None) -> bool:
    """``folder`` (found by :func:`find_dataset`) holds torchvision's CIFAR-10 files, not images."""
    return image_folder is None and folder.name == "cifar-10-batches-py"


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

    The result's ``name`` is ``name``, or with ``image_folder`` the folder's own name (safe in a
    file name), and its ``stands_in_for`` says which dataset the folder replaces (``describe()``
    prints it).

    Raises :class:`DataNotFoundError` saying where it looked and every way to get the data.
    """
    folder = find_dataset(name, data_root, image_folder, split=split, download=download)
    card, root = DATASETS[name], Path(data_root).expanduser()
    size = card["size"] if size is None else size
    if _torchvision_cifar10(folder, image_folder):
        try:
            return _cifar10_from_torchvision(root, split, size, options.get("crop", 1.0), options.get("n"),
                                             options.get("dtype", torch.uint8))
        except RuntimeError as error:  # torchvision's "Dataset not found or corrupted"
            raise DataNotFoundError(f"{folder.resolve()} is incomplete or corrupted ({error}).\n\n"
                                    + missing_data_message(name, root, [folder.resolve()])) from None
    if image_folder is None:
        note = source_note(folder)
        options.setdefault("source", card["title"] + (f"; {note}" if note else ""))
        options.setdefault("name", name)
    try:
        data = load_image_folder(folder, size, split=split, **options)
    except DataNotFoundError as error:  # the folder is there but holds no images
        raise DataNotFoundError(f"{error}\n\n" + missing_data_message(name, root, [folder.resolve()])) from None
    data.stands_in_for = None if image_folder is None else card["short"]
    return data


def load_test_and_train(name: str, data_root: str | Path, image_folder: str | Path | None = None,
                        *, n_test: int, n_train: int, seed: int, download: bool = False,
                        **options) -> tuple[ImageData, ImageData]:
    """Disjoint test and training images of dataset ``name`` or of ``image_folder``.

    Data with its own split (torchvision's CIFAR-10 files, or a folder divided into ``test/`` and
    ``train/``) gives ``n_test`` of its test images and ``n_train`` of its training images, each
    drawn as :func:`load_dataset_images` draws them. Any other folder (flat, or one subfolder per
    class) is one pool of ``n_test + n_train`` images split at random by ``seed``: a random
    ``n_test`` of them for test, the rest (``n_train``, fewer when the folder has fewer) for
    training; both parts' ``source`` end with "(one folder, split in two here)". Other keyword
    arguments (size, cache_dir, ...) go to :func:`load_dataset_images`.

    Returns (test, train) :class:`ImageData`. Raises :class:`DataNotFoundError` as
    :func:`load_dataset_images` does, ValueError when a folder is too small to leave any image
    for training.
    """
    for what, n in (("n_test", n_test), ("n_train", n_train)):
        if not (isinstance(n, int) and n > 0):
            raise ValueError(f"{what} must be a positive number of images, got {n!r}")
    folder = find_dataset(name, data_root, image_folder, split="test", download=download)
    load = dict(download=download, **options)
    if _torchvision_cifar10(folder, image_folder) or "test" in split_names(folder):
        return (load_dataset_images(name, data_root, image_folder, split="test", n=n_test, **load),
                load_dataset_images(name, data_root, image_folder, n=n_train, **load))
    pool = load_dataset_images(name, data_root, image_folder, n=n_test + n_train, **load)
    if len(pool) <= n_test:
        raise ValueError(
            f"{pool.folder} holds {len(pool):,} image(s) and no test/ subfolder: split in two, "
            f"{n_test:,} test images would leave none for training. Use a folder with more "
            f"images, or one divided into test/ and train/ subfolders.")
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    source = f"{pool.source} (one folder, split in two here)"
    return pool.subset(order[:n_test], source), pool.subset(order[n_test:], source)
