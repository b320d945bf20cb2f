"""Chapter 5 (WGAN-GP against DCGAN on CIFAR-10): the smoke run, the critic's rules, the measures.

CI has no CIFAR-10: the chapter runs on tools/standin.py's shapes in class subfolders (three
"classes": ellipse, square, triangle) and says so. The gradient penalty itself is tested against
its closed form in tests/test_losses.py, the exercise checks in tests/test_ch05_exercises.py.
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
from chapter_cells import run_cell, run_setup
from conftest import assert_g_ema_recalibrated, read_metrics, stream_text

CHAPTER = "05_wgan_gp_cifar10"
SOURCE = book.NOTEBOOKS / f"{CHAPTER}.ipynb"
# The smoke run's first epoch on the CPU, on the stand-in (nbval compares the printed rows
# exactly; this band is what still holds on another CPU's arithmetic).
FIRST_EPOCH = {
    "dcgan": {"loss_D": 1.347, "loss_G": 0.715, "D(x)": 0.555, "D(G(z))": 0.516},
    "wgan_gp": {"loss_C": 9.232, "W": 0.004, "penalty": 9.236},  # the penalty dominates at first
}
BAND = 0.03


def cells() -> dict:
    return {cell.id: cell for cell in nbformat.read(SOURCE, as_version=4).cells}


def definitions(*cell_ids: str) -> dict:
    """The functions and classes the given cells define (their blocks separated by two blank
    lines that start with def, class or a decorator), in a namespace with the chapter's imports."""
    namespace = {"torch": torch, "nn": nn, "np": np, "gh": gh}
    for cell_id in cell_ids:
        for block in cells()[cell_id].source.split("\n\n\n"):
            if block.startswith(("def ", "class ", "@")):
                exec(block, namespace)
    return namespace


def chapter_config(tmp_path, **parameters) -> dict:
    """Run the setup, parameters and profiles cells with ``parameters``; return the namespace."""
    return run_setup(SOURCE, tmp_path, **parameters)


@pytest.mark.parametrize("run", ["dcgan", "wgan_gp"])
def test_both_g_emas_have_a_half_life_and_batch_norm_statistics_of_their_own(executed_smoke, run):
    """Chapter 3's G_EMA in both runs: recalibrated on 16 batches of z before it draws (its
    running statistics are its own, not G's copied by gh.update_ema), averaged by a half-life
    in images with a ramp-up (the chapter had one decay per profile, and G's statistics)."""
    assert_g_ema_recalibrated(executed_smoke["outputs"] / CHAPTER / run / "checkpoint.pt", norms=3)
    config = json.loads((executed_smoke["outputs"] / CHAPTER / "config.json").read_text())
    assert config["ema_half_life"] == 50 and config["ema_rampup"] == 0.05
    assert "ema_decay" not in config


def test_smoke_run_on_the_standin_says_so_keeps_classes_and_saves_both_gans(executed_smoke):
    notebook = nbformat.read(executed_smoke["dir"] / f"{CHAPTER}.ipynb", as_version=4)
    text = stream_text(notebook)
    assert "Traceback" not in text
    assert "source: test stand-in" in text and "in 3 classes" in text
    assert "images per class: {'ellipse': 64, 'square': 64, 'triangle': 64}" in text
    out = executed_smoke["outputs"] / CHAPTER
    config = json.loads((out / "config.json").read_text())
    for path in (out / "samples.npz", out / "dcgan" / "samples.npz"):
        images = np.load(path)["images"]
        assert images.shape == (config["n_samples"], 32, 32, 3) and images.dtype == np.uint8
    metrics = read_metrics(out)
    assert set(metrics["gans"]) == {"DCGAN", "WGAN-GP"}
    # both GANs scored on the same n_fid samples, so that their FIDs compare (the chapter
    # gave the one the classifier preferred n_fid and the other fewer)
    assert [m["FID n"] for m in metrics["gans"].values()] == [config["n_fid"]] * 2
    for numbers in metrics["gans"].values():
        assert 0 <= numbers["dup %"] <= 100 and numbers["seconds"] > 0
    assert metrics["train_seconds"] == pytest.approx(sum(m["seconds"] for m in metrics["gans"].values()))


def test_each_gan_has_its_own_checkpoint_and_the_wgan_logs_once_per_g_step(executed_smoke):
    out = executed_smoke["outputs"] / CHAPTER
    config = json.loads((out / "config.json").read_text())
    dcgan = torch.load(out / "dcgan" / "checkpoint.pt", weights_only=True)
    wgan = torch.load(out / "wgan_gp" / "checkpoint.pt", weights_only=True)
    # the image budgets as passes over the 192 stand-in images (12 batches of 16)
    assert dcgan["epoch"] == config["images_dcgan"] // 192 == 10
    assert wgan["epoch"] == config["images_wgan"] // 192 == 48
    assert "BatchNorm" not in " ".join(wgan["state_dicts"]["D"]), "batch norm in the critic"
    for row in wgan["history"]:
        assert {"loss_C", "loss_G", "W", "penalty", "grad_norm"} <= set(row)
        assert row["penalty"] >= 0 and row["grad_norm"] >= 0
    # measured at the epochs that keep a snapshot (every 8, the first and the last), not every epoch
    for state, measured in ((wgan, [1, 8, 16, 24, 32, 40, 48]), (dcgan, [1, 8, 10])):
        assert [row["epoch"] for row in state["history"] if "dup %" in row] == measured
        assert sorted(state["extra"]["snapshots"]) == measured
    for row in dcgan["history"]:
        assert {"loss_D", "loss_G", "D(x)", "D(G(z))"} <= set(row)


@pytest.mark.parametrize("gan", sorted(FIRST_EPOCH))
def test_first_epoch_of_the_smoke_run_is_where_it_was_recorded(executed_smoke, gan):
    state = torch.load(executed_smoke["outputs"] / CHAPTER / gan / "checkpoint.pt", weights_only=True)
    first = state["history"][0]
    assert first["epoch"] == 1 and state["config"]["profile"] == "smoke"
    for name, recorded in FIRST_EPOCH[gan].items():
        assert abs(first[name] - recorded) <= BAND * max(1.0, abs(recorded)), \
            f"{gan} epoch 1: {name} = {first[name]:.3f}, recorded {recorded}"


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_the_critic_has_no_batch_norm_no_sigmoid_and_scores_each_image_alone(norm):
    """The penalty constrains each sample's own gradient: a sample's score must not depend on
    the rest of the batch. A batch-norm critic (built here for contrast) fails the same check."""
    Critic = definitions("c5critic")["Critic"]
    torch.manual_seed(0)
    critic = Critic(32, 8, norm)
    kinds = {type(m) for m in critic.modules()}
    assert not kinds & {nn.BatchNorm2d, nn.Sigmoid, nn.Tanh}
    assert (nn.GroupNorm in kinds) == (norm == "layer")
    if norm == "layer":
        assert all(m.num_groups == 1 for m in critic.modules() if isinstance(m, nn.GroupNorm))
    x = torch.randn(6, 3, 32, 32)
    together = critic(x)
    alone = torch.cat([critic(x[i:i + 1]) for i in range(6)])
    assert together.shape == (6,) and torch.allclose(together, alone, atol=1e-5)
    batch_norm = nn.Sequential(nn.Conv2d(3, 4, 4, 2, 1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 16 * 16, 1))
    assert not torch.allclose(batch_norm(x)[:2], batch_norm(x[:2]), atol=1e-3)  # the check can fail


def test_the_dcgan_baseline_is_chapter_3s_d_with_dropout():
    with_dropout = definitions("c5dcgan")["with_dropout"]
    torch.manual_seed(0)
    plain = gh.Discriminator(32, 8).apply(gh.dcgan_init)
    D = with_dropout(gh.Discriminator(32, 8), 0.3)
    with torch.no_grad():  # dropout has no parameters or buffers: the same tensors, in order
        for mine, theirs in zip(D.state_dict().values(), plain.state_dict().values(), strict=True):
            mine.copy_(theirs)
    layers = list(D.body)
    relus = [i for i, m in enumerate(layers) if isinstance(m, nn.LeakyReLU)]
    assert len(relus) == 3 and all(isinstance(layers[i + 1], nn.Dropout) and layers[i + 1].p == 0.3 for i in relus)
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(D.eval()(x), plain.eval()(x))  # dropout is off in eval mode
    D.train()
    assert not torch.equal(D(x), D(x))  # and on in training


def test_the_collapse_measures():
    found = definitions("c5measure")
    effective, nearest = found["effective_classes"], found["nearest_neighbour_distances"]
    assert effective([100] * 10) == pytest.approx(10.0) and effective([0, 50, 0]) == pytest.approx(1.0)
    assert effective([50, 50, 0, 0]) == pytest.approx(2.0)
    images = torch.rand(5, 3, 4, 4) * 2 - 1
    images[3] = images[1]  # an exact duplicate
    distances = nearest(images)
    assert distances[1] == 0 and distances[3] == 0 and (distances[[0, 2, 4]] > 0).all()
    # RMS per pixel: an image and its negative in a two-image set are 2 * RMS(image) apart
    pair = torch.stack([images[0], -images[0]])
    assert torch.allclose(nearest(pair), 2 * images[0].pow(2).mean().sqrt().double().expand(2))


def test_a_batch_norm_critic_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="CRITIC_NORM='batch'.*batch"):
        chapter_config(tmp_path, PROFILE="smoke", CRITIC_NORM="batch")


def test_profiles_follow_the_issue_and_settings_get_their_own_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_OUT_ROOT", str(tmp_path))
    setup = chapter_config(tmp_path, PROFILE="cpu")
    cpu = setup["config"]
    assert (cpu["width"], cpu["n_samples"], cpu["n_fid"], cpu["n_critic"], cpu["gp_weight"]) == (32, 10_000, 2_000, 5, 10.0)
    # one sample count for both GANs' FID in every profile (cpu gave one of them 1,000 or 500)
    assert not any("n_fid_other" in row for row in setup["PROFILES"].values())
    full = chapter_config(tmp_path, PROFILE="full")["config"]
    assert (full["n_critic"], full["lr"], tuple(full["betas"]), full["batch_size"]) == (5, 1e-4, (0.0, 0.9), 64)
    other = chapter_config(tmp_path, PROFILE="smoke", OUT_DIR=None, N_CRITIC=1, CRITIC_NORM="layer")["OUT_DIR"]
    assert other.name == "critic_norm=layer,n_critic=1" and other.parent.name == CHAPTER


def test_chapter_declares_its_dataset():  # line lengths: tests/test_notebook_style.py
    assert book.chapter_dataset(SOURCE) == "cifar10"


def test_exactly_the_chapters_exercises_pass(executed_smoke):
    text = stream_text(nbformat.read(executed_smoke["dir"] / f"{CHAPTER}.ipynb", as_version=4))
    assert re.findall(r"\[PASSED\] Exercise (.+)", text) == ["1 · gradient penalty", "2 · W in one dimension",
                                                             "3 · JS divergence"]
    assert "[NOT DONE]" not in text and "[NOT YET RIGHT]" not in text and "note: exercise" not in text


def test_checked_outputs_are_those_stored(executed_smoke):
    """What nbval does for the chapters without an image dataset: every nbval-checked cell's
    output, from the smoke run on the stand-in, equals the output stored in the source."""
    executed = {c.id: c for c in nbformat.read(executed_smoke["dir"] / f"{CHAPTER}.ipynb", as_version=4).cells}
    checked = [c for c in cells().values() if c.cell_type == "code" and book.nbval_checked(c)]
    assert len(checked) == 6
    for cell in checked:
        stored = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        produced = "".join(o.get("text", "") for o in executed[cell.id].outputs if o.output_type == "stream")
        assert stored, f"no stored output for cell {cell.id}: run tools/book.py refresh-nbval {CHAPTER}"
        assert produced == stored, f"cell {cell.id} ({cell.source.splitlines()[0][:50]})"


def test_too_few_images_for_the_critic_steps_stop_at_the_data_cell(tmp_path):
    """60 images, batches of 16, 5 critic batches per G step: a pass makes 3 batches and no G
    step. The data cell says so and names what fixes it; N_CRITIC = 3 (48 images) is enough."""
    from standin import write_standin_folder

    sixty = write_standin_folder(tmp_path / "sixty", count=60)
    namespace = chapter_config(tmp_path / "out", PROFILE="smoke", IMAGE_FOLDER=str(sixty), INTERACTIVE=False)
    with pytest.raises(ValueError) as error:
        run_cell(SOURCE, "c5data", namespace)
    message = str(error.value)
    assert message.startswith("60 image(s) are too few to train on: one G step takes 5 critic batches (N_CRITIC)"
                              " of 16 images (batch_size), so at least 80 are needed.")
    assert "IMAGE_FOLDER" in message and "a smaller batch_size in PROFILES" in message
    assert "a smaller N_CRITIC in the parameters cell" in message
    namespace = chapter_config(tmp_path / "out3", PROFILE="smoke", IMAGE_FOLDER=str(sixty), INTERACTIVE=False,
                               N_CRITIC=3)
    printed = run_cell(SOURCE, "c5data", namespace)
    assert "60 images of (3, 32, 32) from" in printed and "stand in for CIFAR-10" in printed


def test_a_folder_without_class_subfolders_is_used_and_the_chapter_says_what_that_changes(tmp_path, standin_folder,
                                                                                          standin_classes_folder):
    """Training needs no labels, so a flat folder is accepted; the class counts are what is lost,
    and the classifier's class measures mean something only for CIFAR-10's classes."""
    flat = chapter_config(tmp_path / "flat", PROFILE="smoke", IMAGE_FOLDER=str(standin_folder), INTERACTIVE=False)
    printed = run_cell(SOURCE, "c5data", flat)
    assert "No class subfolders, so the images per class are not counted." in printed
    assert "'classes' collapse measure" in printed and "images per class:" not in printed
    classes = chapter_config(tmp_path / "classes", PROFILE="smoke", IMAGE_FOLDER=str(standin_classes_folder),
                             INTERACTIVE=False)
    printed = run_cell(SOURCE, "c5data", classes)
    assert "images per class: {'ellipse': 64, 'square': 64, 'triangle': 64}" in printed
    assert "No class subfolders" not in printed


TOY_GANS = ("gan", "wgan_clip", "wgan_gp")


def test_the_toy_results_are_recorded_and_agree_with_the_saved_samples(executed_smoke):
    """metrics.json's "toy" holds modes covered and the high-quality share for each GAN and toy
    dataset, and toy_samples.npz the final samples they were measured on: recomputing the
    measures from the saved points gives the recorded numbers."""
    out = executed_smoke["outputs"] / CHAPTER
    toy = read_metrics(out)["toy"]
    samples = np.load(out / "toy_samples.npz")
    assert set(toy) == set(TOY_GANS)
    assert sorted(samples.files) == sorted(f"{gan}__{name}" for gan in TOY_GANS for name in gh.TOY_DATASETS)
    for gan in TOY_GANS:
        assert set(toy[gan]) == set(gh.TOY_DATASETS)
        for name in gh.TOY_DATASETS:
            points = samples[f"{gan}__{name}"]
            assert points.shape == (2_500, 2) and np.isfinite(points).all()
            record = toy[gan][name]
            assert isinstance(record["modes_covered"], int) and record["n_modes"] == {"8gaussians": 8, "25gaussians": 25}[name]
            assert record == gh.mode_statistics(points, gh.toy_dataset(name))


def test_the_optimal_d_experiment_is_recorded_for_the_three_losses(executed_smoke):
    out = executed_smoke["outputs"] / CHAPTER
    optimal_d = read_metrics(out)["optimal_d"]
    config = json.loads((out / "config.json").read_text())
    assert set(optimal_d) == {"saturating log(1 - D)", "non-saturating -log D", "WGAN-GP -D"}
    for row in optimal_d.values():
        assert row["D steps"] == config["optd_steps"] and row["|grad| mean"] > 0 and row["|grad| std"] >= 0


def g_losses() -> dict:
    """The G_LOSSES table of the optimal-D cell (G's loss as a function of D's logits)."""
    namespace = {"F": torch.nn.functional}
    block = next(b for b in cells()["c5optd"].source.split("\n\n\n") if b.startswith("G_LOSSES"))
    exec(block, namespace)
    return namespace["G_LOSSES"]


def test_the_saturating_loss_vanishes_where_d_is_sure_and_the_non_saturating_does_not():
    """d/dl of log(1 - sigmoid(l)) is -sigmoid(l), of -log sigmoid(l) is -(1 - sigmoid(l)) (each
    over the batch's N). Where D is sure a fake is fake (l = -12), the first is -6e-6 / N: G gets
    almost nothing; the second is about -1 / N."""
    losses = g_losses()
    logits = torch.tensor([-12.0, -2.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    for name, expected in (("saturating log(1 - D)", -torch.sigmoid(logits) / 4),
                           ("non-saturating -log D", -(1 - torch.sigmoid(logits)) / 4)):
        (grad,) = torch.autograd.grad(losses[name](logits), logits)
        assert torch.allclose(grad, expected.detach(), rtol=1e-9, atol=0), name
    # and the values: log(1 - sigmoid(0)) = log 1/2; -log sigmoid(0) = log 2
    zero = torch.zeros(3, dtype=torch.float64)
    assert losses["saturating log(1 - D)"](zero).item() == pytest.approx(np.log(0.5))
    assert losses["non-saturating -log D"](zero).item() == pytest.approx(np.log(2))


def test_the_comparison_at_equal_g_steps_reads_the_dcgan_where_the_wgan_stopped(executed_smoke):
    notebook = nbformat.read(executed_smoke["dir"] / f"{CHAPTER}.ipynb", as_version=4)
    table = next(c for c in notebook.cells if c.id == "c5equal").outputs[0]["data"]["text/plain"]
    wgan = torch.load(executed_smoke["outputs"] / CHAPTER / "wgan_gp" / "checkpoint.pt", weights_only=True)
    g_steps = wgan["epoch"] * (192 // 16 // 5)  # 48 passes of 12 batches: 2 G steps each
    assert g_steps == 96
    assert f"DCGAN at {g_steps} G steps (equal steps)" in table and f"WGAN-GP at {g_steps} G steps (end)" in table
    assert "DCGAN at 120 G steps (end)" in table  # 10 passes of 12 batches


def test_the_collapse_control_measures_degraded_real_images_beside_the_gans(executed_smoke):
    notebook = nbformat.read(executed_smoke["dir"] / f"{CHAPTER}.ipynb", as_version=4)
    table = next(c for c in notebook.cells if c.id == "c5control").outputs[0]["data"]["text/plain"]
    for row in ("real (other images)", "real, blur 1.0", "real, noise 0.2", "DCGAN", "WGAN-GP"):
        assert row in table


def toy_pieces() -> dict:
    """The toy's mlp, toy_optimizer and toy_critic_step, with what they read from the chapter."""
    namespace = {"torch": torch, "nn": nn, "np": np, "gh": gh, "F": torch.nn.functional,
                 "device": torch.device("cpu"), "config": {"toy_lr": 1e-3}, "penalty_fn": gh.gradient_penalty}
    source = cells()["c5toysetup"].source
    exec(re.search(r"^TOY_LAMBDA, TOY_CLIP = .*$", source, re.M).group(0), namespace)
    for block in source.split("\n\n\n"):
        if block.startswith("def "):
            exec(block, namespace)
    return namespace


def test_the_toy_critic_steps_clip_and_separate():
    """Clipping leaves every weight in [-c, c] after a step (RMSProp would move them out); the
    BCE D and the penalised critic, trained on two separated clouds, score the real one higher."""
    toy = toy_pieces()
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(128, 2, generator=gen) * 0.1 + torch.tensor([1.0, 0.0])
    fake = torch.randn(128, 2, generator=gen) * 0.1 - torch.tensor([1.0, 0.0])
    torch.manual_seed(0)
    D = toy["mlp"](1, 16)
    with torch.no_grad():
        D[0].weight.fill_(0.5)  # far outside the box before the step
    toy["toy_critic_step"]("wgan_clip", D, toy["toy_optimizer"]("wgan_clip", D), real, fake, gen)
    assert max(p.abs().max().item() for p in D.parameters()) <= 0.01 + 1e-9
    for gan in ("gan", "wgan_gp"):
        torch.manual_seed(0)
        D = toy["mlp"](1, 16)
        opt = toy["toy_optimizer"](gan, D)
        for _ in range(100):
            toy["toy_critic_step"](gan, D, opt, real, fake, gen)
        with torch.no_grad():
            assert D(real).mean() - D(fake).mean() > 0.5, gan


def test_the_toy_surfaces_are_evaluated_on_the_chapters_device():
    """gh.critic_surface takes its device from a module's parameters; the chapter passes lambdas
    (sigmoid(D), log sigmoid(D)), which have none, so without device=device the grid would be
    made on the CPU and a GPU critic would fail on it."""
    calls = re.findall(r"gh\.critic_surface\(([^)]*)\)", cells()["c5surf"].source)
    assert calls and all("device=device" in call for call in calls)
