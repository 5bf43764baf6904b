"""The benchmark on the shipped real profiles: pinned numbers (the data and the pipeline are deterministic)."""

from __future__ import annotations

import numpy as np
import pytest

from cellclr_lib.data.ljosa import load_ljosa_wells
from cellclr_lib.real_benchmark import (
    PUBLISHED_VIGNETTE,
    benchmark_grid,
    binomial_interval,
    dmso_plate_means,
    feature_group_counts,
    feature_inventory,
    ljosa_profiles,
    vignette_recipe,
)


@pytest.fixture(scope="module")
def ljosa():
    return load_ljosa_wells()


@pytest.fixture(scope="module")
def wells(ljosa):
    return ljosa_profiles(ljosa)


def test_zscore_mean_of_wells_pinned_nsc_nscb(wells) -> None:
    grid = benchmark_grid(wells, ["dmso-zscore"], ["mean"], metrics=("nsc",)).set_index("similarity")
    assert tuple(grid.loc["pearson", ["nsc_correct", "nsc_total", "nscb_correct", "nscb_total"]]) == (
        85,
        103,
        69,
        92,
    )
    assert tuple(grid.loc["cosine", ["nsc_correct", "nsc_total", "nscb_correct", "nscb_total"]]) == (
        85,
        103,
        67,
        92,
    )
    assert grid.loc["pearson", "drop"] == pytest.approx(85 / 103 - 69 / 92)


def test_grid_has_every_combination_and_normalisation_matters(wells) -> None:
    grid = benchmark_grid(wells, metrics=("nsc",))
    assert len(grid) == 16 and not grid[["nsc", "nscb", "drop"]].isna().any().any()
    raw = grid.query("normalize == 'none' and aggregate == 'mean' and similarity == 'cosine'").iloc[0]
    assert (raw["nsc_correct"], raw["nscb_correct"]) == (51, 30)  # raw CellProfiler scales: area dominates
    assert grid.query("normalize != 'none'")["nsc"].min() > raw["nsc"] + 0.25


def test_feature_inventory_of_the_516_features(ljosa) -> None:
    counts = feature_group_counts(ljosa.features.columns)
    assert counts.loc["total", ["Cells", "Cytoplasm", "Nuclei", "total"]].tolist() == [161, 147, 208, 516]
    assert counts.loc["Texture", "total"] == 196
    channels = feature_inventory(ljosa.features.columns)["channel"].value_counts()
    assert (channels["Actin"], channels["Tubulin"], channels["DNA"]) == (141, 141, 47)


def test_vignette_recipe_reproduces_the_published_nsc(wells, ljosa) -> None:
    """Published: NSC 0.82 (0.73–0.89). Ours, same recipe: 84/103 = 0.816, inside that interval."""
    result, kept = vignette_recipe(wells, list(ljosa.features.columns))
    assert len(kept) == 266
    assert (result.metrics["nsc_correct"], result.metrics["nsc_total"]) == (84, 103)
    assert PUBLISHED_VIGNETTE["ci_low"] < result.metrics["nsc"] < PUBLISHED_VIGNETTE["ci_high"]
    assert round(result.metrics["nsc"], 2) == PUBLISHED_VIGNETTE["nsc"]
    low, high = binomial_interval(84, 103)
    assert (round(low, 2), round(high, 2)) == (0.73, 0.89)  # the interval the vignette printed


def test_dmso_plate_means_one_per_plate(wells) -> None:
    means = dmso_plate_means(wells)
    assert means.values.shape == (55, 516)
    assert (means.meta["n_wells"] == 6).all() and means.meta["batch"].nunique() == 10
    assert np.isfinite(means.values).all()
