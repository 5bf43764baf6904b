"""Illumination correction and 8-bit intensity scaling, both estimated per plate and channel.

**Illumination.** Widefield fluorescence is brighter in the middle of a field than at its edges (vignetting,
uneven lamp), identically for every field of a plate. We estimate that multiplicative shading ``P(r)`` per
plate and channel and divide it out, ``I'(r) = I(r) / P(r)``:

.. math::

    P = \\frac{G_\\sigma * \\bar B}{\\operatorname{mean}(G_\\sigma * \\bar B)}, \\qquad
    \\bar B = \\frac1K \\sum_{k=1}^{K} \\operatorname{block}_d(I_k)

where ``block_d`` averages ``d × d`` pixel blocks (default ``d = 8``: a 1280×1024 field becomes 160×128),
the mean runs over a deterministic subsample of ``K ≤ max_fields`` fields of the plate, and ``G_σ`` is a wide
Gaussian (``σ = 80`` px at full resolution). ``P`` is then upsampled bilinearly to the field's size and has
mean 1, so correction moves intensities around within a field but keeps their overall level.

*Why the mean and not the median image.* A running mean needs one low-resolution accumulator whatever the
number of fields (memory is bounded for any dataset), and, because cells sit at random positions, the mean of
many fields is the shading of the *signal* itself. A per-pixel median over fields tracks the background at each
pixel instead (most pixels of most fields are background for sparse nuclei), i.e. the camera offset rather
than the shading of stained cells, and needs the whole stack in memory. The mean's weakness — a bright
artefact in one field — is diluted by ``K`` and flattened by the heavy smoothing, which also removes any
trace of individual cells (σ = 80 px is several cell diameters). Block-averaging first costs nothing in
accuracy (``P`` varies over hundreds of pixels) and makes the smoothing ~64× cheaper.

**Scaling to uint8.** After correction each channel is mapped linearly to ``[0, 255]`` between its
``clip_low`` and ``clip_high`` percentiles (0.1 and 99.9 by default) over the plate:

.. math:: u = \\operatorname{round}\\left(255 \\cdot \\operatorname{clip}\\left(\\frac{I' - q_{0.1}}{q_{99.9} - q_{0.1}}, 0, 1\\right)\\right)

Percentiles rather than min/max, because a few hot pixels or debris would otherwise squeeze every cell into a
handful of grey levels; per *plate* rather than per field or per crop, so that a dim treated field stays dim
(intensity is phenotype) while plate-to-plate staining differences are removed. The percentiles are estimated
from a fixed random sample of pixel positions (``sample_pixels`` per field) of the same subsample of fields,
corrected by ``P`` — about a million values per plate, ample for a 99.9th percentile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.transform import resize


@dataclass(frozen=True)
class IlluminationParams:
    """How the illumination profile and the intensity scaling are estimated (recorded in the manifest)."""

    downsample: int = 8  #: block size ``d`` of the block average
    sigma: float = 80.0  #: Gaussian σ of the smoothing, in full-resolution pixels
    max_fields: int = 64  #: at most this many fields of a plate are averaged (a seeded subsample)
    clip_low: float = 0.1  #: lower percentile mapped to 0
    clip_high: float = 99.9  #: upper percentile mapped to 255
    sample_pixels: int = 16384  #: pixel positions per field used to estimate the percentiles


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor × factor`` blocks of the last two axes (rows/columns beyond a multiple are dropped).

    Dropping at most ``factor - 1`` edge rows and columns is harmless: the profile is upsampled to the full
    field afterwards and varies on a scale of hundreds of pixels.
    """
    h, w = image.shape[-2] // factor, image.shape[-1] // factor
    trimmed = np.asarray(image, dtype=np.float32)[..., : h * factor, : w * factor]
    blocks = trimmed.reshape(*image.shape[:-2], h, factor, w, factor)
    return blocks.mean(axis=(-3, -1), dtype=np.float64).astype(np.float32)


def smooth_profile(mean_low: np.ndarray, *, downsample: int = 8, sigma: float = 80.0) -> np.ndarray:
    """Smooth a block-averaged mean image (``(h, w)`` or ``(C, h, w)``) and normalise each channel to mean 1.

    Returns the low-resolution profile; :func:`upsample_profile` brings it to a field's size.
    """
    low = np.asarray(mean_low, dtype=np.float64)
    spatial_sigma = sigma / downsample
    smoothed = ndimage.gaussian_filter(low, sigma=(0,) * (low.ndim - 2) + (spatial_sigma, spatial_sigma))
    means = smoothed.mean(axis=(-2, -1), keepdims=True)
    if np.any(means <= 0):
        raise ValueError("the mean image is zero or negative: no signal to estimate illumination from")
    return (smoothed / means).astype(np.float32)


def upsample_profile(profile_low: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a low-resolution profile to ``shape`` = (rows, columns) of a field."""
    out_shape = (*profile_low.shape[:-2], *shape)
    return resize(profile_low, out_shape, order=1, mode="edge", anti_aliasing=False).astype(np.float32)


class RunningMean:
    """The running mean of block-averaged fields: memory of one low-resolution image whatever the count."""

    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.count = 0

    def add(self, low: np.ndarray) -> None:
        """Add one block-averaged field (all fields must have the same shape)."""
        low = np.asarray(low, dtype=np.float64)
        self.total = low.copy() if self.total is None else self.total + low
        self.count += 1

    @property
    def mean(self) -> np.ndarray:
        if self.total is None:
            raise ValueError("no field was added")
        return (self.total / self.count).astype(np.float32)


def low_profile(blocks: Iterable[np.ndarray], *, downsample: int = 8, sigma: float = 80.0) -> np.ndarray:
    """The low-resolution profile from block-averaged fields: their running mean, smoothed, mean 1."""
    running = RunningMean()
    for block in blocks:
        running.add(block)
    return smooth_profile(running.mean, downsample=downsample, sigma=sigma)


def illumination_profile(
    images: Iterable[np.ndarray], *, downsample: int = 8, sigma: float = 80.0
) -> np.ndarray:
    """The full-resolution illumination profile of a set of fields (``(H, W)`` or ``(C, H, W)`` each).

    This is the estimator ``cellclr prep`` applies per plate (see the module docstring; prep computes the
    block means in its workers and calls :func:`low_profile` on them); images are consumed one at a time,
    so a generator over files keeps memory at one field.
    """
    shapes: list[tuple[int, int]] = []

    def blocks() -> Iterable[np.ndarray]:
        for image in images:
            shapes.append(image.shape[-2:])
            yield block_mean(image, downsample)

    try:
        profile_low = low_profile(blocks(), downsample=downsample, sigma=sigma)
    except ValueError as err:
        if not shapes:
            raise ValueError("illumination_profile needs at least one image") from err
        raise
    return upsample_profile(profile_low, shapes[-1])


def profile_and_limits(
    blocks: Iterable[np.ndarray],
    samples: list[np.ndarray],
    shape: tuple[int, int],
    params: IlluminationParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A plate's low-resolution profile and 8-bit limits from its fields' block means and pixel samples.

    ``samples`` are each field's pixels at :func:`sample_positions` of ``shape``; they are corrected by the
    profile before the percentiles are taken, as the crops will be.
    """
    profile = low_profile(blocks, downsample=params.downsample, sigma=params.sigma)
    rows, cols = sample_positions(shape, params.sample_pixels)
    at_samples = upsample_profile(profile, shape)[:, rows, cols]
    corrected = np.concatenate([sample / at_samples for sample in samples], axis=1)
    lo, hi = intensity_limits(corrected, params.clip_low, params.clip_high)
    return profile, lo, hi


def correct(image: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Divide out the illumination profile: ``I / P`` as float32."""
    return np.asarray(image, dtype=np.float32) / profile


def sample_positions(shape: tuple[int, int], n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` seeded random pixel positions (rows, columns) of a field of ``shape``, shared by all fields."""
    rng = np.random.default_rng(seed)
    flat = rng.choice(shape[0] * shape[1], size=min(n, shape[0] * shape[1]), replace=False)
    rows, cols = np.unravel_index(np.sort(flat), shape)
    return rows, cols


def intensity_limits(
    samples: np.ndarray, low: float = 0.1, high: float = 99.9
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (``(C, n)`` samples) lower and upper percentiles; the upper is kept above the lower."""
    lo, hi = np.percentile(np.asarray(samples, dtype=np.float64), [low, high], axis=-1)
    hi = np.maximum(hi, lo + 1e-6)
    return lo.astype(np.float32), hi.astype(np.float32)


def to_uint8(image: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Linear map of a ``(C, H, W)`` corrected field to uint8, ``lo`` → 0 and ``hi`` → 255 per channel."""
    lo = np.asarray(lo, dtype=np.float32).reshape(-1, 1, 1)
    hi = np.asarray(hi, dtype=np.float32).reshape(-1, 1, 1)
    scaled = (np.asarray(image, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    return np.rint(np.clip(scaled, 0.0, 255.0, out=scaled)).astype(np.uint8)
