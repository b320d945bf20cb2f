"""Retrain the digit classifier shipped in gan_helpers/weights (what `make classifier` runs).

    python tools/train_classifier.py --root data [--epochs 30] [--seed 0] [--out PATH]

Trains on the provisioned MNIST train split with small random affine augmentations and reports
the accuracy on the held-out split; the weights and that accuracy are saved together.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_helpers import evaluate_accuracy, load_digits, random_affine
from gan_helpers.classifier import DigitClassifier  # the network itself: maintainers only

ROOT = Path(__file__).resolve().parents[1]


def train_digit_classifier(root: str | Path, epochs: int = 30, batch_size: int = 64, seed: int = 0) -> tuple[DigitClassifier, float]:
    """Train on the MNIST train split under ``root``; returns (model, held-out test accuracy)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    train, test = load_digits("MNIST", root, "train"), load_digits("MNIST", root, "test")
    model = DigitClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * (len(train) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        for i in range(len(train) // batch_size):
            idx = order[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(model(random_affine(train.images[idx], generator)), train.labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        accuracy = evaluate_accuracy(model.eval(), test.images, test.labels)
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, held-out accuracy {accuracy:.4f}")
    return model.eval(), accuracy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the digit classifier that scores generated digits.")
    parser.add_argument("--root", default="data")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "gan_helpers" / "weights" / DigitClassifier.weights_file))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model, accuracy = train_digit_classifier(args.root, args.epochs, seed=args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    meta = {"held_out_accuracy": accuracy, "epochs": args.epochs, "seed": args.seed, "torch": str(torch.__version__)}
    torch.save({"model": model.state_dict(), "meta": meta}, args.out)
    print(f"held-out accuracy {accuracy:.4f}; trained in {time.perf_counter() - start:.0f} s; saved {args.out}")


if __name__ == "__main__":
    main()
