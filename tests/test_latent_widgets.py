"""Latent interpolation and the explorer: live widgets in Jupyter, pictures in the book."""

import matplotlib.pyplot as plt
import pytest
import torch

import gan_helpers as gh


def test_interpolate_ends_and_modes():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    for mode in ("linear", "spherical"):
        path = gh.interpolate(z0, z1, 5, mode)
        assert path.shape == (5, 2)
        assert torch.allclose(path[0], z0) and torch.allclose(path[-1], z1, atol=1e-6)
    assert torch.allclose(gh.interpolate(z0, z1, 3, "linear")[1], torch.tensor([0.5, 0.5]))
    assert torch.allclose(gh.interpolate(z0, z1, 3, "spherical")[1], torch.tensor([0.5**0.5, 0.5**0.5]))
    with pytest.raises(ValueError, match="INTERPOLATION='cubic'"):
        gh.interpolate(z0, z1, 3, "cubic")


def test_slerp_keeps_the_norm_where_lerp_shrinks_it():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(100, generator=g), torch.randn(100, generator=g)
    z1 = z1 * z0.norm() / z1.norm()
    assert gh.slerp(z0, z1, 0.5).norm() == pytest.approx(z0.norm().item(), rel=1e-5)
    assert gh.latent.lerp(z0, z1, 0.5).norm() < 0.8 * z0.norm()  # nearly orthogonal: about 1/sqrt(2)


def generate(z, label):
    """A stand-in generator: the image brightness follows z[0]; the label shifts it."""
    value = torch.tanh(z[:, :1] + (0 if label is None else label))
    return value.view(-1, 1, 1, 1).expand(-1, 1, 8, 8)


def test_static_explorer_is_a_picture_with_one_row_per_label():
    figure = gh.latent_explorer(generate, torch.zeros(4), torch.ones(4), labels=["a", "b", "c"], n_steps=6, interactive=False)
    assert isinstance(figure, plt.Figure)
    image = figure.axes[0].images[0].get_array()
    assert image.shape[0] == 3 * 10 + 2 and image.shape[1] == 6 * 10 + 2  # 3 rows x 6 steps of 8 px + 2 px padding
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["a", "b", "c"]


def test_interactive_explorer_redraws_when_the_slider_moves():
    import ipywidgets

    box = gh.latent_explorer(generate, torch.full((4,), -2.0), torch.full((4,), 2.0), labels=["a", "b"], n_steps=4)
    assert isinstance(box, ipywidgets.VBox)
    (slider, picker), picture, strip = box.children[0].children, box.children[1], box.children[2]
    assert picture.value[:4] == b"\x89PNG" and strip.value[:4] == b"\x89PNG"
    before = picture.value
    slider.value = 1.0
    assert picture.value != before
    before_strip = strip.value
    picker.value = 1
    assert strip.value != before_strip
