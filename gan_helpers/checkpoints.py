"""Checkpoints as plain dicts, written atomically and loaded without unpickling code.

A checkpoint holds the state dicts of the models, optimizers and data loader, the torch
random-number state, the config that built the models, the epoch reached and the history.
``torch.load(..., weights_only=True)`` reads it: tensors, numbers, strings, lists and dicts only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(dict(state), tmp)
    os.replace(tmp, path)  # atomic on POSIX and Windows when both are on one file system
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (weights only, no arbitrary code).

    Keep ``map_location`` on the CPU to resume a run: :func:`restore_training_state` needs the
    random-number states there, and ``load_state_dict`` moves each model's and optimizer's
    tensors to the device of its parameters."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path.resolve()}; train first or check OUT_DIR")
    return torch.load(path, map_location=map_location, weights_only=True)


def training_state(*, epoch: int, config: Mapping[str, Any], history: list, extra: Mapping[str, Any] | None = None, **objects: Any) -> dict:
    """Everything needed to resume: ``objects`` are models, optimizers or loaders (anything
    with ``state_dict``) or ``torch.Generator``s; ``epoch`` is the number of finished epochs."""
    state = {
        "epoch": epoch,
        "config": dict(config),
        "history": list(history),
        "rng": {"torch": torch.get_rng_state()},
        "state_dicts": {name: _state_of(obj) for name, obj in objects.items()},
        "extra": dict(extra or {}),
    }
    if torch.cuda.is_available():
        state["rng"]["cuda"] = torch.cuda.get_rng_state_all()  # CPU byte tensors, one per GPU
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        state["rng"]["mps"] = torch.mps.get_rng_state()
    return state


def _state_of(obj: Any) -> Any:
    return obj.get_state() if isinstance(obj, torch.Generator) else obj.state_dict()


def _on_cpu(rng_state: torch.Tensor) -> torch.Tensor:
    """An RNG state as the CPU byte tensor that ``set_state``/``set_rng_state`` require."""
    return rng_state.to("cpu", torch.uint8)


# Settings that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("epochs",)


def restore_training_state(state: Mapping[str, Any], config: Mapping[str, Any], **objects: Any) -> tuple[int, list, dict]:
    """Load ``state`` into ``objects`` and the random-number generators.

    Returns (finished epochs, history, extra). Refuses a checkpoint made with other settings
    (other than the number of epochs), since its weights would not fit this run.
    """
    changed = {k for k in set(config) | set(state["config"]) if config.get(k) != state["config"].get(k)} - set(RESUMABLE_CHANGES)
    if changed:
        raise ValueError(
            f"the checkpoint was made with other settings ({', '.join(sorted(changed))}); "
            "delete it, choose another OUT_DIR, or set RESUME = False to start afresh"
        )
    missing = sorted(set(objects) - set(state["state_dicts"]))
    if missing:
        raise ValueError(f"the checkpoint holds no state for {', '.join(missing)}; "
                         "choose another OUT_DIR, or set RESUME = False to start afresh")
    for name, obj in objects.items():
        if isinstance(obj, torch.Generator):  # a CUDA generator's state is a CPU tensor too
            obj.set_state(_on_cpu(state["state_dicts"][name]))
        else:  # modules and optimizers move the tensors to their parameters' device
            obj.load_state_dict(state["state_dicts"][name])
    rng = state["rng"]
    torch.set_rng_state(_on_cpu(rng["torch"]))
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_on_cpu(s) for s in rng["cuda"]])
    if "mps" in rng and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        torch.mps.set_rng_state(_on_cpu(rng["mps"]))
    return state["epoch"], list(state["history"]), dict(state["extra"])
