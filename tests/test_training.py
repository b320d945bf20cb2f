"""TrainingRun, checkpoints, resume, divergence and EMA: the reliability the notebooks depend on."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gan_helpers as gh
from gan_helpers.checkpoints import restore_training_state, save_checkpoint
from gan_helpers.training import check_finite


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


def test_ema_decay_by_hand():
    # beta = 0.5 ** (batch / h): batch 64, half-life 10,000 images, no ramp-up
    assert gh.ema_decay(64, 1_000, 10_000, rampup=None) == pytest.approx(0.5 ** (64 / 10_000))
    # ramp-up 0.05 after 1,000 images: h = min(10,000, 50) = 50 images
    assert gh.ema_decay(64, 1_000, 10_000, rampup=0.05) == pytest.approx(0.5 ** (64 / 50))
    # after 1,000,000 images the ramp (50,000) is past the half-life: h = 10,000
    assert gh.ema_decay(64, 1_000_000, 10_000) == pytest.approx(0.5 ** (64 / 10_000))
    assert gh.ema_decay(64, 0, 10_000) == 0.0  # nothing seen: the EMA is G itself
    assert gh.ema_decay(64, 0, 10_000, rampup=None) == pytest.approx(0.5 ** (64 / 10_000))
    for bad in [(0, 10, 100), (64, -1, 100), (64, 10, 0)]:
        with pytest.raises(ValueError, match="ema_decay needs"):
            gh.ema_decay(*bad)
    with pytest.raises(ValueError, match="rampup"):
        gh.ema_decay(64, 10, 100, rampup=0.0)


def test_the_half_life_halves_the_weight_on_the_first_weights():
    """G's weight is 1 at step 0 and 0 after it: the EMA's value is its weight on step 0."""
    model, ema = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        ema.weight.fill_(1.0), model.weight.fill_(0.0)
    batch, half_life = 64, 6_400  # 100 steps per half-life
    weights = []
    for step in range(200):
        seen = 1_000_000 + step * batch  # well past the ramp-up
        gh.update_ema(ema, model, gh.ema_decay(batch, seen, half_life))
        weights.append(ema.weight.item())
    assert weights[99] == pytest.approx(0.5, rel=1e-4) and weights[199] == pytest.approx(0.25, rel=1e-4)
    assert weights[49] == pytest.approx(0.5 ** 0.5, rel=1e-4)
    # with the ramp-up, the first step (0 images seen) replaces the EMA by G
    with torch.no_grad():
        ema.weight.fill_(5.0), model.weight.fill_(2.0)
    gh.update_ema(ema, model, gh.ema_decay(batch, 0, half_life, rampup=0.05))
    assert ema.weight.item() == 2.0


def small_bn_generator():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.3), nn.ReLU(),
                         nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh())


def test_recalibrate_batch_norm_gives_the_statistics_of_its_inputs():
    G = small_bn_generator()
    G(torch.randn(16, 3) * 4 + 3)  # stale running statistics, as G_EMA has G's
    G.eval()
    weights = {k: v.clone() for k, v in G.state_dict().items() if "running" not in k and "tracked" not in k}
    z = torch.randn(3 * 8, 3, generator=torch.Generator().manual_seed(1))
    gh.recalibrate_batch_norm(G, z.split(8))

    # by hand: each layer's inputs with the layers before it in training mode (batch statistics)
    bn1, bn2 = G[1], G[4]
    inputs1, inputs2 = [], []
    with torch.no_grad():
        for batch in z.split(8):
            h = G[0](batch)
            inputs1.append(h)
            h = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + bn1.eps) * bn1.weight + bn1.bias
            inputs2.append(G[3](h.relu()))
    for bn, inputs in ((bn1, inputs1), (bn2, inputs2)):
        # the average of the batches' means (the mean of all inputs: equal batches) and of
        # their unbiased variances
        assert torch.allclose(bn.running_mean, torch.cat(inputs).mean(0), atol=1e-6)
        assert torch.allclose(bn.running_var, torch.stack([x.var(0) for x in inputs]).mean(0), atol=1e-6)
        assert bn.num_batches_tracked.item() == 3
    assert bn1.momentum == 0.3 and bn2.momentum == 0.1  # restored
    assert not G.training and not any(m.training for m in G.modules())  # eval, as it was
    assert all(torch.equal(G.state_dict()[k], v) for k, v in weights.items())  # weights untouched

    # one batch: exactly the mean and unbiased variance of the layer's inputs
    G.train()
    gh.recalibrate_batch_norm(G, [z])
    with torch.no_grad():
        x = G[0](z)
    assert torch.allclose(bn1.running_mean, x.mean(0), atol=1e-6)
    assert torch.allclose(bn1.running_var, x.var(0), atol=1e-6)
    assert G.training  # train, as it was


def test_recalibrate_batch_norm_leaves_a_model_without_batch_norm_alone():
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh()).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gh.recalibrate_batch_norm(model, [torch.randn(4, 3)])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items()) and not model.training
    with pytest.raises(ValueError, match="no batch"):
        gh.recalibrate_batch_norm(small_bn_generator(), [])


def test_check_finite_names_step_and_checkpoint():
    check_finite(3, 1, loss_D=1.2, loss_G=0.7)  # finite: nothing happens
    with pytest.raises(gh.training.TrainingDiverged) as error:
        check_finite(1234, 5, "out/checkpoint.pt", loss_D=float("nan"), loss_G=0.7)
    message = str(error.value)
    assert "step 1234" in message and "epoch 5" in message and "loss_D = nan" in message and "out/checkpoint.pt" in message
    assert "loss_G" not in message


class NotAllowed:
    """An arbitrary object: loading it would mean unpickling code."""


def test_checkpoint_is_atomic_and_weights_only(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(2)})
    save_checkpoint(path, {"epoch": 2, "w": torch.zeros(2)})
    assert not list(tmp_path.glob("*.tmp"))
    state = gh.checkpoints.load_checkpoint(path)
    assert state["epoch"] == 2 and torch.equal(state["w"], torch.zeros(2))

    torch.save({"object": NotAllowed()}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="[Ww]eights only|weights_only"):
        gh.checkpoints.load_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        gh.checkpoints.load_checkpoint(tmp_path / "missing.pt")


# A tiny GAN with the notebooks' loop structure: dropout in D and fresh noise each step, so the
# random-number state matters for an exact resume; D takes N_CRITIC steps per G step (as the
# WGAN-GP chapter does), and an extra generator drives an augmentation (as chapter 2 does).
CONFIG = {"epochs": 4, "batch_size": 8, "lr": 1e-3, "snapshot_every": 2}
N_CRITIC = 2


def build(seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 6), nn.Tanh())
    D = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(16, 1))
    G_ema = copy.deepcopy(G)
    opt_G = torch.optim.Adam(G.parameters(), lr=CONFIG["lr"], betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=CONFIG["lr"], betas=(0.5, 0.999))
    data = torch.rand(40, 6, generator=torch.Generator().manual_seed(1)) * 2 - 1
    loader = gh.InMemoryLoader(data, batch_size=CONFIG["batch_size"], seed=seed)
    noise_rng = torch.Generator().manual_seed(seed + 5)
    return dict(G=G, D=D, G_ema=G_ema, opt_G=opt_G, opt_D=opt_D, loader=loader, noise_rng=noise_rng)


def new_run(objects, path, config=CONFIG, resume=True):
    fixed_z = torch.randn(3, 4, generator=torch.Generator().manual_seed(9))
    return gh.TrainingRun(path, config, resume=resume, interactive=False,
                          snapshot=lambda: objects["G_ema"].eval()(fixed_z).view(3, 1, 2, 3),
                          steps_per_epoch=len(objects["loader"]) // N_CRITIC, **objects)


def train(run, objects, poison_at_step=None, interrupt_at_step=None):
    """The loop cell of a chapter: N_CRITIC D steps per G step, one log row per G step."""
    G, D, loader = objects["G"], objects["D"], objects["loader"]
    for epoch in run.epochs():
        batches = iter(loader)
        for _ in range(len(loader) // N_CRITIC):
            for _ in range(N_CRITIC):
                (real,) = next(batches)
                real = real + 0.01 * torch.randn(real.shape, generator=objects["noise_rng"])
                fake = G(torch.randn(len(real), 4))
                loss_D = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
                objects["opt_D"].zero_grad(), loss_D.backward(), objects["opt_D"].step()
            loss_G = F.softplus(-D(fake)).mean()
            objects["opt_G"].zero_grad(), loss_G.backward(), objects["opt_G"].step()
            gh.update_ema(objects["G_ema"], G, 0.9)
            poisoned = math.nan if run.step + 1 == poison_at_step else loss_G
            run.log({"loss_D": loss_D, "loss_G": poisoned, "D(x)": torch.sigmoid(D(real)).mean()})
            if run.step == interrupt_at_step:
                raise KeyboardInterrupt  # what Ctrl-C in JupyterLab raises in the cell
        if run.due(3):
            run.note(metric=float(epoch) * 10)


def weights(objects):
    return {f"{name}.{k}": v.clone() for name in ("G", "D", "G_ema") for k, v in objects[name].state_dict().items()}


def assert_same_weights(a, b):
    expected, actual = weights(a), weights(b)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted run: its objects and its TrainingRun."""
    objects = build()
    run = new_run(objects, tmp_path_factory.mktemp("straight"))
    train(run, objects)
    return objects, run


def test_run_records_history_snapshots_and_metrics(straight):
    objects, run = straight
    steps = len(objects["loader"]) // N_CRITIC  # 5 batches of 8 -> 2 G steps per epoch
    assert steps == 2 and run.step == 4 * steps
    assert [row["epoch"] for row in run.history] == [1, 2, 3, 4]
    assert set(run.history[0]) == {"epoch", "loss_D", "loss_G", "D(x)", "seconds"}
    assert run.history[2]["metric"] == 30.0 and run.history[3]["metric"] == 40.0  # due(3): epoch 3 and the last
    assert "metric" not in run.history[1]
    assert sorted(run.snapshots) == [1, 2, 4]  # snapshot_every 2, plus the first and the last epoch
    assert run.snapshots[4].dtype == torch.uint8 and run.snapshots[4].shape == (3, 1, 2, 3)
    assert run.train_seconds == pytest.approx(sum(row["seconds"] for row in run.history))


def test_epoch_row_is_the_mean_of_its_steps(tmp_path):
    objects = build()
    run = new_run(objects, tmp_path, config={**CONFIG, "epochs": 1})
    for _ in run.epochs():
        for value in (1.0, 2.0):
            run.log(loss_D=value, loss_G=torch.tensor(value * 10))
    assert run.history[0]["loss_D"] == 1.5 and run.history[0]["loss_G"] == 15.0


def test_interrupted_run_resumes_to_identical_weights(straight, tmp_path, capsys):
    """Ctrl-C in epoch 3, then the loop cell run again: the same weights, history and snapshots."""
    objects = build()
    run = new_run(objects, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train(run, objects, interrupt_at_step=5)  # the first step of epoch 3
    assert "holds 2 finished epochs" in capsys.readouterr().out
    torch.manual_seed(999)  # whatever happens to the global RNG in between, the checkpoint restores it
    train(run, objects)  # the same objects, half-way through epoch 3 in memory
    assert "resumed from" in capsys.readouterr().out
    assert_same_weights(straight[0], objects)
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in run.history] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in straight[1].history]
    assert all(torch.equal(run.snapshots[e], straight[1].snapshots[e]) for e in straight[1].snapshots)


def test_new_session_resumes_from_the_checkpoint(straight, tmp_path):
    """The kernel restarted: new objects, a new run, the same OUT_DIR."""
    first = build()
    train(new_run(first, tmp_path, config={**CONFIG, "epochs": 2}), first)  # fewer epochs: allowed
    torch.manual_seed(123)
    resumed = build(seed=0)
    train(new_run(resumed, tmp_path), resumed)
    assert_same_weights(straight[0], resumed)
    assert gh.checkpoints.load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 4


def test_finished_run_has_nothing_left_to_train(straight, tmp_path, capsys):
    objects = build()
    train(new_run(objects, tmp_path), objects)
    again = build(seed=1)  # different weights in memory: the checkpoint must win
    run = new_run(again, tmp_path)
    capsys.readouterr()
    assert list(run.epochs()) == []
    assert "nothing left to train" in capsys.readouterr().out
    assert_same_weights(straight[0], again)
    assert len(run.history) == 4 and sorted(run.snapshots) == [1, 2, 4]


def test_resume_false_starts_afresh(tmp_path):
    objects = build()
    train(new_run(objects, tmp_path, config={**CONFIG, "epochs": 1}), objects)
    run = new_run(build(), tmp_path, config={**CONFIG, "epochs": 1}, resume=False)
    epochs = []
    for epoch in run.epochs():  # no restore: epoch 1 again
        run.log(loss_D=7.0)
        epochs.append(epoch)
    assert epochs == [1] and [row["loss_D"] for row in run.history] == [7.0]


def test_resume_refuses_other_settings(tmp_path):
    objects = build()
    train(new_run(objects, tmp_path, config={**CONFIG, "epochs": 1}), objects)
    with pytest.raises(ValueError, match="other settings .*batch_size") as error:
        list(new_run(build(), tmp_path, config={**CONFIG, "batch_size": 16}).epochs())
    state = gh.checkpoints.load_checkpoint(tmp_path / "checkpoint.pt")
    assert "RESUME = False" not in str(error.value)  # that would overwrite the run it refuses
    with pytest.raises(ValueError, match="no state for extra_model"):
        restore_training_state(state, CONFIG, **build(), extra_model=nn.Linear(1, 1))


def test_resume_false_never_overwrites_a_checkpoint_of_other_settings(tmp_path):
    """RESUME = False starts this run afresh; a checkpoint made with other settings is another
    run (the baseline of a comparison, say): refused, and left byte for byte."""
    objects = build()
    train(new_run(objects, tmp_path, config={**CONFIG, "epochs": 1}), objects)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(ValueError, match=r"other settings \(lr: 0.001 there, 0.01 here\)") as error:
        list(new_run(build(), tmp_path, config={**CONFIG, "lr": 1e-2}, resume=False).epochs())
    assert str(tmp_path / "checkpoint.pt") in str(error.value)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path):
    objects = build()
    run = new_run(objects, tmp_path)
    with pytest.raises(gh.training.TrainingDiverged) as error:
        train(run, objects, poison_at_step=2 * 2 + 2)  # the second step of epoch 3
    message = str(error.value)
    assert "step 6 (epoch 3)" in message and "loss_G = nan" in message and "loss_D" not in message
    assert str(tmp_path / "checkpoint.pt") in message
    assert gh.checkpoints.load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2  # the last finished, finite epoch


def test_an_epoch_without_log_calls_is_an_error(tmp_path):
    run = new_run(build(), tmp_path)
    with pytest.raises(RuntimeError, match="run.log"):
        for _ in run.epochs():
            pass


def test_sample_draws_in_eval_mode_in_batches_and_restores_the_mode():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh())
    G(torch.randn(32, 4) * 3 + 1)  # training mode: running statistics move away from (0, 1)
    z = torch.randn(7, 4)
    expected = G.eval()(z).detach()
    G.train()
    images = gh.sample(G, z, batch_size=3)  # batches of 3, 3, 1: one image alone would break train-mode BN
    assert torch.allclose(images, expected, atol=1e-6)
    assert G.training and not images.requires_grad
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        G(z[:1])  # what sampling a single image in training mode would have done
    G.eval()
    gh.sample(G, z)
    assert not G.training  # a G_EMA kept in eval mode stays there


class LabelledG(nn.Module):
    """A conditional G: the label picks a row of an embedding that is added to z."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(3, 4)
        self.body = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5))

    def forward(self, z, y):
        return self.body(z + self.embed(y))


def test_sample_passes_each_batch_its_own_labels():
    torch.manual_seed(0)
    G = LabelledG()
    G(torch.randn(16, 4) * 2, torch.randint(0, 3, (16,)))  # move the running statistics
    z, y = torch.randn(7, 4), torch.tensor([0, 1, 2, 2, 1, 0, 2])
    expected = G.eval()(z, y).detach()
    G.train()
    images = gh.sample(G, z, y, batch_size=3)  # labels split like z: 3, 3, 1
    assert torch.allclose(images, expected, atol=1e-6)
    assert not torch.allclose(gh.sample(G, z, y.flip(0), batch_size=3), expected)  # labels matter
    assert G.training
    with pytest.raises(ValueError, match="7 noise vectors but 6 labels"):
        gh.sample(G, z, y[:6])
