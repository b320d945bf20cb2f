"""The gradient penalty (gan_helpers/losses.py) against its closed form, and the classic bugs.

For a linear critic D(x) = w.x + b the gradient at every point is w, so the penalty is
lambda (||w|| - 1)^2 and its gradient with respect to w is 2 lambda (||w|| - 1) w / ||w||.
Each check below is also run on a known-buggy penalty (or critic loss) and must fail on it:
a check that cannot catch the bug it is named after is not a test.
"""

import pytest
import torch
from torch import nn

from gan_helpers.losses import gradient_penalty


def linear_critic(w: torch.Tensor, b: float = 0.3) -> nn.Module:
    """D(x) = w . x.flatten() + b for images (N, *w.shape); w a parameter."""
    critic = nn.Linear(w.numel(), 1)
    with torch.no_grad():
        critic.weight.copy_(w.reshape(1, -1))
        critic.bias.fill_(b)
    return nn.Sequential(nn.Flatten(), critic)


def batch(n: int = 6, shape=(3, 4, 4), seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    real, fake = torch.randn(n, *shape, generator=gen), torch.randn(n, *shape, generator=gen)
    epsilon = torch.rand(n, 1, 1, 1, generator=gen)
    return real, fake, epsilon


# --- the known bugs, as penalty functions with the same signature --------------------------

def norm_over_the_batch(critic, real, fake, epsilon, weight=10.0):
    x = (epsilon * real + (1 - epsilon) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    norm = grad.norm(2)  # one norm of the whole batch's gradient
    return weight * (norm - 1) ** 2, norm.expand(len(real))


def without_create_graph(critic, real, fake, epsilon, weight=10.0):
    x = (epsilon * real + (1 - epsilon) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)  # a constant for the critic's weights
    norms = grad.flatten(1).norm(2, dim=1)
    return weight * (norms - 1).pow(2).mean(), norms


def mean_of_scores(critic, real, fake, epsilon, weight=10.0):
    x = (epsilon * real + (1 - epsilon) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).mean(), x, create_graph=True)  # grads shrunk by 1/N
    norms = grad.flatten(1).norm(2, dim=1)
    return weight * (norms - 1).pow(2).mean(), norms


def norm_over_channels_only(critic, real, fake, epsilon, weight=10.0):
    x = (epsilon * real + (1 - epsilon) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    norms = grad.norm(2, dim=1).flatten(1).mean(1)  # per pixel, then averaged
    return weight * (norms - 1).pow(2).mean(), norms


# --- the checks --------------------------------------------------------------------------

def value_matches_closed_form(penalty_fn) -> bool:
    ok = True
    for seed, (n, scale) in enumerate(((6, 0.02), (1, 0.1), (9, 0.005))):
        real, fake, epsilon = batch(n, seed=seed)
        w = scale * torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(10 + seed))
        penalty, norms = penalty_fn(linear_critic(w), real, fake, epsilon, 10.0)
        expected = 10.0 * (w.norm() - 1) ** 2
        ok &= torch.allclose(penalty, expected, atol=1e-5) and torch.allclose(norms, w.norm().expand(n), atol=1e-5)
    return bool(ok)


def trains_the_critic(penalty_fn, add_penalty: bool = True) -> bool:
    """The gradient of the critic's loss (W term + penalty) with respect to w is the closed form
    mean(fake) - mean(real) + 2 lambda (||w|| - 1) w / ||w||; a penalty that is not added, or not
    differentiable (create_graph missing), leaves out the second term."""
    real, fake, epsilon = batch(8, seed=3)
    w = 0.05 * torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(4))
    critic = linear_critic(w)
    penalty, _ = penalty_fn(critic, real, fake, epsilon, 10.0)
    loss = critic(fake).mean() - critic(real).mean()
    if add_penalty:
        loss = loss + penalty
    weight = critic[1].weight
    (grad_w,) = torch.autograd.grad(loss, weight)
    n = w.norm()
    expected = (fake.mean(0) - real.mean(0)).flatten() + 2 * 10.0 * (n - 1) * w.flatten() / n
    return bool(torch.allclose(grad_w.flatten(), expected, atol=1e-5))


def test_linear_critic_penalty_is_the_closed_form():
    assert value_matches_closed_form(gradient_penalty)


def test_unit_gradient_costs_nothing_and_the_weight_scales():
    real, fake, epsilon = batch(4)
    w = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(5))
    w = w / w.norm()
    penalty, norms = gradient_penalty(linear_critic(w), real, fake, epsilon, 10.0)
    assert penalty.item() == pytest.approx(0.0, abs=1e-9) and torch.allclose(norms, torch.ones(4))
    w2 = 3 * w
    for weight in (1.0, 10.0):
        penalty, _ = gradient_penalty(linear_critic(w2), real, fake, epsilon, weight)
        assert penalty.item() == pytest.approx(weight * 4.0, rel=1e-5)


def test_nonlinear_critic_per_sample_norms_at_the_interpolates():
    """D(x) = sum(x^2): the gradient at x_i is 2 x_i, so ||grad_i|| = 2 ||eps_i real_i + (1 - eps_i) fake_i||."""
    real, fake, epsilon = batch(5, seed=7)
    penalty, norms = gradient_penalty(lambda x: x.pow(2).flatten(1).sum(1), real, fake, epsilon, 10.0)
    x = epsilon * real + (1 - epsilon) * fake
    expected_norms = 2 * x.flatten(1).norm(dim=1)
    assert torch.allclose(norms, expected_norms, atol=1e-5)
    assert torch.allclose(penalty, 10.0 * (expected_norms - 1).pow(2).mean(), atol=1e-4)
    # at epsilon = 1 the interpolates are the real images, at 0 the fakes
    for eps, at in ((torch.ones(5, 1, 1, 1), real), (torch.zeros(5, 1, 1, 1), fake)):
        _, norms = gradient_penalty(lambda x: x.pow(2).flatten(1).sum(1), real, fake, eps, 10.0)
        assert torch.allclose(norms, 2 * at.flatten(1).norm(dim=1), atol=1e-5)


def test_the_penalty_trains_the_critic():
    assert trains_the_critic(gradient_penalty)


def test_a_critic_trained_on_the_penalty_alone_reaches_unit_gradient():
    """With real = fake in distribution there is nothing to separate: SGD on the penalty alone
    brings ||w|| to 1 (from 3); without create_graph it never moves."""
    for penalty_fn, moves in ((gradient_penalty, True), (without_create_graph, False)):
        w = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(6))
        critic = linear_critic(3 * w / w.norm())
        opt = torch.optim.SGD(critic.parameters(), lr=0.01)
        for step in range(200):
            real, fake, epsilon = batch(4, seed=step)
            penalty, _ = penalty_fn(critic, real, fake, epsilon, 10.0)
            opt.zero_grad()
            if penalty.requires_grad:
                penalty.backward()
            opt.step()
        final = critic[1].weight.norm().item()
        assert (abs(final - 1) < 1e-3) if moves else final == pytest.approx(3.0)


def test_fake_is_detached_from_g_and_shapes_are_checked():
    real, fake, epsilon = batch(3)
    source = fake.clone().requires_grad_(True)
    w = torch.randn(3, 4, 4, generator=torch.Generator().manual_seed(8))
    penalty, _ = gradient_penalty(linear_critic(w), real, source * 1.0, epsilon)
    assert torch.autograd.grad(penalty, source, allow_unused=True)[0] is None
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(linear_critic(w), real, fake[:2], epsilon)


@pytest.mark.parametrize("bug, check", [
    (norm_over_the_batch, value_matches_closed_form),
    (mean_of_scores, value_matches_closed_form),
    (norm_over_channels_only, value_matches_closed_form),
    (without_create_graph, trains_the_critic),
])
def test_the_checks_catch_the_classic_bugs(bug, check):
    assert not check(bug), f"{bug.__name__} passed {check.__name__}"


def test_a_penalty_computed_but_not_added_is_caught():
    assert trains_the_critic(gradient_penalty, add_penalty=True)
    assert not trains_the_critic(gradient_penalty, add_penalty=False)
