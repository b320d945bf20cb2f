"""Chapter 3's exercise checks catch the plausible wrong answers and accept valid variants.

Each check cell of the instructor edition (hidden cases included) runs on a candidate answer
after the chapter's setup and parameters cells and its networks cell (the checks build its G and
D), as the grader would run it, without any training (tests/exercise_harness.py). A wrong answer
must fail with the exercise's hint; an answer in HIDDEN_ONLY passes the student edition's check
(hidden cases stripped) and fails the full one; a valid variant must pass. When a student finds
a wrong answer that passes, it joins WRONG (book/instructors.md).
"""

import exercise_harness as harness
from exercise_harness import with_head

CHAPTER = harness.Chapter("03_dcgan_celeba", needs=("554b0664",))  # the cell of Generator and Discriminator

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

WRONG = {INIT: with_head(INIT_HEAD, INIT_WRONG), FM: with_head(FM_HEAD, FM_WRONG),
         SIZE: with_head(SIZE_HEAD, SIZE_WRONG), BEST: with_head(BEST_HEAD, BEST_WRONG)}
# an answer fitted to exercise 4's visible cases: it passes them and fails a hidden one
HIDDEN_ONLY = {BEST: with_head(BEST_HEAD, {
    "fitted to the visible cases": "    import torch\n    if isinstance(p_data, torch.Tensor): return p_data * 0\n"
                                   "    return (alpha * p_data + beta * p_g) / (p_data + p_g)\n"})}
VALID = {INIT: with_head(INIT_HEAD, INIT_VALID), FM: with_head(FM_HEAD, FM_VALID),
         SIZE: with_head(SIZE_HEAD, SIZE_VALID), BEST: with_head(BEST_HEAD, BEST_VALID)}

globals().update(harness.standard_tests(CHAPTER, WRONG, HIDDEN_ONLY, VALID))
