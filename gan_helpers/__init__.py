"""Shared helpers for the GAN course notebooks.

Importing does nothing but import: no seeding, downloads or printing. The lesson of each
chapter (models, losses, the training loop) lives in its notebook; this package holds what
several chapters reuse at run time. Maintainer tools (data provisioning, retraining the
digit classifier) live in the repository's tools/ folder, not here.
"""

from .checkpoints import load_checkpoint
from .classifier import CIFAR10_CLASSES, Scorer, classify, evaluate_accuracy, load_classifier
from . import reference
from .coursework import exercise, expect, expect_close, expect_own_code, expect_shape, yours_or_reference
from .data import InMemoryLoader, check_enough_images, random_affine, save_samples, to_uint8, to_unit_range
from .datasets import find_dataset, load_dataset_images, load_digits, load_test_and_train, missing_data_message
from .fid import (FIDUnavailable, InceptionExtractor, ReferenceStatistics, as_uint8_rgb, describe_scores, inception_score_or_reason,
                  real_statistics, reference_statistics, standard_extractor, standard_scores)
from .image_files import DataNotFoundError
from .images import ImageData, crop_box, fit_square, load_image_folder
from .latent import interpolate, lerp, slerp
from .losses import gradient_penalty
from .models import Discriminator, Generator, dcgan_init
from .metrics import (FrechetReference, conditioned_accuracy, feature_statistics, fid_from_features, flatten_pixels, frechet_distance,
                      inception_score, inception_score_splits, kid, knn_radii, mmd2_unbiased, nearest_neighbours, pairwise_distances,
                      precision_recall)
from .plotting import gif_html, plot_losses, save_animation, show_images, show_progression
from .profiles import (RunFolderTaken, compare_runs, default_data_root, default_out_dir, default_profile, epochs_for, prepare_run,
                       runs_root, save_config, select_profile)
from .precision import MixedPrecision, mixed_precision
from .runtime import cache_dir, configure_device, describe_machine, pick_device, seed_everything
from .training import TrainingDiverged, TrainingRun, count_parameters, d_scores, sample, update_ema
from .widgets import generation_panel, latent_explorer, truncate_z
from .pypi_inception import INCEPTION_FEATURE_DIM
from .runs import ChapterRun, course_runs

__version__ = "0.1.0"
