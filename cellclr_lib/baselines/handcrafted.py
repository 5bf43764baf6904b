"""Hand-engineered per-cell features in the spirit of CellProfiler (the classic BBBC021 baseline).

Ljosa et al. (2013) profiled BBBC021 with CellProfiler measurements of segmented nuclei and cells: shape,
intensity and texture. This module measures the same three families on each single-cell crop, so the learnt
representations can be compared with "what an image analyst would measure":

* **segmentation** — the nucleus is the Otsu-thresholded component of the nucleus channel (DAPI) at (or
  nearest to) the crop centre; the cell is grown from the nuclei by a watershed on the sum of the other
  channels (Tubulin + Actin) inside its Otsu foreground, so a touching neighbour is split off at the intensity
  valley between the two; cytoplasm = cell − nucleus. Any channel set works: the store names its channels
  and its nucleus channel, and intensity and texture are measured for each channel.
* **shape** (nucleus and cell) — ``regionprops`` area, perimeter, eccentricity, solidity, extent, major and
  minor axis lengths and the form factor :math:`4\\pi A / P^2` (1 for a disk, smaller for ragged outlines),
  plus the nucleus-to-cell area ratio.
* **neighbours** — as CellProfiler's *MeasureObjectNeighbors*: the number of other nuclei within
  :data:`NEIGHBOUR_DISTANCE` px of the nucleus and the percentage of the cell's outline that touches another
  cell (within :data:`TOUCHING_DISTANCE` px). Crowding is a phenotype of its own (cytotoxic compounds thin the
  colonies), and nothing else in a single-cell crop measures it.
* **intensity** (each channel in nucleus, cytoplasm and cell) — mean, standard deviation, 10/25/50/75/90 %
  quantiles, maximum (condensed mitotic chromatin) and the integrated intensity (sum), in units of the 8-bit
  crop scaled to [0, 1]; plus each channel's nucleus/cytoplasm ratio of means: where a stain sits (tubulin
  over the nucleus in mitosis, actin leaving the cytoplasm), whatever the plate's brightness.
* **texture** (each channel inside the cell, and the nucleus channel inside the nucleus: chromatin) —
  Haralick's grey-level co-occurrence statistics (contrast, homogeneity, energy, correlation) at distances 1
  and 3 px, averaged over four angles for rotation invariance. Grey levels are quantised to 32 absolute
  levels (not per-crop), so texture stays comparable across cells; pixels outside the mask are given level
  0, whose co-occurrences are discarded.

A crop whose nucleus cannot be found (empty or constant DAPI) gets all-zero features and is counted in the
feature set's ``info`` (``n_nucleus_failed``); a crop without detectable cytoplasm gets zero cytoplasm
features (``n_cytoplasm_empty``). The output is therefore always finite.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.feature import graycomatrix, graycoprops
from skimage.filters import threshold_otsu
from skimage.measure import regionprops
from skimage.segmentation import watershed

from cellclr_lib.baselines.keywords import resolved_options
from cellclr_lib.features import FeatureSet
from cellclr_lib.pool import WorkerPool
from cellclr_lib.progress import progress_bar

CHANNEL_NAMES = ("DAPI", "Tubulin", "Actin")
SHAPE_PROPS = (
    "area",
    "perimeter",
    "eccentricity",
    "solidity",
    "extent",
    "major_axis",
    "minor_axis",
    "form_factor",
)
COMPARTMENTS = ("nucleus", "cytoplasm", "cell")
QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)
INTENSITY_STATS = ("mean", "std", "q10", "q25", "median", "q75", "q90", "max", "integrated")
TEXTURE_PROPS = ("contrast", "homogeneity", "energy", "correlation")
TEXTURE_DISTANCES = (1, 3)
TEXTURE_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
TEXTURE_LEVELS = 32
SMOOTHING_SIGMA = 1.0
NEIGHBOUR_DISTANCE = 10  #: px; CellProfiler's ``Nuclei_Neighbors_NumberOfNeighbors_10``
TOUCHING_DISTANCE = 3  #: px; CellProfiler's ``Cells_Neighbors_PercentTouching_3``
NEIGHBOUR_FEATURES = ("nucleus_neighbours", "cell_percent_touching")


def feature_names(channels: Sequence[str] = CHANNEL_NAMES, nucleus: int = 0) -> list[str]:
    """Names of the columns :func:`handcrafted_features` returns for ``channels`` (``nucleus``: position of
    the nucleus channel), in order (all unique)."""
    names = [f"{obj}_{prop}" for obj in ("nucleus", "cell") for prop in SHAPE_PROPS]
    names.append("nucleus_cell_area_ratio")
    names += NEIGHBOUR_FEATURES
    names += [f"{comp}_{stat}_{ch}" for comp in COMPARTMENTS for stat in INTENSITY_STATS for ch in channels]
    names += [f"nucleus_cytoplasm_ratio_{ch}" for ch in channels]
    names += [
        f"cell_{prop}_d{d}_{ch}" for ch in channels for d in TEXTURE_DISTANCES for prop in TEXTURE_PROPS
    ]
    names += [f"nucleus_{prop}_d{d}_{channels[nucleus]}" for d in TEXTURE_DISTANCES for prop in TEXTURE_PROPS]
    return names


def segment_labels(
    crop: np.ndarray, smoothed: np.ndarray | None = None, nucleus_channel: int = 0
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Label images ``(nuclei, cells)`` of every cell of one ``(C, S, S)`` crop and the centre cell's label,
    or ``None`` without a nucleus (the neighbour features need the other cells too).

    ``smoothed`` is the crop Gaussian-smoothed per channel (computed for a whole chunk at once by the caller);
    ``nucleus_channel`` is the position of the nucleus channel. The cell signal is the sum of the other channels
    (the nucleus channel itself when it is the only one).
    """
    if smoothed is None:
        smoothed = ndi.gaussian_filter(crop.astype(np.float32), sigma=(0, SMOOTHING_SIGMA, SMOOTHING_SIGMA))
    dapi = smoothed[nucleus_channel]
    others = [smoothed[c] for c in range(len(smoothed)) if c != nucleus_channel] or [dapi]
    nuclei_fg = ndi.binary_fill_holes(dapi > threshold_otsu(dapi))
    nuclei, n_nuclei = ndi.label(nuclei_fg)
    if n_nuclei == 0:
        return None
    centre_label = _centre_label(nuclei)
    if centre_label == 0:
        return None

    cyto = others[0]
    for channel in others[1:]:  # in order, so three channels give BBBC021's Tubulin + Actin to the bit
        cyto = cyto + channel
    cell_fg = ndi.binary_fill_holes((cyto > threshold_otsu(cyto)) | nuclei_fg)
    return nuclei, watershed(-cyto, markers=nuclei, mask=cell_fg), centre_label


def _centre_label(labels: np.ndarray) -> int:
    """Label of the component under the crop centre, else of the foreground pixel nearest to it (within S/6)."""
    size = labels.shape[0]
    centre = size // 2
    if labels[centre, centre]:
        return int(labels[centre, centre])
    rows, cols = np.nonzero(labels)
    dist2 = (rows - centre) ** 2 + (cols - centre) ** 2
    nearest = int(np.argmin(dist2))
    return int(labels[rows[nearest], cols[nearest]]) if dist2[nearest] <= (size / 6) ** 2 else 0


def _shape(mask: np.ndarray) -> list[float]:
    props = regionprops(mask.astype(np.uint8))[0]
    perimeter = float(props.perimeter)
    form_factor = 4 * np.pi * props.area / perimeter**2 if perimeter > 0 else 0.0
    return [
        float(props.area),
        perimeter,
        float(props.eccentricity),
        float(props.solidity),
        float(props.extent),
        float(props.axis_major_length),
        float(props.axis_minor_length),
        float(form_factor),
    ]


def _neighbours(nuclei: np.ndarray, cells: np.ndarray, centre: int) -> list[float]:
    """Other nuclei within :data:`NEIGHBOUR_DISTANCE` px of the centre nucleus, and the percentage of the centre
    cell's outline pixels within :data:`TOUCHING_DISTANCE` px of another cell."""
    near = ndi.binary_dilation(nuclei == centre, iterations=NEIGHBOUR_DISTANCE)
    others = np.unique(nuclei[near])
    n_neighbours = int(np.count_nonzero((others != 0) & (others != centre)))
    cell = cells == centre
    outline = cell & ~ndi.binary_erosion(cell)
    other_cells = ndi.binary_dilation((cells != 0) & ~cell, iterations=TOUCHING_DISTANCE)
    touching = 100.0 * np.count_nonzero(outline & other_cells) / max(np.count_nonzero(outline), 1)
    return [float(n_neighbours), touching]


def _intensity(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(len(INTENSITY_STATS), C)`` statistics of every channel of ``image`` (C, S, S) inside ``mask``."""
    pixels = image[:, mask]  # (C, n)
    if pixels.shape[1] == 0:
        return np.zeros((len(INTENSITY_STATS), image.shape[0]))
    quantiles = np.quantile(pixels, QUANTILES, axis=1)
    return np.vstack(
        [pixels.mean(axis=1), pixels.std(axis=1), quantiles, pixels.max(axis=1), pixels.sum(axis=1)]
    )


def _texture(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(C, len(TEXTURE_DISTANCES), len(TEXTURE_PROPS))`` GLCM statistics inside ``mask``, angle-averaged."""
    shift = int(np.log2(256 // TEXTURE_LEVELS))
    levels = np.where(mask, (crop >> shift) + 1, 0).astype(np.uint8)  # 0 = outside the cell
    out = np.zeros((crop.shape[0], len(TEXTURE_DISTANCES), len(TEXTURE_PROPS)))
    for ch in range(crop.shape[0]):
        glcm = graycomatrix(
            levels[ch], TEXTURE_DISTANCES, TEXTURE_ANGLES, levels=TEXTURE_LEVELS + 1, symmetric=True
        )[1:, 1:]
        if glcm.sum() == 0:
            continue
        for k, prop in enumerate(TEXTURE_PROPS):
            with np.errstate(invalid="ignore", divide="ignore"):
                out[ch, :, k] = graycoprops(glcm, prop).mean(axis=1)
    return out


def _chunk_features(
    crops: np.ndarray, size: int | None = None, nucleus_channel: int = 0
) -> tuple[np.ndarray, int, int]:
    """Features of a chunk of crops plus the number of nucleus failures and of empty cytoplasms."""
    crops = np.ascontiguousarray(crops)
    if size is not None and size != crops.shape[-1]:
        zoom = size / crops.shape[-1]
        crops = ndi.zoom(crops, (1, 1, zoom, zoom), order=1, grid_mode=True, mode="nearest")
    smoothed = ndi.gaussian_filter(crops.astype(np.float32), sigma=(0, 0, SMOOTHING_SIGMA, SMOOTHING_SIGMA))
    scaled = crops.astype(np.float32) / 255.0
    n_features = len(feature_names(tuple(map(str, range(crops.shape[1]))), nucleus_channel))
    out = np.zeros((len(crops), n_features), dtype=np.float32)
    n_failed = n_empty = 0
    for i, crop in enumerate(crops):
        segmented = segment_labels(crop, smoothed[i], nucleus_channel)
        if segmented is None:
            n_failed += 1
            continue
        nuclei, cells, centre = segmented
        nucleus, cell = nuclei == centre, cells == centre
        cytoplasm = cell & ~nucleus
        n_empty += int(not cytoplasm.any())
        nuc_shape, cell_shape = _shape(nucleus), _shape(cell)
        intensity = [_intensity(scaled[i], m) for m in (nucleus, cytoplasm, cell)]
        with np.errstate(invalid="ignore", divide="ignore"):  # no cytoplasm: 0 (set below)
            ratio = intensity[0][0] / intensity[1][0]
        chromatin = _texture(crop[nucleus_channel : nucleus_channel + 1], nucleus)
        out[i] = np.concatenate(
            [
                nuc_shape,
                cell_shape,
                [nuc_shape[0] / cell_shape[0]],
                _neighbours(nuclei, cells, centre),
                *(block.ravel() for block in intensity),
                ratio,
                _texture(crop, cell).ravel(),
                chromatin.ravel(),
            ]
        )
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), n_failed, n_empty


def handcrafted_features(
    crops: np.ndarray,
    *,
    size: int | None = None,
    workers: int = 0,
    chunk_size: int = 256,
    progress: bool = True,
    channels: Sequence[str] = CHANNEL_NAMES,
    nucleus: int = 0,
) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """Measure every crop of ``crops`` (uint8, ``(N, C, S, S)``, one of ``channels`` each; a memmap is fine).

    ``nucleus`` is the position of the nucleus channel (BBBC021: DAPI, the first).

    Returns ``(features, names, stats)``: float32 ``(N, len(names))`` features, their column names and
    ``{"n_nucleus_failed", "n_cytoplasm_empty"}`` counts. ``size`` resizes crops to ``size`` x ``size`` first
    (bilinear; areas and lengths are then in resized pixels). ``workers`` > 1 measures chunks of
    ``chunk_size`` crops in that many processes, a few chunks in flight at a time so a memmapped store is
    never read into memory whole (0 or 1 = in this process, :mod:`cellclr_lib.pool`); the result does not
    depend on it.
    """
    if crops.ndim != 4 or crops.shape[1] != len(channels) or crops.dtype != np.uint8:
        raise ValueError(
            f"expected uint8 crops of shape (N, {len(channels)}, S, S) for channels {', '.join(channels)}, "
            f"got {crops.dtype} {crops.shape}"
        )
    names = feature_names(channels, nucleus)
    measure = partial(_chunk_features, size=size, nucleus_channel=nucleus)
    chunks = (crops[s : s + chunk_size] for s in range(0, len(crops), chunk_size))
    bar = progress_bar(total=len(crops), desc="handcrafted features", unit="cell", disable=not progress)
    parts, n_failed, n_empty = [], 0, 0
    with bar, WorkerPool(min(workers, os.cpu_count() or 1)) as pool:
        for features, failed, empty in pool.map(measure, chunks):
            parts.append(features)
            n_failed, n_empty = n_failed + failed, n_empty + empty
            bar.update(len(features))
    features = np.concatenate(parts) if parts else np.zeros((0, len(names)), dtype=np.float32)
    return features, names, {"n_nucleus_failed": n_failed, "n_cytoplasm_empty": n_empty}


def handcrafted_feature_set(crops: np.ndarray, cells: pd.DataFrame, **options: Any) -> FeatureSet:
    """:func:`handcrafted_features` as a :class:`FeatureSet` aligned with ``cells`` (names in ``info``).

    ``options`` are :func:`handcrafted_features`' keywords (``size``, ``workers``, ``channels``, …), declared
    there once.
    """
    options = resolved_options(handcrafted_features, options)
    options["channels"] = tuple(options["channels"])
    features, names, stats = handcrafted_features(crops, **options)
    info = {
        "method": "handcrafted",
        "feature_names": names,
        "crop_size": int(options["size"] or crops.shape[-1]),
        **stats,
    }
    return FeatureSet(features=features, cells=cells.reset_index(drop=True), info=info)
