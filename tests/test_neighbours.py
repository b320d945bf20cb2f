"""Nearest neighbours for the memorisation check: exact against a brute-force reference,
copies found at distance 0, chunking changes nothing, clear errors."""

import numpy as np
import pytest
import torch

from gan_helpers.neighbours import flatten_pixels, nearest_neighbours


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


def test_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="same d"):
        nearest_neighbours(torch.zeros(2, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="k=6"):
        nearest_neighbours(torch.zeros(2, 3), torch.zeros(5, 3), k=6)
