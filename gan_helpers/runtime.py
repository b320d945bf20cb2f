"""Seeding, device choice, the course's cache folder and a description of the machine a run used."""

from __future__ import annotations

import os
import platform
import random
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and GPU); returns a torch Generator seeded the same.

    On the CPU, the same seed, profile and machine give the same numbers.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"SEED={seed!r} must be a non-negative whole number")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(prefer: str | None = None) -> torch.device:
    """``prefer``, else the environment variable ``GAN_DEVICE``, else ``cuda`` when available,
    else ``mps`` on Apple silicon, else ``cpu``.

    ``GAN_DEVICE=cpu`` pins a run to the CPU on any machine: the test suite sets it, since the
    numbers it compares were recorded on a CPU and a GPU computes slightly different ones.
    """
    prefer = prefer or os.environ.get("GAN_DEVICE") or None
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def configure_device(device: torch.device) -> None:
    """Settings that make a GPU fast: on CUDA, cuDNN times its convolution algorithms for each
    new input shape once and keeps the fastest (``cudnn.benchmark``). The chapters' shapes never
    change within a run, so that costs a few seconds once. The choice can differ between runs,
    so GPU runs are not bit-reproducible (they are not anyway); the CPU is left as it is."""
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True


def cache_dir(*parts: str) -> Path:
    """The course's one cache folder: $GAN_CACHE_DIR, else ``~/.cache/gan_course``; with
    ``parts``, a folder inside it (``cache_dir("images")``: decoded image folders, ``"fid"``:
    the Inception weights and real-data statistics). Only named here: whoever writes creates it.
    """
    root = os.environ.get("GAN_CACHE_DIR") or Path.home() / ".cache" / "gan_course"
    return Path(root).expanduser().joinpath(*parts)


def describe_machine(device: torch.device) -> str:
    """One line naming the hardware, for the record printed beside each result."""
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        hardware = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads"
    return f"{device.type}: {hardware}; torch {torch.__version__}"
