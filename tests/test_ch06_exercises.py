"""Chapter 6's exercise checks catch the plausible wrong answers and accept valid variants.

Each check cell of the instructor edition (hidden cases included) runs on a candidate answer
after the chapter's setup and parameters cells, as the grader would run it, without any
Inception network or data (tests/exercise_harness.py). A wrong answer must fail with the
exercise's hint; an answer in HIDDEN_ONLY passes the student edition's check (hidden cases
stripped) and fails the full one; a valid variant must pass. When a student finds a wrong answer
that passes, it joins WRONG (book/instructors.md).
"""

import numpy as np
import pytest
from scipy import linalg

import exercise_harness as harness
import gan_helpers as gh

CHAPTER = harness.Chapter("06_evaluation")
FD, KID, IS, KNN = ("1 · Fréchet distance", "2 · KID's unbiased estimator", "3 · IS from a probability table",
                    "4 · k-NN radius")


FD_ANSWER = '''
def frechet_distance(mu1, sigma1, mu2, sigma2):
    diff = mu1 - mu2
    {trace}
    return float({ret})
'''
EIG = "covmean = np.sqrt(np.clip(linalg.eigvals(sigma1 @ sigma2).real, 0, None)).sum()"
FD_RET = "diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * covmean"


def fd(trace=EIG, ret=FD_RET) -> str:
    return FD_ANSWER.format(trace=trace, ret=ret)


KID_ANSWER = '''
def mmd2_unbiased(x, y):
    d = x.shape[1]
    kernel = lambda a, b: {kernel}
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    m, n = len(x), len(y)
    return float({ret})
'''
KERNEL = "(a @ b.T / d + 1) ** 3"
KID_RET = ("(k_xx.sum() - np.trace(k_xx)) / (m * (m - 1)) + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))"
           " - 2 * k_xy.mean()")


def kid(kernel=KERNEL, ret=KID_RET) -> str:
    return KID_ANSWER.format(kernel=kernel, ret=ret)


IS_ANSWER = '''
def inception_score(probs):
    marginal = {marginal}
    log = lambda p: np.log(np.where(p > 0, p, 1.0))
    kl = {kl}
    return float({ret})
'''
MARGINAL, KL, IS_RET = "probs.mean(axis=0, keepdims=True)", "(probs * (log(probs) - log(marginal))).sum(axis=1)", \
    "np.exp(kl.mean())"


def inception(marginal=MARGINAL, kl=KL, ret=IS_RET) -> str:
    return IS_ANSWER.format(marginal=marginal, kl=kl, ret=ret)


KNN_ANSWER = '''
def knn_radii(features, k):
    distances = np.sqrt(((features[:, None, :] - features[None, :, :]) ** 2).sum(-1))
    {diagonal}
    return {ret}
'''
DIAGONAL, KNN_RET = "np.fill_diagonal(distances, np.inf)", "np.sort(distances, axis=1)[:, k - 1]"


def knn(diagonal=DIAGONAL, ret=KNN_RET) -> str:
    return KNN_ANSWER.format(diagonal=diagonal, ret=ret)


WRONG = {
    FD: {
        "factor 2 forgotten": fd(ret="diff @ diff + np.trace(sigma1) + np.trace(sigma2) - covmean"),
        "distance of the means not squared": fd(ret="np.sqrt(diff @ diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * covmean"),
        "square roots of each matrix multiplied (right only when they commute)": fd(
            trace="covmean = np.trace(linalg.sqrtm(sigma1) @ linalg.sqrtm(sigma2)).real"),
        "element-wise square root of the product": fd(trace="covmean = np.trace(np.sqrt(np.abs(sigma1 * sigma2)))"),
        "square root of the trace of the product": fd(trace="covmean = np.sqrt(np.trace(sigma1 @ sigma2))"),
        "the covariance term left out": fd(ret="diff @ diff"),
        "the course's gh.frechet_distance": "def frechet_distance(mu1, sigma1, mu2, sigma2):\n"
                                            "    return gh.frechet_distance(mu1, sigma1, mu2, sigma2)\n",
        "the course's function under another name": "from gan_helpers.metrics import frechet_distance as course\n"
                                                    "def frechet_distance(mu1, sigma1, mu2, sigma2):\n"
                                                    "    return course(mu1, sigma1, mu2, sigma2)\n",
    },
    KID: {
        "biased: the diagonal kept": kid(ret="k_xx.mean() + k_yy.mean() - 2 * k_xy.mean()"),
        "gamma 1 instead of 1/d": kid(kernel="(a @ b.T + 1) ** 3"),
        "degree 2": kid(kernel="(a @ b.T / d + 1) ** 2"),
        "cross term not doubled": kid(ret=KID_RET.replace("- 2 * k_xy.mean()", "- k_xy.mean()")),
        "diagonal left out but divided by m^2": kid(
            ret="(k_xx.sum() - np.trace(k_xx)) / m ** 2 + (k_yy.sum() - np.trace(k_yy)) / n ** 2 - 2 * k_xy.mean()"),
        "cross term without its diagonal": kid(ret=KID_RET.replace(
            "2 * k_xy.mean()", "2 * (k_xy.sum() - np.trace(k_xy)) / (m * n - min(m, n))")),
        "the course's gh.mmd2_unbiased": "def mmd2_unbiased(x, y):\n    return gh.mmd2_unbiased(x, y)\n",
    },
    IS: {
        "log of the score (no exp)": inception(ret="kl.mean()"),
        "mean of the exps": inception(ret="np.exp(kl).mean()"),
        "KL the other way round": inception(kl="(marginal * (log(marginal) - log(probs))).sum(axis=1)"),
        "marginal over classes, not samples": inception(marginal="probs.mean(axis=1, keepdims=True)"),
        "KL in bits": inception(ret="np.exp(kl.mean() / np.log(2))"),
        "entropy of the marginal alone": inception(kl="-(marginal * log(marginal)).sum() + 0 * probs[:, 0]"),
        "the course's gh.inception_score": "def inception_score(probs):\n    return gh.inception_score(probs)\n",
    },
    KNN: {
        "itself counted as a neighbour": knn(diagonal="pass", ret="np.sort(distances, axis=1)[:, k - 1]"),
        "one neighbour too far": knn(ret="np.sort(distances, axis=1)[:, k]"),
        "squared distances": knn(ret="np.sort(distances ** 2, axis=1)[:, k - 1]"),
        "the k-th farthest": knn(ret="np.sort(distances, axis=1)[:, -k - 1]"),
        "mean distance to the k nearest": knn(ret="np.sort(distances, axis=1)[:, :k].mean(axis=1)"),
        "the course's gh.knn_radii": "def knn_radii(features, k):\n    return gh.knn_radii(features, k)\n",
    },
}

# wrong answers that every visible case lets through: only a hidden case catches them
HIDDEN_ONLY = {
    FD: {
        "squared L1 distance of the means (right when they differ in one coordinate)": fd(
            ret="np.abs(diff).sum() ** 2 + np.trace(sigma1) + np.trace(sigma2) - 2 * covmean"),
    },
    KID: {
        "right only when both sets have the same size as in the examples": kid(
            ret="(k_xx.sum() - np.trace(k_xx)) / (m * (m - 1)) + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))"
                " - 2 * k_xy.mean() if (m, n) in ((2, 2), (5, 7), (20, 20)) else 0.0"),
    },
    IS: {
        "predicted classes instead of probabilities (argmax first)": inception(
            marginal="np.eye(probs.shape[1])[probs.argmax(axis=1)].mean(axis=0, keepdims=True)",
            kl="(np.eye(probs.shape[1])[probs.argmax(axis=1)] * -log(marginal)).sum(axis=1)"),
    },
    KNN: {
        "ties merged: the k-th distinct distance": knn(
            diagonal="np.fill_diagonal(distances, np.inf)",
            ret="np.array([np.unique(row)[k - 1] for row in distances])"),
    },
}

VALID = {
    FD: {
        "scipy's sqrtm": fd(trace="covmean = np.trace(linalg.sqrtm(sigma1 @ sigma2)).real"),
        "symmetric form via sqrtm(sigma1)": fd(
            trace="root = linalg.sqrtm(sigma1).real\n    covmean = np.trace(linalg.sqrtm(root @ sigma2 @ root)).real"),
    },
    KID: {
        "explicit loops": "def mmd2_unbiased(x, y):\n"
                          "    k = lambda a, b: (a @ b / len(a) + 1) ** 3\n"
                          "    m, n = len(x), len(y)\n"
                          "    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))\n"
                          "    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))\n"
                          "    return xx + yy - 2 * sum(k(a, b) for a in x for b in y) / (m * n)\n",
        "torch": "def mmd2_unbiased(x, y):\n"
                 "    x, y = torch.as_tensor(x), torch.as_tensor(y)\n"
                 "    kern = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3\n"
                 "    m, n = len(x), len(y)\n"
                 "    off = lambda k: (k.sum() - k.diagonal().sum())\n"
                 "    return (off(kern(x, x)) / (m * (m - 1)) + off(kern(y, y)) / (n * (n - 1))\n"
                 "            - 2 * kern(x, y).mean()).item()\n",
    },
    IS: {
        "entropies: exp(H(p(y)) - mean H(p(y|x)))": "def inception_score(probs):\n"
                                                    "    H = lambda p: -(p * np.log(np.where(p > 0, p, 1.0))).sum(-1)\n"
                                                    "    return float(np.exp(H(probs.mean(0)) - H(probs).mean()))\n",
        "scipy's entropy": "from scipy.stats import entropy\n"
                          "def inception_score(probs):\n"
                          "    marginal = probs.mean(axis=0)\n"
                          "    return float(np.exp(np.mean([entropy(p, marginal) for p in probs])))\n",
    },
    KNN: {
        "scipy cdist and partition": "from scipy.spatial.distance import cdist\n"
                                     "def knn_radii(features, k):\n"
                                     "    d = cdist(features, features)\n"
                                     "    return np.partition(d, k, axis=1)[:, k]  # column 0 is the point itself\n",
        "torch.cdist and topk": "def knn_radii(features, k):\n"
                                "    f = torch.as_tensor(features)\n"
                                "    d = torch.cdist(f, f)\n"
                                "    d.fill_diagonal_(float('inf'))\n"
                                "    return d.topk(k, dim=1, largest=False).values[:, -1].numpy()\n",
    },
}


globals().update(harness.standard_tests(CHAPTER, WRONG, HIDDEN_ONLY, VALID, min_wrong=5))


def test_every_exercise_has_a_case_only_a_hidden_check_catches():
    assert set(HIDDEN_ONLY) == set(WRONG)


@pytest.mark.parametrize("name, course", [(FD, lambda ns: ns["frechet_distance"]), (IS, None), (KNN, None), (KID, None)])
def test_the_solutions_agree_with_the_course_helpers_on_random_data(name, course):
    """The chapter computes with the student's answer once it passes (yours_or_reference); the
    reference solutions must then give the course's numbers."""
    namespace = {"np": np, "linalg": linalg}
    exec(CHAPTER.solution(name), namespace)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(30, 6)) * 1.5 + 0.2
    if name == FD:
        ours = namespace["frechet_distance"](*gh.feature_statistics(x), *gh.feature_statistics(y))
        assert ours == pytest.approx(gh.fid_from_features(x, y), rel=1e-9)
    elif name == KID:
        assert namespace["mmd2_unbiased"](x, y) == pytest.approx(gh.mmd2_unbiased(x, y), rel=1e-9)
    elif name == IS:
        probs = rng.dirichlet(np.full(10, 0.2), size=50)
        assert namespace["inception_score"](probs) == pytest.approx(gh.inception_score(probs), rel=1e-9)
    else:
        assert np.allclose(namespace["knn_radii"](x, 3), gh.knn_radii(x, 3))
