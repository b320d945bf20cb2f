"""What a chapter's training costs, on paper: steps, images, FLOPs and an estimated GPU time.

    python tools/book.py plan --profile full               # every chapter
    python tools/book.py plan --profile full --gpu T4 --tflops 4 --step-ms 2   # stated throughput

Read from each notebook's own source, so that a new chapter appears without changes here:
- the profile table: the code cell that assigns ``PROFILES = {...}``, evaluated with the
  parameters cell's literal defaults (``ARCH = "mlp"``) and nothing else, plus the literal
  settings the cell adds with ``config |= dict(...)``;
- the networks: every pair of classes named ``<X>Generator`` and ``<X>Discriminator``, rebuilt
  from the notebook's imports, functions and classes (no other code runs), with the
  constructor arguments whose names are settings (``latent_dim``, ``image_size``, ``width``...);
- the dataset size when ``n_train`` is None (all images): from the dataset the notebook names.

FLOPs are counted by ``torch.utils.flop_counter`` on one forward pass of each network at the
profile's batch size (matrix multiplications and convolutions; element-wise work is not
counted). A GAN step of the chapters' loop runs G once and D three times forward (D on real and
on fake for D's step, D on fake again for G's step); a backward pass costs about twice its
forward, so a step costs about 3 x (F_G + 3 F_D). With ``n_critic`` (or ``d_steps``) D steps
per G step: 3 x (n_critic (F_G + 2 F_D) + F_G + F_D). The time on the named GPU is the FLOPs
at a stated sustained throughput plus a stated overhead per step (kernel launches, Python,
optimizer); data loading and the final scoring are not included. What cannot be evaluated is
reported and skipped.

A chapter that trains more than one GAN (chapter 5: a DCGAN, then a WGAN-GP) names them in its
notebook metadata, one entry per run: ``{"gan_course": {"plan": [{"name": "WGAN-GP",
"generator": "Generator", "discriminator": "Critic", "epochs": "epochs_wgan", "n_critic":
"n_critic", "epoch_is": "critic"}, ...]}}``: the classes, the profile key of its epochs, its
critic steps per G step (a key or a number) and, with ``"epoch_is": "critic"``, that an epoch
is one pass of the critic over the data (so it holds len(loader) / n_critic G steps). The
gradient penalty's double backward is not counted.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import torch
from torch import nn

# Training images of the datasets the chapters name (torchvision's full sets, not the offline mirror).
DATASET_SIZES = {"mnist": 60_000, "fashionmnist": 60_000, "celeba": 202_599, "anime_faces": 63_565, "cifar10": 50_000}

# GPUs the estimate can name: peak dense throughput in TFLOP/s (FP32; FP16 tensor cores).
GPUS = {"T4": (8.1, 65.0), "V100": (15.7, 125.0), "A100": (19.5, 312.0), "L4": (30.3, 121.0), "H100": (67.0, 989.0)}
DEFAULT_GPU, DEFAULT_STEP_MS = "T4", 2.0
SUSTAINED = 0.5  # of the FP32 peak, unless --tflops says otherwise (the chapters train in FP32)


@dataclass
class ChapterSource:
    """What the plan reads from one notebook."""

    name: str
    profiles: dict[str, dict[str, Any]]
    extra: dict[str, Any]  # literal settings added by `config |= dict(...)` in the profile cell
    namespace: dict[str, Any]  # the notebook's imports, functions and classes
    dataset: str | None
    notes: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # metadata gan_course.plan

    def config(self, profile: str) -> dict[str, Any]:
        return {**self.profiles[profile], **self.extra}

    def model_pairs(self) -> dict[str, tuple[type, type]]:
        """{"": (Generator, Discriminator)} or {"MLP": (MLPGenerator, MLPDiscriminator), ...}."""
        classes = {n: v for n, v in self.namespace.items() if isinstance(v, type) and issubclass(v, nn.Module)}
        pairs = {}
        for name, cls in classes.items():
            prefix = name.removesuffix("Generator")
            if prefix != name and prefix + "Discriminator" in classes:
                pairs[prefix] = (cls, classes[prefix + "Discriminator"])
        return pairs


def _literal(node: ast.expr, names: dict[str, Any]) -> Any:
    """Evaluate a table expression: literals, dict(...), names of the parameters cell, comparisons, if-else."""
    code = compile(ast.Expression(node), "<profiles>", "eval")
    return eval(code, {"__builtins__": {"dict": dict, "None": None, "True": True, "False": False}}, dict(names))


def _is_class_alias(node: ast.stmt) -> bool:
    """``LabelFront = gh.yours_or_reference(...)``: a CamelCase name bound to a class at top level."""
    return (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and re.fullmatch(r"[A-Z][a-z]\w*", node.targets[0].id) is not None)


def read_chapter(path: Path) -> ChapterSource:
    """Parse ``path``'s parameters, profile table, networks and dataset (nothing else runs)."""
    import gan_helpers

    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    trees = []
    for cell in cells:
        # IPython magics (%pip) are not Python: blank them out for the parser
        source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
        try:
            trees.append((cell, ast.parse(source)))
        except SyntaxError:
            continue
    parameters = {}
    for cell, tree in trees:
        if "parameters" in cell.metadata.get("tags", []):
            for node in tree.body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    try:
                        parameters[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        pass  # gh.default_profile() and the like: not needed for the table
    profiles, extra = None, {}
    for _, tree in trees:
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PROFILES" for t in node.targets):
                profiles = _literal(node.value, parameters)
            elif (profiles is not None and isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)
                  and node.target.id == "config" and isinstance(node.value, ast.Call)):
                for keyword in node.value.keywords:
                    try:
                        extra[keyword.arg] = ast.literal_eval(keyword.value)
                    except ValueError:
                        pass  # SEED, ARCH...: names, not the networks' sizes
        if profiles is not None:
            break
    if profiles is None:
        raise ValueError("no `PROFILES = {...}` cell")
    namespace: dict[str, Any] = {"gh": gan_helpers, "torch": torch, "nn": nn, "__name__": f"plan_{path.stem}"}
    notes = []
    for _, tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)) or _is_class_alias(node):
                try:
                    exec(compile(ast.Module([node], []), str(path), "exec"), namespace)
                except Exception as error:  # a definition that needs the run's state: leave it out
                    notes.append(f"{getattr(node, 'name', type(node).__name__)}: {type(error).__name__}")
    # networks the chapter takes from the course's helpers (gh.Generator, gh.Discriminator)
    for name in {n.attr for _, tree in trees for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                 and isinstance(n.value, ast.Name) and n.value.id == "gh" and n.attr.endswith(("Generator", "Discriminator"))}:
        if name not in namespace and hasattr(gan_helpers, name):
            namespace[name] = getattr(gan_helpers, name)
    dataset = parameters.get("DATASET") if isinstance(parameters.get("DATASET"), str) else None
    if dataset is None:
        strings = (n.value for _, tree in trees for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
        dataset = next((s for s in strings if s.lower() in DATASET_SIZES), None)
    runs = notebook.metadata.get("gan_course", {}).get("plan", [])
    return ChapterSource(path.stem, profiles, extra, namespace, dataset, notes, runs)


def build(cls: type, config: dict[str, Any]) -> nn.Module:
    """``cls(...)`` with the constructor arguments that are settings of ``config`` (others: defaults)."""
    accepted = inspect.signature(cls).parameters
    return cls(**{name: config[name] for name in accepted if name in config})


def example_inputs(G: nn.Module, config: dict[str, Any], batch: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """z (batch, latent_dim), then class labels for each further argument of G.forward (conditional G)."""
    latent_dim = config.get("latent_dim") or inspect.signature(type(G)).parameters["latent_dim"].default
    extra = len(inspect.signature(G.forward).parameters) - 1
    labels = torch.randint(0, config.get("num_classes", 10), (batch,), device=device)
    return (torch.randn(batch, latent_dim, device=device), *[labels] * extra)


def forward_flops(G: nn.Module, D: nn.Module, config: dict[str, Any], batch: int) -> tuple[int, int, tuple[int, ...]]:
    """FLOPs of one forward pass of G and of D on ``batch`` images, and the image shape."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(G.parameters()).device
    inputs = example_inputs(G, config, batch, device)
    with torch.no_grad():
        with FlopCounterMode(display=False) as count_G:
            fake = G(*inputs)
        with FlopCounterMode(display=False) as count_D:
            D(fake, *inputs[1:])
    return count_G.get_total_flops(), count_D.get_total_flops(), tuple(fake.shape[1:])


def step_flops(flops_G: int, flops_D: int, n_critic: int = 1) -> int:
    """Training FLOPs of one G step: forward passes x 3 (a backward pass costs about two forwards)."""
    if n_critic == 1:
        return 3 * (flops_G + 3 * flops_D)
    return 3 * (n_critic * (flops_G + 2 * flops_D) + flops_G + flops_D)


@dataclass
class Row:
    chapter: str
    models: str
    profile: str
    steps: int | None = None
    images: int | None = None
    flops: float | None = None
    image_shape: tuple[int, ...] | None = None
    skipped: str | None = None

    def hours(self, tflops: float, step_ms: float) -> float | None:
        if self.flops is None or self.steps is None:
            return None
        return (self.flops / (tflops * 1e12) + self.steps * step_ms / 1e3) / 3600


def plan_chapter(path: Path, profiles: list[str]) -> list[Row]:
    try:
        chapter = read_chapter(path)
        pairs = chapter.model_pairs()
        if not pairs and not chapter.runs and "TrainingRun(" not in path.read_text():
            return [Row(path.stem, "-", p, skipped="trains no GAN (it scores the other chapters' samples)") for p in profiles]
        if not pairs:
            raise ValueError("no <X>Generator / <X>Discriminator classes"
                             + (f" (left out: {', '.join(chapter.notes)})" if chapter.notes else ""))
    except Exception as error:
        return [Row(path.stem, "-", p, skipped=f"{type(error).__name__}: {error}") for p in profiles]
    runs = [(G_cls, D_cls, None) for G_cls, D_cls in pairs.values()]
    if chapter.runs:  # the GANs the chapter names in its metadata, each with its own epochs
        classes = {name: cls for name, cls in chapter.namespace.items() if isinstance(cls, type)}
        try:
            runs = [(classes[run["generator"]], classes[run["discriminator"]], run) for run in chapter.runs]
        except KeyError as error:
            return [Row(path.stem, "-", p, skipped=f"metadata gan_course.plan names {error}, not a class of the notebook")
                    for p in profiles]
    rows = []
    for profile in profiles:
        for G_cls, D_cls, run in runs:
            label = f"{G_cls.__name__}, {D_cls.__name__}"
            row = Row(path.stem, f"{run['name']}: {label}" if run else label, profile)
            rows.append(row)
            try:
                config = dict(chapter.config(profile))
                if run is not None:
                    config["epochs"] = config[run["epochs"]]
                    n_critic = run.get("n_critic", 1)
                    config["n_critic"] = config[n_critic] if isinstance(n_critic, str) else n_critic
                if "epochs" not in config:
                    raise ValueError(f"no single `epochs` setting ({', '.join(k for k in config if k.startswith('epochs'))})")
                batch = config["batch_size"]
                n_train = config.get("n_train") or DATASET_SIZES.get((chapter.dataset or "").lower())
                if n_train is None:
                    raise ValueError(f"n_train is None and the dataset {chapter.dataset!r} has no known size")
                n_critic = config.get("n_critic", config.get("d_steps", 1))
                batches = config["epochs"] * (n_train // batch)  # the loader drops the last incomplete batch
                critic_epochs = run is not None and run.get("epoch_is") == "critic"
                row.steps = batches // n_critic if critic_epochs else batches  # G steps
                row.images = batches * batch if critic_epochs else row.steps * batch
                with torch.device("meta"):  # shapes and FLOPs without allocating or computing
                    G, D = build(G_cls, config), build(D_cls, config)
                flops_G, flops_D, row.image_shape = forward_flops(G, D, config, batch)
                row.flops = float(row.steps * step_flops(flops_G, flops_D, n_critic))
            except Exception as error:
                row.skipped = f"{type(error).__name__}: {error}"
    return rows


def _si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    for factor, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f} {prefix}{unit}"
    return f"{value:.0f} {unit}"


def table(rows: list[Row], gpu: str, tflops: float, step_ms: float) -> str:
    header = ["chapter", "networks", "profile", "image", "steps", "images seen", "train FLOPs", f"est. time ({gpu})"]
    lines = []
    for row in rows:
        hours = row.hours(tflops, step_ms)
        time = "-" if hours is None else (f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.0f} min" if hours >= 1 / 60
                                          else f"{hours * 3600:.0f} s")
        shape = "x".join(map(str, row.image_shape)) if row.image_shape else "-"
        cells = [row.chapter, row.models, row.profile, shape, f"{row.steps:,}" if row.steps else "-",
                 f"{row.images:,}" if row.images else "-", _si(row.flops, "FLOP"), time]
        if row.skipped:
            cells[-1] = f"skipped ({row.skipped[:90]})"
        lines.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)), "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) for cells in lines]
    return "\n".join(out)


def assumptions(gpu: str, tflops: float, step_ms: float) -> str:
    fp32, fp16 = GPUS.get(gpu, (math.nan, math.nan))
    return (f"Estimated time on one {gpu} (peak {fp32} TFLOP/s FP32, {fp16} FP16 tensor cores): FLOPs at a sustained "
            f"{tflops} TFLOP/s plus {step_ms} ms per step of launch, Python and optimizer overhead.\n"
            "FLOPs: torch.utils.flop_counter on one forward pass of G and of D at the profile's batch size "
            "(matmuls and convolutions), x3 for forward + backward, G once and D three times per step. "
            "n_train None: the dataset's full size. Data loading and scoring are not included.")


def main(paths: list[Path], profiles: list[str], gpu: str = DEFAULT_GPU, tflops: float | None = None,
         step_ms: float = DEFAULT_STEP_MS) -> list[Row]:
    if gpu not in GPUS and not tflops:
        raise SystemExit(f"--gpu {gpu}: give its sustained --tflops, or name one of {sorted(GPUS)}")
    tflops = tflops or SUSTAINED * GPUS[gpu][0]
    rows = [row for path in paths for row in plan_chapter(path, profiles)]
    print(table(rows, gpu, tflops, step_ms))
    print()
    print(assumptions(gpu, tflops, step_ms))
    return rows
