"""The helper API: one flat way in, exactly the names the chapters, tools and book use, listed
here so that adding or dropping one is a deliberate change (STYLE.md principle 12), and the
book's API page written from the package as it is (tools/api.py)."""

from __future__ import annotations

import textwrap

import pytest

import api
import gan_helpers as gh

# Every name of `gan_helpers.__all__`. Change it together with the package, its callers and
# book/api.md (`python tools/api.py write`).
API = {
    "CIFAR10_CLASSES", "DataNotFoundError", "Discriminator", "FIDUnavailable", "FrechetReference", "Generator",
    "INCEPTION_FEATURE_DIM", "InMemoryLoader", "InceptionExtractor", "MixedPrecision", "Scorer", "TrainingRun",
    "as_uint8_rgb", "cache_dir", "check_enough_images", "classify", "compare_runs", "conditioned_accuracy",
    "configure_device", "count_parameters", "course_runs", "d_scores", "dcgan_init", "default_data_root",
    "default_profile", "describe_machine", "describe_scores", "ema_decay", "epochs_for", "evaluate_accuracy", "exercise", "expect",
    "expect_close", "expect_own_code", "expect_shape", "feature_statistics", "fid_extrapolation", "fid_from_features", "find_dataset",
    "flatten_pixels", "frechet_distance", "generation_panel", "gif_html", "gradient_penalty", "inception_score",
    "inception_score_or_reason", "inception_score_splits", "interpolate", "kid", "knn_radii", "latent_explorer",
    "load_classifier", "load_dataset_images", "load_digits", "load_test_and_train", "mixed_precision", "mmd2_unbiased",
    "nearest_neighbours", "pairwise_distances", "pick_device", "plot_losses", "precision_recall", "prepare_run",
    "random_affine", "real_statistics", "recalibrate_batch_norm", "reference", "runs_root", "sample", "save_animation", "save_samples",
    "seed_everything", "select_profile", "show_images", "show_progression", "slerp", "standard_extractor",
    "standard_scores", "to_uint8", "to_unit_range", "truncate_z", "update_ema", "yours_or_reference",
    # chapter 5's 2-D toy
    "TOY_DATASETS", "critic_gradient", "critic_surface", "empirical_w1", "mode_statistics", "toy_dataset",
}


def test_the_api_is_the_listed_names_each_once():
    assert len(gh.__all__) == len(set(gh.__all__)), "a name is listed twice in __all__"
    assert set(gh.__all__) == API
    assert all(hasattr(gh, name) for name in API)


def test_the_package_its_users_and_the_api_page_agree():
    """Every exported name is used by a chapter, a tool or a page of the book; every gh.NAME
    they use is exported; no chapter reaches into a module; book/api.md is today's table."""
    assert api.problems() == []


def test_a_reach_into_a_module_and_an_unused_export_are_reported(monkeypatch):
    chapter = textwrap.dedent("""
        import gan_helpers as gh
        score = gh.metrics.kid(a, b)
        from gan_helpers.fid import standard_scores
        images = gh.sample(G, z)
    """)
    tool = "from gan_helpers.classifier import CifarClassifier\nfrom gan_helpers.data import to_uint8\n"
    assert api.second_ways("06", chapter) == ["gan_helpers.fid.standard_scores", "gan_helpers.metrics.kid"]
    # a tool may use an internal (the network it retrains), not an exported name a second way
    assert api.second_ways("tools", tool) == ["gan_helpers.data.to_uint8"]
    assert api.names_used(chapter) == {"metrics", "sample"}
    assert api.names_used("from gan_helpers import (\n    kid,  # KID\n    sample as draw,\n)\n") == {"kid", "sample"}
    monkeypatch.setattr(api, "users", lambda: {"01": "gh.sample(G, z)\ngh.nope(1)", "tools": "", "book": ""})
    monkeypatch.setattr(api, "exported", lambda: ["sample", "kid"])
    found = api.problems()
    assert "gan_helpers exports kid, which no chapter, tool or page of the book uses: drop it from __all__" in found
    assert "chapter 01 uses gh.nope, which gan_helpers does not export" in found


def test_the_table_gives_what_where_and_who(monkeypatch):
    table = api.table()
    row = next(line for line in table.splitlines() if line.startswith("| `gh.sample` |"))
    what, module, users = [cell.strip() for cell in row.split("|")[2:5]]
    assert what.startswith("G(z), or G(z, labels) for a conditional G, with G in eval mode")
    assert module == "training" and users == "01, 02, 03, 04, 05"
    assert len([line for line in table.splitlines() if line.startswith("| `gh.")]) == len(API)


@pytest.mark.parametrize("text, first", [
    ("Images (N, C, H, W). More.", "Images (N, C, H, W)"),
    ("Write a GIF (one frame per epoch. the last held). Then.", "Write a GIF (one frame per epoch. the last held)"),
    ("KID: mean of mmd2 over subsets. Next", "KID: mean of mmd2 over subsets"),
    ("No stop at all", "No stop at all"),
])
def test_a_summary_is_the_first_sentence_outside_brackets(text, first):
    assert api.first_sentence(text) == first


def test_no_module_of_the_package_imports_itself_back():
    """No import cycle inside gan_helpers, counting imports inside functions too (a cycle there
    only waits for the first call to fail)."""
    import ast

    package = api.ROOT / "gan_helpers"
    modules = {path.stem: path for path in package.glob("*.py") if path.stem != "__init__"}
    imports = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
        imports[name] = found & set(modules)

    def reaches(node: str, target: str, seen: frozenset = frozenset()) -> bool:
        return any(other == target or (other not in seen and reaches(other, target, seen | {other}))
                   for other in imports[node])

    assert "image_files" in imports["datasets"]  # the scan sees imports (a cycle-free graph is not empty)
    assert [name for name in sorted(modules) if reaches(name, name)] == []
