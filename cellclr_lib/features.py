"""The on-disk format shared by every per-cell feature set (SimCLR embeddings and every baseline).

A feature set is a directory holding

* ``features.npy`` — ``(N, D)`` float16 or float32, row ``i`` describes cell ``i``;
* ``cells.parquet`` — ``N`` rows of cell metadata (at least ``plate, well, compound, concentration``;
  usually the crop store's table, so ``moa``, ``batch``, ``site``... come along);
* ``features.json`` — what produced it (``method``, parameters, library version).

One format means one evaluation path: ``cellclr evaluate DIR`` treats every method the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellclr_lib import __version__
from cellclr_lib.errors import CellclrError
from cellclr_lib.io import atomic_path, write_json_atomic, write_table_atomic

FEATURES_FILE = "features.npy"
CELLS_FILE = "cells.parquet"
INFO_FILE = "features.json"
REQUIRED_CELL_COLUMNS = ("plate", "well", "compound", "concentration")


@dataclass
class FeatureSet:
    """Per-cell features aligned row by row with their cell metadata."""

    features: np.ndarray
    cells: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or len(self.features) != len(self.cells):
            raise ValueError(
                f"features {self.features.shape} and cells ({len(self.cells)} rows) are not aligned"
            )


def write_feature_set(out_dir: str | Path, feature_set: FeatureSet) -> Path:
    """Write a feature set atomically file by file; ``features.json`` last, so its presence means complete."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / FEATURES_FILE) as tmp, open(tmp, "wb") as handle:
        np.save(handle, feature_set.features)
    write_table_atomic(out_dir / CELLS_FILE, feature_set.cells.reset_index(drop=True))
    info = {"library_version": __version__, "n_cells": len(feature_set.cells),
            "n_features": int(feature_set.features.shape[1]), **feature_set.info}  # fmt: skip
    write_json_atomic(out_dir / INFO_FILE, info)
    return out_dir


def read_feature_set(path: str | Path, mmap: bool = True) -> FeatureSet:
    """Read a feature set written by :func:`write_feature_set`, with a clear error when it is incomplete."""
    path = Path(path)
    info_file = path / INFO_FILE
    if not info_file.is_file():
        raise CellclrError(
            f"not a complete feature set (no {INFO_FILE})",
            path=path,
            fix="rerun the `cellclr embed` or `cellclr baseline` command that writes it",
        )
    try:
        features = np.load(path / FEATURES_FILE, mmap_mode="r" if mmap else None)
        cells = pd.read_parquet(path / CELLS_FILE)
    except (OSError, ValueError) as err:
        raise CellclrError(
            f"cannot read feature set ({err})", path=path, fix="rerun the command that wrote it"
        ) from err
    missing = [c for c in REQUIRED_CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise CellclrError(f"{CELLS_FILE} lacks column(s) {', '.join(missing)}", path=path / CELLS_FILE)
    return FeatureSet(features=features, cells=cells, info=json.loads(info_file.read_text()))
