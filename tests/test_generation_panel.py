"""The generation panel (seed, number of images, truncation of z, latent walk): a picture in the
book, live widgets in Jupyter; and truncate_z, the clipping it applies."""

import matplotlib.pyplot as plt
import pytest
import torch

import gan_helpers as gh


def generate(z):
    """A stand-in generator: each image's brightness is tanh of z's first coordinate."""
    return torch.tanh(z[:, :1]).view(-1, 1, 1, 1).expand(-1, 3, 8, 8)


def test_truncate_z_clips_each_coordinate_and_leaves_z_alone():
    z = torch.tensor([[-3.0, 0.5, 2.5], [1.0, -1.2, 0.0]])
    before = z.clone()
    assert torch.equal(gh.truncate_z(z, 1.0), torch.tensor([[-1.0, 0.5, 1.0], [1.0, -1.0, 0.0]]))
    assert torch.equal(z, before)  # a new tensor: the caller's fixed noise is not changed
    assert gh.truncate_z(z, None) is z
    with pytest.raises(ValueError, match="positive"):
        gh.truncate_z(z, 0.0)


def test_static_panel_shows_the_samples_and_the_walk():
    figure = gh.generation_panel(generate, latent_dim=4, seed=3, n_images=10, truncation=0.5, n_steps=6, nrow=5,
                                 interactive=False)
    assert isinstance(figure, plt.Figure)
    top, bottom = figure.axes
    assert top.images[0].get_array().shape[:2] == (2 * 10 + 2, 5 * 10 + 2)  # 2 rows x 5 of 8 px + 2 px padding
    assert bottom.images[0].get_array().shape[:2] == (10 + 2, 6 * 10 + 2)
    assert "seed 3" in top.get_title() and "clipped at 0.5" in top.get_title()
    # truncation at 0.5 keeps every image's brightness within tanh(0.5): no pixel near white or black
    pixels = top.images[0].get_array()[2:10, 2:10]
    assert 255 * (1 - torch.tanh(torch.tensor(0.5))) / 2 - 1 <= pixels.min()


def test_same_seed_same_images_other_seed_other_images():
    seen = []
    gh.generation_panel(lambda z: seen.append(z.clone()) or generate(z), 4, seed=1, n_images=4, interactive=False)
    gh.generation_panel(lambda z: seen.append(z.clone()) or generate(z), 4, seed=1, n_images=4, interactive=False)
    gh.generation_panel(lambda z: seen.append(z.clone()) or generate(z), 4, seed=2, n_images=4, interactive=False)
    assert torch.equal(seen[0], seen[2]) and not torch.equal(seen[0], seen[4])
    walk = seen[1]
    assert torch.allclose(walk[0], seen[0][0]) and torch.allclose(walk[-1], seen[0][1], atol=1e-5)


def test_panel_uses_the_truncation_it_is_given():
    calls = []

    def my_truncate(z, threshold):
        calls.append(threshold)
        return z * 0

    gh.generation_panel(generate, 4, truncation=1.5, n_images=2, interactive=False, truncate=my_truncate)
    assert calls == [1.5, 1.5]  # the samples and the walk


def test_interactive_panel_redraws_for_each_control():
    import ipywidgets

    box = gh.generation_panel(generate, 4, seed=0, n_images=8, interactive=True)
    assert isinstance(box, ipywidgets.VBox)
    (seed_box, count), (use_clip, clip) = box.children[0].children, box.children[1].children
    picture, walk = box.children[2], box.children[4]
    assert picture.value[:4] == b"\x89PNG" and walk.value[:4] == b"\x89PNG"
    for control, value in ((seed_box, 5), (count, 16), (use_clip, True), (clip, 0.3)):
        before = picture.value
        control.value = value
        assert picture.value != before, control.description
    before_walk = walk.value
    seed_box.value = 6
    assert walk.value != before_walk


def test_panel_refuses_fewer_than_two_images():
    with pytest.raises(ValueError, match="between 2 and 64"):
        gh.generation_panel(generate, 4, n_images=1, interactive=False)
