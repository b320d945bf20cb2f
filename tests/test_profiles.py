"""Profiles: selection, overrides and errors that name the parameter and the allowed values."""

import pytest
import torch

import gan_helpers.runtime
from gan_helpers.profiles import default_profile, epochs_for, resolve_profile, select_profile

TABLE = {
    "smoke": {"epochs": 1, "batch_size": 8, "n_train": 64, "ema_decay": 0.9},
    "cpu": {"epochs": 10, "batch_size": 64, "n_train": None, "ema_decay": 0.999},
    "gpu": {"images": 1_000_000, "batch_size": 128, "n_train": None, "ema_decay": 0.999},
    "full": {"epochs": 100, "batch_size": 128, "n_train": None, "ema_decay": 0.999},
}


def test_select_and_override():
    config = select_profile("smoke", TABLE, epochs=3, batch_size=None)
    assert config == {"profile": "smoke", "epochs": 3, "batch_size": 8, "n_train": 64, "ema_decay": 0.9}


def test_auto_is_cpu_on_the_cpu(monkeypatch):
    monkeypatch.setenv("GAN_DEVICE", "cpu")  # what the tests run with, on any machine
    assert resolve_profile("auto") == "cpu"
    monkeypatch.delenv("GAN_DEVICE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_profile("auto") == "cpu"


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_auto_is_gpu_where_the_run_uses_a_gpu(monkeypatch, device):
    """From the device the run will use (gh.pick_device), so GAN_DEVICE=cpu on a GPU gives cpu."""
    monkeypatch.delenv("GAN_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: device == "cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: device == "mps")
    assert gan_helpers.runtime.pick_device().type == device
    assert resolve_profile("auto") == "gpu"
    assert select_profile("auto", TABLE) == {"profile": "gpu", **TABLE["gpu"]}
    monkeypatch.setenv("GAN_DEVICE", "cpu")
    assert resolve_profile("auto") == "cpu"


def test_epochs_for_an_image_budget():
    # 10,000 images in batches of 64: 156 full batches, 9,984 images a pass
    assert epochs_for(120_000, 10_000 // 64, 64) == 12  # 12.02 passes
    # the same budget on a folder of 6,000 images: 93 batches, 5,952 a pass -> 20 passes
    assert epochs_for(120_000, 6_000 // 64, 64) == 20
    assert epochs_for(100, 10, 64) == 1  # at least one pass
    with pytest.raises(ValueError, match="IMAGES=0"):
        epochs_for(0, 10, 64)
    with pytest.raises(ValueError, match="no full batch of 64 images"):
        epochs_for(1_000, 0, 64)


def test_default_profile_reads_environment(monkeypatch):
    monkeypatch.setenv("GAN_PROFILE", "smoke")
    assert default_profile() == "smoke"
    monkeypatch.delenv("GAN_PROFILE")
    assert default_profile() == "auto"


def test_unknown_profile_names_parameter_and_allowed_values():
    with pytest.raises(ValueError) as error:
        select_profile("fast", TABLE)
    message = str(error.value)
    assert "PROFILE='fast'" in message
    for allowed in ("smoke", "cpu", "gpu", "full", "auto"):
        assert allowed in message


@pytest.mark.parametrize(
    "override, value, expected",
    [("epochs", -1, "EPOCHS=-1"), ("batch_size", 0, "BATCH_SIZE=0"), ("epochs", 2.5, "EPOCHS=2.5"), ("ema_decay", 1.0, "EMA_DECAY=1.0")],
)
def test_nonsense_values_are_refused(override, value, expected):
    with pytest.raises(ValueError) as error:
        select_profile("cpu", TABLE, **{override: value})
    assert expected in str(error.value)
    assert "expected" in str(error.value)


def test_unknown_override_lists_settings():
    with pytest.raises(ValueError, match="not a setting"):
        select_profile("cpu", TABLE, epoch=3)


def test_table_must_define_every_profile():
    with pytest.raises(ValueError, match="lacks"):
        select_profile("cpu", {"cpu": TABLE["cpu"]})
