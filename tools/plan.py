"""What a chapter's training costs, on paper: steps, images, FLOPs, kernels and an estimated time on a T4, an A100 and an H100.

    python tools/book.py plan                                  # every chapter: cpu, gpu and full
    python tools/book.py plan --profile gpu --gpu T4,L4        # other GPUs
    python tools/book.py plan --profile full --gpu T4 --tflops 20 --step-ms 3   # a stated throughput and floor

    plan.estimate_minutes(Path("notebooks/05_wgan_gp_cifar10.ipynb"), "gpu", gpu="T4")   # the GPU workflow, the docs

Read from each notebook's own source, so that a new chapter appears without changes here:
- the profile table: the code cell that assigns ``PROFILES = {...}``, evaluated with the
  parameters cell's literal defaults (``ARCH = "mlp"``) and nothing else, plus the literal
  settings the cell adds with ``config |= dict(...)``;
- the networks: every pair of classes named ``<X>Generator`` and ``<X>Discriminator``, rebuilt
  from the notebook's imports, functions and classes (no other code runs), with the
  constructor arguments whose names are settings (``latent_dim``, ``image_size``, ``width``...).
  When a string parameter names one of the pairs (``ARCH = "mlp"`` for ``MLPGenerator``), the
  other pairs are planned with the table evaluated for them (``ARCH = "conv"``) and do not count
  in the chapter's total: a run trains one of them;
- the dataset size when ``n_train`` is None (all images): from the dataset the notebook names.

The training budget is ``images``, the real images shown to D over the run: the notebook turns
it into whole epochs with ``gh.epochs_for(images, n_train // batch_size, batch_size)``, and so
does the plan (an older table's ``epochs`` is taken as it is). An epoch holds n_train //
batch_size G steps (the loader drops the last incomplete batch).

A chapter that trains more than one GAN (chapter 5: a DCGAN, then a WGAN-GP) names them in its
notebook metadata, one entry per run: ``{"gan_course": {"plan": [{"name": "WGAN-GP",
"generator": "Generator", "discriminator": "Critic", "images": "images_wgan", "n_critic":
"n_critic", "epoch_is": "critic", "penalty": true}, ...]}}``: the classes, the profile key of
its budget (``"epochs": "epochs_wgan"`` in older notebooks), its critic steps per G step (a key
or a number), with ``"epoch_is": "critic"`` that an epoch is one pass of the critic over the
data (its loop runs len(loader) // n_critic G steps per epoch, each with n_critic critic steps,
and the images are those the critic reads), and with ``"penalty": true`` that each critic step
adds the gradient penalty. An entry with ``n_critic`` trains with the Wasserstein loss; one
without, with the chapters' BCE loop.

One G step, measured. The plan runs one step of the chapter's loop as the notebooks write it
(``bce_d_step`` and ``bce_g_step``: D on real and detached fake, then G through the updated D,
the EMA of G and the logged numbers; ``critic_step`` and ``wgan_g_step``: the critic on real and
on fakes drawn without gradients, the gradient penalty, then G through the critic) and counts:
- FLOPs, on the meta device at the profile's batch size (shapes only: nothing is computed), with
  ``torch.utils.flop_counter``'s formulas for matrix multiplications and convolutions, forward
  and backward as autograd really runs them: a layer's backward costs twice its forward (the
  gradient of its input and of its weights) except where the input needs no gradient (G's first
  layer, D's first layer on real or detached images). The gradient penalty's double backward
  (``torch.autograd.grad(..., create_graph=True)``, then ``loss.backward()``) is counted as it
  runs: for chapter 5's critic about 6 forwards per interpolate (the forward, the gradient to the
  input, that gradient's own backward, and a backward through the forward pass again, which
  carries the zero derivative of LeakyReLU's slope). Element-wise work (activations, batch norm,
  the optimizer) is not;
- kernels: every aten operation dispatched that is not a view or an allocation (a few, such as
  Adam's step counters, run on the host: they cost a dispatch all the same), counted on the CPU
  at batch 2 and width 8 at most (the count depends on neither) with ``gh.mixed_precision`` as
  the loops use it: bf16 autocast for the GPUs that train in bf16; fp16 autocast with the
  GradScaler (and the penalty's scaled gradient) for those that train in fp16 (T4, V100). With
  Adam's foreach update (PyTorch's default on CUDA), the EMA of G and the logged numbers
  (``run.log`` keeps them on the device: no copy to the host per step).

The time on a GPU, per G step: max(FLOPs / sustained throughput, launch floor). The sustained
throughput is a stated share of the GPU's dense FP16/BF16 tensor-core peak (the chapters train
in mixed precision on CUDA: bf16 on A100, H100 and L4, fp16 with a GradScaler on T4 and V100);
the launch floor is the kernels of a step times ``LAUNCH_US`` (the host's dispatch and launch of
one kernel) plus ``STEP_PYTHON_MS`` (the loop's own Python). These small networks on an A100 or
an H100 wait on the launches, not on the arithmetic. Data loading (the in-memory loader's
batches), snapshots, checkpoints and the scoring (FID/KID, per-epoch measures) are not included.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import inspect
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import nbformat
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

import gan_helpers as gh

# Training images of the datasets the chapters name (torchvision's full sets, not the offline mirror).
DATASET_SIZES = {"mnist": 60_000, "fashionmnist": 60_000, "celeba": 202_599, "anime_faces": 63_632, "cifar10": 50_000}

# The profiles the plan shows by default (smoke runs in seconds on any CPU).
PROFILES = ("cpu", "gpu", "full")


@dataclass(frozen=True)
class GPU:
    """A GPU the estimate can name: peak dense throughput (TFLOP/s) and what the chapters train in on it."""

    fp32: float  # FP32 peak, for reference
    tensor: float  # FP16/BF16 tensor-core peak, dense (no sparsity)
    precision: str  # autocast's dtype there: "fp16" (with a GradScaler) or "bf16"
    sustained: float  # the share of `tensor` these small convolutions reach: a stated guess, to be measured


GPUS = {"T4": GPU(8.1, 65.0, "fp16", 0.3), "V100": GPU(15.7, 125.0, "fp16", 0.3), "L4": GPU(30.3, 121.0, "bf16", 0.3),
        "A100": GPU(19.5, 312.0, "bf16", 0.4), "H100": GPU(67.0, 989.0, "bf16", 0.4)}  # H100: SXM
DEFAULT_GPUS = ("T4", "A100", "H100")
LAUNCH_US = 6.0  # host time to dispatch and launch one kernel in eager PyTorch
STEP_PYTHON_MS = 0.3  # the loop's own Python per G step: module calls, the loader, the run's log and bar
PROBE_BATCH, PROBE_WIDTH = 2, 8  # kernels are counted at this batch (batch norm in training needs two) and width at most


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
    parameters: dict[str, Any] = field(default_factory=dict)  # the parameters cell's literal defaults
    table: ast.expr | None = None  # the expression of `PROFILES = ...`

    def config(self, profile: str, **parameters: Any) -> dict[str, Any]:
        """The settings of ``profile``, with the table evaluated for other ``parameters`` (ARCH="conv") if given."""
        profiles = _literal(self.table, self.parameters | parameters) if parameters else self.profiles
        if profile not in profiles:
            raise MissingProfile(f"no {profile} profile")
        return {**profiles[profile], **self.extra}

    def model_pairs(self) -> dict[str, tuple[type, type]]:
        """{"": (Generator, Discriminator)} or {"MLP": (MLPGenerator, MLPDiscriminator), ...}."""
        classes = {n: v for n, v in self.namespace.items() if isinstance(v, type) and issubclass(v, nn.Module)}
        pairs = {}
        for name, cls in classes.items():
            prefix = name.removesuffix("Generator")
            if prefix != name and prefix + "Discriminator" in classes:
                pairs[prefix] = (cls, classes[prefix + "Discriminator"])
        return pairs

    def gans(self) -> list[Run]:
        """The GANs to plan: those the metadata names, else every pair of classes (see the module's docstring)."""
        if self.runs:
            classes = {name: cls for name, cls in self.namespace.items() if isinstance(cls, type)}
            missing = [run[key] for run in self.runs for key in ("generator", "discriminator") if run[key] not in classes]
            if missing:
                raise ValueError(f"metadata gan_course.plan names {missing}, not classes of the notebook")
            return [Run(f"{run['name']}: {run['generator']}, {run['discriminator']}", classes[run["generator"]],
                        classes[run["discriminator"]], run) for run in self.runs]
        pairs = self.model_pairs()
        # a string parameter whose value names a pair (ARCH = "mlp"): the pair the chapter trains by default
        names = {prefix.lower() for prefix in pairs} if len(pairs) > 1 else set()
        chooser = next((name for name, value in self.parameters.items()
                        if isinstance(value, str) and value.lower() in names), None)
        gans = []
        for prefix, (G_cls, D_cls) in pairs.items():
            label = f"{G_cls.__name__}, {D_cls.__name__}"
            if chooser is None or prefix.lower() == self.parameters[chooser].lower():
                gans.append(Run(label, G_cls, D_cls))
            else:
                gans.append(Run(f"{label} ({chooser}={prefix.lower()})", G_cls, D_cls,
                                parameters={chooser: prefix.lower()}, default=False))
        return gans


@dataclass
class Run:
    """One GAN a chapter can train: its classes, its metadata entry ({}: the plain BCE loop) and the
    parameters that select it; ``default``: the chapter trains it with its default parameters."""

    label: str
    G: type
    D: type
    spec: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    default: bool = True


class MissingProfile(KeyError):
    """The chapter's table has no such profile (a notebook not yet given a ``gpu`` profile, say)."""

    def __str__(self) -> str:
        return str(self.args[0])


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
    table, profiles, extra = None, None, {}
    for _, tree in trees:
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PROFILES" for t in node.targets):
                table, profiles = node.value, _literal(node.value, parameters)
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
    namespace: dict[str, Any] = {"gh": gh, "torch": torch, "nn": nn, "__name__": f"plan_{path.stem}"}
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
        if name not in namespace and hasattr(gh, name):
            namespace[name] = getattr(gh, name)
    dataset = parameters.get("DATASET") if isinstance(parameters.get("DATASET"), str) else None
    if dataset is None:
        strings = (n.value for _, tree in trees for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
        dataset = next((s for s in strings if s.lower() in DATASET_SIZES), None)
    runs = notebook.metadata.get("gan_course", {}).get("plan", [])
    return ChapterSource(path.stem, profiles, extra, namespace, dataset, notes, runs, parameters, table)


def build(cls: type, config: dict[str, Any]) -> nn.Module:
    """``cls(...)`` with the constructor arguments that are settings of ``config`` (others: defaults)."""
    accepted = inspect.signature(cls).parameters
    return cls(**{name: config[name] for name in accepted if name in config})


def example_inputs(G: nn.Module, config: dict[str, Any], batch: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """z (batch, latent_dim), then class labels for each further argument of G.forward (conditional G)."""
    latent_dim = config.get("latent_dim") or inspect.signature(type(G)).parameters["latent_dim"].default
    z = torch.randn(batch, latent_dim, device=device)
    extra = len(inspect.signature(G.forward).parameters) - 1
    if extra == 0:
        return (z,)
    labels = torch.randint(0, config.get("num_classes", 10), (batch,), device=device)
    return (z, *[labels] * extra)


# --- counting -------------------------------------------------------------------------------------

# aten operations that launch no kernel besides the views: allocations
_NO_KERNEL = {torch.ops.aten.empty, torch.ops.aten.empty_like, torch.ops.aten.empty_strided, torch.ops.aten.new_empty,
              torch.ops.aten.new_empty_strided, torch.ops.aten._unsafe_view, torch.ops.aten.lift_fresh}


class OpCount(TorchDispatchMode):
    """Inside ``with OpCount() as count:``, ``count.flops`` adds up the FLOPs of every matrix
    multiplication and convolution (forward, backward and double backward alike) with
    torch.utils.flop_counter's formulas, and ``count.ops`` the aten operations that launch a
    kernel (not views, allocations or the profiler's markers), by name; ``count.kernels`` is their sum.

    torch.utils.flop_counter.FlopCounterMode itself refuses ``torch.autograd.grad`` on a leaf
    input (its module tracker), which is what the gradient penalty does: hence this mode.
    """

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        if packet in flop_registry:
            self.flops += flop_registry[packet](*args, **kwargs, out_val=out)
        if not (func.is_view or packet in _NO_KERNEL or func.namespace == "profiler"):
            self.ops[str(packet)] += 1
        return out

    @property
    def kernels(self) -> int:
        return sum(self.ops.values())


@dataclass
class Training:
    """What one training step touches. On the meta device only G and D (the FLOPs of the passes);
    on the CPU also Adam for each, the EMA copy of G and ``amp`` (``gh.mixed_precision``: autocast
    and, in fp16, the GradScaler), as the chapters' loops use them (the kernels)."""

    G: nn.Module
    D: nn.Module
    draw: Callable[[], tuple[torch.Tensor, ...]]  # z and the labels of a conditional G, for one batch
    real: torch.Tensor  # a batch of real images in [-1, 1]
    opt_G: torch.optim.Optimizer | None = None  # None: the passes alone (no updates, no EMA)
    opt_D: torch.optim.Optimizer | None = None
    G_ema: nn.Module | None = None
    amp: gh.MixedPrecision | None = None
    ema_decay: float = 0.999

    def autocast(self) -> contextlib.AbstractContextManager:
        return self.amp.autocast() if self.amp else contextlib.nullcontext()

    def update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer | None) -> None:
        """The loops' ``zero_grad``, ``amp.backward(loss)`` and ``amp.step(optimizer)``; on the meta
        device ``loss.backward()`` alone."""
        if optimizer is None:
            loss.backward()
            return
        optimizer.zero_grad(set_to_none=True)
        self.amp.backward(loss)
        self.amp.step(optimizer)

    def finish(self) -> None:
        """The end of a G step: the EMA of G. (``run.log`` keeps the numbers on the device: no kernel.)"""
        if self.G_ema is not None:
            gh.update_ema(self.G_ema, self.G, self.ema_decay)


def bce_d_step(t: Training, real: torch.Tensor, z: torch.Tensor, labels: Sequence[torch.Tensor] = ()) -> tuple:
    """The BCE loop (chapters 1 to 4, chapter 5's DCGAN), step 1: G draws a batch from ``z`` (and the
    labels of a conditional G); D learns real -> 1 and fake -> 0 on the logits, the fakes detached
    so that G is left alone. Returns what step 2 reuses, and loss_D."""
    bce = nn.functional.binary_cross_entropy_with_logits
    with t.autocast():
        fake = t.G(z, *labels)
        real_logits, fake_logits = t.D(real, *labels), t.D(fake.detach(), *labels)
        loss_D = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
    t.update(loss_D, t.opt_D)
    return fake, labels, real_logits, fake_logits, loss_D


def bce_g_step(t: Training, fake, labels, real_logits, fake_logits) -> torch.Tensor:
    """Step 2: G learns to make the updated D call the same fakes real (the non-saturating loss);
    then the EMA of G and the logged mean D(x) and D(G(z)). Returns loss_G."""
    bce = nn.functional.binary_cross_entropy_with_logits
    with t.autocast():
        logits = t.D(fake, *labels)
        loss_G = bce(logits, torch.ones_like(logits))
    t.update(loss_G, t.opt_G)
    t.finish()
    gh.d_scores(real_logits, fake_logits)
    return loss_G


def critic_step(t: Training, penalty: bool, real: torch.Tensor, z: torch.Tensor, labels: Sequence[torch.Tensor] = (),
                epsilon: torch.Tensor | None = None, gp_weight: float = 10.0) -> torch.Tensor:
    """The WGAN(-GP) loop (chapter 5), one of n_critic critic steps: fakes drawn without gradients;
    the critic maximises E[D(real)] - E[D(fake)] minus, with ``penalty``, the gradient penalty at
    interpolates (``gh.gradient_penalty`` of ``amp.for_penalty(critic)``: a double backward) with
    mixing weights ``epsilon`` (None: drawn here). Returns loss_C."""
    if epsilon is None:
        epsilon = torch.rand(len(real), *[1] * (real.dim() - 1), device=real.device)
    with t.autocast():
        with torch.no_grad():
            fake = t.G(z, *labels)
        loss_C = 0
        if penalty:
            critic = t.amp.for_penalty(t.D) if t.amp else t.D
            loss_C, norms = gh.gradient_penalty(lambda x: critic(x, *labels), real, fake, epsilon, gp_weight)
            norms.mean()  # logged
        loss_C = -(t.D(real, *labels).mean() - t.D(fake, *labels).mean()) + loss_C
    t.update(loss_C, t.opt_D)
    return loss_C


def wgan_g_step(t: Training, z: torch.Tensor, labels: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    """The G step after the critic's: G raises the critic's mean score of G(z); then the EMA of G.
    Returns loss_G."""
    with t.autocast():
        loss_G = -t.D(t.G(z, *labels), *labels).mean()
    t.update(loss_G, t.opt_G)
    t.finish()
    return loss_G


def run_step(t: Training, loop: str, penalty: bool) -> dict[str, OpCount]:
    """Run one G step's parts, each counted apart: {"D step" or "critic step": count, "G step": count}."""
    first, second = OpCount(), OpCount()
    if loop == "bce":
        with first:
            z, *labels = t.draw()
            *out, _ = bce_d_step(t, t.real, z, labels)
        with second:
            bce_g_step(t, *out)
        return {"D step": first, "G step": second}
    with first:
        z, *labels = t.draw()
        critic_step(t, penalty, t.real, z, labels)
    with second:
        z, *labels = t.draw()  # fresh fakes for G
        wgan_g_step(t, z, labels)
    return {"critic step": first, "G step": second}


def make_training(G_cls: type, D_cls: type, config: dict[str, Any], batch: int, device: str,
                  precision: str | None = None) -> Training:
    """G and D built from ``config`` on ``device``; with a ``precision`` ("bf16", "fp16"), Adam, the
    EMA copy and ``gh.MixedPrecision`` too, in the state of a run under way (Adam's and the scaler's
    first calls, which create their state, already taken)."""
    with torch.device(device):
        G, D = build(G_cls, config), build(D_cls, config)
    draw = functools.partial(example_inputs, G, config, batch, torch.device(device))
    with torch.no_grad():
        real = torch.rand_like(G(*draw())) * 2 - 1
    if precision is None:
        return Training(G, D, draw, real)
    # Adam's foreach update: PyTorch's default on CUDA (the CPU's default is a loop over the parameters)
    opt_G, opt_D = (torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=True) for m in (G, D))
    for optimizer in (opt_G, opt_D):  # a first step on zero gradients creates Adam's state
        for p in optimizer.param_groups[0]["params"]:
            p.grad = torch.zeros_like(p)
        optimizer.step()
    amp = gh.MixedPrecision(device, precision)
    if amp.scales_loss:  # fp16: the scaler's first call creates its factor; a run under way has found
        amp.scaler.scale(torch.ones((), device=device))  # one at which no step overflows (and is skipped)
        amp.scaler.update(new_scale=2.0**8)
    return Training(G, D, draw, real, opt_G, opt_D, copy.deepcopy(G).eval(), amp, ema_decay_of(config))


@dataclass
class StepCost:
    """One G step of a run, measured by its parts (BCE loop: "D step", "G step"; WGAN loop:
    "critic step" n_critic times, "G step"): FLOPs at the profile's batch, kernels per precision."""

    flops: dict[str, int]
    kernels: dict[str, dict[str, int]]  # precision ("bf16", "fp16") -> part -> kernels
    repeats: dict[str, int]  # part -> times per G step
    image_shape: tuple[int, ...]  # G's output, one image
    ops: dict[str, Counter[str]] = field(default_factory=dict)  # bf16, by part: the operations counted

    def total_flops(self) -> int:
        return sum(self.flops[part] * self.repeats[part] for part in self.flops)

    def total_kernels(self, precision: str = "bf16") -> int:
        return sum(self.kernels[precision][part] * self.repeats[part] for part in self.repeats)


def _settings(G_cls: type, D_cls: type, config: dict[str, Any]) -> tuple:
    """The settings that build the networks and their inputs, as a key for the caches below."""
    names = {*inspect.signature(G_cls).parameters, *inspect.signature(D_cls).parameters, "latent_dim", "num_classes"}
    return tuple(sorted((name, tuple(config[name]) if isinstance(config[name], list) else config[name])
                        for name in names if name in config))


@functools.lru_cache(maxsize=None)
def _flops(G_cls: type, D_cls: type, config_items: tuple, batch: int, loop: str, penalty: bool):
    """FLOPs of one G step's parts on the meta device at ``batch``, and G's image shape."""
    on_meta = make_training(G_cls, D_cls, dict(config_items), batch, "meta")
    return {part: count.flops for part, count in run_step(on_meta, loop, penalty).items()}, tuple(on_meta.real.shape[1:])


@functools.lru_cache(maxsize=None)
def _kernels(G_cls: type, D_cls: type, config_items: tuple, loop: str, penalty: bool, precision: str):
    """Kernels of one G step's parts on the CPU. The operations a step dispatches depend neither on
    the batch nor on the networks' width (the layers are the same, only wider), so the step runs
    at batch PROBE_BATCH and width PROBE_WIDTH at most (``measure_step`` narrows the settings):
    in a fraction of a second, where a full-width step in 16 bits takes several on a CPU without
    16-bit arithmetic."""
    config = dict(config_items)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        training = make_training(G_cls, D_cls, config, PROBE_BATCH, "cpu", precision)
        scale = training.amp.scaler.get_scale() if training.amp.scales_loss else None
        counts = run_step(training, loop, penalty)
    if scale is not None and training.amp.scaler.get_scale() < scale:
        raise RuntimeError("the fp16 probe's gradients overflowed and its optimizer steps were skipped: "
                           "the kernel count would lack them")
    return {part: c.kernels for part, c in counts.items()}, {part: c.ops for part, c in counts.items()}


def measure_step(G_cls: type, D_cls: type, config: dict[str, Any], batch: int, loop: str = "bce", n_critic: int = 1,
                 penalty: bool = False) -> StepCost:
    """FLOPs (meta device, at ``batch``) and kernels (CPU, bf16 and fp16) of one G step of ``loop``:
    "bce" (the D step and the G step of chapters 1 to 4) or "wgan" (``n_critic`` critic steps, with
    the gradient penalty if ``penalty``, then a G step). Cached by the networks' settings."""
    if loop not in ("bce", "wgan"):
        raise ValueError(f"loop={loop!r}: expected 'bce' or 'wgan'")
    flops, image_shape = _flops(G_cls, D_cls, _settings(G_cls, D_cls, config), batch, loop, penalty)
    narrow = _settings(G_cls, D_cls, config | ({"width": min(config["width"], PROBE_WIDTH)} if "width" in config else {}))
    kernels, ops = {}, {}
    for precision in ("bf16", "fp16"):
        kernels[precision], by_part = _kernels(G_cls, D_cls, narrow, loop, penalty, precision)
        ops = ops or by_part
    first = next(iter(flops))
    return StepCost(flops, kernels, {first: n_critic, "G step": 1}, image_shape, ops)


# --- the plan ---------------------------------------------------------------------------------------

def budget(config: dict[str, Any], spec: dict[str, Any], n_train: int) -> tuple[int, int, int]:
    """(epochs, G steps, images D or the critic reads) of a run with ``config``'s budget (module docstring)."""
    batch = config["batch_size"]
    batches = n_train // batch  # the loader drops the last incomplete batch
    images_key, epochs_key = spec.get("images", "images"), spec.get("epochs", "epochs")
    if images_key in config:
        epochs = gh.epochs_for(config[images_key], batches, batch)
    elif epochs_key in config:
        epochs = config[epochs_key]
    else:
        keys = ", ".join(k for k in config if k.startswith(("images", "epochs"))) or "none"
        raise ValueError(f"no `{images_key}` (or `{epochs_key}`) setting; the profile has {keys}")
    if spec.get("epoch_is") == "critic":  # each epoch: len(loader) // n_critic G steps of n_critic critic steps
        n_critic = n_critic_of(config, spec)
        steps = epochs * (batches // n_critic)
        return epochs, steps, steps * n_critic * batch
    return epochs, epochs * batches, epochs * batches * batch


def n_critic_of(config: dict[str, Any], spec: dict[str, Any]) -> int:
    """D or critic steps per G step: a metadata entry's ``n_critic`` (a key of the profile or a number;
    none: 1, the profile's n_critic is another run's), else the profile's ``n_critic`` or ``d_steps``."""
    if spec:
        n_critic = spec.get("n_critic", 1)
        return config[n_critic] if isinstance(n_critic, str) else n_critic
    return config.get("n_critic", config.get("d_steps", 1))


def ema_decay_of(config: dict[str, Any]) -> float:
    """The decay per G step of the EMA of G in a run with ``config``: its ``ema_decay`` (chapters 1
    and 2), or, for a half-life in images (``ema_half_life``: chapters 3 to 5), the decay once the
    ramp-up is over, ``gh.ema_decay(batch_size, ..., ema_half_life, rampup=None)``; else 0.999."""
    if "ema_half_life" in config:
        return gh.ema_decay(config["batch_size"], 0, config["ema_half_life"], rampup=None)
    return config.get("ema_decay", 0.999)


@dataclass
class Row:
    """One GAN of one chapter in one profile; ``skipped`` says why it has no numbers."""

    chapter: str
    models: str
    profile: str
    default: bool = True  # trained by the chapter's default parameters (counts in estimate_minutes)
    steps: int | None = None  # G steps
    images: int | None = None
    cost: StepCost | None = None
    image_shape: tuple[int, ...] | None = None
    skipped: str | None = None

    @property
    def flops(self) -> float | None:
        return None if self.cost is None else float(self.steps * self.cost.total_flops())

    def step_seconds(self, gpu: str, tflops: float | None = None, step_ms: float | None = None) -> tuple[float, float]:
        """(compute, launch floor) of one G step on ``gpu``, in seconds."""
        spec = GPUS.get(gpu, GPU(float("nan"), float("nan"), "bf16", float("nan")))
        compute = self.cost.total_flops() / ((tflops or spec.sustained * spec.tensor) * 1e12)
        floor = step_ms / 1e3 if step_ms else self.cost.total_kernels(spec.precision) * LAUNCH_US / 1e6 + STEP_PYTHON_MS / 1e3
        return compute, floor

    def minutes(self, gpu: str, tflops: float | None = None, step_ms: float | None = None) -> float | None:
        """Training minutes on one ``gpu``: G steps x max(compute, launch floor) per step."""
        if self.cost is None:
            return None
        return self.steps * max(self.step_seconds(gpu, tflops, step_ms)) / 60

    def launch_bound(self, gpu: str, tflops: float | None = None, step_ms: float | None = None) -> bool:
        compute, floor = self.step_seconds(gpu, tflops, step_ms)
        return floor >= compute


def plan_chapter(path: Path, profiles: list[str] | tuple[str, ...]) -> list[Row]:
    """A row per GAN and profile of the chapter at ``path``."""
    try:
        chapter = read_chapter(path)
        gans = chapter.gans()
        if not gans and "TrainingRun(" not in path.read_text():
            return [Row(path.stem, "-", p, skipped="trains no GAN (it scores the other chapters' samples)") for p in profiles]
        if not gans:
            raise ValueError("no <X>Generator / <X>Discriminator classes"
                             + (f" (left out: {', '.join(chapter.notes)})" if chapter.notes else ""))
    except Exception as error:
        return [Row(path.stem, "-", p, skipped=f"{type(error).__name__}: {error}") for p in profiles]
    rows = []
    for profile in profiles:
        for gan in gans:
            row = Row(path.stem, gan.label, profile, gan.default)
            rows.append(row)
            try:
                config = chapter.config(profile, **gan.parameters)
                n_train = config.get("n_train") or DATASET_SIZES.get((chapter.dataset or "").lower())
                if n_train is None:
                    raise ValueError(f"n_train is None and the dataset {chapter.dataset!r} has no known size")
                _, row.steps, row.images = budget(config, gan.spec, n_train)
                loop = "wgan" if "n_critic" in gan.spec or gan.spec.get("penalty") else "bce"
                row.cost = measure_step(gan.G, gan.D, config, config["batch_size"], loop, n_critic_of(config, gan.spec),
                                        penalty=bool(gan.spec.get("penalty")))
                row.image_shape = row.cost.image_shape
            except MissingProfile as error:
                row.skipped = str(error)
            except Exception as error:
                row.skipped = f"{type(error).__name__}: {error}"
    return rows


def estimate_minutes(notebook_path: Path | str, profile: str, gpu: str = "T4", tflops: float | None = None,
                     step_ms: float | None = None) -> float:
    """Estimated training minutes of the chapter at ``notebook_path`` in ``profile`` on one ``gpu``: the sum
    over the GANs it trains with its default parameters. Raises ValueError for a chapter that trains no GAN
    (chapter 6), a profile it lacks, or a GAN the plan cannot evaluate."""
    rows = [row for row in plan_chapter(Path(notebook_path), [profile]) if row.default]
    skipped = [f"{row.models}: {row.skipped}" for row in rows if row.skipped]
    if skipped or not rows:
        raise ValueError(f"{Path(notebook_path).stem} ({profile}): no estimate: {'; '.join(skipped) or 'no GAN'}")
    return sum(row.minutes(gpu, tflops, step_ms) for row in rows)


def _si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    for factor, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f} {prefix}{unit}"
    return f"{value:.0f} {unit}"


def _duration(minutes: float) -> str:
    if minutes >= 60:
        return f"{minutes / 60:.1f} h"
    if minutes >= 1:
        return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"
    return f"{minutes * 60:.0f} s"


def table(rows: list[Row], gpus: list[str] | tuple[str, ...] = DEFAULT_GPUS, tflops: float | None = None,
          step_ms: float | None = None) -> str:
    """One line per row: steps, images, FLOPs, kernels per G step and a time per GPU (``*``: at the launch floor)."""
    header = ["chapter", "networks", "profile", "image", "steps", "images seen", "train FLOPs", "kernels/step", *gpus]
    lines = []
    for row in rows:
        shape = "x".join(map(str, row.image_shape)) if row.image_shape else "-"
        cells = [row.chapter, row.models, row.profile, shape, f"{row.steps:,}" if row.steps else "-",
                 f"{row.images:,}" if row.images else "-", _si(row.flops, "FLOP"),
                 f"{row.cost.total_kernels():,}" if row.cost else "-"]
        if row.skipped:
            cells += [f"skipped ({row.skipped[:90]})"] + [""] * (len(gpus) - 1)
        else:
            cells += [_duration(row.minutes(gpu, tflops, step_ms)) + ("*" if row.launch_bound(gpu, tflops, step_ms) else "")
                      for gpu in gpus]
        lines.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in lines]
    return "\n".join(out)


def assumptions(gpus: list[str] | tuple[str, ...] = DEFAULT_GPUS, tflops: float | None = None,
                step_ms: float | None = None) -> str:
    """What the estimate assumes, in words, with the constants it used."""
    throughput = []
    for gpu in gpus:
        spec = GPUS.get(gpu)
        if tflops:
            throughput.append(f"{gpu} {tflops:g} TFLOP/s (--tflops)")
        else:
            throughput.append(f"{gpu} {spec.sustained:g} x {spec.tensor:g} = {spec.sustained * spec.tensor:g} TFLOP/s "
                              f"({spec.precision}{' + GradScaler' if spec.precision == 'fp16' else ''})")
    floor = (f"{step_ms:g} ms per G step (--step-ms)" if step_ms else
             f"kernels per G step x {LAUNCH_US:g} us (host dispatch and launch) + {STEP_PYTHON_MS:g} ms of the loop's Python")
    return "\n".join([
        "Time per G step on each GPU = max(FLOPs / sustained throughput, launch floor); * marks a time at the launch floor.",
        "Sustained throughput, a share of the dense FP16/BF16 tensor-core peak (mixed precision on CUDA): "
        + "; ".join(throughput) + ".",
        f"Launch floor: {floor}.",
        "FLOPs: one G step of the chapter's loop run on the meta device at the profile's batch, counted with "
        "torch.utils.flop_counter's formulas (matmuls and convolutions, forward, backward and the gradient penalty's "
        "double backward as autograd runs them); with n_critic critic steps per G step for a WGAN. Element-wise work "
        "is not counted.",
        f"Kernels/step: aten operations that are not views, in one G step on the CPU at batch {PROBE_BATCH} under bf16 "
        "autocast as gh.mixed_precision runs it, with Adam (foreach) and the EMA of G; the column shows bf16's, "
        "fp16 (T4) adds the GradScaler's.",
        "Steps: images / (n_train // batch_size) rounded to whole epochs (gh.epochs_for), or the profile's epochs; "
        "n_train None: the dataset's full size.",
        "Not included: data loading, snapshots, checkpoints, per-epoch measures and scoring (FID/KID), "
        "cuDNN's first-call tuning.",
    ])


def main(paths: list[Path], profiles: list[str] | tuple[str, ...] = PROFILES, gpus: list[str] | tuple[str, ...] = DEFAULT_GPUS,
         tflops: float | None = None, step_ms: float | None = None) -> list[Row]:
    """Print the plan of the chapters at ``paths`` for ``profiles`` on ``gpus``, then its assumptions."""
    unknown = [gpu for gpu in gpus if gpu not in GPUS]
    if tflops and len(gpus) > 1:
        raise SystemExit(f"--tflops is the throughput of one GPU: name one with --gpu (not {','.join(gpus)})")
    if unknown and not tflops:
        raise SystemExit(f"--gpu {','.join(unknown)}: give its sustained --tflops, or name one of {sorted(GPUS)}")
    rows = [row for path in paths for row in plan_chapter(path, profiles)]
    print(table(rows, gpus, tflops, step_ms))
    print()
    print(assumptions(gpus, tflops, step_ms))
    return rows
