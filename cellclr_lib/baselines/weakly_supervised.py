"""Weakly supervised baseline: an encoder trained to tell the treatments apart, embedded without its head.

The Broad's reference baseline for BBBC021 (DeepProfiler; Caicedo et al.) trains a CNN to classify each single
cell's *treatment* — its compound and concentration — and profiles cells with the network's penultimate
features. The label is "weak": it names what was done to the well, not what the cell looks like, and many
cells of a treated well look untreated. We do the same with the encoder family used for SimCLR
(:func:`cellclr_lib.models.build_encoder`) plus one linear layer, trained with cross-entropy

.. math::  \\ell = -\\log \\operatorname{softmax}(W h(x) + b)_{y}, \\qquad y = \\text{treatment of } x,

under light augmentation (flips and 90° rotations only: they change nothing a phenotype depends on, unlike
crops or intensity jitter), and describe every crop by ``h(x)``.

**Caveat: this baseline has seen the evaluation's labels.** The treatment is exactly what treatment profiles
are built from, and compounds map one-to-one onto MoAs, so its NSC/NSCB are not comparable to those of an
unsupervised method on equal terms — it is the "how far can labels take us" reference, as in the literature.

DMSO is **included** as one more class (default): the untreated population is a third of the cells, and
learning "treated vs untreated" is what makes the features sensitive to a perturbation at all (DeepProfiler's
weak labels include the controls as well). DMSO crops are embedded either way; ``include_dmso=False``
only leaves them out of training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from cellclr_lib.baselines.keywords import resolved_options
from cellclr_lib.baselines.training import Schedule, embedded_feature_set, fit, training_rows
from cellclr_lib.data.metadata import control_mask
from cellclr_lib.features import FeatureSet


def treatment_labels(cells: pd.DataFrame, include_dmso: bool = True) -> tuple[np.ndarray, list[str]]:
    """Integer class of every cell's treatment ``compound@concentration`` and the class names.

    Cells left out of training (the controls with ``include_dmso=False``: the store's ``is_control``, set from
    its dataset description, else DMSO) get label -1.
    """
    names = cells["compound"].astype(str) + "@" + cells["concentration"].astype(float).map("{:g}".format)
    train = np.ones(len(cells), bool) if include_dmso else ~control_mask(cells)
    classes = sorted(set(names[train]))
    lookup = {name: i for i, name in enumerate(classes)}
    labels = np.where(train, names.map(lambda n: lookup.get(n, -1)).to_numpy(), -1)
    return labels.astype(np.int64), classes


class TreatmentClassifier(nn.Module):
    """``encoder`` (crops → ``(B, D)`` features) followed by a linear layer onto the treatment classes."""

    def __init__(self, encoder: nn.Module, n_classes: int, size: int, in_channels: int = 3) -> None:
        super().__init__()
        self.encoder = encoder
        was_training = encoder.training
        with torch.no_grad():
            dim = encoder.eval()(torch.zeros(2, in_channels, size, size)).shape[1]
        encoder.train(was_training)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, n_classes)``."""
        return self.head(self.encoder(x))


def light_augmenter(size: int, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Random flips and 90° rotations from :mod:`cellclr_lib.augment`, seeded; ``x -> augmented x``."""
    from cellclr_lib.augment import AugmentConfig, Augmenter

    # the defaults flip horizontally half the time and add no noise; crops, jitter and blur are switched off
    config = AugmentConfig(size=size, crop_scale=None, vflip_p=0.5, rot90=True, jitter_p=0.0, blur_p=0.0)
    augmenter, generator = Augmenter(config), torch.Generator().manual_seed(seed)
    return lambda x: augmenter(x, generator)


def train_weakly(
    crops: np.ndarray,
    labels: np.ndarray,
    *,
    encoder: nn.Module | None = None,
    arch: str = "resnet18",
    size: int | None = None,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 1e-3,
    device: str | None = None,
    seed: int = 0,
    train_cells: int | None = None,
    augment: bool = True,
    progress: bool = True,
) -> tuple[TreatmentClassifier, list[float]]:
    """Train ``encoder`` + linear head to predict ``labels`` (ints; -1 = not trained on) from uint8 crops.

    ``encoder`` defaults to ``build_encoder(arch, pretrained=False)`` — random initialisation with the same
    stem as SimCLR, so the baseline learns from the labels alone. ``train_cells`` trains on a seeded subset.
    Returns the classifier (eval mode) and the loss of every step.
    """
    size = size or int(crops.shape[-1])
    torch.manual_seed(seed)
    if encoder is None:
        from cellclr_lib.models import build_encoder

        encoder, _ = build_encoder(arch, pretrained=False, in_channels=int(crops.shape[1]))
    labelled = np.flatnonzero(labels >= 0)
    rows = labelled[training_rows(len(labelled), train_cells, seed)]
    model = TreatmentClassifier(encoder, int(labels.max()) + 1, size, int(crops.shape[1]))
    targets = torch.as_tensor(labels)

    def loss_fn(m: nn.Module, x: torch.Tensor, batch: np.ndarray) -> torch.Tensor:
        return F.cross_entropy(m(x), targets[batch].to(x.device))

    schedule = Schedule(epochs=epochs, batch_size=batch_size, lr=lr, device=device, seed=seed, size=size)
    flips = light_augmenter(size, seed) if augment else None
    losses = fit(
        model,
        loss_fn,
        crops,
        schedule,
        indices=rows,
        augment=flips,
        desc="weakly supervised",
        progress=progress,
    )
    return model, losses


def weakly_feature_set(
    crops: np.ndarray, cells: pd.DataFrame, *, include_dmso: bool = True, **options: Any
) -> FeatureSet:
    """Train the treatment classifier (:func:`train_weakly`) and embed every crop with its encoder.

    ``options`` are :func:`train_weakly`'s keywords (``encoder``, ``arch``, ``size``, ``epochs``, …), declared
    there once; ``encoder`` replaces the default ``build_encoder(arch)`` (any module mapping crops to
    ``(B, D)``).
    """
    options = resolved_options(train_weakly, options)
    options["size"] = options["size"] or int(crops.shape[-1])
    labels, classes = treatment_labels(cells, include_dmso)
    model, losses = train_weakly(crops, labels, **options)
    # what the classifier was trained with, recorded as it ran (features.json says what ran)
    training = {name: options[name] for name in ("arch", "epochs", "batch_size", "lr", "seed", "train_cells")}
    info = {
        "method": "weakly",
        "parameters": {**training, "crop_size": options["size"], "include_dmso": include_dmso},
        "n_classes": len(classes),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "sees_evaluation_labels": True,
    }
    return embedded_feature_set(model.encoder, model, crops, cells, options, info)
