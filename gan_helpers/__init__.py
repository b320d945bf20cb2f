"""Shared helpers for the GAN course notebooks.

Importing does nothing but import: no seeding, downloads or printing. The lesson of each
chapter (models, losses, the training loop) lives in its notebook; this package holds what
several chapters reuse at run time. Maintainer tools (data provisioning, retraining the
classifiers) live in the repository's tools/ folder, not here.

One way in: a chapter writes ``import gan_helpers as gh`` and uses ``gh.NAME`` for a name in
``__all__``, which holds exactly what the chapters, the tools and the book's pages use (the book's
API page lists them: book/api.md, written by tools/api.py; tests/test_api.py keeps the list).
"""

from . import reference
from .classifier import CIFAR10_CLASSES, Scorer, classify, evaluate_accuracy, load_classifier
from .coursework import exercise, expect, expect_close, expect_own_code, expect_shape, yours_or_reference
from .data import InMemoryLoader, check_enough_images, random_affine, save_samples, to_uint8, to_unit_range
from .datasets import find_dataset, load_dataset_images, load_digits, load_test_and_train
from .fid import (FIDUnavailable, InceptionExtractor, as_uint8_rgb, describe_scores, inception_score_or_reason, real_statistics,
                  standard_extractor, standard_scores)
from .image_files import DataNotFoundError
from .latent import interpolate, slerp
from .losses import gradient_penalty
from .metrics import (FrechetReference, conditioned_accuracy, feature_statistics, fid_extrapolation, fid_from_features,
                      flatten_pixels, frechet_distance, inception_score, inception_score_splits, kid, knn_radii, mmd2_unbiased,
                      nearest_neighbours, pairwise_distances, precision_recall)
from .models import Discriminator, Generator, dcgan_init
from .plotting import gif_html, plot_losses, save_animation, show_images, show_progression
from .precision import MixedPrecision, mixed_precision
from .profiles import compare_runs, default_data_root, default_profile, epochs_for, prepare_run, runs_root, select_profile
from .pypi_inception import INCEPTION_FEATURE_DIM
from .runs import course_runs
from .runtime import cache_dir, configure_device, describe_machine, pick_device, seed_everything
from .training import TrainingRun, count_parameters, d_scores, ema_decay, recalibrate_batch_norm, sample, update_ema
from .toy import TOY_DATASETS, critic_gradient, critic_surface, empirical_w1, mode_statistics, toy_dataset
from .widgets import generation_panel, latent_explorer, truncate_z

__all__ = [
    # data: datasets, pixels, loaders
    "DataNotFoundError", "InMemoryLoader", "cache_dir", "check_enough_images", "default_data_root", "find_dataset",
    "load_dataset_images", "load_digits", "load_test_and_train", "random_affine", "save_samples", "to_uint8", "to_unit_range",
    # runs: profiles, device, training bookkeeping
    "MixedPrecision", "TrainingRun", "compare_runs", "configure_device", "count_parameters", "d_scores", "default_profile",
    "describe_machine", "ema_decay", "epochs_for", "mixed_precision", "pick_device", "prepare_run", "recalibrate_batch_norm",
    "runs_root", "sample", "seed_everything", "select_profile", "update_ema",
    # networks and losses several chapters share
    "Discriminator", "Generator", "dcgan_init", "gradient_penalty",
    # pictures and widgets
    "generation_panel", "gif_html", "interpolate", "latent_explorer", "plot_losses", "save_animation", "show_images",
    "show_progression", "slerp", "truncate_z",
    # measures: the mathematics (metrics.py), Inception (fid.py), the classifiers, the chapters' runs
    "CIFAR10_CLASSES", "FIDUnavailable", "FrechetReference", "INCEPTION_FEATURE_DIM", "InceptionExtractor", "Scorer",
    "as_uint8_rgb", "classify", "conditioned_accuracy", "course_runs", "describe_scores", "evaluate_accuracy",
    "feature_statistics", "fid_extrapolation", "fid_from_features", "flatten_pixels", "frechet_distance", "inception_score",
    "inception_score_or_reason", "inception_score_splits", "kid", "knn_radii", "load_classifier", "mmd2_unbiased",
    "nearest_neighbours", "pairwise_distances", "precision_recall", "real_statistics", "standard_extractor",
    "standard_scores",
    # the 2-D toy of chapter 5: its mixtures, their measures, a critic's surface and gradient
    "TOY_DATASETS", "critic_gradient", "critic_surface", "empirical_w1", "mode_statistics", "toy_dataset",
    # coursework: the exercises' checks and the reference solutions
    "exercise", "expect", "expect_close", "expect_own_code", "expect_shape", "reference", "yours_or_reference",
]

__version__ = "0.1.0"
