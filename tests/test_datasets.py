"""The course's datasets: digits, the standard image datasets, where they are looked for, every
way to get them, their names, an IMAGE_FOLDER in their place, and test and training parts.

Every image here is a stand-in made by the test (coloured shapes, or square 'digits'), used to
test the loading code, never to train anything that claims quality.
"""

import numpy as np
import pytest
import torch

import gan_helpers as gh
from gan_helpers import datasets as gd
from test_images import centre_colour, private_cache_dir, write_shapes  # noqa: F401 (an autouse fixture)


# --- the digits ----------------------------------------------------------------------------


def test_load_digits_layout_range_and_source(tiny_root):
    data = gh.load_digits("MNIST", tiny_root, split="train", n=20)
    assert data.images.shape == (20, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.images.min() == -1.0 and data.images.max() <= 1.0 and data.images.max() > 0.5
    assert data.labels.dtype == torch.int64
    assert data.source == "test stand-in"
    test = gh.load_digits("MNIST", tiny_root, split="test")
    assert len(test) == 10 and sorted(test.labels.tolist()) == list(range(10))


def test_missing_digits_say_where_and_how(tmp_path):
    with pytest.raises(gh.DataNotFoundError) as error:
        gh.load_digits("MNIST", tmp_path / "nowhere", download=False)
    message = str(error.value)
    assert str((tmp_path / "nowhere").resolve()) in message
    assert "make data" in message and "tools/provision.py" in message


def test_unknown_digit_dataset_and_bad_n(tiny_root):
    with pytest.raises(ValueError, match="not a digit dataset"):
        gh.load_digits("CIFAR10", tiny_root)
    with pytest.raises(ValueError, match="positive"):
        gh.load_digits("MNIST", tiny_root, n=0)


# --- the standard datasets -----------------------------------------------------------------


def test_missing_standard_datasets_say_where_and_how(tmp_path):
    root = tmp_path / "data"
    expected = {
        "celeba": ["celeba/img_align_celeba", "torchvision.datasets.CelebA", "download=True", "unzip"],
        "anime_faces": ["anime_faces", "kaggle datasets download -d splcher/animefacedataset", "unzip"],
        "cifar10": ["cifar-10-batches-py", "cifar10", "torchvision.datasets.CIFAR10", "unzip"],
    }
    for name, phrases in expected.items():
        with pytest.raises(gh.DataNotFoundError) as error:
            gd.load_dataset_images(name, root)
        message = str(error.value)
        assert str(root.resolve()) in message and all(p in message for p in phrases), (name, message)
    (root / "anime_faces").mkdir(parents=True)  # there, but empty
    with pytest.raises(gh.DataNotFoundError, match="(?s)not found.*splcher/animefacedataset"):
        gd.find_dataset("anime_faces", root)
    (root / "anime_faces" / "animefacedataset.zip").write_bytes(b"PK\x03\x04")  # there, but still zipped
    with pytest.raises(gh.DataNotFoundError, match="(?s)unpack it there first.*splcher/animefacedataset"):
        gd.load_dataset_images("anime_faces", root)
    with pytest.raises(gh.DataNotFoundError, match="IMAGE_FOLDER"):
        gd.load_dataset_images("celeba", root, tmp_path / "not-there")
    with pytest.raises(ValueError, match="unknown dataset"):
        gd.load_dataset_images("imagenet", root)


def test_standard_places_and_image_folder(tmp_path):
    root = tmp_path / "data"
    write_shapes(root / "anime_faces" / "images", 3, "green", size=(64, 64), suffix=".jpg")
    anime = gd.load_dataset_images("anime_faces", root)
    assert anime.images.shape == (3, 3, 64, 64) and "Anime Face Dataset" in anime.source
    write_shapes(root / "celeba" / "img_align_celeba", 2, "red", size=(178, 218), suffix=".jpg")
    celeba = gd.load_dataset_images("celeba", root, size=32)
    assert celeba.images.shape == (2, 3, 32, 32) and "CelebA" in celeba.source
    write_shapes(root / "cifar10" / "train" / "cat", 2, "red", size=(32, 32))
    write_shapes(root / "cifar10" / "train" / "dog", 2, "blue", size=(32, 32))
    cifar = gd.load_dataset_images("cifar10", root)
    assert cifar.images.shape == (4, 3, 32, 32) and cifar.classes == ["cat", "dog"]
    own = gd.load_dataset_images("celeba", root, tmp_path / "data" / "anime_faces", size=16)
    assert len(own) == 3 and "image folder" in own.source
    assert gd.find_dataset("celeba", root) == root / "celeba" / "img_align_celeba"


class CifarStandIn:
    """torchvision's CIFAR10 checks its files' MD5 sums, so this stand-in replaces it: 10 random
    training images and 4 test images, labels alternating 0, 1."""

    classes = ["airplane", "automobile"]

    def __init__(self, root, train, download):
        rng = np.random.default_rng(0 if train else 1)
        self.data = rng.integers(0, 256, size=(10 if train else 4, 32, 32, 3), dtype=np.uint8)
        self.targets = [i % 2 for i in range(len(self.data))]


@pytest.fixture()
def torchvision_cifar10(tmp_path, monkeypatch):
    """A data root holding (stand-ins for) torchvision's CIFAR-10 files."""
    import torchvision

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", CifarStandIn)
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").touch()
    return tmp_path


def test_cifar10_from_torchvision_files(torchvision_cifar10):
    train = gd.load_dataset_images("cifar10", torchvision_cifar10)
    assert train.images.shape == (10, 3, 32, 32) and train.classes == CifarStandIn.classes
    assert torch.equal(train.images, torch.from_numpy(CifarStandIn(None, True, False).data).permute(0, 3, 1, 2))
    assert train.labels.tolist() == [0, 1] * 5 and "torchvision files (train)" in train.source
    assert train.name == "cifar10" and train.stands_in_for is None
    small = gd.load_dataset_images("cifar10", torchvision_cifar10, split="test", size=16, n=3, dtype=torch.float32)
    assert small.images.shape == (3, 3, 16, 16) and small.images.min() >= -1 and small.images.max() <= 1


def test_failed_download_says_how_else_to_get_it(tmp_path, monkeypatch):
    import torchvision

    def refuse(*args, **kwargs):
        raise RuntimeError("Too many users have viewed or downloaded this file recently")

    monkeypatch.setattr(torchvision.datasets, "CelebA", refuse)
    with pytest.raises(gh.DataNotFoundError, match="(?s)download failed.*Too many users.*jessicali9530/celeba-dataset"):
        gd.load_dataset_images("celeba", tmp_path, download=True)


# --- names, and an IMAGE_FOLDER in a dataset's place ----------------------------------------


def test_the_data_carries_its_name_and_says_what_a_folder_stands_in_for(tmp_path):
    root = tmp_path / "data"
    write_shapes(root / "anime_faces" / "images", 2, "green", size=(16, 16))
    anime = gd.load_dataset_images("anime_faces", root, size=16)
    assert anime.name == "anime_faces" and anime.stands_in_for is None
    assert "IMAGE_FOLDER" not in anime.describe()
    folder = write_shapes(tmp_path / "Bob's faces", 3, "red")
    for name, short in (("celeba", "CelebA"), ("anime_faces", "the anime faces"), ("cifar10", "CIFAR-10")):
        own = gd.load_dataset_images(name, root, folder, size=16)
        assert own.name == "Bob_s_faces" and own.stands_in_for == short
        lines = own.describe().splitlines()
        assert lines[0] == f"3 images of (3, 16, 16) from {folder.resolve()}"
        assert lines[2] == f"  IMAGE_FOLDER is set: these images stand in for {short}"


# --- test and training parts -------------------------------------------------------------


def test_a_folder_with_test_and_train_gives_each_its_own(tmp_path):
    for split, colours in (("train", ("red", "green")), ("test", ("blue", "green"))):
        for colour in colours:
            write_shapes(tmp_path / "split" / split / colour, 2 if split == "test" else 3, colour)
    test, train = gd.load_test_and_train("cifar10", tmp_path / "data", tmp_path / "split", n_test=4, n_train=6,
                                         seed=0, size=16)
    assert test.folder.name == "test" and train.folder.name == "train" and test.name == train.name == "split"
    assert test.classes == ["blue", "green"] and test.labels.tolist() == [0, 0, 1, 1]
    assert [centre_colour(test, i) for i in (0, 2)] == [[40, 60, 230], [30, 200, 60]]
    assert train.classes == ["green", "red"] and train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert "split in two" not in test.source and test.stands_in_for == "CIFAR-10"


def test_a_folder_without_a_test_part_is_split_in_two_by_the_seed(tmp_path):
    write_shapes(tmp_path / "pool" / "red", 5, "red")
    write_shapes(tmp_path / "pool" / "blue", 5, "blue")
    pool = gd.load_dataset_images("cifar10", tmp_path / "data", tmp_path / "pool", size=16, n=8)
    test, train = gd.load_test_and_train("cifar10", tmp_path / "data", tmp_path / "pool", n_test=3, n_train=5,
                                         seed=7, size=16)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(7))  # the split, by hand
    assert torch.equal(test.images, pool.images[order[:3]]) and torch.equal(train.images, pool.images[order[3:]])
    assert test.labels.tolist() == pool.labels[order[:3]].tolist() and len(train) == 5
    assert test.source == train.source == f"{pool.source} (one folder, split in two here)"
    other, _ = gd.load_test_and_train("cifar10", tmp_path / "data", tmp_path / "pool", n_test=3, n_train=5,
                                      seed=8, size=16)
    other_order = torch.randperm(8, generator=torch.Generator().manual_seed(8))  # another seed, another split
    assert torch.equal(other.images, pool.images[other_order[:3]]) and not torch.equal(other_order, order)
    with pytest.raises(ValueError, match="would leave none for training"):
        gd.load_test_and_train("cifar10", tmp_path / "data", tmp_path / "pool", n_test=10, n_train=5, seed=0, size=16)


def test_torchvision_files_give_their_own_test_and_train(torchvision_cifar10):
    test, train = gd.load_test_and_train("cifar10", torchvision_cifar10, n_test=3, n_train=10, seed=0)
    assert "torchvision files (test)" in test.source and "torchvision files (train)" in train.source
    assert len(test) == 3 and torch.equal(train.images, torch.from_numpy(CifarStandIn(None, True, False).data).permute(0, 3, 1, 2))
    with pytest.raises(gh.DataNotFoundError, match="CIFAR-10"):
        gd.load_test_and_train("cifar10", torchvision_cifar10 / "elsewhere", n_test=3, n_train=10, seed=0)
