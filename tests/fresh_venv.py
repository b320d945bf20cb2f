"""A fresh virtual environment that already sees the course's largest packages, for install tests.

torch with its CUDA libraries, and OpenCV with the FID packages, are gigabytes: copying or
downloading them for every install test would cost minutes and disk. :func:`fresh_venv` makes an
empty venv and puts one folder of symbolic links on its ``sys.path`` (a ``.pth`` file) that shows
the named packages and everything they require, as installed in the course's environment, and
nothing else (no gan_helpers, no ``.pth`` hooks). pip sees them as installed, so an install into
the venv fetches only what is missing, from the registry (pip's cache helps on a second run).

Used by tests/test_colab_install.py (Colab's preinstalled torch) and tests/test_pip_install.py
(the pip-only install of the README).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement


def dependency_closure(names) -> list[importlib.metadata.Distribution]:
    """``names`` and everything they require (for this platform, no extras), as installed here."""
    found, todo = {}, list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        found[key] = importlib.metadata.distribution(name)
        for text in found[key].requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(found.values())


def link_farm(target: Path, names) -> Path:
    """A folder of symbolic links to the top-level files of ``names`` and their dependencies:
    a sys.path entry that shows those packages and nothing else (no gan_helpers, no .pth hooks)."""
    target.mkdir()
    for dist in dependency_closure(names):
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}:
            source = Path(dist.locate_file(top))
            if not top.endswith(".pth") and source.exists() and not (target / top).exists():
                (target / top).symlink_to(source)
    return target


def fresh_venv(base: Path, preinstalled, name: str = "venv", upgrade_pip: bool = True) -> Path:
    """A new venv ``base/name`` that sees ``preinstalled`` and their dependencies through a link
    farm in ``base/preinstalled``; returns the venv's python. ``upgrade_pip``: a current pip from
    the registry (the one ensurepip bundles rejects git+file:// requirements), else the bundled one.
    The link farm lies outside the venv, so pip never uninstalls what it links to."""
    subprocess.run([sys.executable, "-m", "venv", *(["--upgrade-deps"] if upgrade_pip else []), str(base / name)],
                   check=True, capture_output=True, env=clean_env())
    python = base / name / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "course_preinstalled.pth").write_text(f"{link_farm(base / 'preinstalled', preinstalled)}\n")
    return python


def clean_env() -> dict:
    """This process's environment without what would leak the course's .venv into the fresh one."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, "PYTHONNOUSERSITE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def pip(python: Path, *args: str, cwd: Path | None = None) -> None:
    """``python -m pip --quiet *args`` in the venv's folder (or ``cwd``); fails with pip's output."""
    result = subprocess.run([python, "-m", "pip", "--quiet", *args], cwd=cwd or python.parents[2], env=clean_env(),
                            capture_output=True, text=True)
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
