"""Auto-checked exercises: a check cell prints a clear pass, or a hint, never a traceback.

In a notebook::

    with gh.exercise("1 · discriminator loss", hint="log D(x) is F.logsigmoid(real_logits)"):
        gh.expect_close(discriminator_loss(real, fake), 1.0372, "the loss of logits (2, -1) vs (0.5, -3)")

The solution cells of the instructor's notebook wrap the answer in ``### BEGIN SOLUTION`` and
``### END SOLUTION``; ``tools/coursework.py`` (``make student``) replaces that block by a stub.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

PASSED = "PASSED"
NOT_DONE = "NOT DONE"
FAILED = "NOT YET RIGHT"


class ExerciseResult:
    """What a check found: ``passed`` and the line it printed."""

    def __init__(self) -> None:
        self.passed = False
        self.message = ""


@contextmanager
def exercise(name: str, hint: str) -> Iterator[ExerciseResult]:
    """Run the checks in the ``with`` block; print one line for the student, swallow the error."""
    result = ExerciseResult()
    try:
        yield result
    except NotImplementedError:
        result.message = f"[{NOT_DONE}] Exercise {name}: replace `raise NotImplementedError` with your code.\n  Hint: {hint}"
    except AssertionError as error:
        result.message = f"[{FAILED}] Exercise {name}: {error}\n  Hint: {hint}"
    except Exception as error:  # the student's code crashed: say where, without a traceback
        result.message = f"[{FAILED}] Exercise {name}: your code raised {type(error).__name__}: {error}\n  Hint: {hint}"
    else:
        result.passed = True
        result.message = f"[{PASSED}] Exercise {name}"
    print(result.message)


def expect_close(actual, expected, what: str, atol: float = 1e-4) -> None:
    """Assert two numbers or tensors agree to ``atol``, with a message a student can act on."""
    actual_t = torch.as_tensor(actual, dtype=torch.float64).detach() if not isinstance(actual, torch.Tensor) else actual.detach().double()
    expected_t = torch.as_tensor(expected, dtype=torch.float64)
    if actual_t.shape != expected_t.shape:
        raise AssertionError(f"{what}: expected shape {tuple(expected_t.shape)}, got {tuple(actual_t.shape)}")
    if not torch.allclose(actual_t, expected_t, atol=atol, rtol=0):
        raise AssertionError(f"{what}: expected {_fmt(expected_t)}, got {_fmt(actual_t)}")


def expect_shape(tensor: torch.Tensor, shape: tuple, what: str) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise AssertionError(f"{what}: expected a tensor, got {type(tensor).__name__}")
    if tuple(tensor.shape) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(tensor.shape)}")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _fmt(t: torch.Tensor) -> str:
    return f"{t.item():.4f}" if t.numel() == 1 else str([round(v, 4) for v in t.flatten().tolist()][:8])


def short_conditional_fit(front_cls, data, classifier, steps: int = 150, seed: int = 0, latent_dim: int = 32, batch_size: int = 64) -> float:
    """Does a generator that starts with the student's ``front_cls(10, 16)`` (mapping (z, y) to
    one vector) learn to follow its label? Returns the share of its outputs that ``classifier``
    reads as the label they were made for (chance: 0.1).

    A GAN needs thousands of steps before a classifier can read its digits, too long for a check
    cell. So the small G is trained for ``steps`` steps, with a mean-squared error, to draw one
    real example of each requested digit (whatever z is). It can only succeed if the label
    reaches it: a G blind to y draws the blurred average of all ten examples instead.
    """
    import torch.nn.functional as F
    from torch import nn

    from .classifier import evaluate_accuracy

    torch.manual_seed(seed)
    examples = torch.stack([data.images[data.labels == k][0] for k in range(10)]).flatten(1)  # (10, 784)
    front = front_cls(10, 16)
    width = front(torch.zeros(2, latent_dim), torch.zeros(2, dtype=torch.long)).shape[1]
    G = nn.Sequential(nn.Linear(width, 256), nn.LeakyReLU(0.2), nn.Linear(256, 784), nn.Tanh())
    optimizer = torch.optim.Adam(list(front.parameters()) + list(G.parameters()), lr=2e-3)
    for _ in range(steps):
        y = torch.randint(0, 10, (batch_size,))
        loss = F.mse_loss(G(front(torch.randn(batch_size, latent_dim), y)), examples[y])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    y = torch.arange(500) % 10
    with torch.no_grad():
        images = G(front(torch.randn(500, latent_dim), y)).view(-1, 1, 28, 28)
    return evaluate_accuracy(classifier, images.to(next(classifier.parameters()).device), y)
