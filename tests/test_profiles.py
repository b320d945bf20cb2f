"""Profiles: selection, overrides and errors that name the parameter and the allowed values."""

import pytest
import torch

import gan_helpers.runtime
from gan_helpers.profiles import default_profile, epochs_for, resolve_profile, select_profile

TABLE = {
    "smoke": {"epochs": 1, "batch_size": 8, "n_train": 64, "ema_decay": 0.9},
    "cpu": {"epochs": 10, "batch_size": 64, "n_train": None, "ema_decay": 0.999},
    "gpu": {"images": 1_000_000, "batch_size": 128, "n_train": None, "ema_decay": 0.999},
    "full": {"epochs": 100, "batch_size": 128, "n_train": None, "ema_decay": 0.999},
}


def test_select_and_override():
    config = select_profile("smoke", TABLE, epochs=3, batch_size=None)
    assert config == {"profile": "smoke", "epochs": 3, "batch_size": 8, "n_train": 64, "ema_decay": 0.9}


def test_auto_is_cpu_on_the_cpu(monkeypatch):
    monkeypatch.setenv("GAN_DEVICE", "cpu")  # what the tests run with, on any machine
    assert resolve_profile("auto") == "cpu"
    monkeypatch.delenv("GAN_DEVICE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_profile("auto") == "cpu"


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_auto_is_gpu_where_the_run_uses_a_gpu(monkeypatch, device):
    """From the device the run will use (gh.pick_device), so GAN_DEVICE=cpu on a GPU gives cpu."""
    monkeypatch.delenv("GAN_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: device == "cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: device == "mps")
    assert gan_helpers.runtime.pick_device().type == device
    assert resolve_profile("auto") == "gpu"
    assert select_profile("auto", TABLE) == {"profile": "gpu", **TABLE["gpu"]}
    monkeypatch.setenv("GAN_DEVICE", "cpu")
    assert resolve_profile("auto") == "cpu"


def test_epochs_for_an_image_budget():
    # 10,000 images in batches of 64: 156 full batches, 9,984 images a pass
    assert epochs_for(120_000, 10_000 // 64, 64) == 12  # 12.02 passes
    # the same budget on a folder of 6,000 images: 93 batches, 5,952 a pass -> 20 passes
    assert epochs_for(120_000, 6_000 // 64, 64) == 20
    assert epochs_for(100, 10, 64) == 1  # at least one pass
    with pytest.raises(ValueError, match="IMAGES=0"):
        epochs_for(0, 10, 64)
    with pytest.raises(ValueError, match="no full batch of 64 images"):
        epochs_for(1_000, 0, 64)


def test_default_profile_reads_environment(monkeypatch):
    monkeypatch.setenv("GAN_PROFILE", "smoke")
    assert default_profile() == "smoke"
    monkeypatch.delenv("GAN_PROFILE")
    assert default_profile() == "auto"


def test_unknown_profile_names_parameter_and_allowed_values():
    with pytest.raises(ValueError) as error:
        select_profile("fast", TABLE)
    message = str(error.value)
    assert "PROFILE='fast'" in message
    for allowed in ("smoke", "cpu", "gpu", "full", "auto"):
        assert allowed in message


@pytest.mark.parametrize(
    "override, value, expected",
    [("epochs", -1, "EPOCHS=-1"), ("batch_size", 0, "BATCH_SIZE=0"), ("epochs", 2.5, "EPOCHS=2.5"), ("ema_decay", 1.0, "EMA_DECAY=1.0")],
)
def test_nonsense_values_are_refused(override, value, expected):
    with pytest.raises(ValueError) as error:
        select_profile("cpu", TABLE, **{override: value})
    assert expected in str(error.value)
    assert "expected" in str(error.value)


@pytest.mark.parametrize("value", [0, -6_400, "6400", True])
def test_a_half_life_must_be_a_positive_number_of_images(value):
    table = {name: {**row, "ema_half_life": 6_400} for name, row in TABLE.items()}
    assert select_profile("cpu", table)["ema_half_life"] == 6_400
    assert select_profile("cpu", table, ema_half_life=2.5e3)["ema_half_life"] == 2.5e3
    with pytest.raises(ValueError, match=f"EMA_HALF_LIFE={value!r} makes no sense: expected a positive number"):
        select_profile("cpu", table, ema_half_life=value)


def test_unknown_override_lists_settings():
    with pytest.raises(ValueError, match="not a setting"):
        select_profile("cpu", TABLE, epoch=3)


def test_table_must_define_every_profile():
    with pytest.raises(ValueError, match="lacks"):
        select_profile("cpu", {"cpu": TABLE["cpu"]})


# --- run folders: one mechanism for every chapter (issue 15, item 4) ----------------------------

import json
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

import gan_helpers as gh

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def chapter_setup(chapter: str, **parameters) -> dict:
    """A chapter's import, parameters and config cells run as a reader runs them, with
    ``parameters`` changed in the parameters cell (the config cell calls gh.prepare_run)."""
    code = [c for c in nbformat.read(NOTEBOOKS / f"{chapter}.ipynb", as_version=4).cells if c.cell_type == "code"]
    setup = next(c for c in code if "import gan_helpers as gh" in c.source)
    params = next(c for c in code if "parameters" in c.metadata.get("tags", []))
    config = next(c for c in code if "gh.prepare_run(" in c.source)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(TransformerManager().transform_cell(setup.source), "setup", "exec"), namespace)
    exec(params.source, namespace)
    namespace.update({"PROFILE": "smoke", **parameters})
    exec(config.source, namespace)
    return namespace


def finish(folder: Path, **metrics) -> None:
    """What a finished run leaves beside its config.json (a checkpoint and its metrics)."""
    (folder / "checkpoint.pt").write_bytes(b"weights")
    (folder / "metrics.json").write_text(json.dumps({"train_seconds": 60.0, **metrics}))


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_a_changed_setting_with_an_explicit_out_dir_gets_its_own_folder(tmp_path, monkeypatch):
    """OUT_DIR on Drive (book/running.md), then DROPOUT = 0.0: the baseline's record stays byte
    for byte, the new run lives in OUT_DIR/dropout=0.0, and compare_runs shows both."""
    monkeypatch.setenv("GAN_DEVICE", "cpu")
    drive = tmp_path / "drive" / "01_vanilla_gan"
    baseline = chapter_setup("01_vanilla_gan", OUT_DIR=str(drive))["OUT_DIR"]
    assert baseline == drive
    finish(drive, IS=8.1, FD=0.9)
    before = (drive / "config.json").read_bytes()
    other = chapter_setup("01_vanilla_gan", OUT_DIR=str(drive), DROPOUT=0.0)["OUT_DIR"]
    assert other == drive / "dropout=0.0"
    assert (drive / "config.json").read_bytes() == before
    assert json.loads((other / "config.json").read_text())["dropout"] == 0.0
    finish(other, IS=6.5, FD=2.5)
    table = gh.compare_runs(other, ["IS", "FD"])
    assert table.index.tolist() == ["defaults", "dropout=0.0"] and table.loc["dropout=0.0", "IS"] == 6.5
    # a reader who points OUT_DIR at that folder gets the same folder, not one inside it
    assert chapter_setup("01_vanilla_gan", OUT_DIR=str(other), DROPOUT=0.0)["OUT_DIR"] == other


def test_a_folder_holding_a_run_with_other_settings_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    """A finished run in OUT_DIR, then a rerun whose settings differ in what the folder name does
    not say (here lr, edited in the config cell): refused with every file left as it was, and
    the message names the differing setting and the folder to use instead."""
    monkeypatch.setenv("GAN_DEVICE", "cpu")
    drive = tmp_path / "drive"
    namespace = chapter_setup("01_vanilla_gan", OUT_DIR=str(drive))
    finish(drive, IS=8.1, FD=0.9)
    before = snapshot(drive)
    config = namespace["config"] | {"lr": 1e-3}
    with pytest.raises(gh.profiles.RunFolderTaken) as error:
        gh.prepare_run("01_vanilla_gan", config, drive, torch.device("cpu"), defaults=namespace["DEFAULTS"])
    assert snapshot(drive) == before
    message = str(error.value)
    assert f"{drive} already holds a run made with other settings (lr: 0.0002 there, 0.001 here" in message
    assert f'OUT_DIR = "{drive / "lr=0.001"}"' in message and "RESUME = False" not in message
    # the folder named there takes the run
    assert gh.prepare_run("01_vanilla_gan", config, drive / "lr=0.001", torch.device("cpu"),
                          defaults=namespace["DEFAULTS"]) == drive / "lr=0.001"
    assert snapshot(drive / "lr=0.001").keys() == {Path("config.json")}


def test_a_checkpoint_without_config_json_is_checked_too(tmp_path):
    """A run made without prepare_run: its checkpoint's settings (the epochs aside) decide."""
    state = gh.checkpoints.training_state(epoch=1, config={"epochs": 3, "seed": 0, "lr": 2e-4}, history=[])
    gh.checkpoints.save_checkpoint(tmp_path / "checkpoint.pt", state)
    gh.profiles.check_run_folder(tmp_path, {"epochs": None, "seed": 0, "lr": 2e-4})  # the same run
    with pytest.raises(gh.profiles.RunFolderTaken, match="lr: 0.0002 there, 0.001 here.*checkpoint.pt"):
        gh.profiles.check_run_folder(tmp_path, {"seed": 0, "lr": 1e-3})


def test_a_config_json_without_results_may_be_replaced(tmp_path):
    """A run stopped before its first checkpoint left only config.json: nothing to protect."""
    gh.profiles.save_config({"seed": 0, "lr": 2e-4}, tmp_path)
    gh.profiles.check_run_folder(tmp_path, {"seed": 1, "lr": 2e-4})


@pytest.mark.parametrize("chapter, parameters, folder", [
    ("02_conditional_gan", {"ARCH": "conv"}, "arch=conv"),
    ("02_conditional_gan", {"BATCH_SIZE": 32}, "batch_size=32"),
    ("03_dcgan_celeba", {"LABEL_SMOOTHING": True, "FEATURE_MATCHING": True},
     "label_smoothing=True,feature_matching=True"),
    ("03_dcgan_celeba", {"IMAGE_FOLDER": "/data/my faces"}, "image_folder=_data_myfaces"),
    ("04_dcgan_anime", {"N_TRAIN": 64, "EPOCHS": 3}, "epochs=3,n_train=64"),
    ("05_wgan_gp_cifar10", {"EPOCHS_WGAN": 3}, "epochs_wgan=3"),
    ("05_wgan_gp_cifar10", {"IMAGE_FOLDER": "/data/cifar"}, "image_folder=_data_cifar"),
    ("05_wgan_gp_cifar10", {"PRECISION": "fp32"}, "precision=fp32"),
    ("06_evaluation", {"IMAGE_FOLDER": "/data/cifar"}, "image_folder=_data_cifar"),
])
def test_every_chapter_gives_other_settings_their_own_folder(tmp_path, monkeypatch, chapter, parameters, folder):
    monkeypatch.setenv("GAN_DEVICE", "cpu")
    root = tmp_path / "outputs" / "smoke" / chapter
    assert chapter_setup(chapter, OUT_DIR=str(root))["OUT_DIR"] == root  # the defaults: OUT_DIR itself
    namespace = chapter_setup(chapter, OUT_DIR=str(root), **parameters)
    assert namespace["OUT_DIR"] == root / folder
    if chapter == "06_evaluation":  # the chapters' runs are found beside the root, not the subfolder
        assert namespace["chapters_root"] == tmp_path / "outputs" / "smoke"


def test_chapter_5_compares_its_runs_without_its_gans_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DEVICE", "cpu")
    root = tmp_path / "05_wgan_gp_cifar10"
    chapter_setup("05_wgan_gp_cifar10", OUT_DIR=str(root))
    (root / "dcgan").mkdir()
    (root / "dcgan" / "checkpoint.pt").write_bytes(b"weights")
    finish(root, FID=80.0)
    other = chapter_setup("05_wgan_gp_cifar10", OUT_DIR=str(root), CRITIC_NORM="layer")["OUT_DIR"]
    finish(other, FID=70.0)
    assert gh.compare_runs(other, ["FID"])["FID"].to_dict() == {"defaults": 80.0, "critic_norm=layer": 70.0}


def test_settings_a_book_build_declares_count_as_the_defaults(tmp_path, monkeypatch):
    """tools/book.py runs every chapter with its own parameters (the stand-in IMAGE_FOLDER in
    the tests) and keeps each run in OUT_DIR itself: GAN_RUN_DEFAULTS says which."""
    monkeypatch.setenv("GAN_DEVICE", "cpu")
    monkeypatch.setenv("GAN_RUN_DEFAULTS", json.dumps({"image_folder": "/data/shapes", "profile": "smoke"}))
    namespace = chapter_setup("04_dcgan_anime", OUT_DIR=str(tmp_path), IMAGE_FOLDER="/data/shapes")
    assert namespace["OUT_DIR"] == tmp_path
    assert json.loads((tmp_path / "config.json").read_text())["image_folder"] == "/data/shapes"
