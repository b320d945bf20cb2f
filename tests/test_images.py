"""The image-folder loader: layouts, labels, names, the crop rule, bad files and the cache.

Every image here is a stand-in made by the test (coloured shapes on a plain background, a few
pixels wide), used to test the loading code, never to train anything that claims quality.
"""

import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import gan_helpers as gh
from gan_helpers import image_cache
from gan_helpers import images as gi

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 230)}


def shape_image(width: int, height: int, colour: tuple, seed: int = 0) -> Image.Image:
    """A stand-in: a filled circle of ``colour`` near the centre on a grey background."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (128, 128, 128))
    r = min(width, height) // 3
    cx, cy = width // 2 + int(rng.integers(-2, 3)), height // 2 + int(rng.integers(-2, 3))
    ImageDraw.Draw(image).ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    return image


def write_shapes(folder, count: int, colour="red", size=(40, 30), suffix=".png", start=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        shape_image(*size, COLOURS[colour], seed=i).save(folder / f"{colour}_{i:03d}{suffix}")
    return folder


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path, monkeypatch):
    """The course's cache folder is private to each test (never the user's ~/.cache)."""
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture()
def count_decodes(monkeypatch):
    """Counts the files the loader decodes (wraps ``gan_helpers.images.decode_image``)."""
    calls = []
    real = gi.decode_image

    def counting(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(gi, "decode_image", counting)
    return calls


def centre_colour(data, i):
    return data.images[i, :, data.images.shape[2] // 2, data.images.shape[3] // 2].tolist()


# --- layouts -------------------------------------------------------------------------------


def test_flat_folder_cropped_resized_uint8(tmp_path):
    folder = write_shapes(tmp_path / "flat", 5, "red", size=(40, 30))
    (folder / "notes.txt").write_text("not an image")  # ignored: not an image extension
    data = gi.load_image_folder(folder, 16)
    assert data.images.shape == (5, 3, 16, 16) and data.images.dtype == torch.uint8
    assert data.labels is None and data.classes == []
    assert centre_colour(data, 0) == [220, 30, 30]
    assert data.images[:, :, 0, 0].float().mean() == pytest.approx(128, abs=3)  # corner: background
    assert str(folder.resolve()) in data.source and "5 images" in data.describe()


def test_nested_folder_without_classes(tmp_path):
    write_shapes(tmp_path / "nested" / "images" / "part1", 2, "red")
    write_shapes(tmp_path / "nested" / "images" / "part2" / "deeper", 3, "blue")
    data = gi.load_image_folder(tmp_path / "nested", 8)
    assert len(data) == 5 and data.labels is None  # one first-level folder: no classes
    # loose images beside subfolders: not ImageFolder, so no labels either
    write_shapes(tmp_path / "mixed" / "a", 2, "red")
    write_shapes(tmp_path / "mixed" / "b", 2, "blue")
    write_shapes(tmp_path / "mixed", 1, "green")
    mixed = gi.load_image_folder(tmp_path / "mixed", 8)
    assert len(mixed) == 5 and mixed.labels is None
    with pytest.raises(ValueError, match="ImageFolder layout"):
        gi.load_image_folder(tmp_path / "mixed", 8, labelled=True)


def test_image_folder_layout_keeps_labels(tmp_path):
    folder = tmp_path / "shapes"
    for colour, count in (("red", 3), ("green", 2), ("blue", 4)):
        write_shapes(folder / colour, count, colour, suffix=".jpg" if colour == "green" else ".png")
    data = gi.load_image_folder(folder, 12)
    assert data.classes == ["blue", "green", "red"]  # sorted, as torchvision's ImageFolder
    assert data.labels.dtype == torch.int64 and torch.bincount(data.labels).tolist() == [4, 2, 3]
    dominant = data.images[:, :, 6, 6].float().argmax(dim=1)  # channel of the centre pixel
    assert torch.equal(dominant, torch.tensor([2, 1, 0])[data.labels])  # blue->B, green->G, red->R
    loader = gh.InMemoryLoader(data.images, data.labels, batch_size=4, seed=0)
    for images, labels in loader:  # the loader keeps each image with its label
        assert torch.equal(images[:, :, 6, 6].float().argmax(dim=1), torch.tensor([2, 1, 0])[labels])
    assert gi.load_image_folder(folder, 12, labelled=False).labels is None


def test_split_folders_like_cifar(tmp_path):
    for split, count in (("train", 3), ("test", 1)):
        for colour in ("red", "blue"):
            write_shapes(tmp_path / "cifar" / split / colour, count, colour)
    train = gi.load_image_folder(tmp_path / "cifar", 8)
    assert len(train) == 6 and train.classes == ["blue", "red"] and train.folder.name == "train"
    test = gi.load_image_folder(tmp_path / "cifar", 8, split="test")
    assert len(test) == 2 and test.labels.tolist() == [0, 1]
    with pytest.raises(ValueError, match="pick one with split"):
        gi.load_image_folder(tmp_path / "cifar", 8, split="validation")


def test_n_is_a_fixed_subset_over_all_classes(tmp_path):
    for colour in COLOURS:
        write_shapes(tmp_path / "s" / colour, 10, colour)
    first = gi.load_image_folder(tmp_path / "s", 8, n=12, cache=False)
    again = gi.load_image_folder(tmp_path / "s", 8, n=12, cache=False)
    assert len(first) == 12 and torch.equal(first.images, again.images)
    assert len(set(first.labels.tolist())) == 3  # not the first 12 files (one class)


# --- bad folders and files -----------------------------------------------------------------


def test_missing_and_empty_folders_say_so(tmp_path):
    with pytest.raises(gh.DataNotFoundError, match="does not exist"):
        gi.load_image_folder(tmp_path / "nowhere", 16)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(gh.DataNotFoundError, match="it is empty") as error:
        gi.load_image_folder(tmp_path / "empty", 16)
    assert str((tmp_path / "empty").resolve()) in str(error.value)


def test_folder_of_non_images_names_what_it_found(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello")
    (folder / "faces.zip").write_bytes(b"PK\x03\x04")
    with pytest.raises(gh.DataNotFoundError) as error:
        gi.load_image_folder(folder, 16)
    message = str(error.value)
    assert "2 other file(s)" in message and ".txt" in message and f"unzip {folder.resolve() / 'faces.zip'}" in message


def test_corrupt_files_are_skipped_counted_or_raised(tmp_path):
    folder = write_shapes(tmp_path / "some_bad", 4, "blue")
    (folder / "garbage.jpg").write_bytes(b"this is not a jpeg")
    good = (folder / "blue_000.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "zero.png").write_bytes(b"")
    with pytest.warns(UserWarning, match="skipped 3 unreadable"):
        data = gi.load_image_folder(folder, 8)
    assert len(data) == 4 and len(data.skipped) == 3
    assert {s.split(":")[0].rsplit("/", 1)[1] for s in data.skipped} == {"garbage.jpg", "truncated.png", "zero.png"}
    assert all(centre_colour(data, i) == [40, 60, 230] for i in range(4))  # only good images kept
    assert "skipped 3" in data.describe()
    with pytest.raises(ValueError, match="3 of 7 image file.*could not be decoded.*on_corrupt='skip'"):
        gi.load_image_folder(folder, 8, on_corrupt="raise", cache=False)


def test_a_folder_where_nothing_decodes_says_what_to_do_in_the_notebook(tmp_path):
    """Skipping cannot help (the chapters already skip): the message must not suggest it."""
    only_bad = tmp_path / "all_bad"
    only_bad.mkdir()
    (only_bad / "a.png").write_bytes(b"nope")
    (only_bad / "b.jpg").write_bytes(b"")
    for on_corrupt in ("skip", "raise"):
        with pytest.raises(ValueError) as error:
            gi.load_image_folder(only_bad, 8, on_corrupt=on_corrupt)
        message = str(error.value)
        assert message.startswith(f"none of the 2 image file(s) under {only_bad.resolve()} could be decoded")
        assert "on_corrupt" not in message
        assert "get the data again" in message and "IMAGE_FOLDER in the parameters cell" in message


def test_bad_arguments(tmp_path):
    folder = write_shapes(tmp_path / "f", 1)
    for kwargs, match in (({"crop": 0}, "crop"), ({"crop": 1.5}, "crop"), ({"channels": 4}, "channels"),
                          ({"n": 0}, "n must"), ({"dtype": torch.float16}, "dtype"), ({"on_corrupt": "x"}, "on_corrupt")):
        with pytest.raises(ValueError, match=match):
            gi.load_image_folder(folder, 8, **kwargs)
    with pytest.raises(ValueError, match="size"):
        gi.load_image_folder(folder, 0)


# --- the crop rule -------------------------------------------------------------------------


def celeba_like(width: int, height: int) -> Image.Image:
    """A stand-in for an aligned face at CelebA's 178 x 218 proportions: green bands above and
    below the centred square (cut away by the crop), a red square left of the centre."""
    image = Image.new("RGB", (width, height), (128, 128, 128))
    draw = ImageDraw.Draw(image)
    band = round(height * 20 / 218)
    draw.rectangle((0, 0, width, band - 1), fill=(0, 255, 0))
    draw.rectangle((0, height - band, width, height), fill=(0, 255, 0))
    draw.rectangle((round(width * 0.1), round(height * 0.4), round(width * 0.4), round(height * 0.6)), fill=(255, 0, 0))
    return image


def test_crop_box_is_a_fraction_of_the_image():
    assert gi.crop_box(178, 218) == (0.0, 20.0, 178.0, 198.0)  # the DCGAN tutorial's 178 crop
    assert gi.crop_box(89, 109) == (0.0, 10.0, 89.0, 99.0)  # the same region at half size
    assert gi.crop_box(100, 60, crop=0.5) == (35.0, 15.0, 65.0, 45.0)


@pytest.mark.parametrize("crop", [1.0, 0.7])
def test_crop_is_the_same_region_at_two_scales(tmp_path, crop):
    big = celeba_like(178, 218)
    small = big.resize((89, 109), Image.BILINEAR)  # a half-size copy, as published copies are
    for name, image in (("big", big), ("small", small)):
        (tmp_path / name).mkdir()
        image.save(tmp_path / name / "face.png")
        image.save(tmp_path / name / "face.jpg", quality=95)
    loaded = {name: gi.load_image_folder(tmp_path / name, 32, crop=crop).images.float() for name in ("big", "small")}
    png = {name: images[0] for name, images in loaded.items()}  # sorted: face.jpg, face.png
    assert (png["big"] - png["small"]).abs().mean() < 4  # same region: same pixels up to resampling
    assert png["big"][1].max() < 200  # no green band: it lies outside the crop at both scales
    jpg = {name: images[1] for name, images in loaded.items()}  # JPEG decoded at 1/2 scale when big
    assert (jpg["big"] - png["big"]).abs().mean() < 6 and (jpg["small"] - png["small"]).abs().mean() < 6
    # a crop of another region is far off: the test could tell a wrong crop
    shifted = gi.fit_square(big.crop((0, 0, 178, 178)), 32)
    assert (torch.from_numpy(np.array(shifted)).permute(2, 0, 1).float() - png["big"]).abs().mean() > 10


def test_square_images_at_target_size_pass_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
    (tmp_path / "sq").mkdir()
    for i, p in enumerate(pixels):
        Image.fromarray(p).save(tmp_path / "sq" / f"{i}.png")
    data = gi.load_image_folder(tmp_path / "sq", 16)
    assert torch.equal(data.images, torch.from_numpy(pixels).permute(0, 3, 1, 2))
    grey = gi.load_image_folder(tmp_path / "sq", 16, channels=1, cache=False)
    assert grey.images.shape == (3, 1, 16, 16)
    as_float = gi.load_image_folder(tmp_path / "sq", 16, dtype=torch.float32)
    assert as_float.images.dtype == torch.float32 and torch.equal(as_float.images, gh.to_unit_range(data.images))


# --- the cache -----------------------------------------------------------------------------


def test_second_load_decodes_nothing(tmp_path, count_decodes):
    folder = write_shapes(tmp_path / "faces", 6, "green")
    first = gi.load_image_folder(folder, 16, workers=2)
    assert len(count_decodes) == 6 and not first.from_cache and first.decode_seconds > 0
    assert first.cache_path.parent == folder / image_cache.CACHE_FOLDER and first.cache_bytes == first.cache_path.stat().st_size
    assert first.cache_bytes >= 6 * 3 * 16 * 16
    second = gi.load_image_folder(folder, 16)
    assert len(count_decodes) == 6  # nothing decoded again
    assert second.from_cache and second.decode_seconds == 0 and "nothing decoded" in second.describe()
    assert torch.equal(second.images, first.images) and second.cache_path == first.cache_path
    (tmp_path / "link").symlink_to(folder)  # the same folder reached through a link: the same cache
    via_link = gi.load_image_folder(tmp_path / "link", 16)
    assert via_link.from_cache and via_link.cache_path == first.cache_path and len(count_decodes) == 6
    gi.load_image_folder(folder, 24)  # another size is another cache
    assert len(count_decodes) == 12


def test_changed_folder_invalidates_the_cache(tmp_path, count_decodes):
    folder = write_shapes(tmp_path / "faces", 4, "red")
    first = gi.load_image_folder(folder, 16)
    write_shapes(folder, 1, "blue", start=9)  # a new file
    added = gi.load_image_folder(folder, 16)
    assert len(added) == 5 and not added.from_cache and len(count_decodes) == 9
    shape_image(40, 30, COLOURS["red"]).save(folder / "same.bmp")
    before = gi.load_image_folder(folder, 16)
    size_before = (folder / "same.bmp").stat().st_size
    shape_image(40, 30, COLOURS["green"]).save(folder / "same.bmp")  # replaced: same name and size
    assert (folder / "same.bmp").stat().st_size == size_before
    os.utime(folder / "same.bmp", ns=(1, 1))  # a new modification time (whatever the clock's resolution)
    replaced = gi.load_image_folder(folder, 16)
    assert not replaced.from_cache and centre_colour(replaced, 5) == [30, 200, 60] != centre_colour(before, 5)
    (folder / "same.bmp").unlink()
    (folder / "red_001.png").unlink()  # a file removed
    assert len(gi.load_image_folder(folder, 16)) == 4
    caches = list((folder / image_cache.CACHE_FOLDER).glob("*.npz"))
    assert len(caches) == 1 and first.cache_path not in caches  # stale caches are deleted


def test_read_only_data_folder_falls_back_to_cache_dir(tmp_path, count_decodes, monkeypatch):
    folder = write_shapes(tmp_path / "readonly", 3, "blue")
    out_dir = tmp_path / "out"
    real_can_write = image_cache._can_write
    # chmod does not stop root, so the write test is told the folder is read-only as well
    monkeypatch.setattr(image_cache, "_can_write", lambda d: not d.is_relative_to(folder) and real_can_write(d))
    folder.chmod(0o555)
    try:
        data = gi.load_image_folder(folder, 16, cache_dir=out_dir)
        assert data.cache_path.parent == out_dir and not (folder / image_cache.CACHE_FOLDER).exists()
        again = gi.load_image_folder(folder, 16, cache_dir=out_dir)
        assert again.from_cache and len(count_decodes) == 3
        # no cache_dir: the images folder of the course's cache folder ($GAN_CACHE_DIR here)
        fallback = gi.load_image_folder(folder, 16, crop=0.9)
        assert fallback.cache_path.parent == tmp_path / "user-cache" / "images" == gh.cache_dir("images")
    finally:
        folder.chmod(0o755)


def test_unwritable_everywhere_still_loads(tmp_path, monkeypatch):
    folder = write_shapes(tmp_path / "f", 2)
    monkeypatch.setattr(image_cache, "_can_write", lambda d: False)
    with pytest.warns(UserWarning, match="no writable folder"):
        data = gi.load_image_folder(folder, 8)
    assert len(data) == 2 and data.cache_path is None and data.cache_bytes == 0


def test_threads_decode_the_same_as_one(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    (folder / "17_bad.png").write_bytes(b"broken")
    with pytest.warns(UserWarning, match="skipped 1"):
        one = gi.load_image_folder(folder, 8, workers=0, cache=False)
    with pytest.warns(UserWarning, match="skipped 1"):
        two = gi.load_image_folder(folder, 8, workers=2, cache=False)
    assert len(one) == 40 and torch.equal(one.images, two.images) and one.skipped == two.skipped


def test_symlink_loop_is_read_once(tmp_path):
    folder = write_shapes(tmp_path / "loop" / "a", 2)
    (folder / "back").symlink_to(tmp_path / "loop")
    assert len(gi.load_image_folder(tmp_path / "loop", 8)) == 2


# --- names and the course's cache folder ---------------------------------------------------


def test_the_data_is_named_after_its_folder_safely_for_a_file_name(tmp_path):
    flat = gi.load_image_folder(write_shapes(tmp_path / "my faces (2)", 2), 8)
    assert flat.name == "my_faces__2_" and gi.file_safe_name("café.v1-a_b") == "caf_.v1-a_b"
    write_shapes(tmp_path / "split" / "train" / "cat", 2, "red")
    write_shapes(tmp_path / "split" / "train" / "dog", 2, "blue")
    train = gi.load_image_folder(tmp_path / "split", 8)  # the folder's name, not its split's
    assert train.name == "split" and train.folder == (tmp_path / "split" / "train").resolve()
    assert gi.load_image_folder(tmp_path / "split", 8, name="cats-v2").name == "cats-v2"
    for bad in ("../up", "", "a b"):
        with pytest.raises(ValueError, match="names files"):
            gi.load_image_folder(tmp_path / "split", 8, name=bad)


def test_a_subset_keeps_labels_in_step_and_says_how_it_was_chosen(tmp_path):
    write_shapes(tmp_path / "c" / "blue", 2, "blue")
    write_shapes(tmp_path / "c" / "red", 3, "red")
    data = gi.load_image_folder(tmp_path / "c", 16)
    part = data.subset(torch.tensor([4, 0]), source="two of them")
    assert part.labels.tolist() == [1, 0] and [centre_colour(part, i) for i in (0, 1)] == [[220, 30, 30], [40, 60, 230]]
    assert part.source == "two of them" and part.name == data.name == "c" and len(data) == 5


def test_one_cache_folder_from_gan_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unset in (None, ""):  # unset or empty: the default under the home folder
        if unset is None:
            monkeypatch.delenv("GAN_CACHE_DIR")
        else:
            monkeypatch.setenv("GAN_CACHE_DIR", unset)
        assert gh.cache_dir() == tmp_path / "home" / ".cache" / "gan_course"
        assert gh.cache_dir("images") == tmp_path / "home" / ".cache" / "gan_course" / "images"
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "mine"))
    assert gh.cache_dir() == tmp_path / "mine" and gh.cache_dir("fid") == tmp_path / "mine" / "fid"
    assert not (tmp_path / "mine").exists()  # naming it creates nothing
    assert image_cache.cache_places(tmp_path / "data", None) == [tmp_path / "data" / ".gan_cache", tmp_path / "mine" / "images"]
