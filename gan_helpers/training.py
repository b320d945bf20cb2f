"""The bookkeeping of a training run, so that each chapter's loop cell shows only the GAN.

    run = gh.TrainingRun(OUT_DIR, config, resume=RESUME, interactive=INTERACTIVE,
                         snapshot=lambda: sample(G_ema, fixed_z),
                         G=G, D=D, G_ema=G_ema, opt_G=opt_G, opt_D=opt_D, loader=loader)
    for epoch in run.epochs():          # starts afresh or resumes; saves a checkpoint per epoch
        for (real,) in loader:
            ...                         # the D step and the G step, written in the notebook
            run.log({"loss_D": loss_D, "loss_G": loss_G})   # one row per step

The run owns ``OUT_DIR/checkpoint.pt``, the per-epoch history, the snapshots of a fixed noise
batch and the progress bar. The adversarial loop itself (losses, ``backward``, ``step``, the
order of the updates, how many D steps per G step) stays in the notebook.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch
from torch import nn
from tqdm import tqdm
from tqdm.auto import tqdm as tqdm_auto

from .checkpoints import RESUMABLE_CHANGES, load_checkpoint, restore_training_state, save_checkpoint, training_state
from .data import to_uint8


class TrainingDiverged(FloatingPointError):
    """A logged value became NaN or infinite; the message names the step and what to do."""


def check_finite(step: int, epoch: int, checkpoint: str | Path | None = None, **values: float) -> None:
    """Stop training at the first NaN or infinite value, naming the step and the value.

    ``values`` are plain floats (``loss.item()``). The last good checkpoint is not touched.
    """
    bad = {name: value for name, value in values.items() if not math.isfinite(value)}
    if bad:
        kept = f"The last good checkpoint is kept at {checkpoint}. " if checkpoint else ""
        details = ", ".join(f"{name} = {value}" for name, value in bad.items())
        raise TrainingDiverged(
            f"training diverged at step {step} (epoch {epoch}): {details}. {kept}"
            "Try a lower learning rate, check the inputs are in [-1, 1], or change SEED."
        )


def progress(total: int, desc: str, interactive: bool = True, initial: int = 0) -> tqdm:
    """A progress bar over ``total`` steps.

    Interactive (Jupyter, Colab): a live widget bar. Otherwise (papermill, the book): a text bar
    on stdout that updates at most every 30 s, so executed notebooks stay short.
    """
    if interactive:
        return tqdm_auto(total=total, desc=desc, initial=initial, unit="step")
    return tqdm(total=total, desc=desc, initial=initial, unit="step", file=sys.stdout,
                mininterval=30, ascii=True, ncols=100)


@torch.no_grad()
def update_ema(ema_model: nn.Module, model: nn.Module, decay: float) -> None:
    """theta_ema <- decay * theta_ema + (1 - decay) * theta, for every parameter;
    buffers (batch-norm running statistics) are copied as they are: they fit the model's
    weights, not the averaged ones, so recalibrate them (``recalibrate_batch_norm``) before
    sampling the EMA model. ``decay`` in [0, 1): a constant, or ``ema_decay(...)`` per step.

    One fused ("foreach") operation over all parameters instead of one per tensor: on a GPU
    that is a handful of kernel launches per step rather than a few dozen."""
    if not 0 <= decay < 1:
        raise ValueError(f"decay must be in [0, 1), got {decay}")
    ema_params, params = list(ema_model.parameters()), list(model.parameters())
    if len(ema_params) != len(params):
        raise ValueError(f"the EMA model has {len(ema_params)} parameter tensors, the model {len(params)}: "
                         "make the EMA model with copy.deepcopy(G)")
    torch._foreach_lerp_(ema_params, params, 1 - decay)
    ema_buffers, buffers = list(ema_model.buffers()), list(model.buffers())
    if buffers:
        torch._foreach_copy_(ema_buffers, buffers)


def ema_decay(batch_size: int, images_seen: int, half_life_images: float,
              rampup: float | None = 0.05) -> float:
    """The decay beta of one ``update_ema`` step for an EMA defined by its half-life in images.

    beta = 0.5 ** (batch_size / h): after h images (h / batch_size steps) the weight of the
    average on any earlier value of G has halved. With a ramp-up, h = min(half_life_images,
    rampup * images_seen): early in training, while G changes fastest and its first weights
    are random, the average covers only the last ``rampup`` share of the images seen so far
    (at images_seen = 0, beta = 0: the EMA is G itself). This is the rule of StyleGAN2-ADA
    (Karras et al., *Training Generative Adversarial Networks with Limited Data*, NeurIPS
    2020: ``ema_kimg`` = 10, i.e. 10,000 images, and ``ema_rampup`` = 0.05 in their settings).

    Args:
        batch_size: images per step (> 0).
        images_seen: images shown to D before this step (>= 0): the step count times the batch.
        half_life_images: h once the ramp-up is over, in images (> 0).
        rampup: the ramp-up's share of the images seen (> 0), or None for no ramp-up.

    Returns:
        beta in [0, 1), for ``update_ema(ema_model, model, beta)``.
    """
    if batch_size <= 0 or images_seen < 0 or half_life_images <= 0:
        raise ValueError(f"ema_decay needs batch_size > 0, images_seen >= 0 and half_life_images > 0; "
                         f"got {batch_size}, {images_seen} and {half_life_images}")
    if rampup is not None and rampup <= 0:
        raise ValueError(f"rampup must be a positive share of the images seen (0.05: 5 %) or None, got {rampup}")
    half_life = half_life_images if rampup is None else min(half_life_images, rampup * images_seen)
    if half_life <= 0:  # nothing seen yet: the average starts at G's weights
        return 0.0
    return 0.5 ** (batch_size / half_life)


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, batches: Iterable[torch.Tensor | tuple[torch.Tensor, ...]]) -> None:
    """Recompute the running statistics of every batch-norm layer of ``model`` from ``batches``.

    An EMA of G averages G's weights, but batch norm's running mean and variance are G's own
    (``update_ema`` copies them): statistics of activations that the averaged weights do not
    produce. Before sampling the EMA model, this resets them and runs the model in training
    mode, without gradients, on each batch, with ``momentum = None`` so that each layer ends
    with the plain average of the batches' means and of their unbiased variances. Each
    layer's momentum and the model's mode (train or eval) are restored; the weights are not
    touched. A model without batch norm is left as it is.

    Args:
        model: the network, e.g. G_EMA; its running statistics change in place.
        batches: G's inputs, each a tensor z (B, latent_dim) with B >= 2, or a tuple of its
            arguments (z, labels); moved to the model's device. Fixed, seeded batches (of the
            training batch size) make the statistics, and so the samples, deterministic.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    batches = [batch if isinstance(batch, (tuple, list)) else (batch,) for batch in batches]
    if not batches:
        raise ValueError("recalibrate_batch_norm got no batch: pass a few batches of z (e.g. z.split(64))")
    device = norms[0].running_mean.device
    momenta, was_training = [m.momentum for m in norms], model.training
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches
        model.train()
        for batch in batches:
            model(*(x.to(device) for x in batch))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)


@torch.no_grad()
def sample(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None,
           batch_size: int = 500) -> torch.Tensor:
    """G(z), or G(z, labels) for a conditional G, with G in eval mode (batch norm uses its
    running statistics, not the batch's), in batches of ``batch_size``, without gradients; G's
    mode is restored afterwards.

    z: (N, latent_dim) on G's device; labels: None, or (N,) int64 class indices on G's device
    (passed to G as its second argument). Returns the images (N, C, H, W) in [-1, 1] on G's
    device (chapters 1 and 2: (N, 1, 28, 28)).
    """
    if labels is not None and len(labels) != len(z):
        raise ValueError(f"{len(z)} noise vectors but {len(labels)} labels: give one label per z")
    was_training = generator.training
    generator.eval()
    try:
        if labels is None:
            return torch.cat([generator(batch) for batch in z.split(batch_size)])
        return torch.cat([generator(zb, yb) for zb, yb in zip(z.split(batch_size), labels.split(batch_size))])
    finally:
        generator.train(was_training)


def d_scores(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean D(x) on real and mean D(G(z)) on fake images (probabilities in [0, 1]) from the
    logits of a D trained with BCE, named as the course's tables and plots name them."""
    return {"D(x)": torch.sigmoid(real_logits).mean(), "D(G(z))": torch.sigmoid(fake_logits).mean()}


def count_parameters(model: nn.Module) -> int:
    """The number of numbers a model learns: the sizes of all its parameter tensors, summed."""
    return sum(p.numel() for p in model.parameters())


class TrainingRun:
    """One training run: its checkpoint, history, snapshots and progress bar.

    Args:
        out_dir: the run's folder; the checkpoint is ``out_dir/checkpoint.pt``.
        config: the run's settings. ``epochs`` is required; ``batch_size`` gives the images per
            step of the throughput line; ``snapshot_every`` (default 1) the snapshot schedule. A
            checkpoint made with other settings (other than ``epochs``) is refused, whatever
            ``resume`` says: it is another run, neither resumed nor overwritten.
        resume: continue from an existing checkpoint of these settings (False: start afresh
            and overwrite it).
        interactive: a live progress bar (Jupyter) or a quiet text one (papermill, the book).
        snapshot: called without arguments at snapshot epochs; returns images (N, C, H, W) in
            [-1, 1], kept as uint8 in ``snapshots`` (epoch -> images) and in the checkpoint.
        steps_per_epoch: ``log`` calls per epoch, for the progress bar (default: ``len(loader)``).
        **objects: what a checkpoint must hold to resume exactly: models, optimizers and the
            loader (anything with ``state_dict``/``load_state_dict``) and ``torch.Generator``s.

    The checkpoint is written atomically after every epoch (and once before the first), so
    an interrupt (Ctrl-C, a crash, a closed laptop) loses at most the epoch under way: running
    the loop cell again restores the last checkpoint and continues, and on the CPU ends with
    exactly the weights an uninterrupted run would have had.
    """

    def __init__(self, out_dir: str | Path, config: Mapping[str, Any], *, resume: bool = True,
                 interactive: bool = True, snapshot: Callable[[], torch.Tensor] | None = None,
                 steps_per_epoch: int | None = None, **objects: Any):
        if "epochs" not in config:
            raise ValueError("config must hold 'epochs', the number of passes to train")
        if steps_per_epoch is None:
            if "loader" not in objects:
                raise ValueError("pass steps_per_epoch=..., or the data loader as loader=...")
            steps_per_epoch = len(objects["loader"])
        self.out_dir = Path(out_dir)
        self.checkpoint = self.out_dir / "checkpoint.pt"
        self.config = dict(config)
        self.resume = resume
        self.interactive = interactive
        self.snapshot_fn = snapshot
        self.steps_per_epoch = steps_per_epoch
        self.objects = objects
        self.history: list[dict] = []
        self.snapshots: dict[int, torch.Tensor] = {}
        self.epoch = 0  # the epoch under way (or the last one finished)
        self.step = 0  # log calls so far, over the whole run
        self._rows: list[dict[str, torch.Tensor | float]] = []  # this epoch's steps, as logged
        self._notes: dict = {}
        self._wrote_checkpoint = False  # later calls of epochs() resume from this run's own file

    # --- the two calls of the loop cell ---------------------------------------------------

    def epochs(self) -> Iterator[int]:
        """Yield the epochs still to train (1-based); bookkeeping runs after each one."""
        total = self.config["epochs"]
        start = self._start()
        if start >= total:
            print(f"nothing left to train: the checkpoint already holds all {total} epochs")
            return
        self.step = start * self.steps_per_epoch
        bar = progress(total * self.steps_per_epoch, "training", self.interactive, self.step)
        self._bar, run_start, first_step = bar, time.perf_counter(), self.step
        for epoch in range(start + 1, total + 1):
            self.epoch, self._rows, self._notes = epoch, [], {}
            epoch_start = time.perf_counter()
            try:
                yield epoch
            except GeneratorExit:  # the loop stopped early: an error, Ctrl-C or a break
                bar.close()
                print(f"stopped during epoch {epoch}: {self.checkpoint} holds {epoch - 1} "
                      "finished epochs; run the loop again to continue from there")
                raise
            if not self._rows:
                raise RuntimeError(f"epoch {epoch} logged no step: call run.log(...) once per step")
            self._end_epoch(epoch, time.perf_counter() - epoch_start)
        bar.close()
        seconds = time.perf_counter() - run_start
        steps = self.step - first_step
        per_step = self.config.get("batch_size")
        rate = f": {steps * per_step / seconds:,.0f} images/s" if per_step else ""
        print(f"trained {steps:,} steps ({total - start} epochs) in {seconds:.0f} s{rate}")

    def log(self, values: Mapping[str, float | torch.Tensor] | None = None, **more: float | torch.Tensor) -> None:
        """Record one step's numbers (0-d tensors or floats), with the same names every step.

        Tensors stay where they are: nothing is copied to the host here, so a GPU never waits
        for Python inside a step. The epoch's values are read once, at its end, where a NaN or
        infinite value stops the run (naming its first step) before the epoch is saved.
        """
        row = {name: v.detach() if isinstance(v, torch.Tensor) else float(v)
               for name, v in {**(values or {}), **more}.items()}
        if self._rows and row.keys() != self._rows[0].keys():
            raise ValueError(f"run.log got {list(row)} at step {self.step + 1}, but "
                             f"{list(self._rows[0])} before: log the same values every step")
        self._rows.append(row)
        self.step += 1
        self._bar.update()

    # --- optional calls ---------------------------------------------------------------------

    def due(self, every: int) -> bool:
        """True every ``every`` epochs and at the last epoch (for a metric computed now and then)."""
        return self.epoch % every == 0 or self.epoch == self.config["epochs"]

    @property
    def snapshot_due(self) -> bool:
        """True at the epochs that keep a snapshot (every ``snapshot_every``, the first and the
        last): the place for measures too costly to take every epoch."""
        every = self.config.get("snapshot_every", 1)
        return self.epoch % every == 0 or self.epoch in (1, self.config["epochs"])

    def note(self, values: Mapping[str, float] | None = None, **more: float) -> None:
        """Add numbers measured this epoch (a metric, say) to the epoch's row of the history."""
        self._notes.update({**(values or {}), **more})

    def table(self, rows: int | None = None, digits: int = 3) -> "pandas.DataFrame":
        """The history as a table indexed by epoch, rounded; ``rows``: at most that many,
        evenly spaced from the first epoch to the last."""
        import numpy as np
        import pandas as pd

        table = pd.DataFrame(self.history).set_index("epoch").round(digits)
        if rows is not None and len(table) > rows:
            table = table.iloc[np.unique(np.linspace(0, len(table) - 1, rows).round().astype(int))]
        return table

    @property
    def train_seconds(self) -> float:
        """Seconds spent in training epochs so far, summed over every session of the run."""
        return sum(row["seconds"] for row in self.history)

    # --- inside -----------------------------------------------------------------------------

    def _start(self) -> int:
        """Restore the checkpoint (resume) or save the initial state (a fresh start)."""
        state = None
        if self.checkpoint.exists():
            # to the CPU first: RNG states must be CPU byte tensors, and load_state_dict moves
            # weights and optimizer state to wherever the parameters are (a GPU, say)
            state = load_checkpoint(self.checkpoint, map_location="cpu")
            self._refuse_other_settings(state["config"])
        if state is not None and (self.resume or self._wrote_checkpoint):
            start, self.history, extra = restore_training_state(state, self.config, **self.objects)
            self.snapshots = extra.get("snapshots", {})
            print(f"resumed from {self.checkpoint} after epoch {start} of {self.config['epochs']}")
            return start
        self.history, self.snapshots = [], {}
        self._save(0)
        print(f"starting afresh; checkpoints go to {self.checkpoint}")
        return 0

    def _refuse_other_settings(self, saved: Mapping[str, Any]) -> None:
        """A checkpoint made with other settings (the number of epochs aside) is another run:
        neither resumed nor overwritten, whatever ``resume`` says."""
        differ = sorted(key for key in set(saved) | set(self.config) if key not in RESUMABLE_CHANGES
                        and saved.get(key) != self.config.get(key))
        if differ:
            details = ", ".join(f"{key}: {saved.get(key)!r} there, {self.config.get(key)!r} here" for key in differ)
            raise ValueError(
                f"{self.checkpoint} was made with other settings ({details}); it is kept as it "
                "is. Run the notebook from its parameters cell again (gh.prepare_run gives other "
                "settings a folder of their own), or pass another OUT_DIR.")

    def _read_rows(self) -> list[dict[str, float]]:
        """The epoch's logged values as plain floats: one copy to the host for the whole epoch."""
        tensors = [v.reshape(()).float() for row in self._rows for v in row.values() if isinstance(v, torch.Tensor)]
        values = iter(torch.stack(tensors).tolist() if tensors else [])
        return [{name: next(values) if isinstance(v, torch.Tensor) else v for name, v in row.items()}
                for row in self._rows]

    def _end_epoch(self, epoch: int, seconds: float) -> None:
        rows = self._read_rows()
        first_step = self.step - len(rows)
        for offset, row in enumerate(rows):  # the first non-finite value stops the run, unsaved
            check_finite(first_step + offset + 1, epoch, self.checkpoint, **row)
        means = {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}
        self.history.append({"epoch": epoch, **means, **self._notes, "seconds": seconds})
        shown = {k: f"{v:.3f}" for k, v in means.items() if k.startswith("loss")}
        self._bar.set_postfix(shown, refresh=False)
        if self.snapshot_fn is not None and self.snapshot_due:
            self.snapshots[epoch] = to_uint8(self.snapshot_fn()).cpu()
        self._save(epoch)

    def _save(self, epoch: int) -> None:
        state = training_state(epoch=epoch, config=self.config, history=self.history,
                               extra={"snapshots": self.snapshots}, **self.objects)
        save_checkpoint(self.checkpoint, state)
        self._wrote_checkpoint = True
