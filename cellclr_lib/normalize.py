"""Post-processing of well profiles, every transform fitted on the DMSO (control) wells only.

DMSO wells are the one population present on every plate and in every batch with the same biology, so any
difference between them is technical; fitting on them (and never on treated wells) keeps the evaluation honest:
changing a treated well cannot change the transform.

Methods (``x`` a well profile, row vector of dimension ``D``):

``none``
    the profiles unchanged.
``dmso-zscore``
    per plate ``p`` and feature ``j``: ``x'_j = (x_j − μ_pj) / σ_pj`` with ``μ_p``, ``σ_p`` the mean and the
    standard deviation (``ddof=1``) of plate ``p``'s DMSO wells; a feature with ``σ_pj = 0`` becomes 0.
``whiten``
    ``x' = (x − μ) W`` with ``μ`` the mean of all DMSO wells, ``C = V diag(s) Vᵀ`` their covariance
    (``ddof=0``, as in the paper's code) and ``W = V diag(1/√(s + λ)) Vᵀ`` (ZCA: whitened, then rotated back
    so features keep their meaning). ``λ`` (default 1, the paper's value) regularises directions the few
    DMSO wells cannot estimate (``D`` = 2048 ≫ 330 wells: most eigenvalues are 0). Its effect is relative to
    the feature scale: directions with variance ``s ≫ λ`` are whitened to unit variance, those with ``s ≪ λ``
    are merely scaled by ``1/√λ``. λ = 1 suits features of order-1 variance (ResNet embeddings); for
    features on another scale pick ``λ`` near the typical DMSO eigenvalue you want to keep (or z-score
    first). Computed from the thin SVD of the centred DMSO rows (``C`` has rank ≤ number of DMSO wells),
    never as a ``D × D`` matrix.
``tvn``
    typical variation normalisation (Ando et al. 2017): ``whiten``, then per batch ``b`` a CORAL alignment of
    the batch's DMSO covariance onto the global one, ``x'' = x' C_b^{-1/2} C_g^{1/2}`` with ``C_b``, ``C_g``
    the (``ddof=0``) covariances of the whitened DMSO wells of batch ``b`` and of all batches, each plus
    ``λ_c I`` (default 1: after whitening, well-estimated directions have unit variance, so ``λ_c`` = 1 is
    the same order and keeps the ~35-well batch covariances invertible). Then ``C_b^{-1/2} C_b C_b^{-1/2} = I``
    and the batch's DMSO covariance becomes ``C_g`` (exactly when ``λ_c → 0`` and ``C_b`` has full rank).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from cellclr_lib.profiles import Profiles

Method = Literal["none", "dmso-zscore", "whiten", "tvn"]
METHODS: tuple[str, ...] = ("none", "dmso-zscore", "whiten", "tvn")
DEFAULT_LAMBDA = 1.0


def _controls(meta: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the DMSO (control) rows, with an error when there are none."""
    mask = meta["is_control"].to_numpy(dtype=bool)
    if not mask.any():
        raise ValueError("no DMSO (control) wells: every normalisation is fitted on them; use 'none'")
    return mask


def _spectrum(reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-trivial eigenpairs of the population covariance (ddof=0) of ``reference``'s rows.

    From the thin SVD of the centred ``(n, D)`` rows, ``C = Vᵀ diag(s) V`` with ``s`` the squared singular
    values over ``n`` and ``V`` at most ``n`` orthonormal rows: with a few hundred DMSO wells and ``D`` = 2048
    this is far cheaper than an eigendecomposition of the ``D × D`` matrix, and exact.
    """
    centred = reference - reference.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    return singular**2 / max(len(reference), 1), vt


def _apply_power(
    x: np.ndarray, spectrum: tuple[np.ndarray, np.ndarray], power: float, lam: float
) -> np.ndarray:
    """``x (C + λI)^power`` without forming a ``D × D`` matrix.

    Outside the span of ``V`` the eigenvalues of ``C + λI`` are ``λ``, so
    ``(C + λI)^p = λ^p I + Vᵀ diag((s + λ)^p − λ^p) V``.
    """
    if lam <= 0:
        raise ValueError(f"lambda must be > 0 (got {lam}): it keeps the unestimated directions invertible")
    s, vt = spectrum
    base = lam**power
    return x * base + ((x @ vt.T) * ((s + lam) ** power - base)) @ vt


def dmso_zscore(values: np.ndarray, meta: pd.DataFrame) -> np.ndarray:
    """Per plate and feature, subtract the plate's DMSO mean and divide by its DMSO std (ddof=1; 0 if σ=0)."""
    controls = _controls(meta)
    x = np.asarray(values, dtype=np.float64)
    out = np.zeros_like(x)
    plates = meta["plate"].to_numpy()
    for plate in np.unique(plates):
        rows = plates == plate
        reference = x[rows & controls]
        if len(reference) < 2:
            raise ValueError(f"plate {plate} has {len(reference)} DMSO well(s); dmso-zscore needs at least 2")
        mu, sigma = reference.mean(axis=0), reference.std(axis=0, ddof=1)
        scaled = np.divide(x[rows] - mu, sigma, out=np.zeros_like(x[rows]), where=sigma > 0)
        out[rows] = scaled
    return out


def whiten(values: np.ndarray, meta: pd.DataFrame, lam: float = DEFAULT_LAMBDA) -> np.ndarray:
    """``(x − μ) (C + λI)^{-1/2}`` with ``μ``, ``C`` the mean and covariance of the DMSO rows (ZCA)."""
    x = np.asarray(values, dtype=np.float64)
    reference = x[_controls(meta)]
    return _apply_power(x - reference.mean(axis=0), _spectrum(reference), -0.5, lam)


def tvn(values: np.ndarray, meta: pd.DataFrame, lam: float = DEFAULT_LAMBDA) -> np.ndarray:
    """Whitening, then per batch CORAL: ``x (C_b + λI)^{-1/2} (C_g + λI)^{1/2}`` on DMSO covariances."""
    controls = _controls(meta)
    x = whiten(values, meta, lam)
    target = _spectrum(x[controls])
    batches = meta["batch"].to_numpy()
    out = np.empty_like(x)
    for batch in np.unique(batches):
        rows = batches == batch
        reference = x[rows & controls]
        if len(reference) == 0:
            raise ValueError(f"batch {batch} has no DMSO well; TVN aligns each batch on its DMSO wells")
        aligned = _apply_power(x[rows], _spectrum(reference), -0.5, lam)
        out[rows] = _apply_power(aligned, target, 0.5, lam)
    return out


def normalize(
    profiles: Profiles,
    method: Method = "none",
    *,
    lam: float = DEFAULT_LAMBDA,
) -> Profiles:
    """Well profiles post-processed by ``method`` (``none``, ``dmso-zscore``, ``whiten`` or ``tvn``)."""
    if method == "none":
        return profiles
    if method == "dmso-zscore":
        values = dmso_zscore(profiles.values, profiles.meta)
    elif method == "whiten":
        values = whiten(profiles.values, profiles.meta, lam)
    elif method == "tvn":
        values = tvn(profiles.values, profiles.meta, lam)
    else:
        raise ValueError(f"unknown normalisation {method!r}; use one of {', '.join(METHODS)}")
    return Profiles(profiles.meta, values.astype(np.float32))
