"""The cache of decoded image folders: one uint8 ``.npz`` file per folder and settings.

:func:`gan_helpers.load_image_folder` decodes a folder once and stores the pixels ``(N, C, H, W)``
here; a later load with the same files and settings reads them back instead. The file lives in
the first writable place of :func:`cache_places`: ``folder/.gan_cache/``, the ``cache_dir`` the
chapters pass (OUT_DIR), the course's cache folder ``gan_helpers.cache_dir("images")``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import runtime

CACHE_FOLDER = ".gan_cache"  # inside the data folder; hidden, so the image scan skips it
CACHE_VERSION = 1  # bump when decoding changes, so that old caches are not reused


def cache_places(data_folder: Path, cache_dir: str | Path | None) -> list[Path]:
    """Where a cache may go, first choice first: ``data_folder/.gan_cache``, then ``cache_dir``
    (None: skipped), then the course's cache folder ``gan_helpers.cache_dir("images")``."""
    given = [] if cache_dir is None else [Path(cache_dir)]
    return [data_folder / CACHE_FOLDER, *given, runtime.cache_dir("images")]


def cache_file(folder: Path, root: Path, files: list[tuple[str, int, int]], classes: list[str],
               settings: dict) -> tuple[str, str]:
    """(file name, key) of the cache of the images under ``root`` (``folder`` or its split).

    The name ``<folder>[-<split>]-<size>px-<slot>-<key>.npz`` has a slot for the folder and the
    ``settings`` (size, crop, ...); the key adds every file's (relative path, size in bytes, mtime
    in ns) and the class names, so any change in the folder gives a new key (and file)."""
    slot = hashlib.sha256(json.dumps({"folder": str(root.resolve()), **settings}, sort_keys=True).encode())
    key = slot.copy()
    for relative, size, mtime_ns in files:
        key.update(f"{relative}\0{size}\0{mtime_ns}\n".encode())
    key.update(json.dumps(classes).encode())
    prefix = "-".join(dict.fromkeys([folder.resolve().name, root.name])) or "images"  # cifar10-train
    return f"{prefix}-{settings['size']}px-{slot.hexdigest()[:8]}-{key.hexdigest()[:16]}.npz", key.hexdigest()[:16]


def _can_write(directory: Path) -> bool:
    """Try it: permissions alone do not tell (read-only mounts, root)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
        return True
    except OSError:
        return False


def find_cache(candidates: list[Path], name: str, key: str) -> tuple[Path, np.ndarray, np.ndarray | None, dict] | None:
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


def write_cache(candidates: list[Path], name: str, images: np.ndarray, labels: np.ndarray | None, meta: dict) -> Path | None:
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
