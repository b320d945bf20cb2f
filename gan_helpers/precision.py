"""Mixed precision for the chapters' loops: the forward passes in 16-bit floats on a GPU.

A T4 multiplies fp16 matrices on its tensor cores about eight times as fast as fp32 ones; an
A100, L4 or H100 does the same in bf16. The loop keeps its shape, with three small changes::

    amp = gh.mixed_precision(device, PRECISION)   # bf16 or fp16 on a GPU, fp32 on the CPU
    with amp.autocast():                           # forward passes and losses
        loss_D = ...
    opt_D.zero_grad(set_to_none=True)
    amp.backward(loss_D)                           # loss_D.backward(), scaled in fp16
    amp.step(opt_D)                                # opt_D.step(), skipped if fp16 overflowed

The weights, the optimizers' state and the gradients stay in fp32; only the arithmetic of the
forward (and so of the backward) pass runs in 16 bits. bf16 has fp32's range, so nothing else
is needed. fp16's smallest normal number is 6e-5, so small gradients would round to zero: the
loss is multiplied by a large factor before ``backward`` and the gradients divided by it before
the step (``torch.amp.GradScaler``, which also skips a step whose gradients overflowed).
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import nn

__all__ = ["MixedPrecision", "mixed_precision"]

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def _auto(device: torch.device) -> str:
    """bf16 on GPUs with bf16 tensor cores (compute capability 8 and up: A100, L4, H100), fp16 on
    older ones (a T4 is 7.5), fp32 elsewhere: on a CPU bf16 is slower on most laptops and would
    change the numbers the course records, and Apple's MPS is left in fp32 for now."""
    if device.type != "cuda":
        return "fp32"
    major, _ = torch.cuda.get_device_capability(device)
    return "bf16" if major >= 8 else "fp16"


def mixed_precision(device: torch.device | str, precision: str = "auto") -> "MixedPrecision":
    """The precision for a run on ``device``: ``"auto"`` (see :func:`_auto`), or ``"bf16"``,
    ``"fp16"`` or ``"fp32"`` (autocast off) to choose."""
    if precision not in PRECISIONS:
        raise ValueError(f"PRECISION={precision!r} is not a precision; allowed: {', '.join(PRECISIONS)}. "
                         "Fix it in the parameters cell.")
    device = torch.device(device)
    name = _auto(device) if precision == "auto" else precision
    return MixedPrecision(device, name)


class _ScaleGradient(torch.autograd.Function):
    """The identity on the way forward; multiplies the gradient by ``factor`` on the way back.
    Its backward is itself differentiable, so it works inside a double backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None


class _PenaltyCritic(nn.Module):
    """``critic`` with its gradients scaled up by ``factor`` inside and down again at the input:
    ``grad_x critic(x)`` has the same value, but no intermediate gradient underflows in fp16."""

    def __init__(self, critic: Callable[[torch.Tensor], torch.Tensor], factor: float):
        super().__init__()
        self.critic, self.factor = critic, factor

    def forward(self, x: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        scores = self.critic(_ScaleGradient.apply(x, 1 / self.factor), *args)
        return _ScaleGradient.apply(scores, self.factor)


class MixedPrecision:
    """Autocast and loss scaling for one device and one 16-bit type (or none: fp32).

    Attributes:
        device: where the run computes.
        name: ``"bf16"``, ``"fp16"`` or ``"fp32"``.
        dtype: ``torch.bfloat16``, ``torch.float16`` or None (autocast off).
        scales_loss: True in fp16, where the loss is scaled before ``backward``.
        scaler: the ``GradScaler`` (enabled in fp16 only).
    """

    # the factor inside the penalty's gradient (fp16): gradients of about 1 at the critic's
    # output stay far below fp16's largest number (65,504) and far above its smallest normal
    PENALTY_SCALE = 2.0**10

    def __init__(self, device: torch.device | str, name: str = "fp32"):
        if name not in _DTYPES:
            raise ValueError(f"precision {name!r}: expected one of {sorted(_DTYPES)}")
        self.device, self.name, self.dtype = torch.device(device), name, _DTYPES[name]
        self.scales_loss = self.dtype == torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.scales_loss)

    def __repr__(self) -> str:
        scaling = " with loss scaling" if self.scales_loss else ""
        return f"MixedPrecision({self.device.type}, {self.name}{scaling})"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context for forward passes and losses (a no-op in fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``; in fp16, of the loss times the scaler's factor."""
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``; in fp16, on the unscaled gradients, skipped if any overflowed."""
        if not self.scaler.is_enabled():
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def for_penalty(self, critic: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        """The critic to differentiate for a gradient penalty. In fp16: the critic with its
        gradients scaled by ``PENALTY_SCALE`` inside and unscaled at its input (the AMP recipe
        for a gradient penalty: scale the output before ``autograd.grad``, unscale the gradient),
        so that ``grad_x D(x)`` keeps its value but loses nothing to underflow. Else: ``critic``."""
        if self.dtype != torch.float16:
            return critic
        return _PenaltyCritic(critic, self.PENALTY_SCALE)

    def state_dict(self) -> dict:
        """The scaler's state (its factor), kept in the checkpoint so a resumed run continues it."""
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.scaler.load_state_dict(state)
