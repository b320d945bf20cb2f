"""Retrain the CIFAR-10 classifier shipped in gan_helpers/weights (what `make classifier-cifar` runs).

    python tools/train_cifar_classifier.py --root data [--image-folder FOLDER] [--epochs 8] [--seed 0]

Data: torchvision's files (ROOT/cifar-10-batches-py) or an image folder with train/<class>/ and
test/<class>/ (ROOT/cifar10, or --image-folder), read by gan_helpers.datasets and kept in memory as
uint8. Trains on the train split (random crop with 4 pixels of reflection padding and horizontal
flips, done on tensors per batch; label smoothing; SGD with Nesterov momentum under a one-cycle
learning rate; bfloat16 autocast, which about doubles the speed of a CPU with AVX-512 BF16) and
reports the accuracy on the test split, with and without flip averaging. The weights, the config
that builds the network and that record are saved together.

Measured on 2 shared CPU cores: see the meta of the shipped weights (images/s, seconds, load).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan_helpers import CIFAR10_CLASSES, evaluate_accuracy, load_dataset_images, to_unit_range
from gan_helpers.classifier import DEFAULT_WIDTHS, CifarClassifier  # the network itself: maintainers only

ROOT = Path(__file__).resolve().parents[1]


def load_data(root: str | Path, image_folder: str | Path | None, split: str):
    """(uint8 images (N, 3, 32, 32), int64 labels (N,), source) of one CIFAR-10 split."""
    data = load_dataset_images("cifar10", root, image_folder, split=split, labelled=True)
    if tuple(data.classes) != CIFAR10_CLASSES:
        raise ValueError(f"expected the CIFAR-10 classes {CIFAR10_CLASSES} in {data.folder}, found {data.classes}")
    print(data.describe())
    return data.images, data.labels, data.source


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crops (reflection padding of ``pad`` pixels) and horizontal flips of float images (B, C, H, W)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    top = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    left = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (top[:, None] + torch.arange(h))[:, None, :, None]  # (B, 1, H, 1)
    cols = (left[:, None] + torch.arange(w))[:, None, None, :]  # (B, 1, 1, W)
    crops = padded[torch.arange(b)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]
    flip = torch.rand(b, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], crops.flip(3), crops)


def one_cycle(total_steps: int, warmup: float = 0.25):
    """The learning-rate factor per step: linear from 0.1 up to 1 over the first ``warmup`` of the
    steps, then linear down to 0.01 at the end (a one-cycle schedule: a short, high-rate run)."""
    peak = max(1, round(warmup * total_steps))
    return lambda step: float(np.interp(step, [0, peak, total_steps], [0.1, 1.0, 0.01]))


def train_one_epoch(model, optimizer, scheduler, images, labels, batch_size, generator, label_smoothing, bf16) -> float:
    """One pass over the shuffled training images (the last partial batch dropped); returns the mean loss."""
    model.train()
    order = torch.randperm(len(images), generator=generator)
    total, steps = 0.0, len(images) // batch_size
    for i in range(steps):
        idx = order[i * batch_size : (i + 1) * batch_size]
        x = augment(to_unit_range(images[idx]), generator).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), labels[idx], label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.item()
    return total / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the CIFAR-10 classifier that scores generated images.")
    parser.add_argument("--root", default="data", help="DATA_ROOT: cifar-10-batches-py or cifar10/ in it")
    parser.add_argument("--image-folder", default=None, help="a CIFAR-10 image folder (train/<class>/, test/<class>/)")
    parser.add_argument("--data-source", default=None, help="what to record as the data's origin (default: the loader's)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=0.4, help="peak learning rate of the one-cycle schedule")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--widths", type=int, nargs=3, default=list(DEFAULT_WIDTHS), help="channels of the three blocks")
    parser.add_argument("--n-train", type=int, default=None, help="train on a fixed subset (a pilot run), default all")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in float32")
    parser.add_argument("--eval-every", type=int, default=4, help="test accuracy every this many epochs (and at the end)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "gan_helpers" / "weights" / CifarClassifier.weights_file))
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train_images, train_labels, source = load_data(args.root, args.image_folder, "train")
    test_images, test_labels, _ = load_data(args.root, args.image_folder, "test")
    if args.n_train is not None:
        keep = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(args.seed))[: args.n_train]
        train_images, train_labels = train_images[keep], train_labels[keep]
    test_images = to_unit_range(test_images)

    model = CifarClassifier(tuple(args.widths)).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay)
    steps_per_epoch = len(train_images) // args.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_images)} training images do not fill one batch of {args.batch_size}")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, one_cycle(args.epochs * steps_per_epoch))
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters; {len(train_images):,} training images; "
          f"{args.epochs} epochs of {steps_per_epoch} steps; {args.threads} threads; bf16 {args.bf16}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)

    history, train_seconds, start = [], 0.0, time.perf_counter()
    for epoch in range(args.epochs):
        epoch_start = time.perf_counter()
        loss = train_one_epoch(model, optimizer, scheduler, train_images, train_labels, args.batch_size, generator,
                               args.label_smoothing, args.bf16)
        seconds = time.perf_counter() - epoch_start
        train_seconds += seconds
        rate = steps_per_epoch * args.batch_size / seconds
        record = {"epoch": epoch + 1, "loss": round(loss, 4), "images_per_second": round(rate), "load": round(os.getloadavg()[0], 1)}
        if (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs:  # 10,000 test images cost about a tenth of an epoch
            accuracy = evaluate_accuracy(model.eval(), test_images, test_labels)
            record["test_accuracy"] = round(accuracy, 4)
        history.append(record)
        print(", ".join(f"{key} {value}" for key, value in record.items()) + f", {time.perf_counter() - start:.0f} s", flush=True)
    accuracy_flip = evaluate_accuracy(model, test_images, test_labels, flip=True)
    wall_seconds = time.perf_counter() - start

    meta = {
        "test_accuracy": accuracy,  # on the test split, float32, no test-time augmentation
        "test_accuracy_flip": accuracy_flip,  # averaging each image with its mirror image
        "epochs": args.epochs, "seed": args.seed, "batch_size": args.batch_size, "lr": args.lr,
        "weight_decay": args.weight_decay, "label_smoothing": args.label_smoothing, "bf16": args.bf16,
        "train_images": len(train_images), "test_images": len(test_images),
        "data_source": args.data_source or source,
        "train_seconds": round(train_seconds), "wall_seconds": round(wall_seconds), "threads": args.threads,
        "images_per_second": round(args.epochs * steps_per_epoch * args.batch_size / train_seconds),
        "history": history, "torch": str(torch.__version__),
        "command": shlex.join(["python", "tools/train_cifar_classifier.py", *(sys.argv[1:] if argv is None else argv)]),
    }
    model = model.to(memory_format=torch.contiguous_format)
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "config": {"widths": list(args.widths)}, "meta": meta}, args.out)
    print(f"test accuracy {accuracy:.4f} ({accuracy_flip:.4f} with flip averaging); trained in {train_seconds:.0f} s "
          f"({meta['images_per_second']} images/s), {wall_seconds:.0f} s with evaluation; saved {args.out}")


if __name__ == "__main__":
    main()
