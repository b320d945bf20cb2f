"""The shipped digit classifier: its accuracy, and the scores it gives real and degenerate digits;
the one loader of both classifiers (gan_helpers.classifier; CIFAR-10's: tests/test_cifar_classifier.py)."""

import numpy as np
import pytest
import torch

import gan_helpers as gh
from gan_helpers.classifier import classify


@pytest.fixture(scope="module")
def real(project_data):
    return gh.load_digits("MNIST", project_data, "train"), gh.load_digits("MNIST", project_data, "test")


@pytest.fixture(scope="module")
def scorer(real):
    return gh.Scorer(gh.load_classifier("digits"), real[0].images)


def test_held_out_accuracy_at_least_98_percent(real):
    model = gh.load_classifier("digits")
    accuracy = gh.evaluate_accuracy(model, real[1].images, real[1].labels)
    assert accuracy >= 0.98, f"held-out accuracy {accuracy:.4f}"


def test_real_digits_score_high_and_close(scorer, real):
    scores = scorer.score(real[1].images)
    assert scores.inception_score > 9.0  # 10 classes, confidently and evenly classified
    assert scores.frechet_distance < 1.0  # same distribution as the reference


def test_collapse_and_noise_score_low(scorer, real):
    ones = real[0].images[real[0].labels == 1][:500]
    collapsed = scorer.score(ones)
    assert collapsed.inception_score < 1.5  # a single class
    assert collapsed.frechet_distance > 10 * scorer.score(real[1].images).frechet_distance
    noise = scorer.score(torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert noise.frechet_distance > collapsed.frechet_distance * 0.5 and noise.inception_score < 3


def test_classify_shapes_and_errors():
    model = gh.load_classifier("digits")
    features, probs = classify(model, torch.zeros(3, 1, 28, 28))
    assert features.shape == (3, 128) and probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="28, 28"):
        classify(model, torch.zeros(3, 3, 32, 32))
    with pytest.raises(ValueError, match="uint8"):
        classify(model, torch.zeros(3, 1, 28, 28, dtype=torch.uint8))


def test_real_digits_are_read_evenly_and_the_row_names_the_classifier(scorer, real):
    scores = scorer.score(real[1].images)
    assert scores.histogram.sum() == len(real[1].images) and scores.classes == tuple("0123456789")
    assert scores.histogram.tolist() == np.bincount(scores.predicted, minlength=10).tolist()
    assert scores.as_row() == {"IS (digits)": round(scores.inception_score, 2), "FD (digits)": round(scores.frechet_distance, 2)}


def test_one_loader_for_both_classifiers(tmp_path):
    digits, cifar = gh.load_classifier("digits"), gh.load_classifier("cifar10", "cpu")
    assert type(digits).__name__ == "DigitClassifier" and type(cifar).__name__ == "CifarClassifier"
    assert digits.meta["held_out_accuracy"] >= 0.98 and not digits.training
    with pytest.raises(ValueError, match=r"no classifier 'mnist'; expected one of \['cifar10', 'digits'\]"):
        gh.load_classifier("mnist")
    with pytest.raises(FileNotFoundError):  # a checkout without the weights: chapter 5 says how to get them
        gh.load_classifier("cifar10", path=tmp_path / "missing.pt")
