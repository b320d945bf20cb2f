"""Chapter 3 (DCGAN on CelebA): the smoke run on the stand-in folder, the checked outputs nbval
would compare, the notebook's networks against gan_helpers.models, and the skipped-chapter page.

CI has no CelebA: the chapter runs on tools/standin.py's coloured shapes and says so in its
output. Nothing here judges face quality; the cpu profile's measured results are in the book.
"""

import json
import re

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

import book
import gan_helpers as gh
from conftest import assert_g_ema_recalibrated, stream_text

CHAPTER = "03_dcgan_celeba"
SOURCE = book.NOTEBOOKS / f"{CHAPTER}.ipynb"
EXERCISES = ["1 · DCGAN init", "2 · feature matching", "3 · conv output size", "4 · best D with smoothing"]


def source_cells():
    return nbformat.read(SOURCE, as_version=4).cells


def test_chapter_declares_its_dataset():
    assert book.chapter_dataset(SOURCE) == "celeba"


def test_smoke_run_on_the_standin_says_so_and_saves_colour_samples(executed_smoke):
    text = stream_text(nbformat.read(executed_smoke["dir"] / f"{CHAPTER}.ipynb", as_version=4))
    assert "Traceback" not in text
    assert "source: test stand-in" in text and "160 images of (3, 32, 32) from" in text
    assert "IMAGE_FOLDER is set: these images stand in for CelebA" in text
    out_dir = executed_smoke["outputs"] / CHAPTER
    config = json.loads((out_dir / "config.json").read_text())
    images = np.load(out_dir / "samples.npz")["images"]
    assert images.dtype == np.uint8 and images.shape == (config["n_samples"], 32, 32, 3) == (256, 32, 32, 3)
    # 60 smoke steps from the DCGAN init: low contrast yet, but not a constant, and not all alike
    assert int(images.max()) - int(images.min()) > 80
    assert images.reshape(len(images), -1).std(axis=0).mean() > 3
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["n_fid"] == 10 and metrics["headline"] == f"FID@10 {metrics['FID']:.1f}"
    assert np.isfinite(metrics["FID"]) and metrics["FID"] > 0 and np.isfinite(metrics["KID"])
    assert "test stand-in" in metrics["data"] and metrics["n_train"] == 160
    assert re.search(r"FID@10 = [\d.]+   KID@10 = -?[\d.]+ ± [\d.]+   \(10 samples of G_EMA, 10 real images\)", text)


def test_first_epoch_is_a_fair_game(executed_smoke):
    """Ten steps from the DCGAN init: D and G still near D = 1/2 (losses near 2 ln 2 and ln 2)."""
    state = torch.load(executed_smoke["outputs"] / CHAPTER / "checkpoint.pt", weights_only=True)
    first = state["history"][0]
    assert 1.15 < first["loss_D"] < 1.5 and 0.55 < first["loss_G"] < 0.9
    assert 0.45 < first["D(x)"] < 0.7 and 0.4 < first["D(G(z))"] < 0.65


def test_g_ema_has_a_half_life_and_batch_norm_statistics_of_its_own(executed_smoke):
    """G_EMA's batch norm is recalibrated before it draws (the last snapshot's 16 batches of z),
    so the checkpoint's G_EMA holds running statistics of its own, not copies of G's; its
    average is set by a half-life in images with a ramp-up, not by a decay per step."""
    checkpoint = executed_smoke["outputs"] / CHAPTER / "checkpoint.pt"
    assert_g_ema_recalibrated(checkpoint, norms=3)  # 32x32: three batch-norm layers in G
    state = torch.load(checkpoint, weights_only=True)
    assert state["config"]["ema_half_life"] == 50 and state["config"]["ema_rampup"] == 0.05
    assert "ema_decay" not in state["config"]


def test_exactly_the_chapters_exercises_pass(executed_smoke):
    text = stream_text(nbformat.read(executed_smoke["dir"] / f"{CHAPTER}.ipynb", as_version=4))
    assert re.findall(r"\[PASSED\] Exercise (.+)", text) == EXERCISES
    assert "[NOT DONE]" not in text and "[NOT YET RIGHT]" not in text


def test_checked_outputs_are_those_stored(executed_smoke):
    """What nbval does for the other chapters: every nbval-checked cell's output, from the
    smoke run on the stand-in, equals the output stored in the source (refresh-nbval stores it)."""
    executed = {c.id: c for c in nbformat.read(executed_smoke["dir"] / f"{CHAPTER}.ipynb", as_version=4).cells}
    checked = [c for c in source_cells() if c.cell_type == "code" and book.nbval_checked(c)]
    assert len(checked) >= 6
    for cell in checked:
        stored = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        produced = "".join(o.get("text", "") for o in executed[cell.id].outputs if o.output_type == "stream")
        assert stored, f"no stored output for cell {cell.id}: run tools/book.py refresh-nbval {CHAPTER}"
        assert produced == stored, f"cell {cell.id} ({cell.source.splitlines()[0][:50]})"


def test_size_table_is_the_papers():
    table = next(c for c in source_cells() if "def layer_table" in c.source)
    text = "".join(o.get("text", "") for o in table.outputs)
    for row in ["3 -> 64  64 -> 32", "256 -> 512    8 -> 4", "512 -> 1    4 -> 1", "100 -> 512    1 -> 4", "64 -> 3  32 -> 64"]:
        assert row in text
    assert "parameters: G 3,576,707, D 2,765,633" in text


def notebook_networks() -> dict:
    """The notebook's stage_widths, Generator and Discriminator, executed from its source."""
    cell = next(c for c in source_cells() if "class Generator(nn.Module)" in c.source)
    namespace = {"torch": torch, "nn": nn, "np": np}
    exec(compile(cell.source, f"{CHAPTER}: networks", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("size, width, latent", [(64, 64, 100), (32, 64, 100), (64, 16, 128), (32, 8, 16)])
def test_notebook_networks_equal_the_package(size, width, latent):
    ours = notebook_networks()
    torch.manual_seed(0)
    G_pkg, D_pkg = gh.Generator(latent, size, width).apply(gh.dcgan_init), gh.Discriminator(size, width).apply(gh.dcgan_init)
    G_nb, D_nb = ours["Generator"](latent, size, width), ours["Discriminator"](size, width)
    z = torch.randn(6, latent)
    for mode in ("eval", "train"):  # running statistics, then batch statistics
        G_nb.load_state_dict(G_pkg.state_dict())  # strict: the same names and shapes
        D_nb.load_state_dict(D_pkg.state_dict())
        for model in (G_pkg, D_pkg, G_nb, D_nb):
            getattr(model, mode)()
        with torch.no_grad():
            x = G_pkg(z)
            assert torch.equal(G_nb(z), x)
            assert torch.equal(D_nb(x), D_pkg(x))
            assert torch.equal(D_nb.features(x), D_pkg.features(x))


def test_stabilizers_run_and_get_their_own_folder(tmp_path, standin_folder, monkeypatch):
    """LABEL_SMOOTHING and FEATURE_MATCHING together, OUT_DIR left to the chapter: the run goes to
    <profile>/03_dcgan_celeba/label_smoothing=True,feature_matching=True,image_folder=..., and G's
    loss is the feature distance."""
    import papermill

    monkeypatch.setenv("GAN_OUT_ROOT", str(tmp_path / "outputs"))
    papermill.execute_notebook(str(SOURCE), str(tmp_path / "out.ipynb"), cwd=str(book.NOTEBOOKS), kernel_name="python3",
                               progress_bar=False, parameters={"PROFILE": "smoke", "INTERACTIVE": False,
                                                               "IMAGE_FOLDER": str(standin_folder), "LABEL_SMOOTHING": True,
                                                               "FEATURE_MATCHING": True})
    (out_dir,) = (tmp_path / "outputs" / "smoke" / CHAPTER).glob("label_smoothing=True,feature_matching=True,image_folder=*")
    config = json.loads((out_dir / "config.json").read_text())
    assert config["label_smoothing"] is True and config["feature_matching"] is True
    first = torch.load(out_dir / "checkpoint.pt", weights_only=True)["history"][0]
    # The first epoch's means of this run on the CPU: loss_D 1.2073 (BCE against the smoothed 0.9
    # still near 2 ln 2), loss_G 184.2 (the squared distance between the mean features, 512 of
    # them; a BCE would be near ln 2, a mean over features 512 times smaller). Real and fake pass
    # D as one batch: with two batches, each through batch norm with its own statistics, most of
    # the distance cancelled and the run gave loss_D 1.2752, loss_G 34.92.
    # Reruns are bit-identical; 1% leaves room for another CPU's rounding.
    assert 1.195 < first["loss_D"] < 1.219
    assert 182.3 < first["loss_G"] < 186.0
    assert json.loads((out_dir / "metrics.json").read_text())["feature_matching"] is True


def test_too_few_images_stop_at_the_data_cell_naming_what_to_change(tmp_path):
    """7 images and the smoke profile's batch of 16: one pass would make no step. The data cell
    says so (not the training loop, later, about run.log); a smaller BATCH_SIZE is enough."""
    from chapter_cells import run_cell, run_setup
    from standin import write_standin_folder

    seven = write_standin_folder(tmp_path / "seven", count=7)
    namespace = run_setup(SOURCE, tmp_path / "out", PROFILE="smoke", IMAGE_FOLDER=str(seven), INTERACTIVE=False)
    with pytest.raises(ValueError, match=r"^7 image\(s\) are too few to train on: one step takes a batch of 16 "
                                         r"images \(BATCH_SIZE\).*IMAGE_FOLDER.*a smaller BATCH_SIZE"):
        run_cell(SOURCE, "1a7283f5", namespace)
    namespace = run_setup(SOURCE, tmp_path / "out4", PROFILE="smoke", IMAGE_FOLDER=str(seven), INTERACTIVE=False,
                          BATCH_SIZE=4)
    printed = run_cell(SOURCE, "1a7283f5", namespace)
    assert "7 images of (3, 32, 32) from" in printed and "stand in for CelebA" in printed


def test_feature_matching_sees_a_shift_of_the_fake_features():
    """A constant added to the fake images' features just before D's first batch norm moves the
    fake features' mean: the feature-matching loss the chapter's loop trains G with must grow
    with it. Through D as two batches (each normalised with its own statistics) the shift is
    removed and the loss stays where it was: what the chapter did before."""
    loop = next(c.source for c in source_cells() if c.source.startswith("for epoch in run.epochs()"))
    assert "loss_G = feature_matching_loss_G(D, real, fake)" in loop
    namespace = notebook_networks()
    for cell in source_cells():  # exercise 2's solution, then the loss the loop uses
        if cell.source.startswith(("def feature_matching_loss(", "def feature_matching_loss_G(")):
            exec(compile(cell.source, f"{CHAPTER}: {cell.id}", "exec"), namespace)
    torch.manual_seed(0)
    D = namespace["Discriminator"](32, 8).apply(gh.dcgan_init).train()
    real, fake = torch.rand(2, 16, 3, 32, 32) * 2 - 1
    state = {"shift": 0.0, "fake_rows": None}

    def find_fake_rows(module, args):  # whichever way the images are batched
        rows = args[0].flatten(1)
        state["fake_rows"] = (rows[:, None] == fake.flatten(1)[None]).all(-1).any(-1)

    def shift_fake_rows(module, args):
        return args[0] + state["shift"] * state["fake_rows"].view(-1, 1, 1, 1)

    norm = next(m for m in D.body if isinstance(m, nn.BatchNorm2d))
    D.body.register_forward_pre_hook(find_fake_rows)
    norm.register_forward_pre_hook(shift_fake_rows)

    def two_batches(D, real, fake):
        return namespace["feature_matching_loss"](D.features(real), D.features(fake))

    def losses(loss_fn) -> list[float]:
        out = []
        for shift in (0.0, 0.0122):  # 0.0122: the spread of the first norm's input
            state["shift"] = shift
            with torch.no_grad():
                out.append(loss_fn(D, real, fake).item())
        return out

    # measured: one batch 27.2 -> 125.9 (the shift reaches the loss); two batches 25.06 both
    one = losses(namespace["feature_matching_loss_G"])
    assert one[1] > 3 * one[0] > 0
    two = losses(two_batches)
    assert two[1] == pytest.approx(two[0], rel=1e-5)
