"""The GPU book's runner-side steps (.github/workflows/book-gpu.yml), one subcommand each.

    python3 tools/gpu_runner.py env >> "$GITHUB_ENV"    # VENV, PIP_CACHE_DIR, GAN_DATA_ROOT outside the checkout
    $VENV/bin/python tools/gpu_runner.py check          # nvidia-smi, torch's CUDA and the driver it needs
    $VENV/bin/python tools/gpu_runner.py timeouts --profile gpu   # {"chapter": minutes} for timeout-minutes

``env`` needs only the standard library (it runs before the venv exists); ``check`` and
``timeouts`` run in the course's venv.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# NVIDIA's minimum Linux driver for each CUDA major version (minor-version compatibility, from
# the CUDA compatibility guide): torch==2.14.1 from PyPI is a CUDA 13.0 build, so it needs >= 580.
MIN_DRIVER = {13: 580, 12: 525, 11: 450}

# A job's timeout: SAFETY x the plan's training minutes + SETUP_MINUTES (+ SCORE_MINUTES for a
# chapter that scores the others), rounded up to 5 minutes. The plan's throughput is a stated guess
# (a share of the tensor-core peak, not yet measured) and leaves out element-wise work and data
# loading: a timeout that ends a nearly finished run costs hours, one that waits on a hung job
# only runner time, hence a wide SAFETY.
SAFETY = 4
SETUP_MINUTES = 45  # what the plan leaves out: a cold venv (the CUDA torch wheels are about 3 GB),
#                     the data and the Inception weights, an image chapter's first decoding of its
#                     dataset, snapshots, and the chapter's scoring (FID/KID on 10,000 samples)
SCORE_MINUTES = 60  # chapter 6 trains nothing: Inception features of the real and fake images
MAX_MINUTES = 5 * 24 * 60  # GitHub ends any job on a self-hosted runner after 5 days


def runner_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Where a self-hosted runner keeps the venv, pip's cache and the data between jobs.

    All three go under ``$RUNNER_TOOL_CACHE/gan-course`` (the runner's own disk, outside the
    checkout that actions/checkout cleans). The venv's folder is named by a hash of
    requirements.txt, pyproject.toml and this Python's version, so changing any of them builds a
    new venv, and a job on an unchanged runner finds its venv installed. ``GAN_DATA_ROOT``, when
    set and not empty (the repository variable), is kept.
    """
    environ = dict(os.environ if environ is None else environ)
    base = Path(environ.get("RUNNER_TOOL_CACHE") or Path.home() / ".cache") / "gan-course"
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    digest.update(f"{python} {platform.system()} {platform.machine()}".encode())
    return {"VENV": str(base / f"venv-{python}-{digest.hexdigest()[:12]}"),
            "PIP_CACHE_DIR": str(base / "pip"),
            "GAN_DATA_ROOT": environ.get("GAN_DATA_ROOT") or str(base / "data")}


def driver_problem(torch_cuda: str | None, driver: str) -> str | None:
    """None when the NVIDIA ``driver`` ("580.65.06") runs torch's CUDA build (``torch.version.cuda``,
    "13.0"); else what is wrong and what to do."""
    if torch_cuda is None:
        return ("this venv's torch is a CPU build (torch.version.cuda is None): install the pinned "
                "torch from PyPI (make setup-gpu), which is a CUDA build")
    major = int(torch_cuda.split(".")[0])
    needed = MIN_DRIVER.get(major)
    if needed is not None and int(driver.split(".")[0]) < needed:
        return (f"torch is built for CUDA {torch_cuda}, which needs an NVIDIA driver >= {needed} on Linux; "
                f"this runner has {driver}. Upgrade the runner's driver (nvidia-smi shows it).")
    return None


def check() -> int:
    """Print nvidia-smi, torch's version and CUDA build; 1 with a message when they cannot run."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        print(f"no nvidia-smi on this runner: install the NVIDIA driver (>= {MIN_DRIVER[13]} for CUDA 13)", file=sys.stderr)
        return 1
    print(subprocess.run([smi], capture_output=True, text=True).stdout)
    query = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True)
    driver = query.stdout.strip().splitlines()[0] if query.returncode == 0 and query.stdout.strip() else "unknown"

    import torch

    print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}; NVIDIA driver {driver}")
    problem = driver_problem(torch.version.cuda, driver) if driver != "unknown" else None
    if problem is None and not torch.cuda.is_available():
        problem = "torch sees no CUDA device: check that the runner's user can reach the GPU (nvidia-smi)"
    if problem:
        print(problem, file=sys.stderr)
        return 1
    print(f"GPU: {torch.cuda.get_device_name()}")
    return 0


def timeout_minutes(training_minutes: float, stage: str = "train") -> int:
    """A job's timeout in whole minutes from the plan's training estimate (see SAFETY)."""
    minutes = SAFETY * training_minutes + SETUP_MINUTES + (SCORE_MINUTES if stage == "score" else 0)
    return min(MAX_MINUTES, 5 * math.ceil(minutes / 5))


def timeouts(profile: str, gpu: str = "T4") -> dict[str, int]:
    """{chapter: timeout minutes} for every chapter in ``profile`` on ``gpu`` (tools/plan.py)."""
    import book  # tools/book.py
    import plan  # tools/plan.py

    result = {}
    for notebook in book.chapter_notebooks():
        stage = book.chapter_stage(notebook)
        training = 0.0 if stage == "score" else plan.estimate_minutes(notebook, profile, gpu=gpu)
        result[notebook.stem] = timeout_minutes(training, stage)
        print(f"{notebook.stem}: {training:.1f} min of training (plan, {profile}, {gpu}) -> "
              f"timeout {result[notebook.stem]} min", file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("env", help="VENV, PIP_CACHE_DIR and GAN_DATA_ROOT lines for $GITHUB_ENV")
    sub.add_parser("check", help="nvidia-smi, torch's CUDA build, and whether the driver runs it")
    limits = sub.add_parser("timeouts", help="each chapter's job timeout in minutes, as JSON")
    limits.add_argument("--profile", required=True)
    limits.add_argument("--gpu", default="T4", help="the GPU the plan estimates for (default: T4)")
    args = parser.parse_args(argv)
    if args.command == "env":
        print("\n".join(f"{name}={value}" for name, value in runner_env().items()))
        return 0
    if args.command == "check":
        return check()
    print(json.dumps(timeouts(args.profile, args.gpu)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
