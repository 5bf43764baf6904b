"""SimCLR training loop: CPU, one GPU, or several under ``torchrun`` (DDP).

One step: uint8 crops ``(B, C, S, S)`` → device → two augmented views (on the device,
:mod:`cellclr_lib.augment`) → ``z`` for both views in one forward pass → NT-Xent (:mod:`cellclr_lib.losses`,
negatives from every rank) → backward → optimiser step → learning-rate step.

Choices, and why:

* **Batch size is global.** ``batch_size`` is the number of cells whose views are contrasted together; under
  DDP each of the ``W`` ranks loads ``batch_size / W`` and the loss gathers the projections of all ranks, so
  one config gives the same loss on 1 or 8 GPUs.
* **Schedule per iteration.** Linear warm-up over ``warmup_epochs`` then cosine decay to
  ``min_lr_ratio · lr`` at the last step, stepped after every optimiser step:
  ``lr(t) = lr · t/T_w`` for ``t < T_w``, else ``lr · (r + (1 − r)(1 + cos(π (t − T_w)/(T − T_w)))/2)``.
  (The authors' code stepped a per-iteration cosine once per epoch — a quirk not copied.)
* **Optimisers.** Adam (the paper: lr 3e-4, weight decay 1e-5, batch 256) or AdamW. LARS is not offered: it
  matters for batches of thousands (SimCLR's 4096) that a 1-NN MoA benchmark of ~100 treatments never
  needs, and Adam is what the paper used.
* **Precision.** On CUDA: autocast to bf16 (fp16 with a ``GradScaler`` where bf16 is unsupported) and
  channels-last memory; on CPU: float32 (neither helped on CPU). The loss is always computed in float32.
* **Exact resume.** Checkpoints (:mod:`cellclr_lib.checkpoint`) are written at the end of every epoch
  (``last.pt``, plus ``epoch_XXXX.pt`` every ``checkpoint_every`` epochs) with every random state, so
  ``--resume`` continues bit for bit (tested on CPU: 2 + 2 epochs equal 4).
* **NaN guard.** A non-finite loss stops the run with a :class:`~cellclr_lib.errors.CellclrError` before
  anything is written, so the last checkpoint stays the last good state.

Run directory: ``config.json``, ``metrics.csv`` (one row per step: ``step, epoch, loss, accuracy, lr,
images_per_s, elapsed_s``), ``epoch_metrics.csv`` (NSC/NSCB of a fixed set of ``eval_cells`` cells after every
epoch, :mod:`cellclr_lib.epoch_eval`), ``checkpoints/``, and ``tensorboard/`` when TensorBoard is installed.

**Per-epoch NSC/NSCB on by default.** A reader of the loss curve asks whether the representation is getting
better at what the benchmark measures; 2,000 cells answer that in seconds per epoch on a CPU, so the
default evaluates them (``--eval-cells 0`` turns it off; stores without MoA labels are skipped).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cellclr_lib import __version__, epoch_eval, options
from cellclr_lib.augment import PRESETS
from cellclr_lib.checkpoint import LAST, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from cellclr_lib.data.store import CropStore
from cellclr_lib.distributed import DistInfo, all_reduce_mean, barrier, gather_objects, init_from_env
from cellclr_lib.epoch_eval import EvalSet, eval_set
from cellclr_lib.errors import CellclrError, DataError, require
from cellclr_lib.io import read_json, write_json_atomic, write_table_atomic
from cellclr_lib.losses import nt_xent
from cellclr_lib.models import ARCHS, build_model
from cellclr_lib.progress import progress_bar

METRICS = "metrics.csv"
CONFIG = "config.json"
CHECKPOINTS = "checkpoints"
METRIC_COLUMNS = ("step", "epoch", "loss", "accuracy", "lr", "images_per_s", "elapsed_s")
#: fields that may differ between a run and its resumption (they do not change the computation)
_RESUMABLE_CHANGES = {
    "epochs",
    "stop_after_epochs",
    "resume",
    "progress",
    "num_workers",
    "checkpoint_every",
    "eval_cells",
}
_PATH_SETTINGS = {"out", "store"}
#: the options with a fixed set of values: checked by :class:`TrainConfig`, offered as ``cellclr train`` choices.
CHOICES: dict[str, tuple[str, ...]] = {
    "arch": ARCHS,
    "optimizer": ("adam", "adamw"),
    "sampling": ("random", "plate"),
    "amp": ("auto", "bf16", "fp16", "off"),
    "augment": PRESETS,
}


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json`` in the run directory).

    Attributes:
        out: run directory (created).
        store: crop store path (ignored when a loader is passed to :func:`train`).
        arch: encoder (``resnet18``, ``resnet34``, ``resnet50``).
        pretrained: start from ImageNet weights (the paper does); random init with a warning when offline.
        small_input: 3×3 stride-1 stem without max-pool (16× the compute; see :mod:`cellclr_lib.models`).
        projection_dim: output of the projection head (None: 128 for resnet18/34, 256 for resnet50).
        augment: augmentation preset (``paper_early``, ``paper_final``, ``microscopy``).
        size: side of the views in pixels (None: the crop size).
        epochs, batch_size: passes over the data; global batch (all ranks together).
        optimizer: ``adam`` or ``adamw``; lr, weight_decay: its parameters.
        warmup_epochs: linear warm-up length (fractions allowed); min_lr_ratio: final lr / lr.
        temperature: NT-Xent τ.
        sampling: ``random`` or ``plate`` (every batch from one plate: batch-aware negatives).
        max_cells: train on a seeded random subset of this many cells (None: all) — for quick CPU runs.
        seed: seeds weights, sampling and augmentations.
        num_workers: DataLoader worker processes.
        device: ``cpu``, ``cuda``, ``cuda:1`` or None (CUDA if available).
        amp: ``auto`` (bf16/fp16 on CUDA, off on CPU), ``bf16``, ``fp16`` or ``off``.
        checkpoint_every: also keep ``epoch_XXXX.pt`` every this many epochs (0: only ``last.pt``).
        stop_after_epochs: stop this invocation after that many epochs (resume later with ``resume``),
            without changing the schedule — for time-limited sessions.
        resume: continue from ``checkpoints/last.pt`` if present.
        progress: show tqdm progress bars (rank 0).
        eval_cells: NSC/NSCB of this many cells after every epoch (0: none; see :mod:`cellclr_lib.epoch_eval`).
    """

    out: str = "runs/simclr"
    store: str | None = None
    arch: str = "resnet18"
    pretrained: bool = False
    small_input: bool = False
    projection_dim: int | None = None
    augment: str = "microscopy"
    size: int | None = None
    epochs: int = 100
    batch_size: int = 256
    optimizer: str = "adam"
    lr: float = 3e-4
    weight_decay: float = 1e-5
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.0
    temperature: float = 0.1
    sampling: str = "random"
    max_cells: int | None = None
    seed: int = 0
    num_workers: int = 0
    device: str | None = None
    amp: str = "auto"
    checkpoint_every: int = 10
    stop_after_epochs: int | None = None
    resume: bool = False
    progress: bool = True
    eval_cells: int = 2000

    def __post_init__(self) -> None:
        checks = [
            (
                getattr(self, name) in allowed,
                f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}",
            )
            for name, allowed in CHOICES.items()
        ]
        checks += [
            (self.epochs >= 1 and self.batch_size >= 2, "epochs must be ≥ 1 and batch_size ≥ 2"),
            (self.lr > 0 and self.temperature > 0, "lr and temperature must be positive"),
        ]
        require(checks, fix="see `cellclr train --help`")


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the base lr after ``step`` optimiser steps: linear warm-up, then cosine (module docstring)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def _make_augmenter(name: str, size: int) -> Any:
    """The one seam to :mod:`cellclr_lib.augment`: an object with ``two_views(batch, generator)``."""
    from cellclr_lib.augment import Augmenter

    return Augmenter(name, size=size)


def _set_epoch(loader: Iterable, epoch: int) -> None:
    """Tell a (distributed) sampler which epoch's order to use, as ``DistributedSampler`` expects."""
    for sampler in (getattr(loader, "batch_sampler", None), getattr(loader, "sampler", None)):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
            return


def _store_loader(config: TrainConfig, dist_info: DistInfo) -> tuple[Iterable, int, int]:
    """The store's loader, its crop size and its number of channels."""
    from cellclr_lib.data.loading import make_loader

    if config.store is None:
        raise CellclrError("no crop store given", fix="pass --store DIR (written by `cellclr prep`)")
    if config.batch_size % dist_info.world_size:
        raise CellclrError(
            f"batch_size {config.batch_size} is not divisible by the {dist_info.world_size} processes",
            fix="choose a batch size that is a multiple of --nproc_per_node",
        )
    store = CropStore.open(config.store)
    indices = None
    if config.max_cells is not None and config.max_cells < len(store):
        rng = np.random.default_rng(config.seed)
        indices = np.sort(rng.choice(len(store), size=config.max_cells, replace=False))
    loader = make_loader(
        store,
        config.batch_size // dist_info.world_size,
        sampling=config.sampling,
        seed=config.seed,
        num_workers=config.num_workers,
        rank=dist_info.rank,
        world_size=dist_info.world_size,
        pin_memory=dist_info.device.type == "cuda",
        indices=indices,
    )
    _check_steps(len(loader), config, len(store) if indices is None else len(indices))
    return loader, store.crop_size, int(store.crops.shape[1])


def _check_resumable(run_dir: Path, config: TrainConfig) -> None:
    saved = read_json(run_dir / CONFIG, fix=f"delete {run_dir} and train again, or choose another --out")
    diffs = [
        f"{k}: {saved.get(k)!r} → {v!r}"
        for k, v in dataclasses.asdict(config).items()
        if k not in _RESUMABLE_CHANGES and k in saved and not _same_setting(k, saved[k], v)
    ]
    if diffs:
        raise CellclrError(
            "cannot resume with different settings: " + "; ".join(diffs),
            path=run_dir / CONFIG,
            fix="resume with the run's own settings, or start a new run with another --out",
        )


def _same_setting(name: str, saved: Any, value: Any) -> bool:
    """Equal settings; paths compare by the folder they name (``runs/a`` written absolute is the same run)."""
    if name in _PATH_SETTINGS and saved is not None and value is not None:
        return Path(saved).resolve() == Path(value).resolve()
    return saved == value


def _check_steps(n_steps: int, config: TrainConfig, n_cells: int | None) -> None:
    """Refuse a run that would take no optimiser step (it would save random weights and report success)."""
    if n_steps > 0:
        return
    cells = f"{n_cells} cell(s)" if n_cells is not None else "the loader's cells"
    raise DataError(
        f"no training step possible: {cells} make no full batch of {config.batch_size} "
        "(incomplete batches are dropped)",
        path=config.store,
        fix=f"lower --batch-size below {n_cells or 'the number of cells'}, raise --max-cells, or prep more data",
    )


def _trim_metrics(path: Path, step: int) -> None:
    """Drop metric rows after ``step`` (written after the checkpoint we resume from)."""
    if path.is_file():
        table = pd.read_csv(path)
        write_table_atomic(path, table[table["step"] <= step])


@dataclass
class Run:
    """One training run between epochs: what :func:`train`'s steps build, restore, advance and save.

    ``epoch`` and ``step`` count what is done (the next epoch to run is ``epoch``); ``augmenter`` is built
    from the first batch when the crop size is not known in advance (a loader passed in).
    """

    config: TrainConfig
    dist: DistInfo
    run_dir: Path
    loader: Iterable
    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    model_config: dict[str, Any]
    augmenter: Any
    amp_dtype: torch.dtype | None
    epoch: int = 0
    step: int = 0
    started: float = 0.0
    tensorboard: Any = None
    eval_set: EvalSet | None = None

    @property
    def device(self) -> torch.device:
        return self.dist.device

    @property
    def last_checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINTS / LAST


def train(config: TrainConfig, store_or_loader: Iterable | str | Path | None = None) -> Path:
    """Train SimCLR and return the run directory (see the module docstring for what it holds).

    ``store_or_loader``: a crop store path, or any iterable of ``(uint8 crops (B, 3, S, S), index)``
    batches (a DataLoader; under DDP the caller shards it; three channels); None uses ``config.store``,
    whose crops may have any number of channels. The steps: :func:`build_run` (or resume it),
    :func:`run_epoch` and :func:`save_epoch` for each epoch.
    """
    run = build_run(config, store_or_loader)
    end_epoch = (
        config.epochs
        if config.stop_after_epochs is None
        else min(config.epochs, run.epoch + config.stop_after_epochs)
    )
    run.started = time.perf_counter()
    run.tensorboard = _tensorboard_writer(run.run_dir) if run.dist.is_main else None
    for epoch in range(run.epoch, end_epoch):
        rows = run_epoch(run, epoch)
        save_epoch(run, rows, _evaluate_epoch(run))
    if run.tensorboard is not None:
        run.tensorboard.close()
    barrier()  # no rank returns (and, say, resumes) before rank 0 has written the last checkpoint
    return run.run_dir


def build_run(config: TrainConfig, store_or_loader: Iterable | str | Path | None = None) -> Run:
    """Data, model, optimiser, schedule and random state of a run: fresh, or restored from its last checkpoint."""
    dist_info = init_from_env(config.device)
    run_dir = Path(config.out)
    if isinstance(store_or_loader, (str, Path)):
        config = dataclasses.replace(config, store=str(store_or_loader))
        store_or_loader = None
    if store_or_loader is None:
        loader, crop_size, in_channels = _store_loader(config, dist_info)
    else:
        loader, crop_size, in_channels = store_or_loader, None, 3
    resume_state = _resume_state(config, run_dir)
    random.seed(config.seed)
    np.random.seed(config.seed)  # noqa: NPY002 — seeds the global state that third-party code may use
    torch.manual_seed(config.seed)
    model = build_model(
        config.arch,
        pretrained=config.pretrained,
        small_input=config.small_input,
        projection_dim=config.projection_dim,
        in_channels=in_channels,
    ).to(dist_info.device)
    if dist_info.device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer, scheduler = _optimiser(model, config, loader)
    amp_dtype = _autocast_dtype(config.amp, dist_info.device)
    size = config.size or crop_size
    run = Run(
        config=config,
        dist=dist_info,
        run_dir=run_dir,
        loader=loader,
        model=model,
        net=_parallel(model, dist_info),
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        generator=torch.Generator().manual_seed(config.seed * 1000 + dist_info.rank),
        model_config={
            "arch": config.arch,
            "small_input": config.small_input,
            "in_channels": in_channels,
            "projection_dim": model.projection_dim,
            "dim": model.dim,
            "input_size": size,
        },
        augmenter=_make_augmenter(config.augment, size) if size else None,
        amp_dtype=amp_dtype,
    )
    if resume_state is not None:
        restore_run(run, resume_state)
    elif dist_info.is_main:
        _start_run_dir(run)
    if dist_info.is_main and config.store is not None and store_or_loader is None:
        run.eval_set = eval_set(CropStore.open(config.store), config.eval_cells, config.seed)
    return run


def _resume_state(config: TrainConfig, run_dir: Path) -> dict[str, Any] | None:
    """The last checkpoint's state when resuming; an error when a run is already there and not resumed."""
    if not (run_dir / CHECKPOINTS / LAST).is_file():
        return None
    if not config.resume:
        raise CellclrError(
            "this run directory already holds a trained run",
            path=run_dir,
            fix="pass --resume to continue it, or choose another --out",
        )
    _check_resumable(run_dir, config)
    return load_checkpoint(run_dir / CHECKPOINTS / LAST, map_location="cpu")


def _parallel(model: nn.Module, dist_info: DistInfo) -> nn.Module:
    """The module to train: the model itself, or its DDP wrapper (synchronised BN on GPUs) under torchrun."""
    if dist_info.world_size == 1:
        return model
    net = model
    if dist_info.device.type == "cuda":
        net = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # BN statistics over the global batch
    device_ids = [dist_info.device.index] if dist_info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=device_ids)


def _optimiser(
    model: nn.Module, config: TrainConfig, loader: Iterable
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Adam(W) and the per-step warm-up + cosine schedule over the whole run (module docstring)."""
    opt_class = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    optimizer = opt_class(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(loader)  # type: ignore[arg-type]
    _check_steps(steps_per_epoch, config, None)
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = max(1, round(config.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, warmup_steps, config.min_lr_ratio)
    )
    return optimizer, scheduler


def restore_run(run: Run, state: dict[str, Any]) -> None:
    """Weights, optimiser, schedule, scaler, random states and counters from a checkpoint's ``state``."""
    try:
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        raise DataError(
            f"the checkpoint does not fit this model ({str(err).splitlines()[0]})",
            path=run.last_checkpoint,
            fix="resume with the run's own --arch and options, or start a new run with another --out",
        ) from err
    run.scheduler.load_state_dict(state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    if len(state["rng"]) != run.dist.world_size:
        raise CellclrError(
            f"the run was trained with {len(state['rng'])} process(es), not {run.dist.world_size}",
            path=run.last_checkpoint,
            fix="resume with the same number of processes (torchrun --nproc_per_node)",
        )
    set_rng_state(state["rng"][run.dist.rank], run.generator)
    run.epoch, run.step = state["epoch"], state["step"]
    if run.dist.is_main:
        _trim_metrics(run.run_dir / METRICS, run.step)
        epoch_eval.trim(run.run_dir, run.epoch)


def _start_run_dir(run: Run) -> None:
    """A fresh run: no metric rows of an attempt that never reached a checkpoint, and its config.json."""
    (run.run_dir / METRICS).unlink(missing_ok=True)
    (run.run_dir / epoch_eval.EPOCH_METRICS).unlink(missing_ok=True)
    config = {
        **dataclasses.asdict(run.config),
        "world_size": run.dist.world_size,
        "library_version": __version__,
    }
    write_json_atomic(run.run_dir / CONFIG, config)


def run_epoch(run: Run, epoch: int) -> list[dict[str, float]]:
    """Train one epoch; returns its metric rows (one dict per optimiser step, keys :data:`METRIC_COLUMNS`)."""
    _set_epoch(run.loader, epoch)
    run.net.train()
    bar = progress_bar(
        run.loader,
        desc=f"epoch {epoch + 1}/{run.config.epochs}",
        unit="batch",
        disable=not (run.config.progress and run.dist.is_main),
        leave=False,
    )
    rows = []
    tick = time.perf_counter()  # a step's time includes waiting for its batch
    for crops, _ in bar:
        loss, accuracy, lr = _step(run, crops.to(run.device, non_blocking=True), epoch)
        seconds, tick = time.perf_counter() - tick, time.perf_counter()
        rows.append(
            {
                "step": run.step,
                "epoch": epoch + 1,
                "loss": loss,
                "accuracy": accuracy,
                "lr": lr,
                "images_per_s": len(crops) * run.dist.world_size / max(seconds, 1e-9),
                "elapsed_s": time.perf_counter() - run.started,
            }
        )
        bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.3f}")
    _check_steps(len(rows), run.config, None)  # a loader whose len() promised batches it did not yield
    run.epoch = epoch + 1
    return rows


def _step(run: Run, x: torch.Tensor, epoch: int) -> tuple[float, float, float]:
    """One optimiser step on the batch ``x``: returns the (all-rank mean) loss, accuracy and the lr used."""
    if run.augmenter is None:
        size = run.model_config["input_size"] = int(x.shape[-1])
        run.augmenter = _make_augmenter(run.config.augment, size)
    views = torch.cat(run.augmenter.two_views(x, run.generator))
    if run.device.type == "cuda":
        views = views.contiguous(memory_format=torch.channels_last)
    with torch.autocast(
        run.device.type, dtype=run.amp_dtype or torch.float32, enabled=run.amp_dtype is not None
    ):
        _, z = run.net(views)
    loss, accuracy = nt_xent(*z.chunk(2), temperature=run.config.temperature)
    logged = all_reduce_mean(torch.stack([loss.detach(), accuracy]))
    if not torch.isfinite(logged[0]):
        raise DataError(
            f"loss became {logged[0].item()} at step {run.step + 1} (epoch {epoch + 1}); training stopped",
            path=run.last_checkpoint,
            fix="the last good state is this checkpoint: lower --lr, use --amp off or bf16, and rerun "
            "from it with --resume",
        )
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    lr = run.optimizer.param_groups[0]["lr"]
    run.scheduler.step()
    run.step += 1
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    loss_value, accuracy_value = logged.tolist()
    return loss_value, accuracy_value, lr


def _evaluate_epoch(run: Run) -> dict[str, float] | None:
    """NSC/NSCB of the encoder on the run's evaluation set (rank 0, when it has one); training mode is
    restored by the next :func:`run_epoch`, and no random state is touched, so resumption stays exact."""
    if run.eval_set is None:
        return None
    start = time.perf_counter()
    scores = epoch_eval.evaluate_encoder(
        run.model.encoder, run.eval_set, run.model_config["input_size"], run.device
    )
    return {"epoch": run.epoch, "step": run.step, **scores, "seconds": time.perf_counter() - start}


def save_epoch(run: Run, rows: list[dict[str, float]], scores: dict[str, float] | None = None) -> None:
    """Append the epoch's metric rows (and NSC/NSCB ``scores``) and write ``last.pt`` (and
    ``epoch_XXXX.pt`` when due) on rank 0."""
    rngs = gather_objects(rng_state(run.generator))  # every rank's random states, for exact resumption
    if not run.dist.is_main:
        return
    _append_metrics(run.run_dir / METRICS, rows)
    if scores is not None:
        epoch_eval.append_row(run.run_dir, scores)
    if run.tensorboard is not None:
        for row in rows:
            for name in ("loss", "accuracy", "lr", "images_per_s"):
                run.tensorboard.add_scalar(f"train/{name}", row[name], row["step"])
        run.tensorboard.flush()
    state = {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(),
        "rng": rngs,
        "epoch": run.epoch,
        "step": run.step,
        "model_config": run.model_config,
        "config": dataclasses.asdict(run.config),
        "library_version": __version__,
    }
    checkpoints = run.run_dir / CHECKPOINTS
    save_checkpoint(checkpoints / LAST, state)
    if run.config.checkpoint_every and run.epoch % run.config.checkpoint_every == 0:
        save_checkpoint(checkpoints / f"epoch_{run.epoch:04d}.pt", state)


def _tensorboard_writer(run_dir: Path) -> Any:
    """A TensorBoard writer into ``RUN/tensorboard`` when the ``tensorboard`` package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # optional: metrics.csv holds the same numbers
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _append_metrics(path: Path, rows: list[dict[str, float]]) -> None:
    """Append one epoch's rows (header on creation). Rows after the last checkpoint are trimmed on resume."""
    new = not path.is_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def read_metrics(run_dir: str | Path) -> pd.DataFrame:
    """The run's ``metrics.csv`` as a table (one row per optimiser step)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise CellclrError(
            "no metrics.csv in this run directory", path=run_dir, fix="train first with `cellclr train`"
        )
    return pd.read_csv(path)


_HELP = {
    "out": "run directory (config.json, metrics.csv, checkpoints/)",
    "store": "crop store directory written by `cellclr prep`",
    "arch": "encoder architecture",
    "pretrained": "start from ImageNet weights (the paper does); random init with a warning if they cannot be loaded",
    "small_input": "3x3 stride-1 stem without max-pool for small crops (16x the compute; default off)",
    "projection_dim": "projection head output size (default: 128 for resnet18/34, 256 for resnet50)",
    "augment": "augmentation preset: paper_early, paper_final or microscopy",
    "size": "side of the augmented views in pixels (default: the store's crop size)",
    "epochs": "passes over the data (the cosine schedule ends after the last)",
    "batch_size": "global batch size: cells contrasted together, split over the DDP processes",
    "optimizer": "adam (the paper) or adamw",
    "lr": "peak learning rate (the paper: 3e-4)",
    "weight_decay": "weight decay (the paper: 1e-5)",
    "warmup_epochs": "linear warm-up length in epochs (fractions allowed)",
    "min_lr_ratio": "final learning rate as a fraction of --lr",
    "temperature": "NT-Xent temperature tau (the paper: 0.1)",
    "sampling": "random batches, or plate: every batch from one plate (batch-aware negatives)",
    "max_cells": "train on a seeded random subset of this many cells (default: all) - for quick CPU runs",
    "seed": "seed of weights, sampling and augmentations",
    "num_workers": "DataLoader worker processes",
    "device": "cpu, cuda or cuda:N (default: CUDA if available; under torchrun cuda:LOCAL_RANK)",
    "amp": "mixed precision on CUDA: auto (bf16, else fp16), bf16, fp16 or off; CPU always float32",
    "checkpoint_every": "also keep checkpoints/epoch_XXXX.pt every N epochs (0: only last.pt)",
    "stop_after_epochs": "stop this invocation after N epochs without changing the schedule; continue with --resume",
    "resume": "continue from OUT/checkpoints/last.pt exactly where it stopped",
    "progress": "show progress bars",
    "eval_cells": "NSC/NSCB of this many cells after every epoch, in epoch_metrics.csv (0: off)",
}


def _batch_size(text: str) -> int:
    value = options.positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError("must be ≥ 2: a contrastive batch needs negatives")
    return value


#: parse-time checks of the numeric options (a wrong value exits 2 before any work starts)
_TYPES = {
    "projection_dim": options.positive_int,
    "size": options.positive_int,
    "epochs": options.positive_int,
    "batch_size": _batch_size,
    "lr": options.positive_float,
    "weight_decay": options.nonnegative_float,
    "warmup_epochs": options.nonnegative_float,
    "min_lr_ratio": options.nonnegative_float,
    "temperature": options.positive_float,
    "max_cells": options.positive_int,
    "seed": options.nonnegative_int,
    "num_workers": options.nonnegative_int,
    "device": options.device,
    "checkpoint_every": options.nonnegative_int,
    "stop_after_epochs": options.positive_int,
    "eval_cells": options.nonnegative_int,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cellclr train``: one per :class:`TrainConfig` field."""
    parser.epilog = "Multi-GPU: torchrun --nproc_per_node N -m cellclr_lib.train --store STORE --out RUN ..."
    defaults = TrainConfig()
    choices = CHOICES
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        help_text = f"{_HELP[field.name]} (default: {default})"
        if field.type in ("bool", "bool | None"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
            continue
        kind = _TYPES.get(field.name) or {"int": int, "int | None": int, "float": float}.get(
            str(field.type), str
        )
        parser.add_argument(flag, type=kind, default=default, choices=choices.get(field.name), help=help_text)


def main(args: argparse.Namespace) -> int:
    """``cellclr train``: build the config from the options and train."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    run_dir = train(config)
    print(f"trained: {run_dir / CHECKPOINTS / LAST}")
    return 0


if __name__ == "__main__":  # torchrun --nproc_per_node N -m cellclr_lib.train ...
    import contextlib
    import os

    from cellclr_lib.lock import folder_lock

    _parser = argparse.ArgumentParser(prog="cellclr_lib.train", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    _args = _parser.parse_args()
    # rank 0 writes the run directory, so it alone holds its lock (as `cellclr train` does)
    with (
        folder_lock(_args.out, "torchrun cellclr_lib.train")
        if os.environ.get("RANK", "0") == "0"
        else contextlib.nullcontext()
    ):
        raise SystemExit(main(_args))
