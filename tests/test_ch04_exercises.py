"""Chapter 4's exercise checks catch the plausible wrong answers and accept valid variants.

Each check cell of the instructor edition (hidden cases included) runs on a candidate answer
after the chapter's setup and parameters cells only, as the grader would run it, without any
training (tests/exercise_harness.py): a check that needed the trained chapter would fail here.
A wrong answer must fail with the exercise's hint; an answer in HIDDEN_ONLY passes the student
edition's check (hidden cases stripped) and fails the full one; a valid variant must pass. When a
student finds a wrong answer that passes, it joins WRONG (book/instructors.md).
"""

import exercise_harness as harness
from exercise_harness import with_head

CHAPTER = harness.Chapter("04_dcgan_anime")

TRUNC = "1 · truncation of z"
TRUNC_HEAD = "def truncate_z(z, threshold):\n    if threshold is None:\n        return z\n"
TRUNC_WRONG = {
    "clamp_ in place (changes the caller's z)": "    return z.clamp_(-threshold, threshold)\n",
    "upper side only": "    return z.clamp(max=threshold)\n",
    "the length of z clipped, not its coordinates":
        "    return z * (threshold / z.norm(dim=1, keepdim=True)).clamp(max=1)\n",
    "sign lost": "    return z.abs().clamp(max=threshold)\n",
    "rescaled so that the largest is the threshold": "    return z * threshold / z.abs().max()\n",
    "coordinates beyond the threshold set to 0": "    return torch.where(z.abs() > threshold, torch.zeros_like(z), z)\n",
    "resampled from the global random state":
        "    return torch.where(z.abs() > threshold, torch.randn_like(z).clamp(-threshold, threshold), z)\n",
    "calls the course's helper": "    return gh.truncate_z(z, threshold)\n",
}
TRUNC_HIDDEN_ONLY = {
    "cast to float32": "    return z.float().clamp(-threshold, threshold)\n",
}
TRUNC_VALID = {
    "min and max": "    return torch.clamp(z, min=-threshold, max=threshold)\n",
    "where and sign": "    return torch.where(z.abs() > threshold, threshold * z.sign(), z)\n",
    "a copy clamped in place": "    out = z.clone()\n    out.clamp_(-threshold, threshold)\n    return out\n",
}

NORM = "2 · clipped squared length"
NORM_HEAD = "def clipped_norm2(threshold, latent_dim):\n    from scipy.stats import norm\n    c = threshold\n"
NORM_WRONG = {
    "the clipped coordinates forgotten": "    return latent_dim * (2 * norm.cdf(c) - 1 - 2 * c * norm.pdf(c))\n",
    "one tail only": "    return latent_dim * (2 * norm.cdf(c) - 1 - 2 * c * norm.pdf(c) + c**2 * norm.sf(c))\n",
    "the variance of z given |z| <= c":
        "    return latent_dim * (1 - 2 * c * norm.pdf(c) / (2 * norm.cdf(c) - 1))\n",
    "one coordinate only (not times latent_dim)":
        "    return 2 * norm.cdf(c) - 1 - 2 * c * norm.pdf(c) + 2 * c**2 * norm.sf(c)\n",
    "the length, not its square":
        "    return (latent_dim * (2 * norm.cdf(c) - 1 - 2 * c * norm.pdf(c) + 2 * c**2 * norm.sf(c))) ** 0.5\n",
    "a simulation of 100,000 draws":
        "    z = torch.randn(100_000, latent_dim, generator=torch.Generator().manual_seed(0))\n"
        "    return z.clamp(-c, c).pow(2).sum(1).mean().item()\n",
    "the fraction clipped times c squared, only": "    return latent_dim * 2 * norm.sf(c) * c**2\n",
}
NORM_VALID = {
    "math.erf": "    import math\n    Phi = 0.5 * (1 + math.erf(c / math.sqrt(2)))\n"
                "    phi = math.exp(-c * c / 2) / math.sqrt(2 * math.pi)\n"
                "    return latent_dim * (2 * Phi - 1 - 2 * c * phi + 2 * c * c * (1 - Phi))\n",
    "numerical integration": "    from scipy.integrate import quad\n"
                             "    inside = quad(lambda x: x * x * norm.pdf(x), -c, c)[0]\n"
                             "    return latent_dim * (inside + c * c * 2 * norm.sf(c))\n",
}

NN = "3 · nearest neighbours"
NN_HEAD = "def nearest_images(queries, references, k):\n"
NN_WRONG = {
    "farthest first": "    d = torch.cdist(queries, references)\n    r = d.topk(k, dim=1)\n    return r.values, r.indices\n",
    "squared distances": "    d = torch.cdist(queries.double(), references.double()) ** 2\n"
                         "    r = d.topk(k, dim=1, largest=False)\n    return r.values, r.indices\n",
    "largest dot product": "    s = queries @ references.T\n    r = s.topk(k, dim=1)\n"
                           "    return torch.cdist(queries, references).gather(1, r.indices), r.indices\n",
    "L1 distance": "    d = torch.cdist(queries.double(), references.double(), p=1)\n"
                   "    r = d.topk(k, dim=1, largest=False)\n    return r.values, r.indices\n",
    "k ignored (the nearest only)": "    d = torch.cdist(queries.double(), references.double())\n"
                                    "    v, i = d.min(dim=1, keepdim=True)\n    return v, i\n",
    "sorted over the queries, not the references":
        "    d = torch.cdist(queries.double(), references.double())\n"
        "    i = d.argsort(dim=0)[:k].T\n    return d.gather(1, i), i\n",
    "calls the course's helper": "    return gh.nearest_neighbours(queries, references, k)\n",
}
NN_VALID = {
    "float32 cdist and sort": "    d = torch.cdist(queries, references)\n    v, i = d.sort(dim=1)\n    return v[:, :k], i[:, :k]\n",
    "a loop with numpy": "    q, r = np.asarray(queries, dtype=float), np.asarray(references, dtype=float)\n"
                         "    d = np.sqrt(((q[:, None] - r[None]) ** 2).sum(-1))\n"
                         "    i = np.argsort(d, axis=1, kind='stable')[:, :k]\n"
                         "    return torch.tensor(np.take_along_axis(d, i, 1)), torch.tensor(i)\n",
}

OTHER = "4 · nearest other image"
OTHER_HEAD = "def nearest_other_distance(references):\n"
OTHER_WRONG = {
    "itself included (all zeros)": "    return torch.cdist(references, references).min(dim=1).values\n",
    "squared": "    d = torch.cdist(references.double(), references.double()) ** 2\n"
               "    d.fill_diagonal_(float('inf'))\n    return d.min(dim=1).values\n",
    "the mean distance to the others": "    d = torch.cdist(references.double(), references.double())\n"
                                       "    return d.sum(1) / (len(d) - 1)\n",
    "the farthest other": "    d = torch.cdist(references.double(), references.double())\n    return d.max(dim=1).values\n",
    "calls the course's helper": "    return gh.nearest_neighbours(references, references, k=2)[0][:, 1]\n",
}
OTHER_HIDDEN_ONLY = {
    "every zero dropped (duplicates lost)": "    x = references.double()\n    d = (x[:, None] - x[None]).norm(dim=-1)\n"
                                            "    d[d == 0] = float('inf')\n    return d.min(dim=1).values\n",
}
OTHER_VALID = {
    "the second smallest of each row": "    d = torch.cdist(references.double(), references.double())\n"
                                       "    return d.sort(dim=1).values[:, 1]\n",
    "a loop": "    out = []\n    for i in range(len(references)):\n"
              "        others = torch.cat([references[:i], references[i + 1:]])\n"
              "        out.append((others - references[i]).norm(dim=1).min())\n    return torch.stack(out)\n",
}

WRONG = {TRUNC: with_head(TRUNC_HEAD, TRUNC_WRONG), NORM: with_head(NORM_HEAD, NORM_WRONG),
         NN: with_head(NN_HEAD, NN_WRONG), OTHER: with_head(OTHER_HEAD, OTHER_WRONG)}
HIDDEN_ONLY = {TRUNC: with_head(TRUNC_HEAD, TRUNC_HIDDEN_ONLY), OTHER: with_head(OTHER_HEAD, OTHER_HIDDEN_ONLY)}
VALID = {TRUNC: with_head(TRUNC_HEAD, TRUNC_VALID), NORM: with_head(NORM_HEAD, NORM_VALID),
         NN: with_head(NN_HEAD, NN_VALID), OTHER: with_head(OTHER_HEAD, OTHER_VALID)}

globals().update(harness.standard_tests(CHAPTER, WRONG, HIDDEN_ONLY, VALID))
