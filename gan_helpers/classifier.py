"""A small MNIST classifier that scores generated digits without the internet.

Inception Score and FID need an Inception network trained on ImageNet; for digits, a
classifier trained on digits is the better judge (and needs no download). The course ships
its weights in ``gan_helpers/weights/digit_classifier.pt``; they are reproduced with

    python tools/train_classifier.py --root data   (or: make classifier)

which trains on the provisioned MNIST train split and reports accuracy on the held-out split.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .metrics import feature_statistics, frechet_distance, inception_score

WEIGHTS = "digit_classifier.pt"
FEATURE_DIM = 128


class DigitClassifier(nn.Module):
    """CNN for 28x28 digits in [-1, 1]: ``features`` (N, 128) after global pooling, ``forward`` logits (N, 10)."""

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.body = nn.Sequential(
            *block(1, 32), *block(32, 32), nn.MaxPool2d(2),  # 14x14
            *block(32, 64), *block(64, 64), nn.MaxPool2d(2),  # 7x7
            *block(64, FEATURE_DIM), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def load_digit_classifier(path: str | Path | None = None, device: str | torch.device = "cpu") -> DigitClassifier:
    """The shipped classifier (or one at ``path``), in eval mode."""
    if path is None:
        path = resources.files("gan_helpers") / "weights" / WEIGHTS
    checkpoint = torch.load(str(path), map_location=device, weights_only=True)
    model = DigitClassifier().to(device)
    model.load_state_dict(checkpoint["model"])
    return model.eval()


@torch.no_grad()
def classify(model: DigitClassifier, images: torch.Tensor, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, 128) and class probabilities (N, 10) of images (N, 1, 28, 28) in [-1, 1]."""
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"expected digit images of shape (N, 1, 28, 28), got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        raise ValueError("expected float images in [-1, 1], got uint8: convert with gan_helpers.data.to_unit_range")
    device = next(model.parameters()).device
    feats, probs = [], []
    for batch in images.split(batch_size):
        f = model.features(batch.to(device))
        feats.append(f.cpu())
        probs.append(F.softmax(model.head(f), dim=1).cpu())
    return torch.cat(feats).double().numpy(), torch.cat(probs).double().numpy()


@dataclass
class DigitScores:
    inception_score: float  # 1..10, higher is better
    frechet_distance: float  # >= 0, lower is better
    predicted: np.ndarray  # (N,) the classifier's reading of each sample
    probs: np.ndarray  # (N, 10)

    def as_row(self) -> dict:
        return {"IS (digits)": round(self.inception_score, 2), "FD (digits)": round(self.frechet_distance, 2)}


class DigitScorer:
    """Classifier-based IS and Fréchet distance of samples against a reference set of real digits."""

    def __init__(self, reference_images: torch.Tensor, model: DigitClassifier | None = None):
        self.model = model or load_digit_classifier()
        features, _ = classify(self.model, reference_images)
        self.reference_mu, self.reference_sigma = feature_statistics(features)

    def score(self, images: torch.Tensor) -> DigitScores:
        features, probs = classify(self.model, images)
        mu, sigma = feature_statistics(features)
        fd = frechet_distance(mu, sigma, self.reference_mu, self.reference_sigma)
        return DigitScores(inception_score(probs), fd, probs.argmax(axis=1), probs)


# --- training (reproduces the shipped weights) -------------------------------------------


def train_digit_classifier(root: str | Path, epochs: int = 30, batch_size: int = 64, seed: int = 0) -> tuple[DigitClassifier, float]:
    """Train on the MNIST train split under ``root``; returns (model, held-out test accuracy)."""
    from .data import load_digits, random_affine

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


def evaluate_accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of images (N, 1, 28, 28) in [-1, 1] whose predicted class equals labels (N,)."""
    _, probs = classify(model, images)
    return float((probs.argmax(axis=1) == labels.cpu().numpy()).mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the digit classifier that scores generated digits.")
    parser.add_argument("--root", default="data")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "weights" / WEIGHTS))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model, accuracy = train_digit_classifier(args.root, args.epochs, seed=args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    meta = {"held_out_accuracy": accuracy, "epochs": args.epochs, "seed": args.seed, "torch": str(torch.__version__)}
    torch.save({"model": model.state_dict(), "meta": meta}, args.out)
    print(f"held-out accuracy {accuracy:.4f}; trained in {time.perf_counter() - start:.0f} s; saved {args.out}")


if __name__ == "__main__":
    main()
