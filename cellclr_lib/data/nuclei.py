"""Nucleus detection on the DAPI channel: smooth, Otsu threshold, split touching nuclei by watershed.

The classical recipe, all of it from scikit-image / SciPy:

1. **Gaussian smoothing** (σ = 2 px) suppresses shot noise and texture inside nuclei, so the threshold gives
   solid blobs rather than speckle.
2. **Otsu's threshold** picks the intensity ``t`` that maximises the between-class variance
   ``w_0(t) w_1(t) (μ_0(t) − μ_1(t))²`` of the histogram: DAPI images are strongly bimodal (dark background,
   bright nuclei), which is the case Otsu is made for. Holes inside nuclei are filled.
3. **Distance-transform watershed.** Touching nuclei form one blob. The Euclidean distance of each foreground
   pixel to the background peaks once per roughly convex nucleus; local maxima at least ``min_distance`` apart
   become markers, and a watershed on ``−distance`` restricted to the mask splits the blob along its necks.
   ``min_distance`` = 10 px, about half a BBBC021 nucleus radius: with 7 px, lobed nuclei (two distance
   peaks in one nucleus) were split in two often enough to put 5 % of the stand-in's crops off their
   nucleus; touching nuclei, whose centres lie a diameter apart, are still split.
4. **Size filter.** Objects smaller than ``min_area`` (debris, noise) or larger than ``max_area`` (clumps the
   watershed could not split, out-of-focus smears) are dropped.

Centroids are returned as ``(x, y)`` = (column, row), the convention of the crop store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_otsu
from skimage.measure import regionprops_table
from skimage.segmentation import relabel_sequential, watershed


@dataclass(frozen=True)
class DetectionParams:
    """Parameters of :func:`detect_nuclei` (recorded in the crop store's manifest)."""

    sigma: float = 2.0  #: Gaussian σ (px) before thresholding
    min_distance: int = 10  #: minimum distance (px) between two nucleus centres (watershed markers)
    min_area: int = 60  #: smallest nucleus kept (px²)
    max_area: int = 4000  #: largest nucleus kept (px²)


def foreground_mask(dapi: np.ndarray, sigma: float = DetectionParams.sigma) -> np.ndarray:
    """Nucleus pixels: Otsu threshold of the smoothed DAPI image, holes filled. All False for a flat image."""
    smooth = gaussian(np.asarray(dapi, dtype=np.float32), sigma=sigma, preserve_range=True)
    if smooth.max() <= smooth.min():
        return np.zeros(smooth.shape, dtype=bool)
    return ndimage.binary_fill_holes(smooth > threshold_otsu(smooth))


def split_touching(mask: np.ndarray, min_distance: int = DetectionParams.min_distance) -> np.ndarray:
    """Label a foreground mask, splitting touching nuclei by a watershed on the distance transform."""
    distance = ndimage.distance_transform_edt(mask)
    blobs, _ = ndimage.label(mask)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=blobs, exclude_border=False)
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    return watershed(-distance, markers, mask=mask)


def detect_nuclei(
    dapi: np.ndarray,
    *,
    sigma: float = DetectionParams.sigma,
    min_distance: int = DetectionParams.min_distance,
    min_area: int = DetectionParams.min_area,
    max_area: int = DetectionParams.max_area,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detect nuclei in a DAPI image (any numeric dtype, ideally illumination-corrected).

    Returns:
        labels: ``(H, W)`` int32 label image, 0 = background, nuclei numbered 1..n.
        centroids_xy: ``(n, 2)`` float64 centroids as (x = column, y = row).
        areas: ``(n,)`` int64 areas in pixels.
    """
    labels = split_touching(foreground_mask(dapi, sigma), min_distance)
    areas = np.bincount(labels.ravel())
    too_small_or_large = (areas < min_area) | (areas > max_area)
    too_small_or_large[0] = True
    labels[too_small_or_large[labels]] = 0
    labels = relabel_sequential(labels)[0].astype(np.int32)
    props = regionprops_table(labels, properties=("centroid", "area"))
    centroids_xy = np.column_stack([props["centroid-1"], props["centroid-0"]]).astype(np.float64)
    return labels, centroids_xy.reshape(-1, 2), np.asarray(props["area"], dtype=np.int64)
