"""The shared DCGAN (gan_helpers.models): shapes, the size arithmetic layer by layer, the init."""

import pytest
import torch
from torch import nn

from gan_helpers.models import Discriminator, Generator, dcgan_init, stage_widths


def conv_walk(model: nn.Module, x: torch.Tensor) -> list[tuple[str, int, int]]:
    """(layer type, output channels, output side) of every (transposed) convolution, in order."""
    rows = []
    hooks = [m.register_forward_hook(lambda m, i, o: rows.append((type(m).__name__, o.shape[1], o.shape[-1])))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    return rows


@pytest.mark.parametrize("size, width, latent, channels", [(64, 64, 100, 3), (32, 64, 100, 3), (64, 32, 128, 3), (32, 8, 16, 1)])
def test_shapes(size, width, latent, channels):
    G = Generator(latent, size, width, channels)
    D = Discriminator(size, width, channels)
    images = G(torch.randn(5, latent))
    assert images.shape == (5, channels, size, size)
    assert images.abs().max() <= 1  # tanh
    assert D(images).shape == (5,)
    assert D.features(images).shape == (5, stage_widths(size, width)[-1] * 4 * 4)


def test_discriminator_arithmetic_at_64():
    """The paper's D: 64-32-16-8-4-1 with channels 3-64-128-256-512-1."""
    rows = conv_walk(Discriminator(64, 64), torch.zeros(2, 3, 64, 64))
    assert rows == [("Conv2d", 64, 32), ("Conv2d", 128, 16), ("Conv2d", 256, 8), ("Conv2d", 512, 4), ("Conv2d", 1, 1)]


def test_generator_mirrors_discriminator():
    rows = conv_walk(Generator(100, 64, 64), torch.zeros(2, 100))
    assert rows == [("ConvTranspose2d", 512, 4), ("ConvTranspose2d", 256, 8), ("ConvTranspose2d", 128, 16),
                    ("ConvTranspose2d", 64, 32), ("ConvTranspose2d", 3, 64)]
    rows32 = conv_walk(Generator(100, 32, 64), torch.zeros(2, 100))
    assert [side for _, _, side in rows32] == [4, 8, 16, 32]
    assert [c for _, c, _ in rows32] == [256, 128, 64, 3]


def test_paper_rules():
    """Batch norm everywhere but G's output and D's input; ReLU in G, LeakyReLU(0.2) in D; tanh out."""
    G, D = Generator(100, 64, 64), Discriminator(64, 64)
    g_layers, d_layers = list(G.net), list(D.body)
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    assert not any(isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d)) for m in [*G.modules(), *D.modules()])
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g_layers) == 4  # after all 5 but the output
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_layers) == 3  # after all 4 but the input
    assert isinstance(d_layers[1], nn.LeakyReLU)  # straight after the input conv: no batch norm
    assert {type(m) for m in g_layers if not isinstance(m, (nn.ConvTranspose2d, nn.BatchNorm2d))} == {nn.ReLU, nn.Tanh}
    assert all(m.negative_slope == 0.2 for m in d_layers if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, nn.ReLU) for m in D.modules())


def test_dcgan_init_statistics():
    torch.manual_seed(0)
    G, D = Generator(100, 64, 64).apply(dcgan_init), Discriminator(64, 64).apply(dcgan_init)
    for model in (G, D):
        convs = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
        gammas = torch.cat([m.weight for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
        betas = torch.cat([m.bias for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
        assert abs(convs.mean().item()) < 1e-3 and abs(convs.std().item() - 0.02) < 5e-4
        assert abs(gammas.mean().item() - 1) < 5e-3 and abs(gammas.std().item() - 0.02) < 5e-3
        assert torch.all(betas == 0)
        assert all(torch.all(m.bias == 0) for m in model.modules()
                   if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None)
    # PyTorch's default (Kaiming uniform) is far wider than 0.02 for the first layers
    assert Discriminator(64, 64).body[0].weight.std() > 0.05


@pytest.mark.parametrize("size", [0, 48, 8, "64"])
def test_bad_image_size(size):
    with pytest.raises(ValueError, match="power of two"):
        Generator(100, size)
