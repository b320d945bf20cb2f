"""Throughput of one training step of the conv GANs at 32x32: a DCGAN step (chapters 3 and 5's
baseline: D with dropout, BCE) against a WGAN-GP step (chapter 5: n_critic critic steps with the
gradient penalty, then one G step). A benchmark, not a test.

    .venv/bin/python benchmarks/bench_conv_steps.py [--widths 32 64] [--batch-size 64]
                                                    [--n-critic 5] [--seconds 10] [--threads 2]

The networks are the chapter's own: gh.Generator and gh.Discriminator (with the chapter's
dropout), and the Critic class taken from notebooks/05_wgan_gp_cifar10.ipynb's cells. Each
kind of step runs for about ``--seconds`` after two warm-up steps on random images (the data's
content does not change the arithmetic). Prints, per width, images per second for:

- DCGAN step: one D step and one G step on a batch (images of G's batch per second);
- critic step: one WGAN-GP critic step (G's fakes without a graph, the penalty's double backward);
- WGAN-GP G step: n_critic critic steps and one G step, counted as G's batch (what compares
  with a DCGAN step at equal G updates), and as critic images (what an epoch of the chapter,
  one pass of the critic over the data, costs).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gan_helpers as gh  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "05_wgan_gp_cifar10.ipynb"


def chapter_definitions() -> dict:
    """Exec the chapter's cells that define Critic and with_dropout; return them."""
    namespace = {"torch": torch, "nn": nn, "np": np, "F": F}
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code" and ("class Critic" in cell.source or "def with_dropout" in cell.source):
            source = cell.source.split("\n\n\n")[0]  # the definition, not the cell's later lines
            exec(source, namespace)
    return namespace


def rate(step, images_per_step: int, seconds: float) -> float:
    for _ in range(2):
        step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done < 3:
        step()
        done += 1
    return done * images_per_step / (time.perf_counter() - start)


def measure(width: int, batch_size: int, n_critic: int, seconds: float, norm: str) -> dict:
    defs = chapter_definitions()
    torch.manual_seed(0)
    G = gh.Generator(100, 32, width).apply(gh.dcgan_init)
    D = defs["with_dropout"](gh.Discriminator(32, width).apply(gh.dcgan_init), 0.3)
    critic = defs["Critic"](32, width, norm)
    opt_G = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_C = torch.optim.Adam(critic.parameters(), 1e-4, betas=(0.0, 0.9))
    real = torch.rand(batch_size, 3, 32, 32) * 2 - 1

    def dcgan_step():
        fake = G(torch.randn(batch_size, 100))
        real_logits, fake_logits = D(real), D(fake.detach())
        loss_D = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()
        logits = D(fake)
        loss_G = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()

    def critic_step():
        with torch.no_grad():
            fake = G(torch.randn(batch_size, 100))
        penalty, _ = gh.gradient_penalty(critic, real, fake, torch.rand(batch_size, 1, 1, 1))
        loss_C = critic(fake).mean() - critic(real).mean() + penalty
        opt_C.zero_grad(set_to_none=True)
        loss_C.backward()
        opt_C.step()

    def wgan_step():
        for _ in range(n_critic):
            critic_step()
        loss_G = -critic(G(torch.randn(batch_size, 100))).mean()
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()

    dcgan = rate(dcgan_step, batch_size, seconds)
    critic_rate = rate(critic_step, batch_size, seconds)
    wgan = rate(wgan_step, batch_size, seconds)
    return {"width": width, "DCGAN step": dcgan, "critic step": critic_rate,
            "WGAN-GP G step": wgan, "WGAN-GP critic images": wgan * n_critic}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--norm", choices=["none", "layer"], default="none", help="the critic's CRITIC_NORM")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = " ".join(f"{x:.2f}" for x in __import__("os").getloadavg())
    print(f"{gh.describe_machine(torch.device('cpu'))}; load average {load}; batch {args.batch_size},"
          f" n_critic {args.n_critic}, critic norm {args.norm!r}")
    print(f"{'width':>5} {'DCGAN step':>11} {'critic step':>12} {'WGAN-GP G step':>15} {'(critic imgs)':>14}  images/s")
    for width in args.widths:
        row = measure(width, args.batch_size, args.n_critic, args.seconds, args.norm)
        print(f"{row['width']:>5} {row['DCGAN step']:>11,.0f} {row['critic step']:>12,.0f} {row['WGAN-GP G step']:>15,.0f}"
              f" {row['WGAN-GP critic images']:>14,.0f}")
        print(f"      a WGAN-GP G step costs {row['DCGAN step'] / row['WGAN-GP G step']:.1f} DCGAN steps;"
              f" a critic step {row['DCGAN step'] / row['critic step']:.2f}")


if __name__ == "__main__":
    main()
