"""The Colab path: one setting names the repository, and the notebooks' install line really works.

Colab starts a notebook with its own torch, torchvision, numpy and pillow and ipywidgets 7.x,
and without gan_helpers; the first cell then runs `%pip install "gan_helpers @ git+https://...@<release>"`.
The install test rebuilds that offline: a fresh virtual environment that sees only the course's
torch and its dependencies (symbolic links, not a 5 GB copy), ipywidgets 7.7.1 as on Colab, then
chapter 1's own install line pointed at a `git+file://` URL of this checkout's commit.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import nbformat
import pytest

import book  # tools/book.py
import release  # tools/release.py
from fresh_venv import clean_env, fresh_venv, pip  # tests/fresh_venv.py

ROOT = Path(__file__).resolve().parents[1]
COLAB_IPYWIDGETS = "ipywidgets==7.7.1"  # what Colab imports at kernel start
PRESENT_ON_COLAB = ("torch", "torchvision")  # with their own dependencies (numpy, pillow, ...)


def test_every_notebook_installs_and_opens_what_course_toml_names():
    course = release.load_course()
    notebooks = book.chapter_notebooks()
    assert len(notebooks) >= 2
    problems = [p for path in notebooks for p in release.notebook_problems(course, path)] + release.text_problems(course)
    assert not problems, "\n".join(problems) + "\nrun `python tools/release.py write`"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", course.release), "the notebooks install a release tag, not a moving branch"


def test_moving_the_repository_rewrites_only_badges_install_lines_and_links(tmp_path, monkeypatch):
    for name in ("README.md", "_config.yml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "book", tmp_path / "book")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copy2(release.COURSE, tmp_path / "course.toml")
    monkeypatch.setattr(release, "ROOT", tmp_path)
    monkeypatch.setattr(book, "NOTEBOOKS", tmp_path / "notebooks")  # release reads the chapters through book
    monkeypatch.setattr(release, "COURSE", tmp_path / "course.toml")
    before = {p.name: nbformat.read(p, as_version=4) for p in book.chapter_notebooks()}

    text = (tmp_path / "course.toml").read_text()
    (tmp_path / "course.toml").write_text(text.replace('repository = "gan-course/gan-course"', 'repository = "new-home/gans"'))
    release.write(release.load_course())
    moved = release.pin("v9.8.7")  # the release step, on the copy

    assert moved == release.Course("new-home/gans", "main", "v9.8.7")
    assert not [p for path in book.chapter_notebooks() for p in release.notebook_problems(moved, path)] + release.text_problems(moved)
    assert "git clone https://github.com/new-home/gans && cd gans" in (tmp_path / "book" / "running.md").read_text()
    for path in book.chapter_notebooks():
        after = nbformat.read(path, as_version=4)
        changed = [i for i, (a, b) in enumerate(zip(before[path.name].cells, after.cells)) if a.source != b.source]
        badge, install = (after.cells.index(release.first_cell(after, kind)) for kind in ("markdown", "code"))
        assert changed == sorted([badge, install]) and len(after.cells) == len(before[path.name].cells), path.name
        assert "git+https://github.com/new-home/gans@v9.8.7" in after.cells[install].source


CHECK = r"""
import json, sys
from pathlib import Path
import gan_helpers as gh, ipywidgets, torch

classifier = gh.load_classifier("digits")  # the shipped weights: package data
logits = classifier(torch.zeros(2, 1, 28, 28))

def generate(z, label):  # brightness follows z[0]; the label shifts it
    return torch.tanh(z[:, :1] + label).view(-1, 1, 1, 1).expand(-1, 1, 8, 8)

box = gh.latent_explorer(generate, torch.full((4,), -2.0), torch.full((4,), 2.0), labels=["a", "b"], n_steps=4)
(slider, picker), picture, strip = box.children[0].children, box.children[1], box.children[2]
before, before_strip = picture.value, strip.value
slider.value = 1.0
picker.value = 1
print(json.dumps({
    "gan_helpers": gh.__file__, "weights": [str(p) for p in Path(gh.__file__).parent.glob("weights/*.pt")],
    "logits": list(logits.shape), "torch": torch.__version__, "torch_file": torch.__file__,
    "ipywidgets": ipywidgets.__version__, "box": type(box).__name__, "png": picture.value[:4].decode("latin-1"),
    "picture_moved": picture.value != before, "strip_moved": strip.value != before_strip, "width": picture.layout.width,
}))
"""


@pytest.fixture(scope="module")
def colab_like_env(tmp_path_factory) -> Path:
    """A fresh venv that sees only torch, torchvision and their dependencies from the course's
    environment, plus Colab's ipywidgets 7.7.1; returns its python."""
    python = fresh_venv(tmp_path_factory.mktemp("colab"), PRESENT_ON_COLAB)  # a current pip, as on Colab
    pip(python, "install", COLAB_IPYWIDGETS)
    return python


def install_requirement(notebook: Path, url: str) -> str:
    """The requirement that ``notebook``'s first cell installs, with its source replaced by ``url``."""
    install = release.first_cell(nbformat.read(notebook, as_version=4), "code").source
    line = next(line for line in install.splitlines() if "%pip install" in line)
    requirement = re.search(r'"(gan_helpers[^"]*)"', line).group(1)
    course = release.load_course()
    assert course.install_source in requirement, line
    return requirement.replace(course.install_source, url)


def test_colab_install_line_from_a_git_url_brings_weights_and_dependencies(colab_like_env):
    python, cwd = colab_like_env, colab_like_env.parents[2]  # never the checkout: '' on sys.path would find gan_helpers/
    run = lambda code: subprocess.run([python, "-c", code], cwd=cwd, env=clean_env(), capture_output=True, text=True)
    assert "ModuleNotFoundError" in run("import gan_helpers").stderr, "gan_helpers leaked into the fresh environment"
    assert run("import torch; print(torch.__version__)").stdout.startswith("2.14.1")

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    requirement = install_requirement(ROOT / "notebooks" / "01_vanilla_gan.ipynb", f"git+file://{ROOT}@{commit}")
    assert requirement == f"gan_helpers @ git+file://{ROOT}@{commit}"
    pip(python, "install", requirement)

    result = run(CHECK)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "site-packages" in report["gan_helpers"] and not report["gan_helpers"].startswith(str(ROOT))
    shipped = sorted(p.name for p in (ROOT / "gan_helpers" / "weights").glob("*.pt"))
    assert sorted(Path(p).name for p in report["weights"]) == shipped, "the weights are not package data"
    assert "digit_classifier.pt" in shipped
    assert report["logits"] == [2, 10]
    assert report["torch"].startswith("2.14.1") and "preinstalled" in report["torch_file"], "pip replaced Colab's torch"
    # Colab's ipywidgets 7 is kept (no forced upgrade and runtime restart), and the explorer works with it
    assert report["ipywidgets"] == COLAB_IPYWIDGETS.split("==")[1]
    assert report["box"] == "VBox" and report["png"] == "\x89PNG"
    assert report["picture_moved"] and report["strip_moved"] and report["width"].endswith("px")


def test_binder_has_a_lean_environment_with_the_course_pins():
    """Binder's button builds binder/: CPU torch and the run-time packages, at the course's versions."""
    pinned = lambda path: dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)$", path.read_text(), re.MULTILINE))
    binder, course = pinned(ROOT / "binder" / "requirements.txt"), pinned(ROOT / "requirements.txt")
    assert binder.pop("torch") == course["torch"] + "+cpu" and binder.pop("torchvision") == course["torchvision"] + "+cpu"
    assert binder and all(course[name] == version for name, version in binder.items())
    # postBuild installs gan_helpers with --no-deps: every run-time dependency must be listed here
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    needed = {re.match(r"[A-Za-z0-9_.\-]+", d).group(0) for d in dependencies} - {"torch", "torchvision"}
    assert needed <= set(binder), f"binder/requirements.txt lacks {sorted(needed - set(binder))}"
    assert not {"selenium", "jupyter-book", "pytest", "nbval", "papermill"} & set(binder)
    assert "download.pytorch.org/whl/cpu" in (ROOT / "binder" / "requirements.txt").read_text()
    assert "pip install --no-deps ." in (ROOT / "binder" / "postBuild").read_text()
