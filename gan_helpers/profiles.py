"""Compute profiles: one notebook, four sizes of run.

- ``smoke``: seconds on a CPU (CI and nbval);
- ``cpu``: recognizable results in at most 10 minutes on a 2-core laptop CPU;
- ``gpu``: a class session on one Colab T4: about 15 minutes of training, 20 for the notebook;
- ``full``: the paper-level run on one GPU (opt-in: hours on a T4);
- ``auto``: ``gpu`` when the device the run will use (:func:`gan_helpers.pick_device`) is a
  GPU (CUDA or Apple's MPS), else ``cpu``. ``GAN_DEVICE=cpu`` on a GPU machine gives ``cpu``.

Training budgets are written as images shown to D (``images``), not epochs, so that a smaller or
larger folder of images trains about the same number of steps; :func:`epochs_for` turns a budget
into whole passes over the data the run really has.

Each notebook writes its own table of profiles in plain sight; this module only picks one,
applies the reader's overrides and refuses values that make no sense.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

PROFILES = ("smoke", "cpu", "gpu", "full")
ALLOWED = PROFILES + ("auto",)

# Rules by key: what a value must be (the keys the chapters' profile tables and overrides use;
# a chapter that adds a setting adds its rule here). Keys not listed are taken as they are.
_POSITIVE_INT = ("epochs", "images", "batch_size", "n_train", "n_samples", "snapshot_every")
_UNIT_INTERVAL = ("ema_decay",)


def default_profile() -> str:
    """The profile asked for by the environment variable GAN_PROFILE, else ``auto``."""
    return os.environ.get("GAN_PROFILE", "auto")


def resolve_profile(profile: str) -> str:
    """Map ``auto`` to ``gpu`` (the run's device is a GPU) or ``cpu``; reject unknown names."""
    if profile not in ALLOWED:
        raise ValueError(
            f"PROFILE={profile!r} is not a profile. Allowed values: {', '.join(ALLOWED)}. "
            "Set PROFILE in the parameters cell (or the GAN_PROFILE environment variable)."
        )
    if profile == "auto":
        from .runtime import pick_device

        return "gpu" if pick_device().type in ("cuda", "mps") else "cpu"
    return profile


def _check(key: str, value: Any) -> None:
    if value is None:  # None means "all" or "from elsewhere"; nothing to check
        return
    def fail(expected: str) -> None:
        raise ValueError(f"{key.upper()}={value!r} makes no sense: expected {expected}. Fix it in the parameters cell.")

    if key in _POSITIVE_INT and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        fail("a positive whole number")
    if key in _UNIT_INTERVAL and not (isinstance(value, (int, float)) and 0 <= value < 1):
        fail("a number in [0, 1)")


def select_profile(profile: str, table: Mapping[str, Mapping[str, Any]], **overrides: Any) -> dict:
    """The settings of ``profile`` from ``table`` (one dict per profile), with overrides applied.

    Overrides whose value is None are ignored (the parameters cell uses None for "from the
    profile"). Returns a new dict that also records ``profile`` (the resolved name).
    """
    name = resolve_profile(profile)
    missing = [p for p in PROFILES if p not in table]
    if missing:
        raise ValueError(f"the profile table lacks {missing}; every notebook defines smoke, cpu, gpu and full")
    config = dict(table[name])
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in config:
            raise ValueError(f"override {key.upper()} is not a setting of this notebook; settings: {sorted(config)}")
        config[key] = value
    for key, value in config.items():
        _check(key, value)
    return {"profile": name, **config}


def epochs_for(images: int, batches_per_epoch: int, batch_size: int) -> int:
    """Whole passes over the data that show D about ``images`` images: ``images`` divided by
    the images of one pass (``batches_per_epoch * batch_size``; the loader drops the last
    incomplete batch), rounded, and at least 1. The same budget on a folder of half the size
    gives twice the passes, so both train about the same number of steps."""
    if not (isinstance(images, int) and images > 0):
        raise ValueError(f"IMAGES={images!r} makes no sense: expected a positive whole number")
    if batches_per_epoch <= 0:
        raise ValueError(f"no full batch of {batch_size} images in the data: use more images or "
                         "a smaller BATCH_SIZE")
    return max(1, round(images / (batches_per_epoch * batch_size)))


def save_config(config: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write the run's settings to ``out_dir/config.json`` (saved beside the results)."""
    path = Path(out_dir) / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(config), indent=2, default=str) + "\n")
    return path


def prepare_run(chapter: str, config: Mapping[str, Any], out_dir: str | Path | None,
                device: torch.device, defaults: Mapping[str, Any] | None = None) -> Path:
    """Seed everything with ``config["seed"]``, configure the device (:func:`configure_device`),
    save the settings to ``out_dir/config.json`` and
    print the machine; returns the run's folder.

    That is ``out_dir`` when given, else :func:`default_out_dir`: ``outputs/<profile>/<chapter>``
    for a run with the chapter's ``defaults`` (the settings a reader may change, and the profile's
    sizes), and a folder inside it named by what differs for any other run, e.g.
    ``outputs/cpu/01_vanilla_gan/g_loss=saturating``: reruns with other settings never overwrite
    (or refuse to resume) the run they are compared with.
    """
    from .runtime import configure_device, describe_machine, seed_everything

    out_dir = Path(out_dir or default_out_dir(chapter, config["profile"], variant_name(config, defaults or {})))
    seed_everything(config["seed"])
    configure_device(device)
    save_config(config, out_dir)
    print(f"{describe_machine(device)}\nthis run's folder: {out_dir}")
    return out_dir


def variant_name(config: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """The settings of ``config`` that differ from ``defaults``, as ``key=value,key=value`` in
    the order of ``defaults``; ``""`` when none do. Keys missing from ``config`` are ignored."""
    changed = [f"{key}={config[key]}" for key, value in defaults.items() if key in config and config[key] != value]
    return ",".join(changed).replace("/", "_").replace(" ", "")


def default_data_root() -> str:
    """$GAN_DATA_ROOT, else ``data`` or ``../data`` (whichever exists; run from the repository
    or its notebooks/ folder), else ``data`` (where a download will go)."""
    if "GAN_DATA_ROOT" in os.environ:
        return os.environ["GAN_DATA_ROOT"]
    for candidate in ("data", "../data"):
        if Path(candidate, "MNIST").is_dir():
            return candidate
    return "data"


def default_out_dir(chapter: str, profile: str, variant: str = "") -> str:
    """``$GAN_OUT_ROOT/<profile>/<chapter>[/<variant>]``, with ``outputs`` as the default root."""
    folder = Path(os.environ.get("GAN_OUT_ROOT", "outputs")) / profile / chapter
    return str(folder / variant if variant else folder)


def compare_runs(out_dir: str | Path, metrics: list[str]) -> "pd.DataFrame":
    """One row per finished run of a chapter: its setting, ``metrics`` from its ``metrics.json``
    and its training time in seconds.

    ``out_dir`` is this run's folder; the runs compared are the chapter's run with its defaults
    (``outputs/<profile>/<chapter>``, the row "defaults") and every run in a folder inside it
    (named by :func:`variant_name`, e.g. ``g_loss=saturating``). A run that has not finished
    (no metrics.json yet) is left out.
    """
    import pandas as pd

    out_dir = Path(out_dir)
    base = out_dir.parent if "=" in out_dir.name else out_dir
    rows = []
    for path in [base / "metrics.json", *sorted(base.glob("*=*/metrics.json"))]:
        if not path.is_file():
            continue
        found = json.loads(path.read_text())
        row = {"setting": "defaults" if path.parent == base else path.parent.name}
        row |= {name: round(found[name], 3) if isinstance(found.get(name), float) else found.get(name)
                for name in metrics}
        seconds = found.get("train_seconds")
        row["training (s)"] = None if seconds is None else round(seconds)
        rows.append(row)
    return pd.DataFrame(rows, columns=["setting", *metrics, "training (s)"]).set_index("setting")
