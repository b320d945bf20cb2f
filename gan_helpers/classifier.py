"""Two small classifiers that score generated images without the internet: digits and CIFAR-10.

Inception Score and FID need an Inception network trained on ImageNet; for digits a classifier
trained on digits is the better judge, and for CIFAR-10 samples a compact classifier trained on
CIFAR-10 gives a classifier-based Inception Score, a Fréchet distance in its feature space and
the class histogram of a GAN's samples (mode collapse shows at a glance). These numbers are
comparable with each other, not with published FID/IS values. Both work the same way::

    model = gh.load_classifier("digits", device)     # or "cifar10"
    scorer = gh.Scorer(model, reference_images)      # real images in [-1, 1]
    scores = scorer.score(fake)                      # IS, FD, readings, class histogram
    accuracy = gh.evaluate_accuracy(model, images, labels)

The weights ship in ``gan_helpers/weights`` (``digit_classifier.pt``, ``cifar10_classifier.pt``,
each with its training record in ``meta``); maintainers reproduce them with
``tools/train_classifier.py`` and ``tools/train_cifar_classifier.py`` (``make classifier``,
``make classifier-cifar``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .metrics import class_histogram, feature_statistics, frechet_distance, inception_score

# torchvision's order, which is also the sorted order of the class folders of an image folder
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")  # the ten class names, in the label order of CIFAR-10


class DigitClassifier(nn.Module):
    """CNN for 28x28 digits in [-1, 1]: ``features`` (N, 128) after global pooling, ``forward`` logits (N, 10)."""

    classes = tuple("0123456789")
    image_shape = (1, 28, 28)
    batch_size = 1000  # images per forward pass in classify
    label = "digits"  # names the columns of Scores.as_row
    weights_file = "digit_classifier.pt"
    feature_dim = 128

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.body = nn.Sequential(
            *block(1, 32), *block(32, 32), nn.MaxPool2d(2),  # 14x14
            *block(32, 64), *block(64, 64), nn.MaxPool2d(2),  # 7x7
            *block(64, self.feature_dim), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(self.feature_dim, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [-1, 1] -> features (N, 128)."""
        return self.body(x)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Features (N, 128) -> class logits (N, 10)."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [-1, 1] -> class logits (N, 10)."""
        return self.logits(self.body(x))


DEFAULT_WIDTHS = (48, 96, 192)


class CifarClassifier(nn.Module):
    """VGG-like CNN for 32x32 RGB images in [-1, 1]: ``features`` (N, widths[-1]), ``forward`` logits (N, 10).

    A 3x3 stem, then three blocks of conv -> 2x2 max-pool -> BN -> GELU -> conv -> BN -> GELU
    (32 -> 16 -> 8 -> 4 pixels; pooling right after the first conv makes the second conv 4x
    cheaper), then a global max over the last 4x4 map: the feature vector used for the Fréchet
    distance. ``widths`` are the channels of the three blocks. The logits are scaled by 1/8: the
    max-pooled features are all positive and large, and unscaled logits make the first steps of
    training at a high learning rate unstable (the same trick as Keller Jordan's airbench).
    """

    classes = CIFAR10_CLASSES
    image_shape = (3, 32, 32)
    batch_size = 500
    label = "CIFAR clf"
    weights_file = "cifar10_classifier.pt"
    logit_scale = 1 / 8

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

    @property
    def feature_dim(self) -> int:
        """The length of a feature vector: the channels of the last block."""
        return self.widths[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, 32, 32) in [-1, 1] -> features (N, feature_dim): the last map's global maximum."""
        return self.body(x)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Features (N, feature_dim) -> class logits (N, 10), scaled by ``logit_scale``."""
        return self.head(features) * self.logit_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, 32, 32) in [-1, 1] -> class logits (N, 10)."""
        return self.logits(self.body(x))


Classifier = DigitClassifier | CifarClassifier
CLASSIFIERS = {"digits": DigitClassifier, "cifar10": CifarClassifier}


def load_classifier(name: str, device: str | torch.device = "cpu", path: str | Path | None = None) -> Classifier:
    """The shipped classifier ``name`` ("digits" or "cifar10"), or the checkpoint at ``path``,
    rebuilt from its config, on ``device``, in eval mode; its training record is in ``model.meta``.

    Raises FileNotFoundError when the weights file is missing (a checkout without them).
    """
    if name not in CLASSIFIERS:
        raise ValueError(f"no classifier {name!r}; expected one of {sorted(CLASSIFIERS)}")
    network = CLASSIFIERS[name]
    if path is None:
        path = resources.files("gan_helpers") / "weights" / network.weights_file
    checkpoint = torch.load(str(path), map_location=device, weights_only=True)
    model = network(**checkpoint.get("config", {})).to(device)
    model.load_state_dict(checkpoint["model"])
    model.meta = checkpoint.get("meta", {})
    return model.eval()


@torch.no_grad()
def classify(model: Classifier, images: torch.Tensor, batch_size: int | None = None,
             flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, model.feature_dim) and class probabilities (N, 10), float64, of float images
    (N, *model.image_shape) in [-1, 1], ``batch_size`` (default ``model.batch_size``) at a time.

    ``flip=True`` averages features and logits over each image and its mirror image (test-time
    augmentation: a little more accurate, twice the cost).
    """
    if images.ndim != 4 or tuple(images.shape[1:]) != model.image_shape:
        raise ValueError(f"{type(model).__name__} expects images of shape (N, {', '.join(map(str, model.image_shape))}),"
                         f" got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        raise ValueError("expected float images in [-1, 1], got uint8: convert them with gh.to_unit_range")
    device = next(model.parameters()).device
    feats, probs = [], []
    for batch in images.split(batch_size or model.batch_size):
        batch = batch.to(device, torch.float32).contiguous(memory_format=torch.channels_last)
        f = model.features(batch)
        if flip:  # logits are linear in the features: this also averages the logits
            f = (f + model.features(batch.flip(3))) / 2
        feats.append(f.cpu())
        probs.append(F.softmax(model.logits(f), dim=1).cpu())
    return torch.cat(feats).double().numpy(), torch.cat(probs).double().numpy()


@dataclass
class Scores:
    """A classifier's scores of a set of images (``Scorer.score``)."""

    inception_score: float  # 1..10, higher is better (classifier-based, not Inception's)
    frechet_distance: float  # >= 0, lower is better (in the classifier's feature space)
    predicted: np.ndarray  # (N,) the classifier's reading of each sample
    probs: np.ndarray  # (N, 10)
    histogram: np.ndarray  # (10,) samples per class, in the order of classes
    classes: tuple[str, ...]  # the class names
    label: str  # which classifier: "digits" or "CIFAR clf"

    def as_row(self) -> dict:
        """The two numbers for a table: {"IS (<label>)": ..., "FD (<label>)": ...}, rounded to 0.01."""
        return {f"IS ({self.label})": round(self.inception_score, 2), f"FD ({self.label})": round(self.frechet_distance, 2)}

    def histogram_table(self) -> dict[str, int]:
        """Samples per class name, e.g. {"airplane": 103, ...}."""
        return dict(zip(self.classes, self.histogram.tolist()))


class Scorer:
    """Classifier-based IS, Fréchet distance and class histogram of samples against real images.

    ``model``: a classifier from :func:`load_classifier`; ``reference_images``: real images
    (N >= 2, *model.image_shape) in [-1, 1] whose feature mean and covariance the samples are
    compared with. ``flip`` as in :func:`classify`.
    """

    def __init__(self, model: Classifier, reference_images: torch.Tensor, flip: bool = False):
        self.model, self.flip = model, flip
        features, _ = classify(model, reference_images, flip=flip)
        self.reference_mu, self.reference_sigma = feature_statistics(features)

    def score(self, images: torch.Tensor) -> Scores:
        """The scores of ``images`` (N >= 2, *model.image_shape) in [-1, 1]."""
        features, probs = classify(self.model, images, flip=self.flip)
        mu, sigma = feature_statistics(features)
        fd = frechet_distance(mu, sigma, self.reference_mu, self.reference_sigma)
        predicted = probs.argmax(axis=1)
        classes = self.model.classes
        return Scores(inception_score(probs), fd, predicted, probs, class_histogram(predicted, len(classes)),
                      classes, self.model.label)


def evaluate_accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor, flip: bool = False) -> float:
    """Share (0 to 1) of images (N, *model.image_shape) in [-1, 1] whose predicted class equals labels (N,)."""
    _, probs = classify(model, images, flip=flip)
    return float((probs.argmax(axis=1) == labels.cpu().numpy()).mean())
