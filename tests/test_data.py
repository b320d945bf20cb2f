"""Provisioning the digits, pixel ranges, batches and saving samples: exact values, layouts and
actionable errors (loading the datasets: tests/test_datasets.py)."""

import json

import numpy as np
import pytest
import torch

import gan_helpers as gh
import provision


def test_idx_round_trip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    provision.write_idx(tmp_path / "x-idx3-ubyte", array)
    raw = (tmp_path / "x-idx3-ubyte").read_bytes()
    assert raw[:4] == bytes([0, 0, 8, 3]) and raw[4:16] == bytes([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])
    np.testing.assert_array_equal(provision.read_idx(tmp_path / "x-idx3-ubyte"), array)


def test_npm_json_recovers_uint8_exactly(tmp_path):
    rng = np.random.default_rng(0)
    originals = {d: rng.integers(0, 256, size=(d + 1, 28, 28), dtype=np.uint8) for d in range(10)}
    for digit, pixels in originals.items():  # the npm package's format: pixel/255 rounded to 3 decimals
        (tmp_path / f"{digit}.json").write_text(json.dumps({"data": [round(v / 255, 3) for v in pixels.ravel().tolist()]}))
    images, labels = provision.npm_digits_to_arrays(tmp_path)
    assert images.shape == (55, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, np.concatenate([originals[d] for d in range(10)]))
    np.testing.assert_array_equal(np.bincount(labels), np.arange(1, 11))


def test_split_is_stratified_disjoint_and_shuffled():
    labels = np.repeat(np.arange(10), 100)
    train, test = provision.split_per_class(labels)
    assert len(train) == 850 and len(test) == 150 and not set(train) & set(test)
    assert np.bincount(labels[test]).tolist() == [15] * 10
    assert len(set(labels[train[:50]])) == 10  # shuffled: a small prefix holds every class


def test_unit_range_round_trip():
    pixels = torch.arange(256, dtype=torch.uint8)
    scaled = gh.to_unit_range(pixels)
    assert scaled[0] == -1 and scaled[-1] == 1
    assert torch.equal(gh.to_uint8(scaled), pixels)
    assert gh.to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]


def test_loader_batches_reproducible_and_resumable():
    x = torch.arange(10.0)
    loader = gh.InMemoryLoader(x, batch_size=3, seed=7)
    assert len(loader) == 3
    first = [b[0].tolist() for b in loader]
    assert len(sum(first, [])) == 9 and len(set(sum(first, []))) == 9  # drop_last, no repeats
    assert first == [b[0].tolist() for b in gh.InMemoryLoader(x, batch_size=3, seed=7)]
    state = loader.state_dict()
    second = [b[0].tolist() for b in loader]
    assert second != first  # a new order each epoch
    restored = gh.InMemoryLoader(x, batch_size=3, seed=123)
    restored.load_state_dict(state)
    assert [b[0].tolist() for b in restored] == second
    with pytest.raises(ValueError, match="batch_size"):
        gh.InMemoryLoader(x, batch_size=0, seed=0)


def test_save_samples_formats(tmp_path):
    grey = torch.rand(5, 1, 28, 28) * 2 - 1
    path = gh.save_samples(tmp_path, grey, labels=torch.arange(5))
    saved = np.load(path)
    assert saved["images"].shape == (5, 28, 28) and saved["images"].dtype == np.uint8
    assert saved["labels"].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(saved["images"], gh.to_uint8(grey)[:, 0].numpy())
    colour = gh.save_samples(tmp_path / "c", torch.zeros(2, 3, 8, 8))
    assert np.load(colour)["images"].shape == (2, 8, 8, 3)
    assert "labels" not in np.load(colour)


@pytest.mark.parametrize("batch_size, n_critic", [(16, 1), (16, 5), (3, 2)])
def test_enough_images_for_one_step_is_exactly_what_the_loop_needs(batch_size, n_critic):
    """The check passes exactly when one pass of the loader makes at least one step of
    n_critic batches (chapter 5's loop: len(loader) // n_critic G steps per pass)."""
    def g_steps_per_pass(n: int) -> int:
        if n < batch_size:
            return 0  # the loader refuses a batch larger than the data
        return len(gh.InMemoryLoader(torch.zeros(n), batch_size=batch_size, seed=0)) // n_critic

    needed = batch_size * n_critic
    for n in (needed - 1, needed, needed + 1):
        if g_steps_per_pass(n) >= 1:
            gh.check_enough_images(n, batch_size, n_critic)
        else:
            with pytest.raises(ValueError, match=f"at least {needed} are needed"):
                gh.check_enough_images(n, batch_size, n_critic)


def test_too_few_images_name_the_numbers_and_every_setting_that_fixes_it():
    with pytest.raises(ValueError) as error:
        gh.check_enough_images(7, 16)
    message = str(error.value)
    assert message.startswith("7 image(s) are too few to train on: one step takes a batch of 16 images (BATCH_SIZE)")
    assert "at least 16 are needed" in message and "IMAGE_FOLDER" in message
    assert "a smaller BATCH_SIZE in the parameters cell" in message and "N_CRITIC" not in message
    with pytest.raises(ValueError) as error:  # chapter 5: 60 images, 5 critic batches of 16 per G step
        gh.check_enough_images(60, 16, 5, batch_size_setting="batch_size in PROFILES")
    message = str(error.value)
    assert "one G step takes 5 critic batches (N_CRITIC) of 16 images (batch_size)" in message
    assert "at least 80 are needed" in message and "IMAGE_FOLDER" in message
    assert "a smaller batch_size in PROFILES" in message and "a smaller N_CRITIC in the parameters cell" in message
    assert "BATCH_SIZE" not in message  # chapter 5 has no such parameter
    for bad in ({"batch_size": 0}, {"batches_per_step": 0}):
        with pytest.raises(ValueError, match="positive whole number"):
            gh.check_enough_images(100, **{"batch_size": 16, **bad})
