"""A small MNIST classifier that scores generated digits without the internet.

Inception Score and FID need an Inception network trained on ImageNet; for digits, a
classifier trained on digits is the better judge (and needs no download). The course ships
its weights in ``gan_helpers/weights/digit_classifier.pt``; they are reproduced with

    python tools/train_classifier.py --root data   (or: make classifier)

which trains on the provisioned MNIST train split and reports accuracy on the held-out split
(that training code is a maintainer's tool, so it lives in tools/, not in the package).
"""

from __future__ import annotations

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


def evaluate_accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of images (N, 1, 28, 28) in [-1, 1] whose predicted class equals labels (N,)."""
    _, probs = classify(model, images)
    return float((probs.argmax(axis=1) == labels.cpu().numpy()).mean())
