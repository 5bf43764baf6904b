"""Post-processing: each method fitted on DMSO wells only, with the statistics it promises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellclr_lib.normalize import normalize
from cellclr_lib.profiles import Profiles


def make_wells(n_dmso: int = 40, n_treated: int = 10, dim: int = 3, seed: int = 0) -> Profiles:
    """Well profiles on 4 plates in 2 batches, each batch with its own DMSO covariance and offset."""
    rng = np.random.default_rng(seed)
    rows, values = [], []
    for p, plate in enumerate(["Week1_1", "Week1_2", "Week2_1", "Week2_2"]):
        mix = np.eye(dim) + (0.8 if plate.startswith("Week2") else 0.1) * rng.normal(size=(dim, dim))
        for i in range(n_dmso + n_treated):
            control = i < n_dmso
            rows.append((plate, plate.split("_")[0], f"W{i:02d}", "DMSO" if control else f"C{i}", control))
            values.append(rng.normal(size=dim) @ mix + p + (0 if control else 3))
    meta = pd.DataFrame(rows, columns=["plate", "batch", "well", "compound", "is_control"])
    return Profiles(meta, np.array(values, dtype=np.float32))


def test_none_is_identity() -> None:
    wells = make_wells()
    assert normalize(wells, "none") is wells


def test_dmso_zscore_per_plate_and_zero_std() -> None:
    wells = make_wells()
    wells.values[:, 1][wells.meta["plate"].eq("Week1_1").to_numpy() & wells.meta["is_control"].to_numpy()] = (
        5.0
    )
    out = normalize(wells, "dmso-zscore")
    for plate, rows in out.meta.groupby("plate").groups.items():
        dmso = out.values[rows][out.meta.loc[rows, "is_control"].to_numpy()]
        if plate == "Week1_1":
            assert (out.values[rows][:, 1] == 0).all()  # zero DMSO deviation -> 0
            dmso = dmso[:, [0, 2]]
        np.testing.assert_allclose(dmso.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(dmso.std(axis=0, ddof=1), 1, rtol=1e-5)


def test_whiten_gives_near_identity_dmso_covariance() -> None:
    wells = make_wells(n_dmso=400)
    wells.values[:] *= 30  # variances >> lambda = 1, so whitening is nearly exact
    out = normalize(wells, "whiten")
    dmso = out.values[wells.meta["is_control"].to_numpy()].astype(np.float64)
    np.testing.assert_allclose(dmso.mean(axis=0), 0, atol=1e-4)
    cov = np.cov(dmso, rowvar=False, ddof=0)
    np.testing.assert_allclose(cov, np.eye(3), atol=0.01)
    shrunk = normalize(wells, "whiten", lam=1e4)  # a lambda on the feature scale shrinks variances below 1
    assert np.all(np.diag(np.cov(shrunk.values[wells.meta["is_control"].to_numpy()], rowvar=False)) < 0.9)


def test_tvn_aligns_each_batch_dmso_covariance() -> None:
    wells = make_wells(n_dmso=400)
    wells.values[:] *= 30
    out = normalize(wells, "tvn", lam=1e-6)
    controls = wells.meta["is_control"].to_numpy()
    covs = [
        np.cov(out.values[controls & wells.meta["batch"].eq(b).to_numpy()], rowvar=False, ddof=0)
        for b in ("Week1", "Week2")
    ]
    before = [
        np.cov(wells.values[controls & wells.meta["batch"].eq(b).to_numpy()], rowvar=False, ddof=0)
        for b in ("Week1", "Week2")
    ]
    target = np.cov(normalize(wells, "whiten").values[controls], rowvar=False, ddof=0)
    np.testing.assert_allclose(covs[0], target, atol=0.02)
    np.testing.assert_allclose(covs[1], target, atol=0.02)
    assert np.abs(before[0] / 900 - before[1] / 900).max() > 0.3  # the batches really differed


@pytest.mark.parametrize("method", ["dmso-zscore", "whiten", "tvn"])
def test_fitted_on_dmso_only(method: str) -> None:
    wells = make_wells()
    changed = Profiles(wells.meta, wells.values.copy())
    treated = np.flatnonzero(~wells.meta["is_control"].to_numpy())
    kept, altered = treated[0], treated[1:]  # one treated row stays, every other treated row changes
    changed.values[altered] = np.random.default_rng(9).normal(size=(len(altered), 3)) * 50
    a, b = normalize(wells, method), normalize(changed, method)
    unchanged = np.r_[np.flatnonzero(wells.meta["is_control"].to_numpy()), kept]
    np.testing.assert_allclose(a.values[unchanged], b.values[unchanged], rtol=1e-5, atol=1e-5)
    assert not np.allclose(a.values[altered], b.values[altered])


def test_requires_dmso() -> None:
    wells = make_wells()
    no_dmso = wells.subset(~wells.meta["is_control"].to_numpy())
    with pytest.raises(ValueError, match="DMSO"):
        normalize(no_dmso, "whiten")
    with pytest.raises(ValueError, match="unknown"):
        normalize(wells, "pca")  # type: ignore[arg-type]


def test_low_rank_whitening_equals_dense_zca() -> None:
    """More features than DMSO wells (as with 2048-d embeddings): the SVD route equals the dense formula."""
    rng = np.random.default_rng(3)
    meta = pd.DataFrame({"plate": "Week1_1", "batch": "Week1", "is_control": [True] * 6 + [False] * 4})
    values = rng.normal(size=(10, 12)) * 2
    reference = values[:6]
    s, v = np.linalg.eigh(np.cov(reference, rowvar=False, ddof=0))
    dense = (values - reference.mean(axis=0)) @ (v / np.sqrt(np.clip(s, 0, None) + 0.5)) @ v.T
    np.testing.assert_allclose(
        normalize(Profiles(meta, values), "whiten", lam=0.5).values, dense, rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ValueError, match="lambda"):
        normalize(Profiles(meta, values), "whiten", lam=0)
