"""How much does chapter 1's visible training loop cost over a bare loop? (A benchmark, not a test.)

    .venv/bin/python benchmarks/bench_ch01_loop.py [--epochs 4] [--profile cpu]

1. Executes notebooks/01_vanilla_gan.ipynb with papermill for a few epochs of the chosen profile
   and reads its per-epoch wall times: the notebook's loop with everything it does for the
   reader (loader, per-step .item() records, NaN guard, progress bar, EMA, a checkpoint per epoch).
2. Runs a bare loop with the notebook's own G and D classes (taken from the notebook's cells),
   the same batch size and the same arithmetic (D step, G step, EMA update), on one tensor of
   pre-shuffled data, with nothing else.

Prints both throughputs in images per second and the overhead of the notebook's loop. The first
epoch of each is treated as warm-up.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import book  # noqa: E402
import gan_helpers as gh  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "01_vanilla_gan.ipynb"


def notebook_throughput(profile: str, epochs: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        book.execute(profile, force=True, notebooks=[NOTEBOOK], out_root=Path(tmp), outputs_root=Path(tmp) / "out",
                     parameters={"EPOCHS": epochs})
        out = Path(tmp) / "out" / book.resolve(profile) / NOTEBOOK.stem
        config = json.loads((out / "config.json").read_text())
        history = torch.load(out / "checkpoint.pt", weights_only=True)["history"]
    n_images = len(gh.load_digits("MNIST", ROOT / "data", n=config["n_train"]))
    steps = n_images // config["batch_size"]
    seconds = sum(row["seconds"] for row in history[1:])
    return steps * config["batch_size"] * (len(history) - 1) / seconds, config


def model_classes() -> dict:
    """Exec the notebook cells that define Generator and Discriminator; return them."""
    namespace = {"torch": torch, "nn": torch.nn, "F": F, "G_LOSS": "non-saturating"}
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code" and ("class Generator" in cell.source or "class Discriminator" in cell.source):
            exec(cell.source, namespace)
    return namespace


def bare_throughput(config: dict, epochs: int) -> float:
    classes = model_classes()
    data = gh.load_digits("MNIST", ROOT / "data", n=config["n_train"])
    torch.manual_seed(0)
    G, D = classes["Generator"](config["latent_dim"]), classes["Discriminator"](dropout=config["dropout"])
    G_ema = copy.deepcopy(G).eval()
    opt_G = torch.optim.Adam(G.parameters(), lr=config["lr"], betas=tuple(config["betas"]))
    opt_D = torch.optim.Adam(D.parameters(), lr=config["lr"], betas=tuple(config["betas"]))
    batch = config["batch_size"]
    steps = len(data) // batch
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    times = []
    for _ in range(epochs):
        images = data.images[torch.randperm(len(data))]
        start = time.perf_counter()
        for i in range(steps):
            real = images[i * batch : (i + 1) * batch]
            fake = G(torch.randn(batch, config["latent_dim"]))
            loss_D = F.binary_cross_entropy_with_logits(D(real), ones) + F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)
            opt_D.zero_grad(set_to_none=True)
            loss_D.backward()
            opt_D.step()
            loss_G = F.binary_cross_entropy_with_logits(D(fake), ones)
            opt_G.zero_grad(set_to_none=True)
            loss_G.backward()
            opt_G.step()
            gh.update_ema(G_ema, G, config["ema_decay"])
        times.append(time.perf_counter() - start)
    return steps * batch * (epochs - 1) / sum(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is warm-up)")
    in_notebook, config = notebook_throughput(args.profile, args.epochs)
    bare = bare_throughput(config, args.epochs)
    print(f"machine: {gh.describe_machine(torch.device('cpu'))}")
    print(f"profile {config['profile']}: batch {config['batch_size']}, {config['n_train']} images, {args.epochs} epochs (first = warm-up)")
    print(f"notebook loop: {in_notebook:,.0f} images/s")
    print(f"bare loop:     {bare:,.0f} images/s")
    print(f"overhead of the notebook loop: {bare / in_notebook - 1:+.1%} (target: at most +10%)")


if __name__ == "__main__":
    main()
