"""Profiles: selection, overrides and errors that name the parameter and the allowed values."""

import pytest
import torch

from gan_helpers.profiles import default_profile, resolve_profile, select_profile

TABLE = {
    "smoke": {"epochs": 1, "batch_size": 8, "n_train": 64, "ema_decay": 0.9},
    "cpu": {"epochs": 10, "batch_size": 64, "n_train": None, "ema_decay": 0.999},
    "full": {"epochs": 100, "batch_size": 128, "n_train": None, "ema_decay": 0.999},
}


def test_select_and_override():
    config = select_profile("smoke", TABLE, epochs=3, batch_size=None)
    assert config == {"profile": "smoke", "epochs": 3, "batch_size": 8, "n_train": 64, "ema_decay": 0.9}


def test_auto_is_cpu_without_gpu():
    assert resolve_profile("auto") == ("full" if torch.cuda.is_available() else "cpu")


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
    for allowed in ("smoke", "cpu", "full", "auto"):
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
