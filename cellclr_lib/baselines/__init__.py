"""Baselines that produce per-cell features in the same format as SimCLR embeddings.

Every baseline turns the crops of a crop store into one feature vector per cell, written as a feature set
(:mod:`cellclr_lib.features`) row-aligned with the store's ``cells.parquet``, so ``cellclr evaluate`` treats
each exactly like the SimCLR embeddings:

===============  ===========================================================================================
``handcrafted``  CellProfiler-style shape, intensity and texture of the segmented nucleus and cell
                 (:mod:`~cellclr_lib.baselines.handcrafted`)
``random``       the SimCLR encoder with random weights (:mod:`~cellclr_lib.baselines.encoders`)
``imagenet``     the encoder with ImageNet weights, untrained on cells; skipped when the weights are
                 unavailable (:class:`~cellclr_lib.baselines.encoders.PretrainedWeightsUnavailable`)
``weakly``       the encoder trained to classify each crop's treatment — it sees the evaluation's labels
                 (:mod:`~cellclr_lib.baselines.weakly_supervised`)
``vae``          posterior means of a small convolutional VAE (:mod:`~cellclr_lib.baselines.vae`)
===============  ===========================================================================================

The library entry points are :func:`compute_baseline` (arrays in, :class:`FeatureSet` out) and
:func:`run_baseline` (store in, feature-set directory out, skipped when already complete with the same
options); ``cellclr baseline METHOD --store STORE --out DIR`` calls the latter.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellclr_lib import options
from cellclr_lib.features import INFO_FILE, FeatureSet, write_feature_set

#: method -> (module, function(crops, cells, **options) -> FeatureSet)
METHODS: dict[str, tuple[str, str]] = {
    "handcrafted": ("cellclr_lib.baselines.handcrafted", "handcrafted_feature_set"),
    "random": ("cellclr_lib.baselines.encoders", "random_feature_set"),
    "imagenet": ("cellclr_lib.baselines.encoders", "imagenet_feature_set"),
    "weakly": ("cellclr_lib.baselines.weakly_supervised", "weakly_feature_set"),
    "vae": ("cellclr_lib.baselines.vae", "vae_feature_set"),
}

#: CLI option -> methods that take it (as the keyword of the same name; ``crop_size`` becomes ``size``)
_OPTIONS: dict[str, tuple[str, ...]] = {
    "crop_size": tuple(METHODS),
    "workers": ("handcrafted",),
    "arch": ("random", "imagenet", "weakly"),
    "batch_size": ("random", "imagenet", "weakly", "vae"),
    "device": ("random", "imagenet", "weakly", "vae"),
    "seed": ("random", "weakly", "vae"),
    "epochs": ("weakly", "vae"),
    "lr": ("weakly", "vae"),
    "train_cells": ("weakly", "vae"),
    "beta": ("vae",),
    "latent_dim": ("vae",),
}


#: the method options of ``cellclr baseline``, in help order: (flag, type, help); all default to None, so a
#: method's own default applies where an option is not given (:data:`_OPTIONS` says which method takes which)
_METHOD_FLAGS: tuple[tuple[str, Any, str], ...] = (
    ("--crop-size", options.positive_int, "resize crops to this side first (default: the store's; vae: 64)"),
    ("--workers", options.nonnegative_int, "handcrafted: worker processes (default 0 or 1: this process)"),
    ("--arch", None, "random/imagenet/weakly: encoder architecture (default resnet18)"),
    ("--epochs", options.positive_int, "weakly/vae: training epochs (default 3 / 5)"),
    ("--batch-size", options.positive_int, "minibatch size for training and embedding"),
    ("--lr", options.positive_float, "weakly/vae: Adam learning rate (default 1e-3)"),
    (
        "--train-cells",
        options.positive_int,
        "weakly/vae: train on a random subset of this many cells (default: all)",
    ),
    ("--beta", options.nonnegative_float, "vae: weight β of the KL term (default 1)"),
    ("--latent-dim", options.positive_int, "vae: size of the latent code (default 64)"),
    ("--device", options.device, "torch device, e.g. cpu or cuda (default: cuda when available)"),
    ("--seed", options.nonnegative_int, "random seed of weights, batches and augmentation (default 0)"),
)


def compute_baseline(method: str, crops: np.ndarray, cells: pd.DataFrame, **options: Any) -> FeatureSet:
    """Per-cell features of ``method`` for uint8 crops ``(N, C, S, S)`` and their ``cells`` table.

    ``options`` are the keyword arguments of the method's function (see :data:`METHODS`), e.g.
    ``compute_baseline("vae", crops, cells, epochs=3, size=64)``. The ``imagenet`` method raises
    :class:`~cellclr_lib.baselines.encoders.PretrainedWeightsUnavailable` when its weights cannot be loaded.
    """
    if method not in METHODS:
        raise ValueError(f"unknown baseline {method!r}; choose one of {', '.join(METHODS)}")
    if len(crops) != len(cells):
        raise ValueError(f"{len(crops)} crops but {len(cells)} cells: they must be row-aligned")
    module_name, function_name = METHODS[method]
    function = getattr(importlib.import_module(module_name), function_name)
    return function(crops, cells, **options)


def run_baseline(
    method: str, store: str | Path, out_dir: str | Path, *, overwrite: bool = False, **options: Any
) -> Path:
    """Compute ``method`` on the crop store at ``store`` and write the feature set to ``out_dir``.

    A complete feature set already in ``out_dir`` from the same method, store size and ``options`` is kept
    (the step is resumable: rerunning skips finished baselines) unless ``overwrite``.
    """
    from cellclr_lib.data.store import CropStore

    crop_store = CropStore.open(store)
    out_dir = Path(out_dir)
    request = {"method": method, "store": str(Path(store).resolve()), "options": options}
    if not overwrite and _is_complete(out_dir, request, len(crop_store)):
        print(f"{out_dir}: {method} features already complete; pass --overwrite to recompute")
        return out_dir
    # the hand-engineered features name their channels and segment the nucleus on the store's own
    stains = (
        {"channels": crop_store.channels, "nucleus": crop_store.nucleus_index}
        if method == "handcrafted"
        else {}
    )
    feature_set = compute_baseline(method, crop_store.crops, crop_store.cells, **options, **stains)
    feature_set.info.update(request)
    write_feature_set(out_dir, feature_set)
    print(f"{out_dir}: wrote {method} features of {len(crop_store)} cells")
    return out_dir


def _is_complete(out_dir: Path, request: dict[str, Any], n_cells: int) -> bool:
    try:
        info = json.loads((out_dir / INFO_FILE).read_text())
    except (OSError, ValueError):
        return False
    same = {key: info.get(key) for key in request} == json.loads(json.dumps(request))
    return same and info.get("n_cells") == n_cells


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cellclr baseline``."""
    parser.add_argument("method", choices=list(METHODS), help="which baseline to compute")
    parser.add_argument(
        "--store", required=True, type=Path, help="crop store directory (from `cellclr prep`)"
    )
    parser.add_argument("--out", required=True, type=Path, help="output feature-set directory")
    for flag, kind, text in _METHOD_FLAGS:
        parser.add_argument(flag, type=kind, help=text)
    parser.add_argument("--overwrite", action="store_true", help="recompute even if OUT is already complete")


def main(args: argparse.Namespace) -> int:
    """Run ``cellclr baseline``; the ``imagenet`` baseline without weights is skipped with exit status 0."""
    from cellclr_lib.baselines.encoders import PretrainedWeightsUnavailable

    given = {name: getattr(args, name) for name in _OPTIONS if getattr(args, name) is not None}
    ignored = ["--" + name.replace("_", "-") for name in given if args.method not in _OPTIONS[name]]
    if ignored:
        print(f"cellclr baseline {args.method}: ignoring {', '.join(ignored)} (not used by this method)")
    options = {
        ("size" if name == "crop_size" else name): value
        for name, value in given.items()
        if args.method in _OPTIONS[name]
    }
    try:
        run_baseline(args.method, args.store, args.out, overwrite=args.overwrite, **options)
    except PretrainedWeightsUnavailable as err:
        print(f"cellclr baseline {args.method}: skipped, nothing written. {err}")
    return 0
