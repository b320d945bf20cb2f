"""How much does a conv chapter's visible loop cost over a bare loop, and how fast are its `cpu`
and `full` settings on this machine? (A benchmark, not a test.)

    .venv/bin/python benchmarks/bench_conv_loop.py [--chapter 03_dcgan_celeba] [--epochs 3]
                                                   [--image-folder DIR] [--full-steps 4]

1. The notebook's loop: the chapter's cells up to and including its training loop, executed by
   papermill in the `cpu` profile for ``--epochs`` epochs (everything the reader's loop does:
   the in-memory loader, per-step records, the NaN guard, progress bar, EMA, snapshots and a
   checkpoint per epoch). Per-epoch wall times come from the run's own history.
2. A bare loop with the same arithmetic (gh.Generator and gh.Discriminator, which a test checks
   are chapter 3's classes; BCE D step, non-saturating G step, EMA of G) on one uint8 tensor
   in memory, and nothing else: once as it is and once in ``torch.channels_last``.
3. The `full` setting (64x64, width 64, batch 128), bare, for ``--full-steps`` steps, both memory
   formats: what a step costs here, for comparison with a GPU.

The first epoch (or step) of each is warm-up. Image content does not change the arithmetic, so
without ``--image-folder`` the notebook trains on a generated folder of stand-in shapes
(tools/standin.py) of the profile's size; the bare loops use random pixels.
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

import gan_helpers as gh  # noqa: E402
import standin  # noqa: E402

LOOP_MARK = "for epoch in run.epochs():"


def notebook_rates(chapter: str, epochs: int, image_folder: Path | None, work: Path) -> tuple[list[float], dict]:
    """Per-epoch images/s of the chapter's own loop (cells up to the loop, papermill, cpu)."""
    import papermill

    source = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
    end = next(i for i, cell in enumerate(source.cells) if LOOP_MARK in cell.source)
    source.cells = source.cells[: end + 1]
    trimmed = work / f"{chapter}_to_loop.ipynb"
    nbformat.write(source, trimmed)
    if image_folder is None:
        profiles = {}
        for cell in source.cells:
            if cell.source.startswith("PROFILES = {"):
                exec(cell.source.split("\n}\n")[0] + "\n}", {}, profiles)
        image_folder = work / "standin"
        n = profiles["PROFILES"]["cpu"]["n_train"]
        print(f"writing {n:,} stand-in images to {image_folder} ...", flush=True)
        standin.write_standin_folder(image_folder, n)
    out = work / "out"
    papermill.execute_notebook(str(trimmed), str(work / "executed.ipynb"), cwd=str(ROOT / "notebooks"),
                               parameters={"PROFILE": "cpu", "EPOCHS": epochs, "OUT_DIR": str(out),
                                           "IMAGE_FOLDER": str(image_folder), "INTERACTIVE": False},
                               progress_bar=False)
    config = json.loads((out / "config.json").read_text())
    history = torch.load(out / "checkpoint.pt", weights_only=True)["history"]
    images = (config["n_train"] // config["batch_size"]) * config["batch_size"]
    return [images / row["seconds"] for row in history], config


def bare_rates(config: dict, epochs: int | None = None, steps: int | None = None,
               channels_last: bool = False) -> list[float]:
    """images/s per epoch (or per step) of the bare loop with the config's sizes."""
    torch.manual_seed(0)
    size, width, batch, latent = config["image_size"], config["width"], config["batch_size"], config["latent_dim"]
    G = gh.Generator(latent, size, width).apply(gh.dcgan_init)
    D = gh.Discriminator(size, width).apply(gh.dcgan_init)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    G, D = G.to(memory_format=memory), D.to(memory_format=memory)
    G_ema = copy.deepcopy(G).eval()
    opt_G = torch.optim.Adam(G.parameters(), lr=config["lr"], betas=tuple(config["betas"]))
    opt_D = torch.optim.Adam(D.parameters(), lr=config["lr"], betas=tuple(config["betas"]))
    n = config["n_train"] if steps is None else batch * steps
    data = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    bce = F.binary_cross_entropy_with_logits

    def step(real_uint8: torch.Tensor) -> None:
        real = gh.to_unit_range(real_uint8).contiguous(memory_format=memory)
        fake = G(torch.randn(batch, latent))
        loss_D = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()
        loss_G = bce(D(fake), ones)
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()
        gh.update_ema(G_ema, G, config["ema_decay"])

    rates = []
    if steps is not None:  # one rate per step
        for i in range(steps):
            start = time.perf_counter()
            step(data[i * batch : (i + 1) * batch])
            rates.append(batch / (time.perf_counter() - start))
        return rates
    per_epoch = (n // batch) * batch
    for _ in range(epochs):
        images = data[torch.randperm(n)]
        start = time.perf_counter()
        for i in range(n // batch):
            step(images[i * batch : (i + 1) * batch])
        rates.append(per_epoch / (time.perf_counter() - start))
    return rates


def mean_after_warmup(rates: list[float]) -> float:
    """Images/s over the epochs after the first (harmonic mean: total images / total time)."""
    rest = rates[1:]
    return len(rest) / sum(1 / r for r in rest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", default="03_dcgan_celeba", choices=["03_dcgan_celeba", "04_dcgan_anime"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-folder", type=Path, default=None)
    parser.add_argument("--full-steps", type=int, default=4)
    args = parser.parse_args()
    if args.epochs < 2 or args.full_steps < 2:
        parser.error("--epochs and --full-steps must be at least 2 (the first is warm-up)")
    with tempfile.TemporaryDirectory() as tmp:
        in_notebook, config = notebook_rates(args.chapter, args.epochs, args.image_folder, Path(tmp))
    bare = bare_rates(config, epochs=args.epochs)
    bare_cl = bare_rates(config, epochs=args.epochs, channels_last=True)
    full = config | {"image_size": 64, "width": 64, "batch_size": 128}
    full_rates = bare_rates(full, steps=args.full_steps)
    full_cl = bare_rates(full, steps=args.full_steps, channels_last=True)

    notebook_rate, bare_rate = mean_after_warmup(in_notebook), mean_after_warmup(bare)
    print(f"machine: {gh.describe_machine(torch.device('cpu'))}; torch threads {torch.get_num_threads()}")
    print(f"{args.chapter}, cpu profile: {config['image_size']}x{config['image_size']}, width {config['width']}, "
          f"batch {config['batch_size']}, {config['n_train']:,} images, {args.epochs} epochs (first = warm-up)")
    print(f"notebook loop:               {notebook_rate:7,.0f} images/s  (per epoch: {', '.join(f'{r:,.0f}' for r in in_notebook)})")
    print(f"bare loop:                   {bare_rate:7,.0f} images/s  (per epoch: {', '.join(f'{r:,.0f}' for r in bare)})")
    print(f"bare loop, channels_last:    {mean_after_warmup(bare_cl):7,.0f} images/s")
    print(f"overhead of the notebook loop: {bare_rate / notebook_rate - 1:+.1%} (target: at most +10%)")
    print(f"full setting (64x64, width 64, batch 128), bare: {mean_after_warmup(full_rates):,.0f} images/s, "
          f"channels_last: {mean_after_warmup(full_cl):,.0f} images/s ({args.full_steps} steps, first = warm-up)")


if __name__ == "__main__":
    main()
