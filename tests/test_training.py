"""Checkpoints, resume, divergence and EMA: the reliability the notebooks depend on."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gan_helpers as gh


def test_update_ema_by_hand():
    model, ema = nn.Linear(1, 1), nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(3.0), model.bias.fill_(1.0), ema.weight.fill_(1.0), ema.bias.fill_(0.0)
    gh.update_ema(ema, model, decay=0.9)
    assert ema.weight.item() == pytest.approx(1.2) and ema.bias.item() == pytest.approx(0.1)
    with pytest.raises(ValueError):
        gh.update_ema(ema, model, decay=1.0)


def test_update_ema_copies_batchnorm_buffers():
    model, ema = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    model(torch.randn(8, 2) + 5)
    gh.update_ema(ema, model, 0.99)
    assert torch.equal(ema.running_mean, model.running_mean)


def test_check_finite_names_step_and_checkpoint():
    gh.check_finite(3, 1, loss_D=1.2, loss_G=0.7)  # finite: nothing happens
    with pytest.raises(gh.TrainingDiverged) as error:
        gh.check_finite(1234, 5, "out/checkpoint.pt", loss_D=float("nan"), loss_G=0.7)
    message = str(error.value)
    assert "step 1234" in message and "epoch 5" in message and "loss_D = nan" in message and "out/checkpoint.pt" in message
    assert "loss_G" not in message


class NotAllowed:
    """An arbitrary object: loading it would mean unpickling code."""


def test_checkpoint_is_atomic_and_weights_only(tmp_path):
    path = tmp_path / "ck.pt"
    gh.save_checkpoint(path, {"epoch": 1, "w": torch.ones(2)})
    gh.save_checkpoint(path, {"epoch": 2, "w": torch.zeros(2)})
    assert not list(tmp_path.glob("*.tmp"))
    state = gh.load_checkpoint(path)
    assert state["epoch"] == 2 and torch.equal(state["w"], torch.zeros(2))

    torch.save({"object": NotAllowed()}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="[Ww]eights only|weights_only"):
        gh.load_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        gh.load_checkpoint(tmp_path / "missing.pt")


# A tiny GAN with the notebooks' loop structure: dropout in D and fresh noise each step, so the
# random-number state matters for an exact resume.
CONFIG = {"epochs": 4, "batch_size": 8, "lr": 1e-3}


def build(seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 6), nn.Tanh())
    D = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(16, 1))
    G_ema = copy.deepcopy(G)
    opt_G = torch.optim.Adam(G.parameters(), lr=CONFIG["lr"], betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=CONFIG["lr"], betas=(0.5, 0.999))
    data = torch.rand(40, 6, generator=torch.Generator().manual_seed(1)) * 2 - 1
    loader = gh.InMemoryLoader(data, batch_size=CONFIG["batch_size"], seed=seed)
    return dict(G=G, D=D, G_ema=G_ema, opt_G=opt_G, opt_D=opt_D, loader=loader)


def train(objects, path, stop_after=None, poison_at_step=None):
    G, D, loader = objects["G"], objects["D"], objects["loader"]
    start, history = 0, []
    if path.exists():
        start, history, _ = gh.restore_training_state(gh.load_checkpoint(path), CONFIG, **objects)
    step = start * len(loader)
    for epoch in range(start + 1, CONFIG["epochs"] + 1):
        for (real,) in loader:
            fake = G(torch.randn(len(real), 4))
            loss_D = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
            objects["opt_D"].zero_grad(), loss_D.backward(), objects["opt_D"].step()
            loss_G = F.softplus(-D(fake)).mean()
            objects["opt_G"].zero_grad(), loss_G.backward(), objects["opt_G"].step()
            gh.update_ema(objects["G_ema"], G, 0.9)
            step += 1
            value = math.nan if step == poison_at_step else loss_G.item()
            gh.check_finite(step, epoch, str(path), loss_D=loss_D.item(), loss_G=value)
        history.append({"epoch": epoch, "loss_G": loss_G.item()})
        gh.save_checkpoint(path, gh.training_state(epoch=epoch, config=CONFIG, history=history, **objects))
        if epoch == stop_after:
            return history
    return history


def weights(objects):
    return {f"{name}.{k}": v.clone() for name in ("G", "D", "G_ema") for k, v in objects[name].state_dict().items()}


def test_resumed_run_ends_with_identical_weights(tmp_path):
    straight = build()
    history_straight = train(straight, tmp_path / "a.pt")
    interrupted = build()
    train(interrupted, tmp_path / "b.pt", stop_after=2)
    torch.manual_seed(999)  # whatever happens to the global RNG in between, the checkpoint restores it
    resumed = build(seed=0)
    history_resumed = train(resumed, tmp_path / "b.pt")
    assert history_resumed == history_straight
    expected, actual = weights(straight), weights(resumed)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


def test_resume_refuses_other_settings(tmp_path):
    objects = build()
    train(objects, tmp_path / "c.pt", stop_after=1)
    state = gh.load_checkpoint(tmp_path / "c.pt")
    with pytest.raises(ValueError, match="batch_size"):
        gh.restore_training_state(state, {**CONFIG, "batch_size": 16}, **build())
    gh.restore_training_state(state, {**CONFIG, "epochs": 10}, **build())  # more epochs is fine


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path):
    path = tmp_path / "d.pt"
    objects = build()
    steps_per_epoch = len(objects["loader"])
    with pytest.raises(gh.TrainingDiverged, match=f"step {2 * steps_per_epoch + 2} "):
        train(objects, path, poison_at_step=2 * steps_per_epoch + 2)
    assert gh.load_checkpoint(path)["epoch"] == 2  # the last finished, finite epoch
