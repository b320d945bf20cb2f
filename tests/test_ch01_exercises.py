"""Chapter 1's exercise checks catch the plausible wrong answers and accept valid variants.

Each check cell of the instructor edition (hidden cases included) runs on a candidate answer
after the chapter's setup and parameters cells (tests/exercise_harness.py), as the grader would
run it, without any training. A wrong answer must fail with the exercise's hint; an answer in
HIDDEN_ONLY passes the student edition's check (hidden cases stripped) and fails the full one; a
valid variant must pass. When a student finds a wrong answer that passes, it joins WRONG
(book/instructors.md).
"""

import exercise_harness as harness
from exercise_harness import block

CHAPTER = harness.Chapter("01_vanilla_gan")

G_LOSS = '''
def generator_loss(fake_logits, kind):
    if kind == "non-saturating":
        return {ns}
    return {sat}
'''
D_LOSS = '''
def discriminator_loss(real_logits, fake_logits):
    return {body}
'''
EMA = '''
@torch.no_grad()
def ema_step(ema_tensors, tensors, decay):
{body}
'''
SLERP = '''
def slerp(z0, z1, t):
{body}
'''
BEST_D = '''
def optimal_d(p_data, p_g):
    return {d}


def game_value(d, p_data, p_g):
    return {value}


def jsd(p, q):
    m = (p + q) / 2
    return {jsd}
'''
RIGHT_D = dict(d="p_data / (p_data + p_g)", value="(p_data * torch.log(d)).sum() + (p_g * torch.log(1 - d)).sum()",
               jsd="0.5 * (p * torch.log(p / m)).sum() + 0.5 * (q * torch.log(q / m)).sum()")
FD = '''
def frechet_distance(mu1, sigma1, mu2, sigma2):
    {body}
'''


def g_loss(ns: str, sat: str) -> str:
    return G_LOSS.format(ns=ns, sat=sat)


NS, SAT = "F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))", \
    "-F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))"

# exercise -> {label: answer}; each must fail ("NOT YET RIGHT") and show its hint
WRONG = {
    "1 · G's losses": {
        "kinds swapped": g_loss(SAT, NS),
        "saturating without the minus sign": g_loss(NS, SAT.lstrip("-")),
        "a sum, not a mean": g_loss("-F.logsigmoid(fake_logits).sum()", "F.logsigmoid(-fake_logits).sum()"),
        "calls the course's reference": g_loss("gh.reference.generator_loss(fake_logits, kind)",
                                               "gh.reference.generator_loss(fake_logits, kind)"),
    },
    "2 · D's loss": {
        "binary cross-entropy, which the exercise rules out": D_LOSS.format(
            body="F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + "
                 "F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))"),
        "nn.BCEWithLogitsLoss": D_LOSS.format(
            body="nn.BCEWithLogitsLoss()(torch.cat([real_logits, fake_logits]), "
                 "torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])) * 2"),
        "one mean over both batches": D_LOSS.format(
            body="-torch.cat([F.logsigmoid(real_logits), F.logsigmoid(-fake_logits)]).mean() * 2"),
        "log D(G(z)) for the fakes": D_LOSS.format(body="-F.logsigmoid(real_logits).mean() - F.logsigmoid(fake_logits).mean()"),
        "not negated": D_LOSS.format(body="F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()"),
    },
    "3 · EMA step": {
        "rebinds the list's entries": EMA.format(body=block("""
            for i, (ema, value) in enumerate(zip(ema_tensors, tensors)):
                ema_tensors[i] = decay * ema + (1 - decay) * value
        """)),
        "rebinds the loop variable": EMA.format(body=block("""
            for ema, value in zip(ema_tensors, tensors):
                ema = decay * ema + (1 - decay) * value
        """)),
        "decay and 1 - decay swapped": EMA.format(body=block("""
            for ema, value in zip(ema_tensors, tensors):
                ema.mul_(1 - decay).add_(value, alpha=decay)
        """)),
    },
    "4 · slerp": {
        "normalised linear interpolation": SLERP.format(body=block("""
            v = (1 - t) * z0 + t * z1
            return v / v.norm() * ((1 - t) * z0.norm() + t * z1.norm())
        """)),
        "normalised linear interpolation, to z0's length": SLERP.format(body=block("""
            v = torch.lerp(z0, z1, t)
            return v * z0.norm() / v.norm()
        """)),
        "linear interpolation": SLERP.format(body="    return (1 - t) * z0 + t * z1"),
        "weights swapped": SLERP.format(body=block("""
            omega = torch.arccos((z0 @ z1 / (z0.norm() * z1.norm())).clamp(-1, 1))
            return (torch.sin(t * omega) * z0 + torch.sin((1 - t) * omega) * z1) / torch.sin(omega)
        """)),
        "calls gh.slerp": SLERP.format(body="    return gh.slerp(z0, z1, t)"),
        "calls gh.slerp under another name": "spherical = gh.slerp\n" + SLERP.format(body="    return spherical(z0, z1, t)"),
        "is gh.slerp": "slerp = gh.slerp\n",
        "wraps gh.slerp in a partial": "import functools\nslerp = functools.partial(gh.slerp)\n",
        "calls gh.interpolate": SLERP.format(body="    return gh.interpolate(z0, z1, 3, 'spherical')[1] if t == 0.5 else "
                                                  "gh.latent.slerp(z0, z1, t)"),
    },
    "5 · the best D": {
        "D* for the fakes": BEST_D.format(**RIGHT_D | dict(d="p_g / (p_data + p_g)")),
        "D* as a likelihood ratio": BEST_D.format(**RIGHT_D | dict(d="p_data / p_g")),
        "V as a mean, not an expectation": BEST_D.format(
            **RIGHT_D | dict(value="(p_data * torch.log(d)).mean() + (p_g * torch.log(1 - d)).mean()")),
        "JSD as KL(p ‖ q)": BEST_D.format(**RIGHT_D | dict(jsd="(p * torch.log(p / q)).sum()")),
        "JSD in bits": BEST_D.format(**RIGHT_D | dict(jsd="(0.5 * (p * torch.log2(p / m)).sum() + 0.5 * (q * torch.log2(q / m)).sum())")),
    },
    "6 · Fréchet distance": {
        "square roots of each matrix": FD.format(body="return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2 - 2 * np.sqrt(sigma1) @ np.sqrt(sigma2)))"),
        "square root of each entry of the product": FD.format(
            body="return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2) - 2 * np.trace(np.sqrt(np.abs(sigma1 @ sigma2))))"),
        "no factor 2": FD.format(body="return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - "
                                      "np.sqrt(np.clip(np.linalg.eigvals(sigma1 @ sigma2).real, 0, None)).sum())"),
        "the means' distance not squared": FD.format(body="return float(np.linalg.norm(mu1 - mu2) + np.trace(sigma1) + np.trace(sigma2) - "
                                                          "2 * np.sqrt(np.clip(np.linalg.eigvals(sigma1 @ sigma2).real, 0, None)).sum())"),
        "calls gh.frechet_distance": FD.format(body="return gh.frechet_distance(mu1, sigma1, mu2, sigma2)"),
    },
}

# answers that pass the student edition's visible cases and only a hidden case catches
HIDDEN_ONLY = {
    "1 · G's losses": {"log of a rounded σ(a)": g_loss("-torch.log(torch.sigmoid(fake_logits)).mean()",
                                                        "torch.log(1 - torch.sigmoid(fake_logits)).mean()")},
    "2 · D's loss": {"log of a rounded σ(a)": D_LOSS.format(
        body="-torch.log(torch.sigmoid(real_logits)).mean() - torch.log(1 - torch.sigmoid(fake_logits)).mean()")},
}

# exercise -> {label: answer}; each must pass
VALID = {
    "1 · G's losses": {
        "F.logsigmoid": g_loss("-F.logsigmoid(fake_logits).mean()", "F.logsigmoid(-fake_logits).mean()"),
        "softplus": g_loss("F.softplus(-fake_logits).mean()", "-F.softplus(fake_logits).mean()"),
    },
    "2 · D's loss": {
        "softplus": D_LOSS.format(body="F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()"),
        "log σ(-a) by hand": D_LOSS.format(body="-torch.log(torch.sigmoid(real_logits)).mean() - torch.log(torch.sigmoid(-fake_logits)).mean()"),
        "negated sum of means": D_LOSS.format(body="-(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())"),
    },
    "3 · EMA step": {
        "lerp_": EMA.format(body=block("""
            for ema, value in zip(ema_tensors, tensors):
                ema.lerp_(value, 1 - decay)
        """)),
        "copy_": EMA.format(body=block("""
            for ema, value in zip(ema_tensors, tensors):
                ema.copy_(decay * ema + (1 - decay) * value)
        """)),
        "foreach": EMA.format(body=block("""
            torch._foreach_mul_(ema_tensors, decay)
            torch._foreach_add_(ema_tensors, tensors, alpha=1 - decay)
        """)),
    },
    "4 · slerp": {
        "float64 with cosine_similarity": SLERP.format(body=block("""
            cos = F.cosine_similarity(z0.double(), z1.double(), dim=0)
            omega = torch.arccos(cos.clamp(-1, 1))
            blend = (torch.sin((1 - t) * omega) * z0.double() + torch.sin(t * omega) * z1.double()) / torch.sin(omega)
            return blend.float()
        """)),
        "numpy": SLERP.format(body=block("""
            a, b = z0.numpy(), z1.numpy()
            omega = np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))
            return torch.from_numpy((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega))
        """)),
    },
    "5 · the best D": {
        "kl_div and log1p": BEST_D.format(**RIGHT_D | dict(
            value="(p_data * d.log()).sum() + (p_g * torch.log1p(-d)).sum()",
            jsd="0.5 * F.kl_div(m.log(), p, reduction='sum') + 0.5 * F.kl_div(m.log(), q, reduction='sum')")),
        "xlogy": BEST_D.format(**RIGHT_D | dict(
            jsd="0.5 * (torch.special.xlogy(p, p) - torch.special.xlogy(p, m)).sum() + "
                "0.5 * (torch.special.xlogy(q, q) - torch.special.xlogy(q, m)).sum()")),
    },
    "6 · Fréchet distance": {
        "scipy's sqrtm": "import scipy.linalg\n" + FD.format(body=block("""
            covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
            return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * covmean))
        """).strip()),
        "symmetric form": FD.format(body=block("""
            w, v = np.linalg.eigh(sigma1)
            root1 = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
            inner = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
            return float(np.dot(mu1 - mu2, mu1 - mu2) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(np.clip(inner, 0, None)).sum())
        """).strip()),
    },
}

globals().update(harness.standard_tests(CHAPTER, WRONG, HIDDEN_ONLY, VALID))
