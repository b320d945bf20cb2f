"""The `full` profile on paper and in one step: FLOP counts by hand, every chapter's full settings,
and one full-sized training step of every chapter's networks on a tiny batch (CPU; CUDA adds
mixed precision)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

import book  # tools/book.py
import plan  # tools/plan.py
import gan_helpers as gh

CHAPTERS = book.chapter_notebooks()


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


def test_flops_of_a_small_model_match_a_hand_count():
    batch = 8
    flops_G, flops_D, shape = plan.forward_flops(TinyG(), TinyD(), {"latent_dim": 4}, batch)
    # a multiply-add is 2 FLOPs; biases and activations are not counted
    # G: Linear 4 -> 25: 2 * 4 * 25 = 200 per image
    # D: Conv2d 1 -> 2, 3x3 kernel, 5x5 -> 3x3 output: 2 * (1 * 9) * 2 * (3 * 3) = 324; Linear 18 -> 1: 36
    assert shape == (1, 5, 5)
    assert flops_G == batch * 200
    assert flops_D == batch * (324 + 36)
    # a step: G once and D three times forward, x3 for the backward passes
    assert plan.step_flops(flops_G, flops_D) == 3 * (flops_G + 3 * flops_D)
    assert plan.step_flops(flops_G, flops_D, n_critic=5) == 3 * (5 * (flops_G + 2 * flops_D) + flops_G + flops_D)


def test_chapter1_full_plan_by_hand():
    rows = plan.plan_chapter(book.NOTEBOOKS / "01_vanilla_gan.ipynb", ["full"])
    (row,) = rows
    assert row.skipped is None, row.skipped
    # full: all 60,000 MNIST digits, 100 epochs of batch 64 (the last incomplete batch dropped)
    assert row.steps == 100 * (60_000 // 64) and row.images == row.steps * 64
    # G: 100 -> 256 -> 512 -> 1024 -> 784 and D: 784 -> 512 -> 256 -> 1, 2 FLOPs per multiply-add
    per_image_G = 2 * (100 * 256 + 256 * 512 + 512 * 1024 + 1024 * 784)
    per_image_D = 2 * (784 * 512 + 512 * 256 + 256 * 1)
    assert row.flops == row.steps * 3 * 64 * (per_image_G + 3 * per_image_D)
    assert row.image_shape == (1, 28, 28)
    # 111 TFLOP at 4.05 TFLOP/s plus 2 ms per step: about 4 minutes on a T4
    assert row.hours(4.05, 2.0) * 60 == pytest.approx(row.flops / 4.05e12 / 60 + row.steps * 0.002 / 60)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_full_settings_pass_validation(path):
    chapter = plan.read_chapter(path)
    config = gh.select_profile("full", chapter.profiles)
    assert config["profile"] == "full" and config["batch_size"] >= 32


def one_step(G: nn.Module, D: nn.Module, config: dict, batch: int, device: torch.device, amp: bool) -> dict:
    """One D step and one G step (BCE, Adam) on random 'real' images of G's own shape."""
    opt_G, opt_D = (torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for m in (G, D))
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    z, *labels = plan.example_inputs(G, config, batch, device)
    bce = nn.functional.binary_cross_entropy_with_logits
    before = [p.detach().clone() for p in G.parameters()]
    with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
        fake = G(z, *labels)
        real = torch.rand_like(fake, dtype=torch.float32) * 2 - 1
        real_logits, fake_logits = D(real, *labels), D(fake.detach(), *labels)
        loss_D = bce(real_logits.float(), torch.ones(batch, device=device)) + bce(fake_logits.float(), torch.zeros(batch, device=device))
    opt_D.zero_grad()
    scaler.scale(loss_D).backward()
    scaler.step(opt_D)
    with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
        loss_G = bce(D(fake, *labels).float(), torch.ones(batch, device=device))
    opt_G.zero_grad()
    scaler.scale(loss_G).backward()
    scaler.step(opt_G)
    scaler.update()
    moved = any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
    return dict(fake=fake, real_logits=real_logits, loss_D=loss_D, loss_G=loss_G, G_moved=moved)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_one_full_sized_training_step_on_a_tiny_batch(path):
    chapter = plan.read_chapter(path)
    pairs = chapter.model_pairs()
    if not pairs:
        pytest.skip(f"{path.stem}: no <X>Generator / <X>Discriminator classes to build")
    config = chapter.config("full")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for G_cls, D_cls in pairs.values():
        for device in devices:
            torch.manual_seed(0)
            G, D = plan.build(G_cls, config).to(device), plan.build(D_cls, config).to(device)
            out = one_step(G, D, config, batch=2, device=device, amp=device.type == "cuda")
            fake = out["fake"]
            assert fake.shape[0] == 2 and fake.dim() == 4, f"{G_cls.__name__}: G's output {tuple(fake.shape)}"
            if "image_size" in config:
                assert fake.shape[-2:] == (config["image_size"], config["image_size"])
            # the CPU path stays float32; under autocast on CUDA G's layers run in float16
            assert fake.dtype == (torch.float16 if device.type == "cuda" else torch.float32)
            assert out["real_logits"].shape == (2,)
            assert torch.isfinite(out["loss_D"]) and torch.isfinite(out["loss_G"]) and out["G_moved"]


def test_plan_command_prints_every_chapter():
    result = subprocess.run([sys.executable, str(book.ROOT / "tools" / "book.py"), "plan", "--profile", "full"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    for chapter in CHAPTERS:
        row = next((line for line in lines if line.startswith(chapter.stem)), None)
        assert row is not None, f"{chapter.stem} is missing from the plan"
        assert row.rstrip().endswith((" min", " h", " s")) or "skipped (" in row
    assert "est. time (T4)" in lines[0] and "x3 for forward + backward" in result.stdout
    ch1 = next(line for line in lines if line.startswith("01_vanilla_gan"))
    assert "93,700" in ch1 and "110.9 TFLOP" in ch1


def test_chapter5_plans_both_gans_with_their_own_epochs():
    """Chapter 5 trains a DCGAN and then a WGAN-GP (metadata gan_course.plan); a WGAN-GP epoch is
    one pass of the critic, so it holds len(loader) / n_critic G steps, each with n_critic critic steps."""
    path = book.NOTEBOOKS / "05_wgan_gp_cifar10.ipynb"
    chapter = plan.read_chapter(path)
    config = chapter.config("full")
    dcgan, wgan = plan.plan_chapter(path, ["full"])
    assert dcgan.skipped is None and wgan.skipped is None, (dcgan.skipped, wgan.skipped)
    assert dcgan.models == "DCGAN: Generator, Discriminator" and wgan.models == "WGAN-GP: Generator, Critic"
    batches = 50_000 // config["batch_size"]  # all of CIFAR-10's training images
    assert dcgan.steps == config["epochs_dcgan"] * batches and dcgan.images == dcgan.steps * config["batch_size"]
    assert wgan.steps == config["epochs_wgan"] * batches // config["n_critic"]
    assert wgan.images == config["epochs_wgan"] * batches * config["batch_size"]  # what the critic reads
    assert wgan.steps == 99_968  # about the 100,000 G iterations of Gulrajani et al. (2017)
    # the same G in both rows; the WGAN-GP step runs the critic n_critic times
    with torch.device("meta"):
        G = plan.build(chapter.namespace["Generator"], config)
        C = plan.build(chapter.namespace["Critic"], config)
    flops_G, flops_C, _ = plan.forward_flops(G, C, config, config["batch_size"])
    assert wgan.flops == wgan.steps * 3 * (5 * (flops_G + 2 * flops_C) + flops_G + flops_C)
