"""The on-disk format shared by every per-cell feature set (SimCLR embeddings and every baseline).

A feature set is a directory holding

* ``features.npy`` — ``(N, D)`` float16 or float32, row ``i`` describes cell ``i``;
* ``cells.parquet`` — ``N`` rows of cell metadata (at least ``plate, well, compound, concentration``;
  usually the crop store's table, so ``moa``, ``batch``, ``site``... come along);
* ``features.json`` — what produced it (``method``, parameters, library version).

One format means one evaluation path: ``cellclr evaluate DIR`` treats every method the same way.

``features.json`` is the commit marker: it is deleted before a set is rewritten and written last, so a set
killed mid-rewrite reads as incomplete, never as the old set's metadata over new features. A set is checked
on read as strictly as a CSV table is: numeric, finite, aligned with its cells, and as large as its
``features.json`` says — so a damaged set fails with a message instead of evaluating to a wrong number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellclr_lib import __version__
from cellclr_lib.errors import DataError
from cellclr_lib.io import atomic_path, read_json, write_json_atomic, write_table_atomic

FEATURES_FILE = "features.npy"
CELLS_FILE = "cells.parquet"
INFO_FILE = "features.json"
REQUIRED_CELL_COLUMNS = ("plate", "well", "compound", "concentration")
_REWRITE_FIX = "rerun the `cellclr embed` or `cellclr baseline` command that writes it"
#: rows checked for NaN/inf at a time (bounds memory on a memory-mapped set)
_CHECK_ROWS = 65536


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
    (out_dir / INFO_FILE).unlink(missing_ok=True)  # incomplete from here until the new marker is written
    with atomic_path(out_dir / FEATURES_FILE) as tmp, open(tmp, "wb") as handle:
        np.save(handle, feature_set.features)
    write_table_atomic(out_dir / CELLS_FILE, feature_set.cells.reset_index(drop=True))
    info = {
        "library_version": __version__,
        "n_cells": len(feature_set.cells),
        "n_features": int(feature_set.features.shape[1]),
        **feature_set.info,
    }
    write_json_atomic(out_dir / INFO_FILE, info)
    return out_dir


def read_feature_set(path: str | Path, mmap: bool = True) -> FeatureSet:
    """Read and validate a feature set written by :func:`write_feature_set` (see the module docstring)."""
    path = Path(path)
    info_file = path / INFO_FILE
    if not info_file.is_file():
        raise DataError(f"not a complete feature set (no {INFO_FILE})", path=path, fix=_REWRITE_FIX)
    info = read_json(info_file, fix=_REWRITE_FIX)
    try:
        features = np.load(path / FEATURES_FILE, mmap_mode="r" if mmap else None)
        cells = pd.read_parquet(path / CELLS_FILE)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read feature set ({err})", path=path, fix=_REWRITE_FIX) from err
    missing = [c for c in REQUIRED_CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise DataError(f"lacks column(s) {', '.join(missing)}", path=path / CELLS_FILE, fix=_REWRITE_FIX)
    _check_features(path / FEATURES_FILE, features, len(cells), info)
    return FeatureSet(features=features, cells=cells, info=info)


def _check_features(path: Path, features: np.ndarray, n_cells: int, info: dict[str, Any]) -> None:
    """Numeric, 2-D, aligned with the cells, the size ``features.json`` records, and finite."""
    if not np.issubdtype(features.dtype, np.number) or features.ndim != 2:
        raise DataError(
            f"expected a 2-D numeric array, got {features.dtype} {features.shape}",
            path=path,
            fix=_REWRITE_FIX,
        )
    expected = (info.get("n_cells", n_cells), info.get("n_features", features.shape[1]))
    if features.shape != (n_cells, expected[1]) or expected[0] != n_cells:
        raise DataError(
            f"shape {features.shape} does not match {n_cells} cell rows and {INFO_FILE}'s {expected}",
            path=path,
            fix=_REWRITE_FIX,
        )
    for start in range(0, len(features), _CHECK_ROWS):
        block = np.asarray(features[start : start + _CHECK_ROWS])
        bad = ~np.isfinite(block)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise DataError(
                f"{int(bad.sum())}+ non-finite value(s) (NaN or inf), first at row {start + row}, column {column}",
                path=path,
                fix=_REWRITE_FIX + " (a NaN loss or a failed measurement produced it)",
            )
