"""Profiles: per-cell features aggregated to wells, then to treatments, as the BBBC021 benchmark expects.

The paper's code averages the cell embeddings of each (plate, well), optionally post-processes the well
profiles (fitted on DMSO wells, see :mod:`cellclr_lib.normalize`), and takes the **median** over the wells of
each treatment (compound, concentration). Other choices move results by a few points, so they are options:
an image level in between (cell → image → well) and mean or median at every step.

Rules of the benchmark applied here, once, for every method:

* DMSO wells (or the rows' own ``is_control``) are kept as **controls**: the normalisation reference, never a
  treatment;
* on BBBC021's plates, the taxol 0.3 positive-control wells (:func:`cellclr_lib.data.metadata.is_taxol_control`)
  are dropped, otherwise they would join the benchmark's three Week1 taxol wells and change that profile.
  Other plates keep every row: a crop store of a user's plates comes without its description's excluded wells
  already (``cellclr prep`` leaves them out), and BBBC021's wells mean nothing there;
* the batch of a well is the rows' ``batch`` (a crop store's, set by its description) where present, else
  the week (:func:`cellclr_lib.data.metadata.batch_of`); a treatment's ``batches`` is the sorted union of its
  wells' batches, joined by ``","``.

Aggregation is vectorised: a mean is one sparse indicator-matrix product streamed over row chunks (a
memory-mapped float16 array of 1 M cells × 2048 is never copied whole), a median loops over groups, not cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellclr_lib.data.metadata import (
    batch_of,
    bbbc021_plates,
    control_mask,
    is_taxol_control,
    normalize_concentration,
)

Reduce = Literal["mean", "median"]
WELL_KEYS = ["plate", "well"]
TREATMENT_KEYS = ["compound", "concentration"]
#: rows per chunk when streaming a (memory-mapped) feature matrix through a mean.
CHUNK_ROWS = 8192


@dataclass
class Profiles:
    """Profiles (one row each) and their metadata, aligned row by row.

    ``meta`` always holds ``compound, concentration, moa, is_control`` and, at well level, ``plate, batch,
    well``; at treatment level ``batches`` (comma-joined weeks) and ``n_wells``. ``n_cells`` counts the
    cells (or input rows) behind each profile.
    """

    meta: pd.DataFrame
    values: np.ndarray

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or len(self.values) != len(self.meta):
            raise ValueError(f"values {self.values.shape} and meta ({len(self.meta)} rows) are not aligned")

    def __len__(self) -> int:
        return len(self.meta)

    def subset(self, mask: np.ndarray | pd.Series) -> Profiles:
        """The profiles where ``mask`` is True."""
        mask = np.asarray(mask, dtype=bool)
        return Profiles(self.meta[mask].reset_index(drop=True), self.values[mask])


def group_codes(keys: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer group code of each row and the unique key rows in sorted order (code ``g`` = row ``g``)."""
    codes, uniques = pd.MultiIndex.from_frame(keys).factorize(sort=True)
    return codes.astype(np.int64), uniques.to_frame(index=False, name=list(keys.columns))


def reduce_groups(values: np.ndarray, codes: np.ndarray, n_groups: int, how: Reduce = "mean") -> np.ndarray:
    """Mean or median of the rows of ``values`` sharing a code, as float32 ``(n_groups, D)``.

    The mean is ``diag(1/n) · G · X`` with ``G`` the sparse ``(n_groups, N)`` indicator matrix, accumulated in
    float64 over row chunks so float16 inputs keep their precision and memory stays bounded. The median sorts
    the row indices once and takes ``np.median`` over each group's block.
    """
    codes = np.asarray(codes, dtype=np.int64)
    counts = np.bincount(codes, minlength=n_groups)
    if how == "mean":
        total = np.zeros((n_groups, values.shape[1]), dtype=np.float64)
        for start in range(0, len(codes), CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, len(codes))
            chunk_codes = codes[start:stop]
            indicator = sp.csr_matrix(
                (np.ones(stop - start), (chunk_codes, np.arange(stop - start))),
                shape=(n_groups, stop - start),
            )
            total += indicator @ np.asarray(values[start:stop], dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (total / counts[:, None]).astype(np.float32)
    if how == "median":
        order = np.argsort(codes, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts)])
        out = np.full((n_groups, values.shape[1]), np.nan, dtype=np.float32)
        for group in np.flatnonzero(counts):
            rows = np.sort(order[bounds[group] : bounds[group + 1]])
            out[group] = np.median(np.asarray(values[rows], dtype=np.float32), axis=0)
        return out
    raise ValueError(f"unknown aggregation {how!r}; use 'mean' or 'median'")


def prepare_metadata(meta: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Benchmark rows of a per-cell/image/well metadata table and the boolean mask that selects them.

    Keeps rows with an MoA (controls included, flagged ``is_control`` by
    :func:`~cellclr_lib.data.metadata.control_mask`: a store's own control name), drops the taxol control
    wells of BBBC021's plates, normalises concentrations and sets ``batch``: the rows' own (a store's, from
    its description) where present, else the week. ``meta`` must hold ``plate, well, compound,
    concentration, moa``. A table with no MoA at all is a user's unlabelled plates: every row is kept (only
    activity mAP, which needs no labels, can judge it).
    """
    meta = meta.copy()
    meta["concentration"] = normalize_concentration(meta["concentration"])
    meta["plate"] = meta["plate"].astype(str)
    labelled = meta["moa"].notna() & (meta["moa"].astype(str) != "")
    if not labelled.any():
        labelled = pd.Series(True, index=meta.index)
    taxol_controls = is_taxol_control(meta) & meta["plate"].isin(bbbc021_plates())
    keep = (labelled & ~taxol_controls).to_numpy()
    meta = meta[keep].reset_index(drop=True)
    meta["well"] = meta["well"].astype(str)
    weeks = meta["plate"].map(batch_of)
    meta["batch"] = (
        meta["batch"].where(meta["batch"].notna(), weeks).astype(str) if "batch" in meta else weeks
    )
    meta["is_control"] = control_mask(meta)
    return meta, keep


def _aggregate(values: np.ndarray, meta: pd.DataFrame, keys: Sequence[str], how: Reduce) -> Profiles:
    """Aggregate rows sharing ``keys``; other metadata columns are taken from each group's first row."""
    codes, uniques = group_codes(meta[list(keys)])
    carried = [
        c
        for c in ("plate", "batch", "well", "compound", "concentration", "moa", "is_control")
        if c in meta.columns and c not in keys
    ]
    first = meta[carried].groupby(codes, sort=True).first().reset_index(drop=True)
    out_meta = pd.concat([uniques, first], axis=1)
    weights = meta["n_cells"].to_numpy() if "n_cells" in meta else np.ones(len(meta), dtype=np.int64)
    out_meta["n_cells"] = np.bincount(codes, weights=weights, minlength=len(uniques)).astype(np.int64)
    return Profiles(out_meta, reduce_groups(values, codes, len(uniques), how))


def well_profiles(
    values: np.ndarray,
    meta: pd.DataFrame,
    *,
    input_level: Literal["cell", "image", "well"] = "cell",
    via_image: bool = False,
    cell_aggregate: Reduce = "mean",
    image_aggregate: Reduce = "mean",
) -> Profiles:
    """Well profiles from cell-, image- or well-level rows (benchmark rows only; taxol controls dropped).

    ``input_level="cell"``: cells → well with ``cell_aggregate`` (the paper: mean), or with ``via_image`` cells
    → image (``cell_aggregate``) → well (``image_aggregate``). ``"image"``: images → well with
    ``image_aggregate``. ``"well"``: rows are already wells (duplicates are averaged). Images are identified by
    ``image_number`` when present, else by ``(plate, well, site)``.
    """
    meta, keep = prepare_metadata(meta)
    if not keep.all():
        values = values[np.flatnonzero(keep)]
    if input_level == "well":
        return _aggregate(values, meta, WELL_KEYS, "mean")
    if input_level == "image" or via_image:
        image_key = "image_number" if "image_number" in meta.columns else "site"
        if image_key not in meta.columns:
            raise ValueError("image-level aggregation needs an image_number or a site column")
        if input_level == "cell":
            images = _aggregate(values, meta, [*WELL_KEYS, image_key], cell_aggregate)
            return _aggregate(images.values, images.meta, WELL_KEYS, image_aggregate)
        return _aggregate(values, meta, WELL_KEYS, image_aggregate)
    return _aggregate(values, meta, WELL_KEYS, cell_aggregate)


def treatment_profiles(wells: Profiles, how: Reduce = "median") -> Profiles:
    """Treatment profiles: ``how`` (the paper: median) over the wells of each (compound, concentration).

    DMSO wells are controls and yield no treatment. ``batches`` is the sorted, comma-joined set of the weeks
    of the treatment's wells; ``n_wells`` their number.
    """
    treated = wells.subset(~wells.meta["is_control"].to_numpy(dtype=bool))
    codes, uniques = group_codes(treated.meta[TREATMENT_KEYS])
    grouped = treated.meta.groupby(codes, sort=True)
    meta = uniques.assign(
        moa=grouped["moa"].first().to_numpy(),
        is_control=False,
        batches=grouped["batch"].agg(lambda b: ",".join(sorted(set(b)))).to_numpy(),
        n_wells=grouped.size().to_numpy(),
        n_cells=grouped["n_cells"].sum().to_numpy(),
    )
    return Profiles(meta, reduce_groups(treated.values, codes, len(uniques), how))
