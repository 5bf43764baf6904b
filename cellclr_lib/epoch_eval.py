"""NSC / NSCB of the encoder while it trains: one cheap evaluation after every epoch.

The contrastive loss says how well the network solves its pretext task, not whether its representation
separates mechanisms of action; a reader of the training curve wants both. After each epoch the encoder (in
eval mode, no gradients) embeds a *fixed* evaluation set of cells, and the usual pipeline — well profiles
(mean), treatment profiles (median), 1-NN matching (:func:`cellclr_lib.evaluate.evaluate_profiles`) — gives
NSC and NSCB, written one row per epoch to ``epoch_metrics.csv`` beside ``metrics.csv``.

**Cheap by construction.** The set is at most ``eval_cells`` cells (2,000 by default), spread evenly over
every well of the store by a seeded sample, and read into memory once: embedding it is a forward pass over
2,000 small crops (seconds on a CPU, a fraction of a second on a GPU), and NSC on ~100 treatment profiles is
instantaneous. The same cells every epoch, so the curve shows the encoder changing, not the sample.

**What it is and is not.** SimCLR never sees labels, so these cells may also be training cells: like the
benchmark itself, the curve measures the representation of the data it was learned on. Fewer cells per well
than the final evaluation make it noisier (and usually a little lower); it is a trend to read, not the result
to report — ``cellclr embed`` + ``cellclr evaluate`` on the whole store gives that. Stores whose labels
cannot support NSC (fewer than two annotated compounds: a user's unlabelled plates) get no curve.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from cellclr_lib.data.store import CropStore
from cellclr_lib.errors import CellclrError
from cellclr_lib.io import write_table_atomic

EPOCH_METRICS = "epoch_metrics.csv"
EPOCH_COLUMNS = ("epoch", "step", "nsc", "nscb", "n_cells", "seconds")


@dataclass
class EvalSet:
    """The fixed cells evaluated every epoch: their uint8 crops (in memory) and metadata."""

    crops: np.ndarray
    cells: pd.DataFrame


def eval_set(store: CropStore, n_cells: int, seed: int = 0) -> EvalSet | None:
    """Up to ``n_cells`` cells spread evenly over the store's wells, or None when NSC cannot be computed."""
    from cellclr_lib.tables import canonicalize_columns, check_rows

    if n_cells <= 0:
        return None
    cells = canonicalize_columns(store.cells)
    try:
        check_rows(cells, store.path, needs_plate_dmso=False, drop_unannotated=True)
    except (CellclrError, KeyError):
        return None
    wells = cells.groupby(["plate", "well"], sort=True).indices
    per_well = max(1, n_cells // max(1, len(wells)))
    rng = np.random.default_rng(seed)
    rows = np.sort(np.concatenate([rng.permutation(rows)[:per_well] for rows in wells.values()]))
    return EvalSet(crops=np.asarray(store.crops[rows]), cells=cells.iloc[rows].reset_index(drop=True))


def evaluate_encoder(encoder: nn.Module, chosen: EvalSet, size: int | None, device: torch.device) -> dict:
    """NSC and NSCB of ``encoder`` on the evaluation set (the encoder is left in eval mode)."""
    from cellclr_lib.embed import embed_crops
    from cellclr_lib.evaluate import evaluate_profiles

    values = embed_crops(encoder, chosen.crops, 256, device, size=size, progress=False)
    result = evaluate_profiles(values, chosen.cells)
    return {"nsc": result.metrics["nsc"], "nscb": result.metrics["nscb"], "n_cells": len(chosen.cells)}


def append_row(run_dir: Path, row: dict) -> None:
    """Append one epoch's row to ``epoch_metrics.csv`` (header on creation)."""
    path = Path(run_dir) / EPOCH_METRICS
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=EPOCH_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def trim(run_dir: Path, epoch: int) -> None:
    """Drop rows after ``epoch`` (written after the checkpoint a resumed run starts from)."""
    path = Path(run_dir) / EPOCH_METRICS
    if path.is_file():
        table = pd.read_csv(path)
        write_table_atomic(path, table[table["epoch"] <= epoch])


def read_epoch_metrics(run_dir: str | Path) -> pd.DataFrame:
    """The run's per-epoch NSC/NSCB (empty when the run had no evaluation set)."""
    path = Path(run_dir) / EPOCH_METRICS
    return pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=EPOCH_COLUMNS)
