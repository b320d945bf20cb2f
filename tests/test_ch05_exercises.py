"""Chapter 5's exercise checks catch the plausible wrong answers and accept valid variants.

Each check cell of the instructor edition (hidden cases included) runs on a candidate answer
after the chapter's setup and parameters cells, as the grader would run it, without any training
(tests/exercise_harness.py). A wrong answer must fail with the exercise's hint; an answer in
HIDDEN_ONLY passes the student edition's check (hidden cases stripped) and fails the full one; a
valid variant must pass. When a student finds a wrong answer that passes, it joins WRONG
(book/instructors.md).
"""

import torch
from torch import nn

import exercise_harness as harness
import gan_helpers as gh

CHAPTER = harness.Chapter("05_wgan_gp_cifar10")
GP, W1, JS = "1 · gradient penalty", "2 · W in one dimension", "3 · JS divergence"


PENALTY = '''
def gradient_penalty(critic, real, fake, epsilon, weight=10.0):
    x = (epsilon * real + (1 - epsilon) * fake).detach().requires_grad_(True)
    {grad}
    {norms}
    return {ret}
'''
GRAD = "(grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)"
NORMS = "norms = grad.flatten(1).norm(2, dim=1)"
RET = "weight * (norms - 1).pow(2).mean(), norms.detach()"


def penalty(grad=GRAD, norms=NORMS, ret=RET) -> str:
    return PENALTY.format(grad=grad, norms=norms, ret=ret)


W1_ANSWER = "def wasserstein_1d(a, b):\n    return {body}\n"
JS_ANSWER = '''
def js_divergence(p, q):
    m = (p + q) / 2
    def kl(a, b):
        mask = a > 0
        return (a[mask] * (a[mask] / b[mask]).log()).sum()
    return {body}
'''

WRONG = {
    GP: {
        "norm over the whole batch": penalty(norms="norms = grad.norm(2).expand(len(grad))"),
        "create_graph missing (the penalty never trains)": penalty(grad="(grad,) = torch.autograd.grad(critic(x).sum(), x)"),
        "gradient of the mean score (1/N too small)": penalty(grad="(grad,) = torch.autograd.grad(critic(x).mean(), x, create_graph=True)"),
        "norm over the channels only, averaged over pixels": penalty(norms="norms = grad.norm(2, dim=1).flatten(1).mean(1)"),
        "squared norm": penalty(norms="norms = grad.pow(2).flatten(1).sum(1)"),
        "one-sided penalty (only norms above 1)": penalty(ret="weight * (norms - 1).clamp(min=0).pow(2).mean(), norms.detach()"),
        "interpolates ignored (gradient at the real images)": penalty().replace("(epsilon * real + (1 - epsilon) * fake)", "real"),
        "weight ignored (always 10)": penalty(ret="10.0 * (norms - 1).pow(2).mean(), norms.detach()"),
        "sum over the batch instead of the mean": penalty(ret="weight * (norms - 1).pow(2).sum(), norms.detach()"),
        "norms returned with their graph": penalty(ret="weight * (norms - 1).pow(2).mean(), norms"),
        "calls the course's gh.gradient_penalty": "def gradient_penalty(critic, real, fake, epsilon, weight=10.0):\n"
                                                  "    return gh.gradient_penalty(critic, real, fake, epsilon, weight)\n",
        "the course's function under another name": "from gan_helpers.losses import gradient_penalty as course_penalty\n"
                                                    "def gradient_penalty(critic, real, fake, epsilon, weight=10.0):\n"
                                                    "    return course_penalty(critic, real, fake, epsilon, weight)\n",
    },
    W1: {
        "not sorted": W1_ANSWER.format(body="(a - b).abs().mean().item()"),
        "difference of the means": W1_ANSWER.format(body="(a.mean() - b.mean()).abs().item()"),
        "squared differences (W2 squared)": W1_ANSWER.format(body="(a.sort().values - b.sort().values).pow(2).mean().item()"),
        "sum instead of mean": W1_ANSWER.format(body="(a.sort().values - b.sort().values).abs().sum().item()"),
        "only one sample sorted": W1_ANSWER.format(body="(a.sort().values - b).abs().mean().item()"),
        "one sorted descending": W1_ANSWER.format(body="(a.sort().values - b.sort(descending=True).values).abs().mean().item()"),
        "largest gap (W-infinity)": W1_ANSWER.format(body="(a.sort().values - b.sort().values).abs().max().item()"),
    },
    JS: {
        "KL(p || q)": JS_ANSWER.format(body="kl(p, q).item()"),
        "log base 2 (bits)": JS_ANSWER.format(body="((0.5 * kl(p, m) + 0.5 * kl(q, m)) / np.log(2)).item()"),
        "halves forgotten": JS_ANSWER.format(body="(kl(p, m) + kl(q, m)).item()"),
        "mixture not halved": JS_ANSWER.replace("m = (p + q) / 2", "m = p + q").format(body="(0.5 * kl(p, m) + 0.5 * kl(q, m)).item()"),
        "no 0 log 0 convention (NaN)": JS_ANSWER.replace("mask = a > 0", "mask = a > -1").format(body="(0.5 * kl(p, m) + 0.5 * kl(q, m)).item()"),
        "total variation instead": JS_ANSWER.format(body="(0.5 * (p - q).abs().sum()).item()"),
    },
}

# wrong answers that every visible case lets through: only a hidden case catches them
HIDDEN_ONLY = {
    GP: {
        "norm over dims 1, 2, 3 (only 4-D images)": penalty(norms="norms = grad.norm(2, dim=(1, 2, 3))"),
    },
    W1: {
        "fails when both samples hold the same numbers in another order": W1_ANSWER.format(
            body="(a.sort().values - b.sort().values).abs().mean().item() if not torch.equal(a.sort().values, b.sort().values) else 1.0"),
    },
    JS: {
        "KL(p || m) alone (right on every symmetric example)": JS_ANSWER.format(body="kl(p, m).item()"),
    },
}

VALID = {
    GP: {
        "grad_outputs instead of the sum": penalty(
            grad="scores = critic(x)\n    (grad,) = torch.autograd.grad(scores, x, torch.ones_like(scores), create_graph=True)"),
        "reshape and linalg.vector_norm": penalty(norms="norms = torch.linalg.vector_norm(grad.reshape(len(grad), -1), dim=1)"),
        "sqrt of the sum of squares": penalty(norms="norms = (grad.pow(2).flatten(1).sum(1) + 0.0).sqrt()"),
    },
    W1: {
        "torch.sort, returns a tensor": W1_ANSWER.format(body="torch.mean(torch.abs(torch.sort(a)[0] - torch.sort(b)[0]))"),
        "numpy": W1_ANSWER.format(body="float(np.mean(np.abs(np.sort(a.numpy()) - np.sort(b.numpy()))))"),
    },
    JS: {
        "entropies: H(m) - (H(p) + H(q)) / 2": "def js_divergence(p, q):\n"
                                               "    H = lambda x: torch.special.entr(x).sum()\n"
                                               "    return (H((p + q) / 2) - (H(p) + H(q)) / 2).item()\n",
        "numpy with np.where": "def js_divergence(p, q):\n"
                               "    p, q = np.asarray(p, float), np.asarray(q, float)\n"
                               "    m = (p + q) / 2\n"
                               "    safe = lambda x: np.where(x > 0, x, 1.0)  # log(1) = 0 where a = 0\n"
                               "    kl = lambda a: np.sum(a * np.log(safe(a) / safe(m)))\n"
                               "    return 0.5 * kl(p) + 0.5 * kl(q)\n",
    },
}


globals().update(harness.standard_tests(CHAPTER, WRONG, HIDDEN_ONLY, VALID, min_wrong=3))


def test_every_exercise_has_a_case_only_a_hidden_check_catches():
    assert set(HIDDEN_ONLY) == set(WRONG)


def test_the_solution_trains_exactly_like_the_course_fallback():
    """The instructor edition trains with its own gradient_penalty; it must give the same bits
    as gh.gradient_penalty (the fallback), so that recorded runs do not move."""
    namespace = {"torch": torch, "nn": nn}
    exec(CHAPTER.solution(GP), namespace)
    gen = torch.Generator().manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 8 * 8, 1))
    real, fake = torch.randn(5, 3, 16, 16, generator=gen), torch.randn(5, 3, 16, 16, generator=gen)
    epsilon = torch.rand(5, 1, 1, 1, generator=gen)
    mine = namespace["gradient_penalty"](critic, real, fake, epsilon, 10.0)
    course = gh.gradient_penalty(critic, real, fake, epsilon, 10.0)
    assert torch.equal(mine[0], course[0]) and torch.equal(mine[1], course[1])
