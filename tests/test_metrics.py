"""The metrics against closed forms and values computed by hand."""

import numpy as np
import pytest

from gan_helpers.metrics import conditioned_accuracy, feature_statistics, frechet_distance, inception_score


def test_frechet_distance_one_dimension_closed_form():
    # N(1, 4) vs N(3, 9): (1-3)^2 + 4 + 9 - 2*sqrt(36) = 4 + 13 - 12 = 5
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == pytest.approx(5.0)


def test_frechet_distance_diagonal_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 2.0, 3.0]), np.array([4.0, 2.0, 0.5])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_rotation_invariant_and_zero_for_identical():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    sigma = a @ a.T + np.eye(5)
    mu = rng.normal(size=5)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))  # rotating both Gaussians keeps the distance
    mu2, sigma2 = mu + 1.0, 2 * sigma
    d = frechet_distance(mu, sigma, mu2, sigma2)
    assert frechet_distance(q @ mu, q @ sigma @ q.T, q @ mu2, q @ sigma2 @ q.T) == pytest.approx(d, rel=1e-6)
    # sigma2 = 2 sigma commute: trace term is tr(sigma)(1 + 2 - 2 sqrt 2)
    assert d == pytest.approx(5.0 + np.trace(sigma) * (3 - 2 * np.sqrt(2)), rel=1e-6)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_feature_statistics():
    features = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    mu, sigma = feature_statistics(features)
    np.testing.assert_allclose(mu, [2.0, 2.0])
    np.testing.assert_allclose(sigma, [[4.0, 3.0], [3.0, 3.0]])  # unbiased (N - 1) covariance


def test_inception_score_extremes():
    assert inception_score(np.eye(10)) == pytest.approx(10.0, rel=1e-6)  # confident and evenly spread
    assert inception_score(np.tile(np.eye(10)[3], (50, 1))) == pytest.approx(1.0)  # collapsed to one class
    assert inception_score(np.full((20, 10), 0.1)) == pytest.approx(1.0)  # no confidence at all


def test_inception_score_by_hand():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    marginal = probs.mean(0)
    kl = [sum(p * np.log(p / m) for p, m in zip(row, marginal)) for row in probs]
    assert inception_score(probs) == pytest.approx(np.exp(np.mean(kl)))
    assert inception_score(probs) == pytest.approx(1.3171, abs=1e-4)  # exp(mean(0.2928, 0.2580))


def test_inception_score_rejects_unnormalized():
    with pytest.raises(ValueError, match="summing to 1"):
        inception_score(np.ones((3, 4)))


def test_conditioned_accuracy():
    overall, per_class = conditioned_accuracy(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), num_classes=3)
    assert overall == pytest.approx(4 / 6)
    np.testing.assert_allclose(per_class, [0.5, 0.5, 1.0])
