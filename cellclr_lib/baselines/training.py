"""The one small training loop shared by the trained baselines (weakly supervised classifier, VAE).

These are baselines, not the method under study: no checkpoints, no schedules, no distributed training —
Adam over shuffled minibatches for a few epochs, deterministic from a seed, on whatever device is given.
Crops stay uint8 (a memmapped store is fine) until a minibatch is moved to the device, where it becomes
float in [0, 1] and, optionally, is resized and augmented — the same conversion and resize as
:func:`cellclr_lib.embed.embed_crops`, which embeds the trained models afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from cellclr_lib.devices import resolve_device
from cellclr_lib.embed import embed_crops
from cellclr_lib.features import FeatureSet
from cellclr_lib.progress import progress_bar

#: ``loss_fn(model, inputs, indices) -> scalar loss``; ``indices`` are the minibatch's rows of the crops.
LossFn = Callable[[nn.Module, torch.Tensor, np.ndarray], torch.Tensor]


def resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Float images ``(B, C, S, S)`` resized to ``size`` x ``size`` (antialiased bilinear); ``None`` = as is."""
    if size is None or size == x.shape[-1]:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def to_input(crops: np.ndarray | torch.Tensor, device: torch.device, size: int | None = None) -> torch.Tensor:
    """uint8 ``(B, 3, S, S)`` → float ``(B, 3, size, size)`` in [0, 1] on ``device``."""
    if isinstance(crops, np.ndarray):
        crops = torch.from_numpy(np.array(crops))  # a writable copy: store memmaps are read-only
    x = crops.to(device, non_blocking=True).float().div_(255.0)
    return resize(x, size)


@dataclass(frozen=True)
class Schedule:
    """How the loop runs: epochs, minibatch size, Adam's learning rate, device, seed and input size.

    One object, because every trained baseline passes the same six settings through to :func:`fit`.
    """

    epochs: int = 5
    batch_size: int = 128
    lr: float = 1e-3
    device: str | torch.device | None = None
    seed: int = 0
    size: int | None = None


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    crops: np.ndarray,
    schedule: Schedule = Schedule(),
    *,
    indices: np.ndarray | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    desc: str = "training",
    progress: bool = True,
) -> list[float]:
    """Train ``model`` in place with Adam on minibatches of ``crops[indices]``; return the loss of every step.

    Each epoch visits the rows in a fresh random order (a smaller last batch included), so the result
    depends only on ``schedule.seed`` (and the device's arithmetic).
    """
    device, batch_size = resolve_device(schedule.device), schedule.batch_size
    torch.manual_seed(schedule.seed)
    rng = np.random.default_rng(schedule.seed)
    rows = np.arange(len(crops)) if indices is None else np.asarray(indices)
    if len(rows) == 0:
        raise ValueError("no crops to train on")
    model.to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=schedule.lr)
    steps = schedule.epochs * -(-len(rows) // batch_size)
    losses: list[float] = []
    with progress_bar(total=steps, desc=desc, unit="step", disable=not progress) as bar:
        for _ in range(schedule.epochs):
            order = rng.permutation(rows)
            for start in range(0, len(order), batch_size):
                batch = np.sort(order[start : start + batch_size])  # sorted reads are kinder to a memmap
                x = to_input(crops[batch], device, schedule.size)
                if augment is not None:
                    x = augment(x)
                loss = loss_fn(model, x, batch)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                losses.append(float(loss.detach()))
                bar.update()
                bar.set_postfix(loss=f"{losses[-1]:.4g}")
    model.eval()
    return losses


def training_rows(n: int, max_cells: int | None, seed: int = 0) -> np.ndarray:
    """All ``n`` rows, or a seeded random subset of ``max_cells`` of them (sorted) to train faster."""
    if max_cells is None or max_cells >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_cells, replace=False))


def embedded_feature_set(
    embedder: nn.Module,
    model: nn.Module,
    crops: np.ndarray,
    cells: pd.DataFrame,
    options: dict[str, Any],
    info: dict[str, Any],
) -> FeatureSet:
    """Every crop embedded by ``embedder`` (part of the trained ``model``) as a feature set with ``info``.

    The last step of each trained baseline: embed on the device the model was trained on, with the
    training's minibatch size, input size (``options["size"]``, resolved) and progress setting.
    """
    device = next(model.parameters()).device
    size, batch_size, progress = options["size"], options["batch_size"], options["progress"]
    features = embed_crops(embedder, crops, batch_size, device, size=size, progress=progress)
    return FeatureSet(features=features, cells=cells.reset_index(drop=True), info=info)
