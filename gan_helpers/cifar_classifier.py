"""A small CIFAR-10 classifier that scores generated 32x32 colour images without the internet.

The standard FID and Inception Score need Inception weights (about 90 MB, not always at hand).
For CIFAR-10 samples the course also ships a compact classifier trained on CIFAR-10 itself; it
gives a classifier-based Inception Score, a Fréchet distance in its feature space and the class
histogram of a GAN's samples (how many look like each class: mode collapse shows at a glance).
These numbers are comparable with each other, not with published FID/IS values.

The weights live in ``gan_helpers/weights/cifar10_classifier.pt`` with their test accuracy and the
data they were trained on (``meta``); they are reproduced with

    python tools/train_cifar_classifier.py --root data [--image-folder FOLDER]   (make classifier-cifar)

Usage::

    scorer = gh.CifarScorer(reference_images)     # real images (N, 3, 32, 32) in [-1, 1]
    scores = scorer.score(fake)                   # IS, FD and the class histogram of the samples
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

WEIGHTS = "cifar10_classifier.pt"
# torchvision's order, which is also the sorted order of the class folders of an image folder
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DEFAULT_WIDTHS = (48, 96, 192)
LOGIT_SCALE = 1 / 8


class CifarClassifier(nn.Module):
    """VGG-like CNN for 32x32 RGB images in [-1, 1]: ``features`` (N, widths[-1]), ``forward`` logits (N, 10).

    A 3x3 stem, then three blocks of conv -> 2x2 max-pool -> BN -> GELU -> conv -> BN -> GELU
    (32 -> 16 -> 8 -> 4 pixels; pooling right after the first conv makes the second conv 4x
    cheaper), then a global max over the last 4x4 map: the feature vector used for the Fréchet
    distance. ``widths`` are the channels of the three blocks. The logits are scaled by 1/8: the
    max-pooled features are all positive and large, and unscaled logits make the first steps of
    training at a high learning rate unstable (the same trick as Keller Jordan's airbench).
    """

    def __init__(self, widths: tuple[int, int, int] = DEFAULT_WIDTHS, stem_width: int = 24) -> None:
        super().__init__()
        self.widths = tuple(int(w) for w in widths)

        def conv_bn(c_in: int, c_out: int, pool: bool = False) -> list[nn.Module]:
            layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
            if pool:
                layers.append(nn.MaxPool2d(2))
            return layers + [nn.BatchNorm2d(c_out), nn.GELU()]

        layers, c_in = conv_bn(3, stem_width), stem_width
        for width in self.widths:
            layers += conv_bn(c_in, width, pool=True) + conv_bn(width, width)
            c_in = width
        self.body = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(c_in, len(CIFAR10_CLASSES), bias=False)
        self.logit_scale = LOGIT_SCALE

    @property
    def feature_dim(self) -> int:
        return self.widths[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features) * self.logit_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.body(x))


def load_cifar_classifier(device: str | torch.device = "cpu", path: str | Path | None = None) -> CifarClassifier:
    """The shipped classifier (or the checkpoint at ``path``), rebuilt from its config, in eval mode.

    Its training record is in ``model.meta`` (test accuracy, epochs, seed, data source, torch).
    """
    if path is None:
        path = resources.files("gan_helpers") / "weights" / WEIGHTS
    checkpoint = torch.load(str(path), map_location=device, weights_only=True)
    model = CifarClassifier(**checkpoint["config"]).to(device)
    model.load_state_dict(checkpoint["model"])
    model.meta = checkpoint["meta"]
    return model.eval()


def _check_images(images: torch.Tensor) -> None:
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, 32, 32):
        raise ValueError(f"expected CIFAR-10-sized images of shape (N, 3, 32, 32), got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        raise ValueError("expected float images in [-1, 1], got uint8: convert with gan_helpers.data.to_unit_range")


@torch.no_grad()
def classify(model: CifarClassifier, images: torch.Tensor, batch_size: int = 500, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, model.feature_dim) and class probabilities (N, 10) of images (N, 3, 32, 32) in [-1, 1].

    ``flip=True`` averages features and logits over each image and its mirror image (test-time
    augmentation: a little more accurate, twice the cost).
    """
    _check_images(images)
    device = next(model.parameters()).device
    feats, probs = [], []
    for batch in images.split(batch_size):
        batch = batch.to(device, torch.float32).contiguous(memory_format=torch.channels_last)
        f = model.features(batch)
        if flip:  # logits are linear in the features: this also averages the logits
            f = (f + model.features(batch.flip(3))) / 2
        feats.append(f.cpu())
        probs.append(F.softmax(model.logits(f), dim=1).cpu())
    return torch.cat(feats).double().numpy(), torch.cat(probs).double().numpy()


def class_histogram(predicted: np.ndarray, num_classes: int = len(CIFAR10_CLASSES)) -> np.ndarray:
    """Counts (num_classes,) of each predicted class index in ``predicted`` (N,)."""
    predicted = np.asarray(predicted)
    if predicted.size and (predicted.min() < 0 or predicted.max() >= num_classes):
        raise ValueError(f"class indices must be in [0, {num_classes}), got {predicted.min()}..{predicted.max()}")
    return np.bincount(predicted.astype(np.int64).ravel(), minlength=num_classes)


@dataclass
class CifarScores:
    inception_score: float  # 1..10, higher is better (classifier-based, not Inception's)
    frechet_distance: float  # >= 0, lower is better (in the classifier's feature space)
    predicted: np.ndarray  # (N,) the classifier's reading of each sample
    probs: np.ndarray  # (N, 10)
    histogram: np.ndarray  # (10,) samples per class, in CIFAR10_CLASSES order

    def as_row(self) -> dict:
        return {"IS (CIFAR clf)": round(self.inception_score, 2), "FD (CIFAR clf)": round(self.frechet_distance, 2)}

    def histogram_table(self) -> dict[str, int]:
        """Samples per class name, e.g. {"airplane": 103, ...}."""
        return dict(zip(CIFAR10_CLASSES, self.histogram.tolist()))


class CifarScorer:
    """Classifier-based IS, Fréchet distance and class histogram of samples against real CIFAR-10 images.

    ``reference_images``: real images (N >= 2, 3, 32, 32) in [-1, 1] whose feature mean and
    covariance the samples are compared with. ``flip`` as in :func:`classify`.
    """

    def __init__(self, reference_images: torch.Tensor, model: CifarClassifier | None = None, flip: bool = False):
        self.model = model or load_cifar_classifier()
        self.flip = flip
        features, probs = classify(self.model, reference_images, flip=flip)
        self.reference_mu, self.reference_sigma = feature_statistics(features)
        self.reference_histogram = class_histogram(probs.argmax(axis=1))

    def score(self, images: torch.Tensor) -> CifarScores:
        features, probs = classify(self.model, images, flip=self.flip)
        mu, sigma = feature_statistics(features)
        fd = frechet_distance(mu, sigma, self.reference_mu, self.reference_sigma)
        predicted = probs.argmax(axis=1)
        return CifarScores(inception_score(probs), fd, predicted, probs, class_histogram(predicted))


def evaluate_accuracy(model: CifarClassifier, images: torch.Tensor, labels: torch.Tensor, flip: bool = False) -> float:
    """Share of images (N, 3, 32, 32) in [-1, 1] whose predicted class equals labels (N,)."""
    _, probs = classify(model, images, flip=flip)
    return float((probs.argmax(axis=1) == labels.cpu().numpy()).mean())
