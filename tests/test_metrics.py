"""gan_helpers.metrics against closed forms, values computed by hand and torchmetrics: the
Fréchet distance, KID, the Inception Score, distances and neighbours, precision and recall, and
class counts. No network: every input is a small array written here."""

import numpy as np
import pytest
import torch

from gan_helpers.metrics import (FrechetReference, class_histogram, conditioned_accuracy, feature_statistics, fid_extrapolation,
                                 fid_from_features, flatten_pixels, frechet_distance, inception_score, inception_score_splits, kid,
                                 knn_radii, manifold_coverage, mmd2_unbiased, nearest_neighbours, pairwise_distances, polynomial_kernel,
                                 precision_recall)

# --- the Fréchet distance ------------------------------------------------------------------------



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

class _Identity(torch.nn.Module):
    """A 'network' that returns its input: torchmetrics then measures the features we give it."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x):
        return x


def _two_gaussians(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d))
    b = rng.normal(size=(n, d)) @ (np.eye(d) + 0.3 * rng.normal(size=(d, d)) / np.sqrt(d)) + 0.5
    return a, b


def test_fid_agrees_with_torchmetrics_on_the_same_features():
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = _two_gaussians(300, 128)
    metric = FrechetInceptionDistance(feature=_Identity(128))
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    theirs = float(metric.compute())
    ours = fid_from_features(real, fake)
    assert ours > 1 and abs(ours - theirs) <= 1e-3 * theirs


def test_fid_of_a_shifted_copy_is_the_squared_shift():
    real = np.random.default_rng(1).normal(size=(100, 16))
    shift = np.linspace(-1, 1, 16)
    assert fid_from_features(real, real + shift) == pytest.approx(shift @ shift, rel=1e-6)
    assert fid_from_features(real, real) == pytest.approx(0, abs=1e-6)


def test_frechet_reference_is_the_frechet_distance():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(80, 12)) @ rng.normal(size=(12, 12))
    reference = FrechetReference.of(real)
    for n in (5, 40, 200):  # fewer and more samples than dimensions
        fake = rng.normal(size=(n, 12)) * 2 + 1
        assert reference.fid(fake) == pytest.approx(fid_from_features(fake, real), rel=1e-8)
    assert FrechetReference.of(real).fid(real) == pytest.approx(0.0, abs=1e-8)


def test_frechet_reference_by_hand():
    # reference N((0, 0), diag(4, 9)); fake points (1, 0), (3, 0), (2, 3), (2, -3): mean (2, 0),
    # covariance diag(2/3, 6); d^2 = 4 + (2 - sqrt(2/3))^2 + (3 - sqrt 6)^2
    fake = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 3.0], [2.0, -3.0]])
    expected = 4 + (2 - np.sqrt(2 / 3)) ** 2 + (3 - np.sqrt(6)) ** 2
    assert FrechetReference(np.zeros(2), np.diag([4.0, 9.0])).fid(fake) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match=r"features must be \(N >= 2, 2\)"):
        FrechetReference(np.zeros(2), np.eye(2)).fid(np.zeros((3, 5)))



def test_fid_extrapolation_finds_the_limit_from_large_counts_only():
    # exact values FID_N = 30.5 + 2e5 / N at the `full` profile's counts: the fit returns 30.5
    large = np.array([5_000, 10_000, 20_000, 50_000])
    assert fid_extrapolation(large, 30.5 + 2e5 / large) == pytest.approx(30.5, rel=1e-9)
    # small counts (below 2,048 dimensions the FID is not linear in 1/N) are left out of the fit,
    # whatever their values; a fit over all counts would not give 30.5
    small = np.array([500, 1_000, 2_000])
    counts = np.concatenate([small, large])
    fids = np.concatenate([[900.0, 600.0, 400.0], 30.5 + 2e5 / large])
    assert fid_extrapolation(counts, fids) == pytest.approx(30.5, rel=1e-9)
    assert abs(np.polyfit(1 / counts, fids, 1)[1] - 30.5) > 10
    # least squares: noise of +-1 on alternate points moves the limit by a computable amount
    noisy = 30.5 + 2e5 / large + np.array([1.0, -1.0, 1.0, -1.0])
    x = 1 / large
    expected = np.linalg.lstsq(np.stack([np.ones(4), x], 1), noisy, rcond=None)[0][0]
    assert fid_extrapolation(large, noisy) == pytest.approx(expected, rel=1e-9)


def test_fid_extrapolation_refuses_to_fit_below_min_n_or_on_two_points():
    cpu = np.array([50, 100, 200, 500, 1_000])  # the `cpu` profile: every N < 5,000
    assert fid_extrapolation(cpu, 30.5 + 2e5 / cpu) is None
    gpu = np.array([500, 1_000, 2_000, 5_000, 10_000])  # the `gpu` profile: two counts >= 5,000
    assert fid_extrapolation(gpu, 30.5 + 2e5 / gpu) is None
    assert fid_extrapolation(gpu, 30.5 + 2e5 / gpu, min_points=2) == pytest.approx(30.5, rel=1e-9)
    assert fid_extrapolation(cpu, 30.5 + 2e5 / cpu, min_n=50) == pytest.approx(30.5, rel=1e-9)
    with pytest.raises(ValueError, match=r"two \(K,\) arrays"):
        fid_extrapolation(gpu, np.ones(3))

# --- KID -----------------------------------------------------------------------------------------


def test_polynomial_kernel_by_hand():
    x, y = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0], [0.0, 0.0]])
    # gamma 1/d = 1/2: (1/2 (3 - 2) + 1)^3 = 3.375 and (0 + 1)^3 = 1
    np.testing.assert_allclose(polynomial_kernel(x, y), [[3.375, 1.0]])
    np.testing.assert_allclose(polynomial_kernel(x, y, degree=2, gamma=1.0, coef0=0.0), [[1.0, 0.0]])


def test_mmd2_unbiased_by_hand_in_one_dimension():
    # x = (0, 1): k(0, 1) = 1; y = (2, 2): k(2, 2) = 5^3 = 125; cross: k(0, 2) = 1, k(1, 2) = 27:
    # 1 + 125 - 2 (1 + 1 + 27 + 27) / 4 = 98
    assert mmd2_unbiased(np.array([[0.0], [1.0]]), np.array([[2.0], [2.0]])) == pytest.approx(98.0)
    with pytest.raises(ValueError, match=r"\(m >= 2, d\)"):
        mmd2_unbiased(np.zeros((1, 3)), np.zeros((4, 3)))


def _mmd2_by_loops(x, y, degree=3, gamma=None, coef0=1.0):
    """Binkowski et al. (2018), eq. for the unbiased MMD^2, written out term by term."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    k = lambda a, b: (gamma * float(np.dot(a, b)) + coef0) ** degree  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("degree, gamma, coef0", [(3, None, 1.0), (2, 0.5, 0.0), (1, 1.0, 2.0)])
def test_mmd2_unbiased_matches_its_formula_written_as_loops(degree, gamma, coef0):
    rng = np.random.default_rng(degree)
    x, y = rng.normal(size=(7, 5)), rng.normal(loc=0.3, size=(9, 5))
    expected = _mmd2_by_loops(x, y, degree, gamma, coef0)
    assert mmd2_unbiased(x, y, degree, gamma, coef0) == pytest.approx(expected, rel=1e-10)
    # The biased V-statistic (diagonal terms kept) is a known-wrong answer this test tells apart.
    k = lambda a, b: (polynomial_kernel(a, b, degree, gamma, coef0)).mean()  # noqa: E731
    assert abs(k(x, x) + k(y, y) - 2 * k(x, y) - expected) > 1e-3


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_kid_agrees_with_torchmetrics_and_tells_equal_from_different_sets():
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = _two_gaussians(60, 16, seed=3)
    metric = KernelInceptionDistance(feature=_Identity(16), subsets=1, subset_size=60)
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    theirs = float(metric.compute()[0])
    mean, std = kid(real, fake, subset_size=None)
    assert mean == pytest.approx(theirs, rel=1e-6) and std == 0

    same = np.random.default_rng(4).normal(size=(400, 16))
    close, _ = kid(same[:200], same[200:], subset_size=100, num_subsets=20)
    far, _ = kid(same[:200], same[200:] + 0.5, subset_size=100, num_subsets=20)
    assert abs(close) < 0.02 < far


def test_kid_averages_mmd2_over_subsets_drawn_from_its_seed():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(12, 3)), rng.normal(size=(10, 3)) + 1
    draw = np.random.default_rng(7)  # the subsets kid draws with seed=7, in its order
    values = [mmd2_unbiased(real[draw.choice(12, 4, replace=False)], fake[draw.choice(10, 4, replace=False)]) for _ in range(3)]
    assert kid(real, fake, subset_size=4, num_subsets=3, seed=7) == (pytest.approx(np.mean(values)), pytest.approx(np.std(values)))
    # a subset size beyond both (equal) sets: one subset, the whole sets (MMD ignores their order)
    assert kid(real[:6], fake[:6], subset_size=50, num_subsets=5) == (pytest.approx(mmd2_unbiased(real[:6], fake[:6])), 0.0)


# --- the Inception Score -------------------------------------------------------------------------


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

def test_inception_score_splits():
    probs = np.eye(2)[[0, 0, 1, 1]]
    assert inception_score_splits(probs, 1) == (pytest.approx(2.0), 0.0)
    assert inception_score_splits(probs, 2) == (pytest.approx(1.0), 0.0)  # each half holds one class
    assert inception_score_splits(probs, 10) == (pytest.approx(1.0), 0.0)  # at most N // 2 splits
    # two splits scoring 2 and 1: mean 1.5, standard deviation (ddof 0) 0.5
    assert inception_score_splits(np.eye(2)[[0, 1, 0, 0]], 2) == (pytest.approx(1.5), pytest.approx(0.5))


# --- distances, neighbours, precision and recall ------------------------------------------------


def test_pairwise_distances_by_hand():
    a, b = np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[3.0, 0.0], [0.0, 4.0], [3.0, 4.0]])
    np.testing.assert_allclose(pairwise_distances(a, b), [[3.0, 4.0, 5.0], [4.0, 3.0, 0.0]], atol=1e-12)
    assert pairwise_distances(torch.ones(2, 3), torch.ones(1, 3)).tolist() == [[0.0], [0.0]]  # tensors too
    with pytest.raises(ValueError, match="same d"):
        pairwise_distances(np.zeros((2, 3)), np.zeros((2, 4)))


def test_knn_radii_and_precision_recall_by_hand():
    line = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert knn_radii(line, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(line, 3).tolist() == [7.0, 6.0, 4.0, 7.0]
    assert knn_radii(np.array([[1.0, 1.0], [1.0, 1.0], [4.0, 5.0]]), 1).tolist() == [0.0, 0.0, 5.0]  # a twin is a neighbour
    with pytest.raises(ValueError, match="k must be between 1 and N - 1"):
        knn_radii(line, 4)
    real = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])  # k = 1: every radius is 1
    fake = np.array([[0.5], [10.0]])  # radius 9.5 each: their balls cover every real point
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)
    assert precision_recall(real, real + 1.5, k=1) == (0.8, 0.8)  # 5.5 and 0.0 fall outside
    assert precision_recall(real, np.array([[5.0], [6.0]]), k=1) == (0.5, 0.2)  # the boundary counts


def test_exact_copies_have_recall_zero_and_near_copies_do_not_collapse_the_radius():
    # 3 distinct points, far apart, each copied 10 times; 12 real points 0.01 from them (not at)
    rng = np.random.default_rng(3)
    distinct = np.array([[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, 0.0], [0.0, 10.0, 0.0, 0.0]])
    copies = np.repeat(distinct, 10, axis=0)
    real = (distinct[:, None, :] + 0.01 * np.eye(4)).reshape(12, 4)
    for k in range(1, 10):  # k < copies: the k-th nearest other row is an identical copy
        assert knn_radii(copies, k).tolist() == [0.0] * 30
        assert precision_recall(real, copies, k=k)[1] == 0.0  # recall 0 by construction
    # k = copies: the 10th nearest other row is another distinct point, 10 or sqrt(200) away
    assert knn_radii(copies, 10).tolist() == [10.0] * 30
    # near-copies (jitter of sd 0.1): radii > 0, and the real points next to them are covered
    near = copies + 0.1 * rng.normal(size=copies.shape)
    radii = knn_radii(near, 3)
    assert radii.min() > 0.05 and radii.max() < 1.0
    assert precision_recall(real, near, k=3)[1] == 1.0

def test_manifold_coverage_counts_the_boundary():
    centres, radii = np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([5.0, 1.0])
    points = np.array([[3.0, 4.0], [3.0, 4.1], [10.0, -1.0], [8.0, 0.0]])  # on, outside, on, between
    assert manifold_coverage(points, centres, radii).tolist() == [True, False, True, False]


def brute_force(queries, references, k):
    d = torch.cdist(queries.double(), references.double())
    distances, indices = torch.sort(d, dim=1, stable=True)
    return distances[:, :k], indices[:, :k]


@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_equals_brute_force_whatever_the_chunk(chunk):
    g = torch.Generator().manual_seed(0)
    queries, references = torch.randn(9, 12, generator=g), torch.randn(50, 12, generator=g)
    distances, indices = nearest_neighbours(queries, references, k=4, chunk=chunk)
    expected_d, expected_i = brute_force(queries, references, 4)
    assert distances.shape == indices.shape == (9, 4) and indices.dtype == torch.int64
    assert torch.equal(indices, expected_i)
    assert torch.allclose(distances, expected_d, atol=1e-9)
    assert torch.all(distances[:, 1:] >= distances[:, :-1])  # nearest first


def test_hand_computed_case():
    references = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    distances, indices = nearest_neighbours(torch.tensor([[3.0, 0.0]]), references, k=3)
    # by hand: |(3,0)-(1,0)| = 2, |(3,0)-(3,4)| = 4, |(3,0)-(0,0)| = 3
    assert indices.tolist() == [[2, 0, 1]]
    assert distances.tolist() == [[2.0, 3.0, 4.0]]


def test_a_copied_training_image_is_found_at_distance_zero():
    g = torch.Generator().manual_seed(1)
    train = torch.randint(0, 256, (300, 3, 8, 8), dtype=torch.uint8, generator=g)
    copies = flatten_pixels(train[[17, 250]])  # what a memorising G would draw, as floats in [-1, 1]
    distances, indices = nearest_neighbours(copies, flatten_pixels(train), k=2, chunk=64)
    assert indices[:, 0].tolist() == [17, 250]
    assert torch.all(distances[:, 0] < 1e-6) and torch.all(distances[:, 1] > 1)


def test_ties_keep_the_lower_index_across_chunks():
    references = torch.tensor([[1.0], [5.0], [-1.0], [1.0]])
    _, indices = nearest_neighbours(torch.tensor([[0.0]]), references, k=3, chunk=2)
    assert indices.tolist() == [[0, 2, 3]]


def test_flatten_pixels_puts_uint8_and_float_on_one_scale():
    uint8 = torch.tensor([0, 255, 128], dtype=torch.uint8).view(1, 3, 1, 1)
    assert torch.allclose(flatten_pixels(uint8), torch.tensor([[-1.0, 1.0, 128 / 127.5 - 1]]), atol=1e-6)
    assert flatten_pixels(np.zeros((2, 3, 4, 4), dtype=np.uint8)).shape == (2, 48)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        flatten_pixels(torch.full((1, 3, 2, 2), 200.0))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        flatten_pixels(torch.zeros(3, 4, 4))


def test_nearest_neighbours_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="same d"):
        nearest_neighbours(torch.zeros(2, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="k=6"):
        nearest_neighbours(torch.zeros(2, 3), torch.zeros(5, 3), k=6)


# --- class counts -------------------------------------------------------------------------------


def test_conditioned_accuracy():
    overall, per_class = conditioned_accuracy(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), num_classes=3)
    assert overall == pytest.approx(4 / 6)
    np.testing.assert_allclose(per_class, [0.5, 0.5, 1.0])

def test_conditioned_accuracy_of_a_class_never_requested_is_nan():
    overall, per_class = conditioned_accuracy(np.array([1, 1]), np.array([1, 0]), num_classes=3)
    assert overall == 0.5 and per_class[:2].tolist() == [0.0, 1.0] and np.isnan(per_class[2])
    with pytest.raises(ValueError, match="differ in shape"):
        conditioned_accuracy(np.zeros(3), np.zeros(4))


def test_class_histogram():
    assert class_histogram(np.array([0, 3, 3, 9])).tolist() == [1, 0, 0, 2, 0, 0, 0, 0, 0, 1]
    assert class_histogram(np.array([2, 0, 2]), num_classes=3).tolist() == [1, 0, 2]
    assert class_histogram(np.array([], dtype=int)).sum() == 0
    with pytest.raises(ValueError, match="class indices"):
        class_histogram(np.array([10]))
