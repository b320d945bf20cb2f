"""Fixtures: a tiny provisioned data root, and the chapters executed once per session in smoke."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
# The stored numbers the tests compare were recorded on a CPU: pin every run (and the notebooks'
# kernels, which inherit this) to it, whatever the machine has (`make test` sets it too).
os.environ.setdefault("GAN_DEVICE", "cpu")

import provision  # noqa: E402  (tools/provision.py)


@pytest.fixture(scope="session")
def project_data() -> Path:
    """The data root `make test` provisioned (real MNIST digits from the offline mirror or torchvision)."""
    root = ROOT / "data"
    if not provision.is_provisioned("MNIST", root):
        pytest.fail("data/MNIST is missing: run the tests through `make test`, which provisions it")
    return root


@pytest.fixture()
def tiny_root(tmp_path: Path) -> Path:
    """A data root with 40 synthetic 28x28 'digits' (4 per class) in torchvision's MNIST layout.

    These are stand-ins made by the test (a bright square whose position encodes the class),
    used to test the loading code, never to train anything that claims quality.
    """
    images = np.zeros((40, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10, dtype=np.uint8), 4)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        images[i, 4 + 10 * row : 10 + 10 * row, 2 + 5 * col : 6 + 5 * col] = 200 + i
    provision.write_split_dataset(tmp_path / "MNIST" / "raw", images, labels, {"dataset": "MNIST", "source": "test stand-in"})
    return tmp_path


@pytest.fixture(scope="session")
def standin_folder(tmp_path_factory) -> Path:
    """160 JPEGs of coloured shapes with a SOURCE.json saying "test stand-in" (tools/standin.py):
    what the image chapters (CelebA, anime faces) train on in the tests, and say they do."""
    from standin import write_standin_folder

    return write_standin_folder(tmp_path_factory.mktemp("standin") / "shapes")


@pytest.fixture(scope="session")
def standin_classes_folder(tmp_path_factory) -> Path:
    """The same shapes in one subfolder per shape (ImageFolder layout, tools/standin.py): what
    the CIFAR-10 chapter, which keeps class labels, trains on in the tests."""
    from standin import write_standin_classes

    return write_standin_classes(tmp_path_factory.mktemp("standin") / "classes")


@pytest.fixture(scope="session")
def executed_smoke(tmp_path_factory, standin_folder, standin_classes_folder) -> dict:
    """Every chapter executed by papermill in the smoke profile (once per test session); the
    image chapters on the stand-in folder (IMAGE_FOLDER).

    Returns {"dir": folder of executed copies, "outputs": folder of OUT_DIRs}.
    """
    import book

    base = tmp_path_factory.mktemp("executed")
    executed_dir = book.execute("smoke", force=True, out_root=base, outputs_root=base / "outputs",
                                image_folder={"celeba": standin_folder, "anime_faces": standin_folder,
                                              "cifar10": standin_classes_folder})
    return {"dir": executed_dir, "outputs": base / "outputs" / "smoke"}


def stream_text(notebook) -> str:
    """All stdout/stderr text and error outputs of an executed notebook, as one string."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type == "error":
                parts.append("\n".join(output.traceback))
    return "".join(parts)


def read_metrics(out_dir: Path) -> dict:
    return json.loads((out_dir / "metrics.json").read_text())


def assert_g_ema_recalibrated(checkpoint: Path, norms: int = 3, batches: int = 16) -> None:
    """The G_EMA saved in ``checkpoint`` holds batch-norm statistics of its own: each of its
    ``norms`` layers' running mean differs from G's (which gh.update_ema copies) and was
    averaged over ``batches`` batches of z by gh.recalibrate_batch_norm."""
    import torch

    state = torch.load(checkpoint, weights_only=True)
    G, G_ema = state["state_dicts"]["G"], state["state_dicts"]["G_ema"]
    means = [key for key in G if key.endswith("running_mean")]
    assert len(means) == norms, means
    for key in means:
        assert not torch.equal(G[key], G_ema[key]), key
        assert G_ema[key.replace("running_mean", "num_batches_tracked")] == batches, key
