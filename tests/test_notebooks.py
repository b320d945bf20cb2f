"""Every chapter executed by papermill in the smoke profile: no errors, the promised outputs exist."""

import json

import nbformat
import numpy as np
import pytest
import torch

import book
from conftest import read_metrics, stream_text

CHAPTERS = [nb.stem for nb in book.chapter_notebooks()]


def test_there_are_chapters():
    assert "01_vanilla_gan" in CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_and_saves_samples(executed_smoke, chapter):
    notebook = nbformat.read(executed_smoke["dir"] / f"{chapter}.ipynb", as_version=4)
    text = stream_text(notebook)
    assert "Traceback" not in text
    figures = sum("image/png" in o.get("data", {}) for c in notebook.cells for o in c.get("outputs", []))
    assert figures >= 6, f"only {figures} figures in the executed notebook (is the inline backend on?)"
    out_dir = executed_smoke["outputs"] / chapter
    samples = np.load(out_dir / "samples.npz")
    config = json.loads((out_dir / "config.json").read_text())
    assert config["profile"] == "smoke"
    assert samples["images"].dtype == np.uint8
    if book.chapter_dataset(book.NOTEBOOKS / f"{chapter}.ipynb") is None:  # MNIST: grey 28 x 28
        assert samples["images"].shape == (config["n_samples"], 28, 28)
    else:  # an image chapter, run on the stand-in folder: colour at the profile's size
        side = config["image_size"]
        assert samples["images"].shape == (config["n_samples"], side, side, 3)
    assert samples["images"].min() < 64 and samples["images"].max() > 192  # a real range, not a constant
    metrics = read_metrics(out_dir)
    if "IS" in metrics:  # the digit chapters' classifier scores
        assert 1.0 <= metrics["IS"] <= 10.0 and metrics["FD"] >= 0


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_check_passes_in_the_instructor_edition(executed_smoke, chapter):
    text = stream_text(nbformat.read(executed_smoke["dir"] / f"{chapter}.ipynb", as_version=4))
    assert text.count("[PASSED] Exercise") >= 3
    assert "[NOT DONE]" not in text and "[NOT YET RIGHT]" not in text


def test_notebook_has_one_parameters_cell_with_the_required_names():
    for path in book.chapter_notebooks():
        cells = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
        assert len(cells) == 1, path.name
        for name in ("PROFILE", "SEED", "DATA_ROOT", "OUT_DIR", "INTERACTIVE"):
            assert f"\n{name} = " in "\n" + cells[0].source, (path.name, name)


def test_sources_hold_only_nbval_checked_outputs():
    for path in book.chapter_notebooks():
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.outputs:
                assert book.NBVAL_MARK in cell.source, f"{path.name}: output stored in an unchecked cell"
                assert not any("image/png" in o.get("data", {}) for o in cell.outputs), "no images in sources"


def test_unknown_profile_stops_the_notebook(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(book.NOTEBOOKS / "01_vanilla_gan.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"PROFILE": "turbo", "OUT_DIR": str(tmp_path)}, cwd=str(book.NOTEBOOKS),
                                   kernel_name="python3", progress_bar=False)
    assert "PROFILE='turbo' is not a profile" in str(error.value) and "smoke, cpu, full, auto" in str(error.value)


def test_interrupted_chapter_resumes_to_the_same_weights(executed_smoke, tmp_path):
    """Run chapter 1 for one epoch ("interrupted"), then again for the profile's two epochs:
    the final weights equal those of the uninterrupted session run."""
    out = tmp_path / "out"
    for epochs in (1, None):
        parameters = {"RESUME": True, **({"EPOCHS": epochs} if epochs else {})}
        book.execute("smoke", force=True, notebooks=[book.NOTEBOOKS / "01_vanilla_gan.ipynb"], out_root=tmp_path / f"run{epochs}",
                     outputs_root=out, parameters=parameters)
    resumed = torch.load(out / "smoke" / "01_vanilla_gan" / "checkpoint.pt", weights_only=True)
    straight = torch.load(executed_smoke["outputs"] / "01_vanilla_gan" / "checkpoint.pt", weights_only=True)
    assert resumed["epoch"] == straight["epoch"] == 2
    for name in ("G", "D", "G_ema"):
        for key, value in straight["state_dicts"][name].items():
            assert torch.equal(resumed["state_dicts"][name][key], value), f"{name}.{key}"
