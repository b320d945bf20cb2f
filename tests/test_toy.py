"""The 2-D toy's data and measures (gan_helpers/toy.py) against closed forms.

W1 of a set and its translate by v is |v| (the identity matching costs |v| per point, and no
matching costs less: the mean displacement of any matching is v, and the mean of the norms is
at least the norm of the mean); a brute-force search over all 720 matchings of 6 points checks
the assignment; the mode statistics are checked on points placed by hand.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from gan_helpers import toy


def test_ring_and_grid_follow_the_paper_scaled_to_unit_spread():
    ring, grid = toy.toy_dataset("8gaussians"), toy.toy_dataset("25gaussians")
    assert ring.centres.shape == (8, 2) and grid.centres.shape == (25, 2)
    assert torch.allclose(ring.centres.norm(dim=1), torch.full((8,), math.sqrt(2)))
    assert torch.allclose(ring.centres[1], torch.tensor([1.0, 1.0]))  # 45 degrees on radius sqrt 2
    assert sorted(set(grid.centres[:, 0].tolist())) == pytest.approx([-1.41421, -0.70711, 0, 0.70711, 1.41421], abs=1e-5)
    assert ring.std == pytest.approx(0.0141421, rel=1e-5) and grid.std == pytest.approx(0.0176777, rel=1e-5)
    for data in (ring, grid):  # the centres' spread is exactly 1 per coordinate
        assert torch.allclose(data.centres.double().pow(2).mean(0), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("name", toy.TOY_DATASETS)
def test_samples_have_the_specified_mean_and_spread(name):
    data = toy.toy_dataset(name)
    points = data.sample(40_000, torch.Generator().manual_seed(0))
    assert points.shape == (40_000, 2) and points.dtype == torch.float32
    # mean 0 and std sqrt(1 + std^2) per coordinate; standard error of the mean 1/200
    assert points.mean(0).abs().max() < 0.02
    assert points.std(0).numpy() == pytest.approx([math.sqrt(1 + data.std ** 2)] * 2, abs=0.02)
    # every point is close to its mode: 5 std covers all but about 4e-6 of a 2-D Gaussian's mass
    nearest = torch.cdist(points, data.centres).min(dim=1).values
    assert (nearest < 5 * data.std).float().mean() > 0.9999
    assert nearest.pow(2).mean().item() == pytest.approx(2 * data.std ** 2, rel=0.03)  # chi^2 with 2 dof


def test_the_same_seed_gives_the_same_points_and_another_seed_others():
    data = toy.toy_dataset("25gaussians")
    a = data.sample(100, torch.Generator().manual_seed(7))
    b = data.sample(100, torch.Generator().manual_seed(7))
    c = data.sample(100, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(ValueError, match="8gaussians"):
        toy.toy_dataset("swissroll")


def test_w1_of_a_translate_is_the_length_of_the_shift():
    points = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    shift = torch.tensor([0.3, -0.4])
    assert toy.empirical_w1(points, points + shift) == pytest.approx(0.5, abs=1e-6)
    assert toy.empirical_w1(points, points[torch.randperm(50)]) == pytest.approx(0.0, abs=1e-12)


def test_w1_of_two_single_points_is_their_distance():
    assert toy.empirical_w1(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])) == pytest.approx(5.0)


def test_w1_matches_a_brute_force_search_over_all_matchings():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(6, 2)), rng.normal(size=(6, 2)) + 1.0
    best = min(np.mean([np.linalg.norm(a[i] - b[j]) for i, j in enumerate(perm)])
               for perm in itertools.permutations(range(6)))
    identity = np.mean(np.linalg.norm(a - b, axis=1))
    assert toy.empirical_w1(a, b) == pytest.approx(best, rel=1e-12)
    assert best < identity  # the search matters for these points: pairing in order is not optimal


def test_w1_refuses_sets_of_different_sizes():
    with pytest.raises(ValueError, match="same shape"):
        toy.empirical_w1(np.zeros((5, 2)), np.zeros((4, 2)))


def test_points_at_the_modes_are_all_high_quality_and_cover_every_mode():
    data = toy.toy_dataset("25gaussians")
    stats = toy.mode_statistics(data.centres.repeat(3, 1), data)
    assert stats == {"modes_covered": 25, "n_modes": 25, "high_quality": 1.0}


def test_points_far_from_every_mode_are_neither():
    data = toy.toy_dataset("8gaussians")
    far = torch.full((100, 2), 10.0)
    assert toy.mode_statistics(far, data) == {"modes_covered": 0, "n_modes": 8, "high_quality": 0.0}


def test_points_at_three_modes_cover_three_and_the_three_std_edge_counts():
    data = toy.toy_dataset("8gaussians")
    at_three = data.centres[[0, 2, 5]].repeat(10, 1)                      # 30 points on 3 modes
    off = data.centres[[1, 4]] + torch.tensor([[2.9, 0.0], [3.1, 0.0]]) * data.std  # in, out
    stats = toy.mode_statistics(torch.cat([at_three, off]), data)
    assert stats["modes_covered"] == 4                                     # 3 + mode 1 (2.9 std)
    assert stats["high_quality"] == pytest.approx(31 / 32)
    assert toy.mode_statistics(at_three, data)["modes_covered"] == 3
    # a stricter count: a mode needs 11 high-quality samples, and these have 10 each
    assert toy.mode_statistics(at_three, data, min_count=11)["modes_covered"] == 0


def test_critic_surface_and_gradient_of_a_linear_critic():
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, -1.0]]))
        critic.bias.fill_(0.5)
    X, Y, values = toy.critic_surface(critic, box=3.0, n=5)
    assert X.shape == Y.shape == values.shape == (5, 5)
    assert X[0].tolist() == [-3, -1.5, 0, 1.5, 3] and Y[:, 0].tolist() == [-3, -1.5, 0, 1.5, 3]
    np.testing.assert_allclose(values, 2 * X - Y + 0.5, rtol=1e-6)
    grad = toy.critic_gradient(critic, torch.randn(7, 2))
    assert torch.equal(grad, torch.tensor([[2.0, -1.0]]).expand(7, 2))


def test_critic_gradient_of_a_distance_is_the_unit_direction():
    centre = torch.tensor([0.5, -1.0])
    points = torch.tensor([[3.5, 3.0], [0.5, 2.0]])
    grad = toy.critic_gradient(lambda x: -(x - centre).norm(dim=1), points)
    assert torch.allclose(grad, torch.tensor([[-0.6, -0.8], [0.0, -1.0]]))  # towards the centre
