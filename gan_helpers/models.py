"""The DCGAN of Radford, Metz & Chintala (2016), for the chapters after the one that teaches it.

Chapter 3 writes these two networks out in full as its lesson; later chapters import them from
here so that they do not paste them again (a test checks that the notebook's classes and these
give identical outputs for the same weights and input).

    G = Generator(latent_dim=100, image_size=64, width=64, channels=3).apply(dcgan_init)
    D = Discriminator(image_size=64, width=64, channels=3).apply(dcgan_init)
    images = G(torch.randn(16, 100))     # (16, 3, 64, 64) in [-1, 1]
    logits = D(images)                   # (16,); D(x) = sigmoid(logit)

The rules of the paper: no pooling and no dense hidden layers (G grows the image with
transposed convolutions, D shrinks it with strided convolutions); batch norm in both networks
except at G's output and D's input; ReLU in G, LeakyReLU(0.2) in D; tanh at G's output;
weights drawn from N(0, 0.02). Every layer has kernel 4; a stride-2 layer halves (D) or doubles
(G) the side, so at 64x64 D goes 64-32-16-8-4-1 with channels 3-w-2w-4w-8w-1 (w = ``width``,
64 in the paper) and G is its mirror. Other image sizes (powers of two from 16) add or drop a
stride-2 layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Generator", "Discriminator", "dcgan_init", "stage_widths"]


def stage_widths(image_size: int, width: int) -> list[int]:
    """Channels of the stride-2 stages from the image side inward: [w, 2w, 4w, ...], one per
    halving from ``image_size`` down to 4 (64 -> [w, 2w, 4w, 8w]; 32 -> [w, 2w, 4w])."""
    if not (isinstance(image_size, int) and image_size >= 16 and image_size & (image_size - 1) == 0):
        raise ValueError(f"image_size={image_size!r}: expected a power of two of at least 16 "
                         "(32 and 64 are the course's sizes)")
    if not (isinstance(width, int) and width >= 1):
        raise ValueError(f"width={width!r}: expected a positive whole number (64 in the paper)")
    stages = int(math.log2(image_size)) - 2  # halvings from image_size to 4
    return [width * 2**i for i in range(stages)]


class Generator(nn.Module):
    """z (N, latent_dim) -> images (N, channels, image_size, image_size) in [-1, 1].

    A transposed convolution (kernel 4, stride 1, no padding) turns z, seen as a 1x1 map, into a
    4x4 map of 8w channels (at 64x64); each later one (kernel 4, stride 2, padding 1) doubles the
    side and halves the channels; batch norm and ReLU after each but the last, which ends in tanh.
    """

    def __init__(self, latent_dim: int = 100, image_size: int = 64, width: int = 64,
                 channels: int = 3):
        super().__init__()
        widths = stage_widths(image_size, width)[::-1]  # 64: [8w, 4w, 2w, w]
        layers = [nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.latent_dim = latent_dim
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(len(z), -1, 1, 1))


class Discriminator(nn.Module):
    """images (N, channels, image_size, image_size) in [-1, 1] -> logits (N,); D(x) = sigmoid.

    Strided convolutions (kernel 4, stride 2, padding 1) halve the side and double the channels
    down to a 4x4 map of 8w channels (at 64x64), with LeakyReLU(0.2) after each and batch norm
    after all but the first; a last convolution (kernel 4, no padding) reads that map as one logit.
    ``features(x)`` returns the 4x4 map, flattened, for feature matching (Salimans et al., 2016).
    """

    def __init__(self, image_size: int = 64, width: int = 64, channels: int = 3):
        super().__init__()
        widths = stage_widths(image_size, width)  # 64: [w, 2w, 4w, 8w]
        layers = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(widths[-1], 1, 4, 1, 0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """D's last hidden layer, (N, 8w * 4 * 4) at 64x64: what feature matching compares."""
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten()


@torch.no_grad()
def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation, for ``model.apply(dcgan_init)``: convolution weights from N(0, 0.02)
    (Radford et al., 2016), batch-norm scales from N(1, 0.02) (PyTorch's DCGAN tutorial: the paper
    does not say); biases and batch-norm shifts zero."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
