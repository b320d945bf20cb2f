"""Chapter 3's exercise checks catch the plausible wrong answers and accept valid variants.

Each check cell of the instructor edition (hidden cases included) runs here on a candidate
answer, as the grader would run it, without any training: only the chapter's network classes
are defined first. A wrong answer must fail with the exercise's hint; when a student finds a
wrong answer that passes, it joins these lists.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import book
import exercise_harness as harness
import gan_helpers as gh

SOURCE = book.NOTEBOOKS / "03_dcgan_celeba.ipynb"


def run_check(name: str, answer_source: str) -> str:
    """Define the chapter's networks and ``answer_source``, run the check of exercise ``name``;
    returns what it printed."""
    namespace = {"gh": gh, "torch": torch, "nn": nn, "F": F, "np": np}
    networks = next(c for c in harness.code_cells(SOURCE) if "class Generator(nn.Module)" in c.source)
    exec(compile(networks.source, "networks", "exec"), namespace)
    return harness.run_check(harness.check_source(SOURCE, name), answer_source, namespace)


def solution(function: str) -> str:
    return harness.solution_source(SOURCE, function)


def assert_passes(name, answer):
    out = run_check(name, answer)
    assert harness.passed(name, out), out


def assert_fails(name, answer):
    out = run_check(name, answer)
    assert harness.failed_with_hint(name, out), out


INIT = "1 · DCGAN init"
INIT_HEAD = "@torch.no_grad()\ndef init_weights(module):\n"
INIT_WRONG = {
    "std 0.2": "    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):\n        nn.init.normal_(module.weight, 0.0, 0.2)\n"
               "        if module.bias is not None: nn.init.zeros_(module.bias)\n"
               "    elif isinstance(module, nn.BatchNorm2d):\n        nn.init.normal_(module.weight, 1.0, 0.02); nn.init.zeros_(module.bias)\n",
    "uniform(-0.02, 0.02)": "    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):\n        nn.init.uniform_(module.weight, -0.02, 0.02)\n"
                            "        if module.bias is not None: nn.init.zeros_(module.bias)\n"
                            "    elif isinstance(module, nn.BatchNorm2d):\n        nn.init.normal_(module.weight, 1.0, 0.02); nn.init.zeros_(module.bias)\n",
    "batch norm forgotten": "    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):\n        nn.init.normal_(module.weight, 0.0, 0.02)\n"
                            "        if module.bias is not None: nn.init.zeros_(module.bias)\n",
    "gamma from N(0, 0.02)": "    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):\n        nn.init.normal_(module.weight, 0.0, 0.02)\n"
                             "        if module.bias is not None: nn.init.zeros_(module.bias)\n"
                             "    elif isinstance(module, nn.BatchNorm2d):\n        nn.init.normal_(module.weight, 0.0, 0.02); nn.init.zeros_(module.bias)\n",
    "Conv2d only (G's transposed convolutions left alone)":
        "    if isinstance(module, nn.Conv2d):\n        nn.init.normal_(module.weight, 0.0, 0.02)\n"
        "        if module.bias is not None: nn.init.zeros_(module.bias)\n"
        "    elif isinstance(module, nn.BatchNorm2d):\n        nn.init.normal_(module.weight, 1.0, 0.02); nn.init.zeros_(module.bias)\n",
    "biases left as they were": "    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):\n        nn.init.normal_(module.weight, 0.0, 0.02)\n"
                                "    elif isinstance(module, nn.BatchNorm2d):\n        nn.init.normal_(module.weight, 1.0, 0.02)\n",
    "normal_(w, 0.02): mean 0.02, std 1": "    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):\n        nn.init.normal_(module.weight, 0.02)\n"
                                          "        if module.bias is not None: nn.init.zeros_(module.bias)\n"
                                          "    elif isinstance(module, nn.BatchNorm2d):\n        nn.init.normal_(module.weight, 1.0, 0.02); nn.init.zeros_(module.bias)\n",
    "calls the course's helper": "    gh.dcgan_init(module)\n",
}
INIT_VALID = {
    "tensor methods": "    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):\n        module.weight.normal_(0, 0.02)\n"
                      "        if module.bias is not None: module.bias.zero_()\n"
                      "    if isinstance(module, nn.BatchNorm2d):\n        module.weight.normal_(1, 0.02); module.bias.fill_(0)\n",
    "by class name": "    name = type(module).__name__\n    if 'Conv' in name:\n        nn.init.normal_(module.weight, 0.0, 0.02)\n"
                     "        if module.bias is not None: nn.init.constant_(module.bias, 0)\n"
                     "    elif 'BatchNorm' in name:\n        nn.init.normal_(module.weight, 1.0, 0.02); nn.init.constant_(module.bias, 0)\n",
}



FM = "2 · feature matching"
FM_HEAD = "def feature_matching_loss(real_features, fake_features):\n"
FM_WRONG = {
    "mean of per-pair squared distances": "    return (real_features.detach() - fake_features).pow(2).sum(1).mean()\n",
    "mean over features (MSE of the means)": "    return F.mse_loss(fake_features.mean(0), real_features.detach().mean(0))\n",
    "not squared": "    return (real_features.detach().mean(0) - fake_features.mean(0)).norm()\n",
    "L1": "    return (real_features.detach().mean(0) - fake_features.mean(0)).abs().sum()\n",
    "sums instead of means": "    return (real_features.detach().sum(0) - fake_features.sum(0)).pow(2).sum()\n",
    "real features not detached": "    return (real_features.mean(0) - fake_features.mean(0)).pow(2).sum()\n",
    "fake features detached too": "    return (real_features.mean(0) - fake_features.mean(0)).detach().pow(2).sum()\n",
}
FM_VALID = {
    "mse with reduction sum": "    return F.mse_loss(fake_features.mean(0), real_features.mean(0).detach(), reduction='sum')\n",
    "dot product": "    diff = fake_features.mean(dim=0) - real_features.detach().mean(dim=0)\n    return diff @ diff\n",
}



SIZE = "3 · conv output size"
SIZE_HEAD = "def conv_output_size(size, kernel, stride=1, padding=0, transposed=False):\n"
SIZE_WRONG = {
    "true division (a float)": "    if transposed: return (size - 1) * stride - 2 * padding + kernel\n"
                               "    return (size - kernel + 2 * padding) / stride + 1\n",
    "padding counted once": "    if transposed: return (size - 1) * stride - padding + kernel\n"
                            "    return (size - kernel + padding) // stride + 1\n",
    "no + 1": "    if transposed: return (size - 1) * stride - 2 * padding + kernel\n"
              "    return (size - kernel + 2 * padding) // stride\n",
    "the two formulas swapped": "    if not transposed: return (size - 1) * stride - 2 * padding + kernel\n"
                                "    return (size - kernel + 2 * padding) // stride + 1\n",
    "transposed as size * stride": "    if transposed: return size * stride\n"
                                   "    return (size - kernel + 2 * padding) // stride + 1\n",
    "rounded instead of floored": "    if transposed: return (size - 1) * stride - 2 * padding + kernel\n"
                                  "    return round((size - kernel + 2 * padding) / stride) + 1\n",
    "the DCGAN cases only": "    return size // 2 if not transposed else (4 if size == 1 else size * 2)\n",
}
SIZE_VALID = {
    "int of the true division": "    if transposed: return int((size - 1) * stride - 2 * padding + kernel)\n"
                                "    return int((size - kernel + 2 * padding) / stride) + 1\n",
    "math.floor": "    import math\n    if transposed: return (size - 1) * stride - 2 * padding + kernel\n"
                  "    return math.floor((size + 2 * padding - kernel) / stride) + 1\n",
}



BEST = "4 · best D with smoothing"
BEST_HEAD = "def best_d(p_data, p_g, alpha, beta=0.0):\n"
BEST_WRONG = {
    "smoothing ignored (chapter 1's D*)": "    return p_data / (p_data + p_g)\n",
    "alpha in the denominator too": "    return alpha * p_data / (alpha * p_data + p_g)\n",
    "beta ignored": "    return alpha * p_data / (p_data + p_g)\n",
    "beta subtracted": "    return (alpha * p_data - beta * p_g) / (p_data + p_g)\n",
    "alpha times chapter 1's D* plus beta": "    return alpha * p_data / (p_data + p_g) + beta\n",
}
BEST_VALID = {
    "from the two shares": "    share = p_data / (p_data + p_g)\n    return alpha * share + beta * (1 - share)\n",
}



# exercise name -> (the answer's first line, wrong answers, valid variants, the solution's function)
EXERCISES = {
    INIT: (INIT_HEAD, INIT_WRONG, INIT_VALID, "init_weights"),
    FM: (FM_HEAD, FM_WRONG, FM_VALID, "feature_matching_loss"),
    SIZE: (SIZE_HEAD, SIZE_WRONG, SIZE_VALID, "conv_output_size"),
    BEST: (BEST_HEAD, BEST_WRONG, BEST_VALID, "best_d"),
}


@pytest.mark.parametrize("name, wrong", [(name, wrong) for name, (_, wrongs, _, _) in EXERCISES.items() for wrong in sorted(wrongs)])
def test_check_catches_a_wrong_answer(name, wrong):
    head, wrongs, _, _ = EXERCISES[name]
    assert_fails(name, head + wrongs[wrong])


@pytest.mark.parametrize("name, valid", [(name, valid) for name, (_, _, valids, _) in EXERCISES.items() for valid in ["solution", *sorted(valids)]])
def test_check_accepts_a_valid_answer(name, valid):
    head, _, valids, function = EXERCISES[name]
    assert_passes(name, solution(function) if valid == "solution" else head + valids[valid])


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_not_done_is_reported_as_not_done(name):
    stub = f"def {EXERCISES[name][3]}(*args, **kwargs):\n    raise NotImplementedError()\n"
    assert f"[NOT DONE] Exercise {name}" in run_check(name, stub)



def test_hidden_cases_are_needed():
    """An answer fitted to the visible cases of exercise 4 passes them and fails a hidden one."""
    fitted = BEST_HEAD + ("    import torch\n    if isinstance(p_data, torch.Tensor): return p_data * 0\n"
                          "    return (alpha * p_data + beta * p_g) / (p_data + p_g)\n")
    assert_fails(BEST, fitted)
