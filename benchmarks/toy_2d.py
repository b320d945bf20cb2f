"""Chapter 5's 2-D toy (Gulrajani et al., 2017, Fig. 1), measured: what the chapter will run, in
the shape of its cells, with the wall time of each part. A benchmark, not a test: it prints
times and results and asserts nothing.

    .venv/bin/python benchmarks/toy_2d.py OUT_FOLDER [--smoke] [--parts a b c] [--seed 0] [--threads 1]

a) critic value surfaces with G held fixed (the "fake" set is the data plus N(0, I) noise, as the
   paper's FIXED_GENERATOR): the BCE discriminator, weight clipping and the gradient penalty, with
   arrows of grad_x D at fake points (what G receives): OUT_FOLDER/toy_surfaces.png;
b) gradient norms layer by layer in a 12-layer critic under clipping at c in {0.1, 0.01, 0.001}
   against the penalty (the paper's Fig. 1b): OUT_FOLDER/toy_layer_gradients.png;
c) training at equal G steps: the non-saturating GAN, a weight-clipped WGAN and WGAN-GP on both
   mixtures, with VEEGAN's mode statistics and the critic's Wasserstein estimate against the exact
   empirical W1 of 512 real and 512 fake points: OUT_FOLDER/toy_training.png,
   OUT_FOLDER/toy_samples.npz (keys <gan>__<dataset>, arrays (N, 2)) and toy_metrics.json
   ({dataset: {gan: {"modes_covered", "n_modes", "high_quality"}}}).

Settings from the paper's toy script (igul222/improved_wgan_training, gan_toy.py): ReLU MLPs of
three hidden layers for G (z of size 2) and the critic; LAMBDA = 0.1 ("Smaller lambda makes things
faster for toy tasks"); n_critic = 5; clipping at 0.01 with RMSProp(5e-5); WGAN-GP with
Adam(1e-4, betas (0.5, 0.9)); batches of 256; width 512; fake = real + N(0, I) for the surfaces.
What this script changes to fit the chapter's budget is set and explained in PROFILES below.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_helpers import toy  # noqa: E402
from gan_helpers.losses import gradient_penalty  # noqa: E402

PROFILES = {
    # smoke: seconds in all, for CI; the shapes of the cpu run, nothing to read in the numbers
    "smoke": dict(width=32, batch_size=64, surface_steps=20, depth_width=32, depth_steps=5, g_steps=20, eval_every=10),
    # cpu: width 128 (the paper's 512 only for part b, where depth needs it), 600 G steps
    # (the paper's 100,000); measured at one thread on a loaded 2-core machine: a) 17 s,
    # b) 27 s, c) 127 s wall (about 80 s of CPU)
    "cpu": dict(width=128, batch_size=128, surface_steps=1000, depth_width=512, depth_steps=50, g_steps=600, eval_every=150),
}
LAMBDA = 0.1            # gan_toy.py's toy value; the paper's text says 10 for all its experiments
CLIP = 0.01             # weight clipping's box [-c, c] (Arjovsky et al., 2017)
N_CRITIC = {"gan": 1, "wgan_clip": 5, "wgan_gp": 5}   # critic steps per G step
# G's and D's learning rate: clipping's is the paper's; Adam's is 10x gan_toy.py's 1e-4, so
# that 600 G steps (not 100,000) get somewhere
LR = {"gan": 1e-3, "wgan_clip": 5e-5, "wgan_gp": 1e-3}
DEPTH_LAYERS = 12       # linear layers of part b's deep critic
N_EVAL = 512            # real and fake points for the exact W1 and the critic's estimate
N_MODE_SAMPLES = 2500   # samples for the mode statistics (VEEGAN's count)


def mlp(width: int, hidden_layers: int = 3, out_dim: int = 1) -> nn.Sequential:
    """2 -> width (ReLU) x hidden_layers -> out_dim: the paper's toy G (out 2) and critic (out 1)."""
    layers, d = [], 2
    for _ in range(hidden_layers):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


def make_optimizer(gan: str, params, lr: float) -> torch.optim.Optimizer:
    """RMSProp for clipping (momentum breaks it, Arjovsky et al.); Adam(0.5, 0.9) otherwise."""
    if gan == "wgan_clip":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.9))


def critic_loss(gan: str, D: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                gen: torch.Generator) -> torch.Tensor:
    """loss_D of each contender: BCE on logits, or the critic's -(mean D(real) - mean D(fake))."""
    if gan == "gan":
        d_real, d_fake = D(real), D(fake)
        return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    loss = D(fake).mean() - D(real).mean()
    if gan == "wgan_gp":
        epsilon = torch.rand(len(real), 1, generator=gen, device=real.device)
        loss = loss + gradient_penalty(D, real, fake, epsilon, weight=LAMBDA)[0]
    return loss


def critic_step(gan: str, D: nn.Module, opt_D: torch.optim.Optimizer, real: torch.Tensor,
                fake: torch.Tensor, gen: torch.Generator, clip: float = CLIP) -> float:
    """One step of D on a batch; clipping's weights go back into [-clip, clip] after it."""
    loss_D = critic_loss(gan, D, real, fake, gen)
    opt_D.zero_grad()
    loss_D.backward()
    opt_D.step()
    if gan == "wgan_clip":
        with torch.no_grad():
            for p in D.parameters():
                p.clamp_(-clip, clip)
    return loss_D.item()


# ---------------------------------------------------------------- a) value surfaces, G fixed
def part_a(cfg: dict, seed: int, out: Path) -> dict:
    data = toy.toy_dataset("8gaussians")
    gen = torch.Generator().manual_seed(seed)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    results = {}
    for ax, gan, title in zip(axes, ["gan", "wgan_clip", "wgan_gp"],
                              ["BCE discriminator, sigmoid(D)", f"weight clipping, c = {CLIP}",
                               f"gradient penalty, lambda = {LAMBDA}"]):
        torch.manual_seed(seed)
        D = mlp(cfg["width"])
        opt_D = make_optimizer(gan, D.parameters(), LR[gan])
        for _ in range(cfg["surface_steps"]):
            real = data.sample(cfg["batch_size"], gen)
            fake = data.sample(cfg["batch_size"], gen) + torch.randn(cfg["batch_size"], 2, generator=gen)
            critic_step(gan, D, opt_D, real, fake, gen)
        # the BCE D as the probability sigmoid(D) it plays with (its plateaus), and G's arrows
        # from the non-saturating loss -log sigmoid(D); a critic's own values and gradient
        shown = (lambda x: torch.sigmoid(D(x))) if gan == "gan" else D
        pulled = (lambda x: F.logsigmoid(D(x))) if gan == "gan" else D
        X, Y, values = toy.critic_surface(shown)
        fake = data.sample(64, gen) + torch.randn(64, 2, generator=gen)
        arrows = toy.critic_gradient(pulled, fake)
        norms = arrows.norm(dim=1)
        results[gan] = {"grad_norm_mean": norms.mean().item(), "grad_norm_min": norms.min().item(),
                        "grad_norm_max": norms.max().item(),
                        "value_range": float(values.max() - values.min())}
        ax.contourf(X, Y, values, levels=30, cmap="viridis")
        real = data.sample(500, gen)
        ax.scatter(real[:, 0], real[:, 1], s=3, c="orange", label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=6, c="white", edgecolors="k", linewidths=0.3, label="fake")
        ax.quiver(fake[:, 0], fake[:, 1], arrows[:, 0], arrows[:, 1], color="red", width=0.004)
        ax.set(title=f"{title}\n|grad| mean {norms.mean():.3g}", xlim=(-3, 3), ylim=(-3, 3), aspect="equal")
    axes[0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "toy_surfaces.png", dpi=100)
    plt.close(fig)
    return results


# ---------------------------------------------------------------- b) gradient norms per layer
def layer_gradient_norms(D: nn.Sequential) -> list[float]:
    """||d loss_D / d W|| of each Linear layer's weight, input side first (after backward)."""
    return [m.weight.grad.norm().item() for m in D if isinstance(m, nn.Linear)]


def part_b(cfg: dict, seed: int, out: Path) -> dict:
    data = toy.toy_dataset("8gaussians")
    gen = torch.Generator().manual_seed(seed)
    settings = [("wgan_clip", 0.1), ("wgan_clip", 0.01), ("wgan_clip", 0.001), ("wgan_gp", None)]
    results = {}
    for gan, clip in settings:
        torch.manual_seed(seed)
        D = mlp(cfg["depth_width"], hidden_layers=DEPTH_LAYERS - 1)
        opt_D = make_optimizer(gan, D.parameters(), LR[gan])
        if clip is not None:
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-clip, clip)
        norms = []
        for _ in range(cfg["depth_steps"]):
            real = data.sample(cfg["batch_size"], gen)
            fake = data.sample(cfg["batch_size"], gen) + torch.randn(cfg["batch_size"], 2, generator=gen)
            critic_step(gan, D, opt_D, real, fake, gen, clip=clip or CLIP)
            norms.append(layer_gradient_norms(D))  # the gradient the step just used
        label = f"clipping c = {clip}" if clip else f"gradient penalty, lambda = {LAMBDA}"
        results[label] = np.mean(norms[-20:], axis=0).tolist()  # the last steps' mean per layer
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, norms in results.items():
        ax.semilogy(range(1, DEPTH_LAYERS + 1), norms, marker="o", label=label)
    ax.set(xlabel="critic layer (1 = input side)", ylabel="|| d loss_D / d weight ||",
           title=f"{DEPTH_LAYERS}-layer critic, width {cfg['depth_width']}, G fixed")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "toy_layer_gradients.png", dpi=100)
    plt.close(fig)
    return results


# ---------------------------------------------------------------- c) training at equal G steps
@torch.no_grad()
def evaluate(gan: str, G: nn.Module, D: nn.Module, data: toy.GaussianMixture,
             gen: torch.Generator) -> dict:
    """Mode statistics on 2,500 samples; exact W1 of 512 real and 512 fake; the critic's estimate."""
    stats = toy.mode_statistics(G(torch.randn(N_MODE_SAMPLES, 2, generator=gen)), data)
    real, fake = data.sample(N_EVAL, gen), G(torch.randn(N_EVAL, 2, generator=gen))
    stats["w1_exact"] = toy.empirical_w1(real, fake)
    # a WGAN critic's mean D(real) - mean D(fake) estimates W1 (times its Lipschitz constant);
    # a BCE discriminator's does not estimate it at all
    stats["w1_critic"] = None if gan == "gan" else (D(real).mean() - D(fake).mean()).item()
    return stats


def train(gan: str, data: toy.GaussianMixture, cfg: dict, seed: int) -> tuple[list[dict], torch.Tensor]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    G, D = mlp(cfg["width"], out_dim=2), mlp(cfg["width"])
    opt_G, opt_D = make_optimizer(gan, G.parameters(), LR[gan]), make_optimizer(gan, D.parameters(), LR[gan])
    history, B = [], cfg["batch_size"]
    for step in range(1, cfg["g_steps"] + 1):
        for _ in range(N_CRITIC[gan]):
            with torch.no_grad():
                fake = G(torch.randn(B, 2, generator=gen))
            critic_step(gan, D, opt_D, data.sample(B, gen), fake, gen)
        d_fake = D(G(torch.randn(B, 2, generator=gen)))
        if gan == "gan":  # non-saturating: -log sigmoid(D(G(z)))
            loss_G = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        else:
            loss_G = -d_fake.mean()
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()
        if step % cfg["eval_every"] == 0 or step == cfg["g_steps"]:
            history.append({"g_step": step, **evaluate(gan, G, D, data, gen)})
    with torch.no_grad():
        samples = G(torch.randn(N_MODE_SAMPLES, 2, generator=gen))
    return history, samples


def part_c(cfg: dict, seed: int, out: Path) -> tuple[dict, dict]:
    histories, samples, table, times, floor = {}, {}, {}, {}, {}
    for name in toy.TOY_DATASETS:
        data = toy.toy_dataset(name)
        table[name] = {}
        # W1 of two real sets of 512: how far the exact W1 sits above 0 for a perfect G
        gen = torch.Generator().manual_seed(seed)
        floor[name] = toy.empirical_w1(data.sample(N_EVAL, gen), data.sample(N_EVAL, gen))
        for gan in N_CRITIC:
            start = time.perf_counter()
            histories[gan, name], samples[f"{gan}__{name}"] = train(gan, data, cfg, seed)
            times[f"{gan}__{name}"] = round(time.perf_counter() - start, 2)
            final = histories[gan, name][-1]
            table[name][gan] = {k: final[k] for k in ("modes_covered", "n_modes", "high_quality")}
    np.savez(out / "toy_samples.npz", **{k: v.numpy() for k, v in samples.items()})
    (out / "toy_metrics.json").write_text(json.dumps(table, indent=1))
    fig, axes = plt.subplots(2, 3, figsize=(11, 7.4))
    for row, name in zip(axes, toy.TOY_DATASETS):
        centres = toy.toy_dataset(name).centres
        for ax, gan in zip(row, N_CRITIC):
            points, stats = samples[f"{gan}__{name}"], table[name][gan]
            ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.4)
            ax.scatter(centres[:, 0], centres[:, 1], s=12, c="orange", marker="x")
            ax.set(title=f"{gan} on {name}: {stats['modes_covered']}/{stats['n_modes']} modes, "
                         f"{stats['high_quality']:.0%} hq", xlim=(-2, 2), ylim=(-2, 2), aspect="equal")
            ax.title.set_fontsize(8)
    fig.tight_layout()
    fig.savefig(out / "toy_training.png", dpi=100)
    plt.close(fig)
    return {"table": table, "seconds": times, "w1_real_vs_real": floor,
            "history": {f"{gan}__{name}": h for (gan, name), h in histories.items()}}, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the figures, toy_samples.npz and toy_metrics.json")
    parser.add_argument("--smoke", action="store_true", help="the smoke sizes (seconds, for CI)")
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = PROFILES["smoke" if args.smoke else "cpu"]
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"profile {'smoke' if args.smoke else 'cpu'}: {cfg}, seed {args.seed}, {args.threads} thread(s), "
          f"lambda {LAMBDA}, clip {CLIP}, n_critic {N_CRITIC}, lr {LR}")
    for part, run in (("a", part_a), ("b", part_b), ("c", part_c)):
        if part in args.parts:
            start = time.perf_counter()
            result = run(cfg, args.seed, args.out)
            seconds = time.perf_counter() - start
            print(f"\n== part {part}: {seconds:.1f} s")
            if part == "c":
                result, table = result
                for key, history in result["history"].items():
                    print(key, f"({result['seconds'][key]} s)")
                    for h in history:
                        critic = "-" if h["w1_critic"] is None else f"{h['w1_critic']:.4f}"
                        print(f"  G step {h['g_step']:5d}: modes {h['modes_covered']:2d}/{h['n_modes']}, "
                              f"hq {h['high_quality']:.3f}, W1 exact {h['w1_exact']:.4f}, critic {critic}")
                print("W1 of 512 real vs 512 other real points:", result["w1_real_vs_real"])
                print(json.dumps(table, indent=1))
            else:
                print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
