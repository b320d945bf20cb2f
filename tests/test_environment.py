"""The pinned environment: the Makefile's install, requirements.txt and environment.yml agree."""

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10, which the README supports: tomllib's forerunner, when it is installed
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def pins(lines):
    return dict(re.match(r"\s*-?\s*([A-Za-z0-9_.\-]+)==(\S+)", line).groups() for line in lines if re.match(r"\s*-?\s*[A-Za-z0-9_.\-]+==", line))


def test_environment_yml_names_the_same_pins_as_requirements():
    requirements = pins((ROOT / "requirements.txt").read_text().splitlines())
    conda = pins((ROOT / "environment.yml").read_text().splitlines())
    assert requirements == conda
    assert requirements["torch"] == "2.14.1" and requirements["torchvision"] == "0.29.1"
    assert requirements["jupyter-book"].startswith("1.")


def test_makefile_installs_requirements_and_package():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -r requirements.txt" in makefile
    assert "-e ." in makefile


def test_package_metadata_stays_loose_for_colab():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_requirement = next(d for d in project["dependencies"] if d.startswith("torch>") or d.startswith("torch="))
    assert torch_requirement == "torch>=2.2"
    assert not any("==" in d for d in project["dependencies"])


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
