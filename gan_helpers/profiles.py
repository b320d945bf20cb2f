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
import re
from pathlib import Path
from typing import Any, Mapping

import torch

PROFILES = ("smoke", "cpu", "gpu", "full")
ALLOWED = PROFILES + ("auto",)

# Rules by key: what a value must be (the keys the chapters' profile tables and overrides use;
# a chapter that adds a setting adds its rule here). Keys not listed are taken as they are.
_POSITIVE_INT = ("epochs", "images", "batch_size", "n_train", "n_samples", "snapshot_every")
_UNIT_INTERVAL = ("ema_decay",)
_POSITIVE_NUMBER = ("ema_half_life", "ema_rampup")  # the EMA of G in images (gan_helpers.ema_decay)


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
    if key in _POSITIVE_NUMBER and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
        fail("a positive number")


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


class RunFolderTaken(ValueError):
    """The run's folder already holds a run made with other settings; nothing was written."""


# What a run leaves behind that another run must never overwrite: a folder that holds one of
# these (or a GAN's checkpoint in a folder of its own, as chapter 5's dcgan/) holds a run.
RESULTS = ("checkpoint.pt", "metrics.json", "samples.npz")
# The environment variable a book build sets (tools/book.py) when it runs the chapters on folders
# of its choice: a JSON object of settings counted as the chapters' defaults, for example
# {"image_folder": "/data/celeba"}, so that the book's runs stay in OUT_DIR itself.
RUN_DEFAULTS_VARIABLE = "GAN_RUN_DEFAULTS"


def prepare_run(chapter: str, config: Mapping[str, Any], out_dir: str | Path | None,
                device: torch.device, defaults: Mapping[str, Any] | None = None) -> Path:
    """Find the run's folder (:func:`run_folder`), check it (:func:`check_run_folder`), then
    seed everything with ``config["seed"]``, configure the device (:func:`configure_device`),
    save the settings to ``config.json`` there and print the machine; returns the run's folder.

    ``out_dir`` (None: :func:`default_out_dir`, ``outputs/<profile>/<chapter>``) is the root of
    the chapter's runs: the run with the chapter's ``defaults`` (the settings a reader may
    change, and the profile's sizes) lives in it, any other in a folder inside it named by
    what differs, e.g. ``outputs/cpu/01_vanilla_gan/g_loss=saturating``. A folder that holds
    a run made with other settings is refused before anything is written
    (:class:`RunFolderTaken`): reruns with other settings never overwrite, mislabel or
    refuse to resume the runs they are compared with.
    """
    from .runtime import configure_device, describe_machine, seed_everything

    folder = run_folder(chapter, config, out_dir, defaults)
    check_run_folder(folder, config)
    seed_everything(config["seed"])
    configure_device(device)
    save_config(config, folder)
    print(f"{describe_machine(device)}\nthis run's folder: {folder}")
    return folder


def run_folder(chapter: str, config: Mapping[str, Any], out_dir: str | Path | None,
               defaults: Mapping[str, Any] | None = None) -> Path:
    """The folder of the run with ``config``: ``out_dir`` (None: :func:`default_out_dir`) when
    no setting of ``defaults`` differs, else ``out_dir/<variant_name>``; an ``out_dir`` that
    already bears that name is the folder itself. Settings a book build declares in
    $GAN_RUN_DEFAULTS count as defaults too."""
    root = Path(default_out_dir(chapter, config["profile"]) if out_dir in (None, "") else out_dir)
    declared = json.loads(os.environ.get(RUN_DEFAULTS_VARIABLE) or "{}")
    variant = variant_name(config, {**(defaults or {}), **declared})
    return root if not variant or root.name == variant else root / variant


def runs_root(folder: str | Path) -> Path:
    """The root of a chapter's runs (its OUT_DIR) from one run's folder: the folder itself for
    the run with the defaults, the folder above for a run named by its settings (``key=value``)."""
    folder = Path(folder)
    return folder.parent if "=" in folder.name else folder


def _as_json(config: Mapping[str, Any]) -> dict:
    """Settings as config.json holds them (tuples become lists, paths strings)."""
    return json.loads(json.dumps(dict(config), default=str))


def _saved_settings(folder: Path) -> tuple[dict | None, str]:
    """The settings of the run in ``folder`` and where they were read: its config.json, else its
    checkpoint's config (a run made without prepare_run); (None, "") when it holds no run."""
    holds_run = any((folder / name).is_file() for name in RESULTS) or any(
        (sub / "checkpoint.pt").is_file() for sub in folder.glob("*") if sub.is_dir() and "=" not in sub.name)
    if not holds_run:  # nothing there yet, or a config.json whose run stopped before any result
        return None, ""
    if (folder / "config.json").is_file():
        return json.loads((folder / "config.json").read_text()), "config.json"
    if (folder / "checkpoint.pt").is_file():
        state = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=True)
        saved = _as_json(state.get("config", {}))
        saved.pop("epochs", None)  # the passes a chapter computed from its budget, not a setting
        return saved, "checkpoint.pt"
    return None, ""


def check_run_folder(folder: str | Path, config: Mapping[str, Any]) -> None:
    """Refuse a folder that holds a run (a checkpoint, metrics or samples) made with settings
    other than ``config``, naming what differs and a folder for this run; reads only.

    A folder holding nothing, or a run with the same settings (to resume or start afresh),
    passes. Raises :class:`RunFolderTaken`.
    """
    folder = Path(folder)
    saved, source = _saved_settings(folder)
    if saved is None:
        return
    here = _as_json(config)
    if source == "checkpoint.pt":
        here.pop("epochs", None)
    differ = [key for key in [*here, *saved] if here.get(key, "(unset)") != saved.get(key, "(unset)")]
    differ = list(dict.fromkeys(differ))
    if not differ:
        return
    details = "; ".join(f"{key}: {saved.get(key, '(unset)')!r} there, {here.get(key, '(unset)')!r} here"
                        for key in differ)
    named = ["profile"] if "profile" in differ else [key for key in differ if key in here]
    suggestion = runs_root(folder) / (variant_name(here, {key: None for key in named}, every=True) or "rerun")
    raise RunFolderTaken(
        f"{folder} already holds a run made with other settings ({details}; read from its "
        f"{source}). Nothing was written: that run is kept as it is.\n"
        f"To train with these settings beside it, set OUT_DIR = \"{suggestion}\" in the "
        "parameters cell (a new folder, named by what differs). To continue that run instead, "
        "put the settings back as they were."
    )


def variant_name(config: Mapping[str, Any], defaults: Mapping[str, Any], every: bool = False) -> str:
    """The settings of ``config`` that differ from ``defaults`` (all of ``defaults``' keys when
    ``every``), as ``key=value,key=value`` in the order of ``defaults``; ``""`` when none do.
    Keys missing from ``config`` are ignored; a path becomes one folder name
    (``/data/faces`` -> ``_data_faces``)."""
    changed = [f"{key}={config[key]}" for key, value in defaults.items()
               if key in config and (every or config[key] != value)]
    return re.sub(r"[\\/:]", "_", ",".join(changed)).replace(" ", "")


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

    ``out_dir`` is this run's folder (from :func:`prepare_run`); the runs compared are the
    chapter's run with its defaults (in the root, :func:`runs_root`: the row "defaults") and
    every run in a folder inside it named by :func:`variant_name` (e.g. ``g_loss=saturating``).
    A run that has not finished (no metrics.json yet) is left out.
    """
    import pandas as pd

    base = runs_root(out_dir)
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
