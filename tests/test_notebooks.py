"""Every chapter executed by papermill in the smoke profile: no errors, the promised outputs exist,
the first epoch's numbers where they were recorded, and exactly the chapter's exercises PASSED."""

import json
import re

import nbformat
import numpy as np
import pytest
import torch

import book
import grading
from conftest import read_metrics, stream_text

CHAPTERS = [nb.stem for nb in book.chapter_notebooks()]
# chapters that train nothing: they read the others' samples (tested in their own test files)
SCORING_ONLY = {"06_evaluation"}
TRAINING = [chapter for chapter in CHAPTERS if chapter not in SCORING_ONLY]
# The smoke run's first epoch, on the CPU (`make test` pins GAN_DEVICE=cpu): nbval compares the
# printed table exactly; this band says what is still right on another CPU's arithmetic, and fails
# for a wrong label, a missing detach or a swapped loss (each moves a number by far more).
FIRST_EPOCH = {
    "01_vanilla_gan": {"loss_D": 1.177, "loss_G": 0.610, "D(x)": 0.714, "D(G(z))": 0.555},
    "02_conditional_gan": {"loss_D": 1.201, "loss_G": 0.573, "D(x)": 0.730, "D(G(z))": 0.579},
}
BAND = 0.03


def test_the_six_chapters_in_order():
    """What every test here runs over: a chapter renamed, lost or out of order changes the book."""
    assert CHAPTERS == ["01_vanilla_gan", "02_conditional_gan", "03_dcgan_celeba", "04_dcgan_anime",
                        "05_wgan_gp_cifar10", "06_evaluation"]


@pytest.mark.parametrize("chapter", TRAINING)
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
        assert samples["images"].min() < 64 and samples["images"].max() > 192  # a real range of grey
    else:  # an image chapter, run on the stand-in folder: colour at the profile's size
        side = config["image_size"]
        assert samples["images"].shape == (config["n_samples"], side, side, 3)
    span = int(samples["images"].max()) - int(samples["images"].min())
    assert span > 80, f"samples span only {span} grey levels: a constant?"  # DCGAN smoke: low contrast yet
    metrics = read_metrics(out_dir)
    assert metrics["profile"] == "smoke" and metrics["n_samples"] == config["n_samples"]
    assert metrics["train_seconds"] > 0


@pytest.mark.parametrize("chapter", sorted(FIRST_EPOCH))
def test_first_epoch_of_the_smoke_run_is_where_it_was_recorded(executed_smoke, chapter):
    state = torch.load(executed_smoke["outputs"] / chapter / "checkpoint.pt", weights_only=True)
    first = state["history"][0]
    assert first["epoch"] == 1 and state["config"]["profile"] == "smoke"
    for name, recorded in FIRST_EPOCH[chapter].items():
        assert abs(first[name] - recorded) <= BAND, f"{chapter} epoch 1: {name} = {first[name]:.3f}, recorded {recorded}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_check_passes_in_the_instructor_edition(executed_smoke, chapter):
    """Exactly the chapter's exercises (from its check cells, as the grader reads them) PASSED,
    each once, and nothing else was reported."""
    expected = [name for check in grading.instructor_checks(nbformat.read(book.NOTEBOOKS / f"{chapter}.ipynb", as_version=4))
                for name, _ in check.exercises]
    text = stream_text(nbformat.read(executed_smoke["dir"] / f"{chapter}.ipynb", as_version=4))
    reported = re.findall(r"^\[([A-Z ]+)\] Exercise (.+)$", text, re.M)
    assert reported == [("PASSED", name) for name in expected]
    assert "note: exercise" not in text, "the instructor edition trained with a fallback, not with its own solution"


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
                assert book.nbval_checked(cell), f"{path.name}: output stored in an unchecked cell"
                assert not any("image/png" in o.get("data", {}) for o in cell.outputs), "no images in sources"


def test_unknown_profile_stops_the_notebook(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(book.NOTEBOOKS / "01_vanilla_gan.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"PROFILE": "turbo", "OUT_DIR": str(tmp_path)}, cwd=str(book.NOTEBOOKS),
                                   kernel_name="python3", progress_bar=False)
    assert "PROFILE='turbo' is not a profile" in str(error.value) and "smoke, cpu, gpu, full, auto" in str(error.value)


def test_interrupted_chapter_resumes_to_the_same_weights(executed_smoke, tmp_path):
    """Chapter 1 stopped by an error in its second epoch (a copy whose loop raises there), then
    the chapter run again with the same settings and OUT_DIR: it resumes from the checkpoint
    of epoch 1 and ends with the weights of the uninterrupted session run."""
    import papermill

    notebook = nbformat.read(book.NOTEBOOKS / "01_vanilla_gan.ipynb", as_version=4)
    (loop,) = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith("for epoch in run.epochs():")]
    loop.source = loop.source.replace("for epoch in run.epochs():\n", "for epoch in run.epochs():\n"
                                      "    if epoch == 2:\n        raise RuntimeError('the test stops epoch 2')\n", 1)
    interrupted = tmp_path / "interrupted" / "01_vanilla_gan.ipynb"  # the same name: the same OUT_DIR
    interrupted.parent.mkdir()
    nbformat.write(notebook, interrupted)
    out = tmp_path / "out"
    with pytest.raises(papermill.PapermillExecutionError, match="the test stops epoch 2"):
        book.execute("smoke", force=True, notebooks=[interrupted], out_root=tmp_path / "first", outputs_root=out)
    checkpoint = out / "smoke" / "01_vanilla_gan" / "checkpoint.pt"
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1
    executed = book.execute("smoke", force=True, notebooks=[book.NOTEBOOKS / "01_vanilla_gan.ipynb"],
                            out_root=tmp_path / "again", outputs_root=out, parameters={"RESUME": True})
    assert f"resumed from {checkpoint} after epoch 1 of 2" in stream_text(
        nbformat.read(executed / "01_vanilla_gan.ipynb", as_version=4))
    resumed = torch.load(checkpoint, weights_only=True)
    straight = torch.load(executed_smoke["outputs"] / "01_vanilla_gan" / "checkpoint.pt", weights_only=True)
    assert resumed["epoch"] == straight["epoch"] == 2
    for name in ("G", "D", "G_ema"):
        for key, value in straight["state_dicts"][name].items():
            assert torch.equal(resumed["state_dicts"][name][key], value), f"{name}.{key}"


def test_readers_see_no_nbval_marker():
    """nbval's comment marker would show in the book and the student editions: chapters tag the
    cell instead (chapters 1 and 2 so far; later chapters move to the tag as they are revised)."""
    for path in [book.NOTEBOOKS / f"{chapter}.ipynb" for chapter in FIRST_EPOCH]:
        for cell in nbformat.read(path, as_version=4).cells:
            assert book.NBVAL_MARK not in cell.source, f"{path.name} cell {cell.id}: tag it {book.NBVAL_TAG!r} instead"


def test_a_rerun_with_other_settings_gets_its_own_folder_and_a_row(tmp_path, monkeypatch):
    """The default OUT_DIR names what differs from the chapter's defaults, so reruns coexist, and
    compare_runs lists every finished run of the chapter (unfinished ones are left out)."""
    import gan_helpers as gh

    monkeypatch.setenv("GAN_OUT_ROOT", str(tmp_path))
    defaults = {"epochs": 2, "seed": 0, "g_loss": "non-saturating", "dropout": 0.3}
    base = gh.prepare_run("01_x", {"profile": "smoke", **defaults}, None, torch.device("cpu"), defaults=defaults)
    other = gh.prepare_run("01_x", {"profile": "smoke", **defaults, "g_loss": "saturating", "dropout": 0.0},
                           None, torch.device("cpu"), defaults=defaults)
    unfinished = gh.prepare_run("01_x", {"profile": "smoke", **defaults, "epochs": 5}, None, torch.device("cpu"),
                                defaults=defaults)
    assert base == tmp_path / "smoke" / "01_x"
    assert other == base / "g_loss=saturating,dropout=0.0" and unfinished == base / "epochs=5"
    for folder, score in ((base, 8.1), (other, 6.5)):
        (folder / "metrics.json").write_text(json.dumps({"IS": score, "FD": 9 - score, "train_seconds": 61.4}))
    for out_dir in (base, other):
        table = gh.compare_runs(out_dir, ["IS", "FD"])
        assert table.index.tolist() == ["defaults", "g_loss=saturating,dropout=0.0"]
        assert table.loc["g_loss=saturating,dropout=0.0"].tolist() == [6.5, 2.5, 61]
