"""The plan on paper and in one step: FLOP counts of each kind of training step by hand, the
budget in images, the GPU time model (launch floor or FLOPs), the printed table, and one
full-sized training step of every chapter's networks on a tiny batch (CPU; CUDA adds mixed
precision). No test times anything."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

import book  # tools/book.py
import plan  # tools/plan.py
import gan_helpers as gh

CHAPTERS = book.chapter_notebooks()
CH1 = book.NOTEBOOKS / "01_vanilla_gan.ipynb"
CH5 = book.NOTEBOOKS / "05_wgan_gp_cifar10.ipynb"


class TinyG(nn.Module):
    """z (N, 4) -> images (N, 1, 5, 5)."""

    def __init__(self, latent_dim: int = 4):
        super().__init__()
        self.net = nn.Linear(latent_dim, 25)

    def forward(self, z):
        return self.net(z).view(-1, 1, 5, 5)


class TinyD(nn.Module):
    """images (N, 1, 5, 5) -> logits (N,): a 3x3 convolution to 2 channels, then a linear layer."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(1, 2, 3), nn.Linear(2 * 3 * 3, 1)

    def forward(self, x):
        return self.head(self.conv(x).flatten(1)).squeeze(1)


class TinyCritic(TinyD):
    """TinyD with a LeakyReLU between its two layers, as chapter 5's critic has after each convolution."""

    def forward(self, x):
        return self.head(nn.functional.leaky_relu(self.conv(x), 0.2).flatten(1)).squeeze(1)


# FLOPs of one image through each layer: a multiply-add is 2 FLOPs; biases and activations are not counted.
G_LINEAR = 2 * 4 * 25  # G: Linear 4 -> 25 = 200
D_CONV = 2 * (1 * 3 * 3) * 2 * (3 * 3)  # Conv2d 1 -> 2, 3x3 kernel, 5x5 -> 3x3 output = 324
D_HEAD = 2 * 18 * 1  # Linear 18 -> 1 = 36


def test_bce_step_flops_match_a_hand_count():
    """A layer's backward costs its forward twice (the gradient of its input and of its weights),
    except that no input gradient is computed where the input needs none: z, real images and
    detached fakes. Batch norm, activations and the optimizer are not counted."""
    batch = 8
    cost = plan.measure_step(TinyG, TinyD, {"latent_dim": 4}, batch, "bce")
    assert cost.image_shape == (1, 5, 5)
    # D step: G forward (200); D forward on real and on detached fake (2 x 360); two backwards through
    # D, each: head input and weights (2 x 36), conv weights only (324: its input needs no gradient)
    d_step = G_LINEAR + 2 * (D_CONV + D_HEAD) + 2 * (2 * D_HEAD + D_CONV)
    # G step: D forward on the same fakes (360); backward through D, now with the conv's input
    # gradient (2 x 36 + 2 x 324), and into G's weights only (200: z needs no gradient)
    g_step = (D_CONV + D_HEAD) + 2 * D_HEAD + 2 * D_CONV + G_LINEAR
    assert (d_step, g_step) == (1712, 1280)
    assert cost.flops == {"D step": batch * d_step, "G step": batch * g_step}
    assert cost.total_flops() == batch * 2992  # the old "3 x (F_G + 3 F_D)" said 3840


def test_the_gradient_penalty_and_its_double_backward_are_counted():
    """One critic step with the penalty, counted by hand on a tiny critic (conv, LeakyReLU, linear)."""
    batch = 8
    with_gp = plan.measure_step(TinyG, TinyCritic, {"latent_dim": 4}, batch, "wgan", n_critic=5, penalty=True)
    without = plan.measure_step(TinyG, TinyCritic, {"latent_dim": 4}, batch, "wgan", n_critic=5, penalty=False)
    critic = D_CONV + D_HEAD
    # without the penalty: G forward without gradients (200), the critic on real and fake (2 x 360) and
    # its backward from both (each 2 x 36 + 324, as D's step): the same as a BCE D step
    plain = G_LINEAR + 2 * critic + 2 * (2 * D_HEAD + D_CONV)
    # the penalty at the interpolates x:
    penalty = (critic  # 1. the critic's forward at x
               + D_HEAD + D_CONV  # 2. autograd.grad to x only (create_graph): each layer's input gradient
               # 3. loss.backward() through step 2's graph: the conv's input-gradient op differentiated for its
               #    incoming gradient (a convolution, 324) and for the weights (324); the head's for its weights (36)
               + 2 * D_CONV + D_HEAD
               # 4. and through the forward at x again: LeakyReLU's input gradient depends on its input (a zero
               #    derivative, but autograd carries it), so the conv's backward runs for its weights and x (2 x 324)
               + 2 * D_CONV)
    assert (plain, penalty) == (1712, 2052)
    assert without.flops["critic step"] == batch * plain
    assert with_gp.flops["critic step"] == batch * (plain + penalty)
    # G step: G forward (200), critic forward (360), its backward with the input gradient (2 x 360), G's weights (200)
    g_step = G_LINEAR + critic + 2 * critic + G_LINEAR
    assert with_gp.flops["G step"] == without.flops["G step"] == batch * g_step
    assert with_gp.total_flops() == batch * (5 * (plain + penalty) + g_step)


def test_chapter5_full_critic_step_by_hand():
    """Chapter 5's networks at the full width: the hand count of the issue (114 GFLOP with the penalty,
    61 without at width 128 and batch 64), written for any width and batch."""
    chapter = plan.read_chapter(CH5)
    config = chapter.config("full")
    w, batch = config["width"], config["batch_size"]
    # critic: 3 -> w -> 2w -> 4w, 4x4 kernels, stride 2 (32 -> 16 -> 8 -> 4), then a 4x4 head to one score
    c1, c2, c3, head = 2 * 3 * 16 * w * 16**2, 2 * w * 16 * 2 * w * 8**2, 2 * 2 * w * 16 * 4 * w * 4**2, 2 * 4 * w * 16
    critic = c1 + c2 + c3 + head
    # G: transposed convolutions z (1x1) -> 4w x 4x4 -> 2w x 8x8 -> w x 16x16 -> 3 x 32x32, counted per input pixel
    t0 = 2 * 100 * 4 * w * 16
    generator = t0 + 2 * 4 * w * 2 * w * 16 * 4**2 + 2 * 2 * w * w * 16 * 8**2 + 2 * w * 3 * 16 * 16**2
    # without the penalty: G forward, the critic twice forward and twice backward (its first layer: weights only)
    plain = generator + 2 * critic + 2 * (2 * critic - c1)
    # the penalty: forward, input gradients, their backward (a convolution and the weights' gradient per layer,
    # the head's too: a convolution's double backward computes both) and the forward's backward again (but the head)
    penalty = critic + critic + 2 * critic + 2 * (critic - head)
    g_step = generator + critic + 2 * critic + 2 * generator - t0
    cost = plan.measure_step(chapter.namespace["Generator"], chapter.namespace["Critic"], config, batch, "wgan",
                             config["n_critic"], penalty=True)
    assert cost.flops == {"critic step": batch * (plain + penalty), "G step": batch * g_step}
    if (w, batch) == (128, 64):
        assert round(batch * plain / 1e9) == 61 and round(batch * (plain + penalty) / 1e9) == 114
        assert round(cost.total_flops() / 1e9) == 623  # 5 critic steps and a G step


def test_kernels_are_counted_per_operation_and_depend_on_neither_batch_nor_width():
    training = plan.make_training(TinyG, TinyD, {"latent_dim": 4}, 2, "cpu", "bf16")
    counts = plan.run_step(training, "bce", penalty=False)
    d_ops, g_ops = counts["D step"].ops, counts["G step"].ops
    # D on real and on fake, forward and backward; G's step: D once more
    assert (d_ops["aten.convolution"], d_ops["aten.convolution_backward"]) == (2, 2)
    assert (g_ops["aten.convolution"], g_ops["aten.convolution_backward"]) == (1, 1)
    assert d_ops["aten._to_copy"] > 0  # autocast's casts to bf16
    assert d_ops["aten._foreach_addcdiv_"] == g_ops["aten._foreach_addcdiv_"] == 1  # one Adam update each
    # a sigmoid in each BCE's backward (D: two, G: one), and G's step logs mean D(x) and D(G(z)) (on the device)
    assert (d_ops["aten.sigmoid"], g_ops["aten.sigmoid"]) == (2, 1 + 2)
    assert not any(name in ops for ops in (d_ops, g_ops) for name in ("aten.view", "aten.t", "aten.detach"))
    # the scaler's operations come on top in fp16
    scaled = plan.run_step(plan.make_training(TinyG, TinyD, {"latent_dim": 4}, 2, "cpu", "fp16"), "bce", penalty=False)
    assert scaled["G step"].kernels > counts["G step"].kernels
    # chapter 3's networks (batch norm, several stages): the same operations at another batch and width
    chapter = plan.read_chapter(book.NOTEBOOKS / "03_dcgan_celeba.ipynb")
    G_cls, D_cls = chapter.model_pairs()[""]
    small, wider = ({**chapter.config("smoke"), "width": width} for width in (4, 8))
    ops = [{part: count.ops for part, count in plan.run_step(plan.make_training(G_cls, D_cls, config, batch, "cpu", "bf16"),
                                                             "bce", penalty=False).items()}
           for config, batch in ((small, 2), (wider, 3))]
    assert ops[0] == ops[1]


def test_budget_in_images_and_in_epochs():
    # 6,000,000 images of MNIST at batch 64: 937 batches an epoch, round(100.05) = 100 epochs
    assert plan.budget({"images": 6_000_000, "batch_size": 64}, {}, 60_000) == (100, 93_700, 5_996_800)
    assert plan.budget({"epochs": 100, "batch_size": 64}, {}, 60_000) == (100, 93_700, 5_996_800)  # the older tables
    # the WGAN-GP: 781 critic batches an epoch, round(640.2) = 640 epochs of 781 // 5 = 156 G steps of 5 critic steps
    spec = {"images": "images_wgan", "n_critic": "n_critic", "epoch_is": "critic"}
    config = {"images_wgan": 32_000_000, "batch_size": 64, "n_critic": 5}
    assert plan.budget(config, spec, 50_000) == (640, 640 * 156, 640 * 156 * 5 * 64)
    old = {"epochs": "epochs_wgan", "n_critic": 5, "epoch_is": "critic"}
    assert plan.budget({"epochs_wgan": 640, "batch_size": 64}, old, 50_000)[1] == 99_840
    # a run with a budget of a few images still trains an epoch; no budget at all is an error
    assert plan.budget({"images": 10, "batch_size": 64}, {}, 60_000) == (1, 937, 59_968)
    with pytest.raises(ValueError, match="no `images`"):
        plan.budget({"batch_size": 64}, {}, 60_000)
    # the DCGAN beside a WGAN-GP: one D step per G step, whatever the profile's n_critic
    assert plan.n_critic_of({"n_critic": 5}, {"images": "images_dcgan"}) == 1
    assert plan.n_critic_of({"n_critic": 5}, spec) == 5


def test_chapter1_full_plan_by_hand_is_at_the_launch_floor_on_an_h100():
    chapter = plan.read_chapter(CH1)
    config = chapter.config("full")
    (row,) = plan.plan_chapter(CH1, ["full"])
    assert row.skipped is None, row.skipped
    # all 60,000 MNIST digits at batch 64: 937 batches an epoch
    epochs = gh.epochs_for(config["images"], 937, 64) if "images" in config else config["epochs"]
    assert row.steps == epochs * 937 and row.images == row.steps * 64
    # G: 100 -> 256 -> 512 -> 1024 -> 784 and D: 784 -> 512 -> 256 -> 1, 2 FLOPs per multiply-add
    F_G = 2 * (100 * 256 + 256 * 512 + 512 * 1024 + 1024 * 784)
    F_D = 2 * (784 * 512 + 512 * 256 + 256 * 1)
    first_G, first_D = 2 * 100 * 256, 2 * 784 * 512  # the input gradients nobody needs (z; real and detached fakes)
    d_step = F_G + 2 * F_D + 2 * (2 * F_D - first_D)
    g_step = F_D + 2 * F_D + 2 * F_G - first_G
    assert row.cost.flops == {"D step": 64 * d_step, "G step": 64 * g_step}
    assert row.flops == row.steps * 64 * (d_step + g_step)
    assert row.image_shape == (1, 28, 28)
    # on an H100 the step waits on its kernel launches: the time is the floor, not the FLOPs
    floor = row.cost.total_kernels("bf16") * plan.LAUNCH_US / 1e6 + plan.STEP_PYTHON_MS / 1e3
    assert row.cost.total_flops() / (0.4 * 989e12) < floor / 10
    assert row.launch_bound("H100") and row.minutes("H100") == pytest.approx(row.steps * floor / 60)


def test_chapter5_plans_both_gans_and_the_wgan_gp_on_a_t4_is_bound_by_flops():
    """Chapter 5 trains a DCGAN and then a WGAN-GP (metadata gan_course.plan); a WGAN-GP epoch is one
    pass of the critic, so it holds len(loader) // n_critic G steps, each with n_critic critic steps."""
    chapter = plan.read_chapter(CH5)
    config = chapter.config("full")
    dcgan, wgan = plan.plan_chapter(CH5, ["full"])
    assert dcgan.skipped is None and wgan.skipped is None, (dcgan.skipped, wgan.skipped)
    assert dcgan.models == "DCGAN: Generator, Discriminator" and wgan.models == "WGAN-GP: Generator, Critic"
    batch, n_critic = config["batch_size"], config["n_critic"]
    batches = 50_000 // batch  # all of CIFAR-10's training images

    def epochs(run: str) -> int:
        return gh.epochs_for(config[f"images_{run}"], batches, batch) if f"images_{run}" in config else config[f"epochs_{run}"]

    assert dcgan.steps == epochs("dcgan") * batches and dcgan.images == dcgan.steps * batch
    assert wgan.steps == epochs("wgan") * (batches // n_critic)
    assert wgan.images == wgan.steps * n_critic * batch  # what the critic reads
    assert abs(wgan.steps - 100_000) < 1_000  # the 100,000 G iterations of Gulrajani et al. (2017)
    # the WGAN-GP's G step holds n_critic critic steps, with the penalty if the metadata says so
    penalty = bool(next(run for run in chapter.runs if run["name"] == "WGAN-GP").get("penalty"))
    cost = plan.measure_step(chapter.namespace["Generator"], chapter.namespace["Critic"], config, batch, "wgan", n_critic,
                             penalty=penalty)
    assert wgan.cost.repeats == {"critic step": n_critic, "G step": 1} and wgan.cost.flops == cost.flops
    assert dcgan.cost.repeats == {"D step": 1, "G step": 1}
    # on a T4 the arithmetic takes longer than the launches: the time is the FLOPs at 0.3 x 65 TFLOP/s
    for row in (dcgan, wgan):
        assert not row.launch_bound("T4")
        assert row.minutes("T4") == pytest.approx(row.flops / (0.3 * 65e12) / 60)


def test_overrides_and_estimate_minutes():
    (row,) = plan.plan_chapter(CH1, ["full"])
    # --step-ms replaces the floor, --tflops the throughput
    assert row.minutes("T4", step_ms=50) == pytest.approx(row.steps * 0.05 / 60)
    assert row.minutes("T4", tflops=1e-3, step_ms=1e-6) == pytest.approx(row.flops / 1e9 / 60)
    assert row.minutes("my GPU", tflops=1e-3) == pytest.approx(row.flops / 1e9 / 60)  # any name, with its TFLOP/s
    assert plan.estimate_minutes(CH1, "full", gpu="H100") == row.minutes("H100")
    # chapter 2 trains one pair (ARCH = "mlp"); the other is planned with the table evaluated for it
    chapter = plan.read_chapter(book.NOTEBOOKS / "02_conditional_gan.ipynb")
    mlp, conv = chapter.gans()
    assert (mlp.G.__name__, mlp.default, mlp.parameters) == ("MLPGenerator", True, {})
    assert (conv.G.__name__, conv.default, conv.parameters) == ("ConvGenerator", False, {"ARCH": "conv"})
    assert conv.label == "ConvGenerator, ConvDiscriminator (ARCH=conv)"
    with pytest.raises(ValueError, match="trains no GAN"):
        plan.estimate_minutes(book.NOTEBOOKS / "06_evaluation.ipynb", "full")
    with pytest.raises(ValueError, match="no huge profile"):
        plan.estimate_minutes(CH1, "huge")
    with pytest.raises(SystemExit, match="one GPU"):
        plan.main([CH1], ["full"], gpus=["T4", "A100"], tflops=10)
    with pytest.raises(SystemExit, match="--tflops"):
        plan.main([CH1], ["full"], gpus=["B200"])


def test_the_table_has_a_row_per_chapter_and_profile_with_t4_a100_and_h100_columns(capsys):
    rows = plan.main(CHAPTERS, plan.PROFILES)
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = [cell.strip() for cell in lines[0].split("|")]
    assert header[-3:] == ["T4", "A100", "H100"] and "kernels/step" in header
    for chapter in CHAPTERS:
        for profile in plan.PROFILES:
            row = next((line for line in lines if line.startswith(chapter.stem) and f"| {profile} " in line), None)
            assert row is not None, f"{chapter.stem} {profile} is missing from the plan"
            cells = [cell.strip() for cell in row.split("|")]
            if "skipped (" in row:  # chapter 6, or a notebook still without the profile
                assert "trains no GAN" in row or f"no {profile} profile" in row, row
            else:
                assert all(cell.rstrip("*").endswith((" min", " h", " s")) for cell in cells[-3:]), row
    assert len(rows) >= len(CHAPTERS) * len(plan.PROFILES)
    # the chapter's estimate sums the GANs it trains: chapter 2's default pair only
    mlp, conv = (row for row in rows if row.chapter == "02_conditional_gan" and row.profile == "cpu")
    assert mlp.default and not conv.default
    assert plan.estimate_minutes(book.NOTEBOOKS / "02_conditional_gan.ipynb", "cpu") == mlp.minutes("T4")
    assert "launch floor" in out and f"{plan.LAUNCH_US:g} us" in out and "0.4 x 989" in out
    assert "Not included: data loading" in out


def test_plan_command_line(monkeypatch, capsys):
    # chapter 6 trains nothing: the command's arguments without the cost of measuring a step
    monkeypatch.setattr(sys, "argv", ["book.py", "plan", "--profile", "gpu", "--gpu", "L4,V100", "06_evaluation"])
    book.main()
    out = capsys.readouterr().out
    header, _, row, *_ = out.splitlines()
    assert [cell.strip() for cell in header.split("|")][-2:] == ["L4", "V100"]
    assert row.startswith("06_evaluation") and "| gpu " in row and "L4 0.3 x 121" in out
    monkeypatch.setattr(sys, "argv", ["book.py", "plan", "--gpu", "T4,A100", "--tflops", "10", "06_evaluation"])
    with pytest.raises(SystemExit, match="one GPU"):
        book.main()


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_full_settings_pass_validation(path):
    chapter = plan.read_chapter(path)
    config = gh.select_profile("full", chapter.profiles)
    assert config["profile"] == "full" and config["batch_size"] >= 32


TRAINING = [path for path in CHAPTERS if book.chapter_stage(path) == "train"]


def test_every_chapter_that_trains_is_planned_and_the_others_only_score():
    """The step test below runs over the chapters that train; only the scoring chapter is left."""
    assert [path.stem for path in CHAPTERS if path not in TRAINING] == ["06_evaluation"]
    assert all(plan.read_chapter(path).gans() for path in TRAINING)


@pytest.mark.parametrize("path", TRAINING, ids=[p.stem for p in TRAINING])
def test_one_full_sized_training_step_on_a_tiny_batch(path):
    """Every GAN a chapter trains (chapter 2's both architectures, chapter 4's gh.Generator and
    gh.Discriminator, chapter 5's DCGAN and its WGAN-GP critic), at the full profile's sizes: one
    step of the chapter's loop with the plan's step functions (D then G with BCE; or the critic
    with its gradient penalty then G), Adam, the EMA of G and gh.MixedPrecision: fp32 on the CPU,
    and fp16 with loss scaling on CUDA."""
    chapter = plan.read_chapter(path)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for run in chapter.gans():
        config = chapter.config("full", **run.parameters)
        wgan = "n_critic" in run.spec
        for device in devices:
            torch.manual_seed(0)
            t = plan.make_training(run.G, run.D, config, batch=2, device=device,
                                   precision="fp16" if device == "cuda" else "fp32")
            before = [p.detach().clone() for p in t.G.parameters()]
            z, *labels = t.draw()
            with t.autocast():
                fake, real_scores = t.G(z, *labels), t.D(t.real, *labels)
            if wgan:
                loss_D = plan.critic_step(t, run.spec.get("penalty", False), t.real, z, labels)
                loss_G = plan.wgan_g_step(t, *t.draw())
            else:
                *out, loss_D = plan.bce_d_step(t, t.real, z, labels)
                loss_G = plan.bce_g_step(t, *out)
            where = f"{run.label} on {device}"
            assert fake.shape[0] == 2 and fake.dim() == 4, f"{where}: G's output {tuple(fake.shape)}"
            if "image_size" in config:
                assert fake.shape[-2:] == (config["image_size"], config["image_size"]), where
            # the CPU path stays float32; under autocast on CUDA G's layers run in float16
            assert fake.dtype == (torch.float16 if device == "cuda" else torch.float32), where
            assert real_scores.shape == (2,), f"{where}: D's output {tuple(real_scores.shape)}"
            assert torch.isfinite(loss_D) and torch.isfinite(loss_G), where
            assert any(not torch.equal(a, b) for a, b in zip(before, t.G.parameters())), f"{where}: G did not move"


def test_the_ema_decay_of_each_chapter_s_settings():
    """Chapters 3 to 5 give the EMA of G a half-life in images (the decay once the ramp-up is
    over: 0.5 ** (batch / half-life)); chapters 1 and 2 a decay per step; the tools read both."""
    for path in TRAINING:
        chapter = plan.read_chapter(path)
        for profile in ("smoke", "cpu", "gpu", "full"):
            config = chapter.config(profile)
            decay = plan.ema_decay_of(config)
            assert 0 <= decay < 1, f"{path.stem} {profile}: {decay}"
            if path.stem in ("03_dcgan_celeba", "04_dcgan_anime", "05_wgan_gp_cifar10"):
                assert "ema_decay" not in config and config["ema_rampup"] == 0.05
                assert decay == pytest.approx(0.5 ** (config["batch_size"] / config["ema_half_life"]))
    config = plan.read_chapter(book.NOTEBOOKS / "03_dcgan_celeba.ipynb").config("cpu")
    assert plan.ema_decay_of(config) == pytest.approx(0.5 ** (64 / 5_000))
    assert plan.ema_decay_of({"ema_decay": 0.99, "batch_size": 64}) == 0.99


def test_the_anime_faces_are_counted_once_everywhere():
    """One count for the anime dataset: the plan's epochs, chapter 4's introduction and the
    dataset card in book/data.md (the plan said 63,565 while the chapter and the card said 63,632)."""
    import re

    import nbformat

    count = f"{plan.DATASET_SIZES['anime_faces']:,}"
    intro = nbformat.read(book.NOTEBOOKS / "04_dcgan_anime.ipynb", as_version=4).cells[0].source
    stated = re.findall(r"\((\d\d,\d\d\d) faces cropped", intro)
    card = re.findall(r"\| Size \| (\d\d,\d\d\d) images \|", (book.ROOT / "book" / "data.md").read_text())
    assert stated == [count] and card == [count], (count, stated, card)
