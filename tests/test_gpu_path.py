"""The GPU path, tested on the CPU as far as the CPU can: resuming onto a device that is not the
CPU, no host syncs inside a step, the EMA as one fused update, and mixed precision (bf16 autocast
on the CPU against fp32; fp16 with loss scaling; the gradient penalty's AMP recipe)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import gan_helpers as gh
from gan_helpers import precision


def tiny_gan(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 6), nn.Tanh())
    D = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(16, 1))
    data = torch.rand(48, 6, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return dict(G=G, D=D, G_ema=copy.deepcopy(G), opt_G=torch.optim.Adam(G.parameters(), 1e-3),
                opt_D=torch.optim.Adam(D.parameters(), 1e-3),
                loader=gh.InMemoryLoader(data, batch_size=8, seed=seed),
                eps_rng=torch.Generator().manual_seed(seed + 3))


def gan_step(objects: dict, real: torch.Tensor, amp: gh.MixedPrecision | None = None) -> dict:
    """A chapter's step: a D step and a G step, with the precision helper as the chapters use it."""
    amp = amp or gh.mixed_precision("cpu", "fp32")
    G, D, opt_G, opt_D = (objects[k] for k in ("G", "D", "opt_G", "opt_D"))
    with amp.autocast():
        fake = G(torch.randn(len(real), 4))
        real_logits, fake_logits = D(real).squeeze(1), D(fake.detach()).squeeze(1)
        loss_D = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    opt_D.zero_grad(set_to_none=True)
    amp.backward(loss_D)
    amp.step(opt_D)
    with amp.autocast():
        loss_G = F.softplus(-D(fake)).mean()
    opt_G.zero_grad(set_to_none=True)
    amp.backward(loss_G)
    amp.step(opt_G)
    gh.update_ema(objects["G_ema"], G, 0.9)
    return dict(loss_D=loss_D, loss_G=loss_G, **gh.d_scores(real_logits, fake_logits))


def run_for(objects: dict, path, epochs: int) -> gh.TrainingRun:
    run = gh.TrainingRun(path, {"epochs": epochs, "batch_size": 8}, interactive=False, **objects)
    for _ in run.epochs():
        for (real,) in objects["loader"]:
            run.log(gan_step(objects, real))
    return run


# --- resuming onto a device that is not the CPU --------------------------------------------


def test_resume_loads_to_the_cpu_and_moves_state_to_the_parameters_device(tmp_path):
    """A run on a GPU resumes: the checkpoint is read onto the CPU (RNG states must be CPU byte
    tensors) and each model and optimizer moves its state to its parameters' device. Here the
    "GPU" is PyTorch's meta device: the models and optimizers are moved there before resuming,
    so a checkpoint loaded onto the parameters' device would hand meta tensors to set_state."""
    objects = tiny_gan()
    run_for(objects, tmp_path, epochs=1)
    saved = gh.checkpoints.load_checkpoint(tmp_path / "checkpoint.pt")

    resumed = tiny_gan(seed=1)
    for name in ("G", "D", "G_ema"):
        resumed[name].to("meta")
    resumed["opt_G"] = torch.optim.Adam(resumed["G"].parameters(), 1e-3)  # on the "GPU" parameters
    resumed["opt_D"] = torch.optim.Adam(resumed["D"].parameters(), 1e-3)
    run = gh.TrainingRun(tmp_path, {"epochs": 2, "batch_size": 8}, interactive=False, **resumed)
    epochs = run.epochs()
    assert next(epochs) == 2  # resumed after epoch 1, without "RNG state must be a torch.ByteTensor"
    epochs.close()
    # the RNG states went where they belong, on the CPU
    assert torch.equal(resumed["loader"].generator.get_state(), saved["state_dicts"]["loader"]["generator"])
    assert torch.equal(resumed["eps_rng"].get_state(), saved["state_dicts"]["eps_rng"])
    assert torch.equal(torch.get_rng_state(), saved["rng"]["torch"])
    # the optimizers' state moved to the device of their parameters
    state = resumed["opt_D"].state_dict()["state"][0]
    assert state["exp_avg"].device.type == "meta" and tuple(state["exp_avg"].shape) == (16, 6)


def test_the_loader_moves_its_order_to_the_data_once_an_epoch():
    """Batches of data on another device ("meta" here) are cut with an index already there:
    one copy of the shuffled order per epoch, none per batch (each would wait for the GPU)."""
    data = torch.zeros(40, 3, device="meta")
    loader = gh.InMemoryLoader(data, batch_size=8, seed=0)

    class Copies(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.to_data, self.cross_device_index = 0, 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten._to_copy.default and (kwargs or {}).get("device") == data.device:
                self.to_data += 1
            if func is torch.ops.aten.index.Tensor:
                self.cross_device_index += any(i is not None and i.device != args[0].device for i in args[1])
            return func(*args, **(kwargs or {}))

    with Copies() as copies:
        batches = [batch for _ in range(2) for (batch,) in loader]
    assert len(batches) == 10 and all(b.device.type == "meta" and b.shape == (8, 3) for b in batches)
    assert copies.to_data == 2 and copies.cross_device_index == 0


def test_a_cuda_generator_state_loaded_elsewhere_is_restored_from_the_cpu():
    state = torch.Generator().manual_seed(5).get_state()
    loader = gh.InMemoryLoader(torch.zeros(8, 1), batch_size=4, seed=0)
    loader.load_state_dict({"generator": state.to(torch.int64)})  # any device or dtype: cast back
    assert torch.equal(loader.generator.get_state(), state)


# --- no host syncs inside a step ---------------------------------------------------------


class CountSyncs(TorchDispatchMode):
    """Counts the operations that copy a value to the host while active: ``.item()``,
    ``float(t)``, ``bool(t)`` (all ``aten._local_scalar_dense``) and ``.tolist()``, ``.cpu()``,
    ``.numpy()`` (patched: on the CPU they dispatch nothing)."""

    def __init__(self, monkeypatch):
        super().__init__()
        self.count, self.active = 0, False
        for method in ("tolist", "cpu", "numpy"):
            original = getattr(torch.Tensor, method)

            def counted(tensor, *args, _original=original, **kwargs):
                self.count += self.active
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, method, counted)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))

    def measure(self, action) -> int:
        """The syncs of ``action()``."""
        self.count, self.active = 0, True
        try:
            with self:
                action()
        finally:
            self.active = False
        return self.count


def test_logging_reads_the_device_once_per_epoch(tmp_path, monkeypatch):
    """6 steps an epoch, 4 logged values a step: no copy to the host at any step; one at each
    epoch's end, where the epoch's values are read together (the NaN check goes with them)."""
    monkeypatch.setattr(gh.training, "save_checkpoint", lambda path, state: path)  # torch.save copies
    objects = tiny_gan()
    run = gh.TrainingRun(tmp_path, {"epochs": 2, "batch_size": 8}, interactive=False, **objects)
    syncs = CountSyncs(monkeypatch)
    at_steps, at_epoch_ends = [], []
    epochs = run.epochs()
    next(epochs)
    for _ in range(2):
        for (real,) in objects["loader"]:
            values = gan_step(objects, real)
            at_steps.append(syncs.measure(lambda: run.log(values)))
        at_epoch_ends.append(syncs.measure(lambda: next(epochs, None)))  # the epoch's bookkeeping
    assert at_steps == [0] * 12
    assert at_epoch_ends == [1, 1]
    assert len(run.history) == 2


def test_epoch_means_equal_the_mean_of_the_logged_values(tmp_path):
    objects = tiny_gan()
    run = gh.TrainingRun(tmp_path, {"epochs": 1, "batch_size": 8}, interactive=False, **objects)
    logged = []
    for _ in run.epochs():
        for step, (real,) in enumerate(objects["loader"]):
            values = gan_step(objects, real)
            logged.append(values["loss_D"].item())
            run.log(values, lr=0.5 * step)  # a plain number beside the tensors
    (row,) = run.history
    assert row["loss_D"] == sum(logged) / len(logged)  # the same float64 sum as of .item() values
    assert row["lr"] == 0.5 * sum(range(6)) / 6


def test_a_changed_set_of_logged_names_is_an_error(tmp_path):
    objects = tiny_gan()
    run = gh.TrainingRun(tmp_path, {"epochs": 1, "batch_size": 8}, interactive=False, **objects)
    with pytest.raises(ValueError, match="log the same values every step"):
        for _ in run.epochs():
            run.log(loss_D=torch.tensor(1.0))
            run.log(loss_G=torch.tensor(1.0))


# --- the EMA as one fused update --------------------------------------------------------------


def test_update_ema_matches_the_formula_and_launches_one_op_for_all_parameters():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    ema = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    model(torch.randn(5, 3))  # running statistics move
    expected = [0.9 * e + 0.1 * p for e, p in zip(ema.parameters(), model.parameters())]

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(func.__name__)
            return func(*args, **(kwargs or {}))

    with Ops() as ops:
        gh.update_ema(ema, model, 0.9)
    for e, x in zip(ema.parameters(), expected):
        assert torch.allclose(e, x, atol=1e-7)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        assert torch.equal(b_ema, b)
    # one foreach lerp over all 6 parameter tensors and one foreach copy of the 3 buffers
    assert ops.names.count("_foreach_lerp_.Scalar") == 1 and "lerp_.Scalar" not in ops.names
    with pytest.raises(ValueError, match="deepcopy"):
        gh.update_ema(nn.Linear(3, 4), model, 0.9)


# --- mixed precision -------------------------------------------------------------------------


def test_auto_precision_by_device(monkeypatch):
    assert gh.mixed_precision("cpu").name == "fp32"
    for capability, name in (((7, 5), "fp16"), ((8, 0), "bf16"), ((9, 0), "bf16")):  # T4, A100, H100
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        amp = gh.mixed_precision("cuda")
        assert amp.name == name and amp.scales_loss == (name == "fp16")
    with pytest.raises(ValueError, match="PRECISION='fp8'.*auto, bf16, fp16, fp32"):
        gh.mixed_precision("cpu", "fp8")


def test_bf16_autocast_steps_stay_close_to_fp32():
    """The same two training steps in fp32 and under bf16 autocast (the CPU runs the same autocast
    machinery as a GPU): losses within bf16's precision (8 bits of mantissa: ~0.4% relative)."""
    losses = {}
    for name in ("fp32", "bf16"):
        objects = tiny_gan()
        amp = gh.mixed_precision("cpu", name)
        torch.manual_seed(7)
        rows = [gan_step(objects, real, amp) for (real,), _ in zip(objects["loader"], range(2))]
        losses[name] = torch.stack([torch.stack([row["loss_D"], row["loss_G"]]).detach().float() for row in rows])
        if name == "bf16":
            with amp.autocast():
                assert objects["G"](torch.randn(2, 4)).dtype == torch.bfloat16
    difference = (losses["bf16"] - losses["fp32"]).abs().max().item()
    assert 0 < difference < 0.02, difference  # not bit-equal (autocast ran), but close


def critic_and_batches(seed: int = 0):
    torch.manual_seed(seed)
    critic = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8 * 4 * 4, 1))
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    epsilon = torch.rand(6, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    return critic, real, fake, epsilon


def penalty_and_grads(critic, real, fake, epsilon, wrapped):
    penalty, norms = gh.gradient_penalty(wrapped, real, fake, epsilon, weight=10.0)
    # (the last layer's bias has no gradient: D's slope does not depend on it)
    grads = torch.autograd.grad(penalty, list(critic.parameters()), materialize_grads=True)
    return penalty, norms, grads


def test_penalty_under_bf16_autocast_is_close_to_fp32():
    critic, real, fake, epsilon = critic_and_batches()
    p32, n32, _ = penalty_and_grads(critic, real, fake, epsilon, critic)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        p16, n16, _ = penalty_and_grads(critic, real, fake, epsilon, critic)
    assert n16.dtype == torch.float32  # the norm is taken in fp32
    assert torch.allclose(n16, n32, rtol=0.02) and not torch.equal(n16, n32)
    assert abs(p16.item() - p32.item()) < 0.03 * p32.item()


def test_the_penalty_recipe_for_fp16_keeps_the_values():
    """amp.for_penalty(critic): gradients scaled by 2**10 inside, unscaled at the input. The
    penalty, its norms and its gradient for the critic's weights (a double backward through the
    scaling) equal the plain critic's in fp32."""
    critic, real, fake, epsilon = critic_and_batches()
    amp = gh.mixed_precision("cpu", "fp16")
    wrapped = amp.for_penalty(critic)
    assert wrapped is not critic and gh.mixed_precision("cpu", "bf16").for_penalty(critic) is critic
    plain = penalty_and_grads(critic, real, fake, epsilon, critic)
    scaled = penalty_and_grads(critic, real, fake, epsilon, wrapped)
    assert torch.allclose(plain[0], scaled[0], rtol=1e-5) and torch.allclose(plain[1], scaled[1], rtol=1e-5)
    for a, b in zip(plain[2], scaled[2]):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_a_gradient_underflows_in_fp16_unless_scaled():
    """Why fp16 needs the scaling: a gradient of 1e-8 is 0 in fp16 (its smallest subnormal is
    6e-8); scaled by 2**10 on the way back and unscaled in fp32 at the input, it survives."""
    x = torch.ones(1, requires_grad=True)
    tiny = lambda t: (t.half() * 1e-4).half() * 1e-4  # noqa: E731 - d/dx = 1e-8, computed in fp16
    (grad,) = torch.autograd.grad(tiny(x).sum(), x)
    assert grad.item() == 0
    (grad,) = torch.autograd.grad(precision._PenaltyCritic(tiny, 2.0**10)(x).float().sum(), x)
    assert grad.item() == pytest.approx(1e-8, rel=0.05)


def test_fp16_loss_scaling_skips_a_step_whose_gradients_overflowed():
    amp = gh.mixed_precision("cpu", "fp16")
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.clone() for p in model.parameters()]
    opt.zero_grad()
    amp.backward(model(torch.tensor([[float("inf"), 1.0]])).sum())
    amp.step(opt)  # inf gradients: the step is skipped and the scale halved
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert amp.scaler.get_scale() == 2.0**15
    opt.zero_grad()
    amp.backward(model(torch.tensor([[1.0, 2.0]])).sum())
    amp.step(opt)  # finite: an ordinary SGD step on the unscaled gradient (1, 2) and 1
    assert torch.allclose(model.weight, before[0] - 0.1 * torch.tensor([[1.0, 2.0]]))
    restored = gh.mixed_precision("cpu", "fp16")
    restored.load_state_dict(amp.state_dict())
    assert restored.scaler.get_scale() == 2.0**15


def test_configure_device_turns_on_cudnn_benchmark_for_cuda_only(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    gh.configure_device(torch.device("cpu"))
    assert torch.backends.cudnn.benchmark is False
    gh.configure_device(torch.device("cuda"))
    assert torch.backends.cudnn.benchmark is True
