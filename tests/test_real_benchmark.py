"""The benchmark on the shipped real profiles: pinned numbers (the data and the pipeline are deterministic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellclr_lib.data.ljosa import load_ljosa_wells
from cellclr_lib.real_benchmark import (
    PUBLISHED_VIGNETTE,
    REAL_REFERENCE,
    benchmark_grid,
    binomial_interval,
    dmso_plate_means,
    feature_group_counts,
    feature_inventory,
    ljosa_profiles,
    published_check,
    real_reference_rows,
    sync_results_page,
    vignette_recipe,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ljosa():
    return load_ljosa_wells()


@pytest.fixture(scope="module")
def wells(ljosa):
    return ljosa_profiles(ljosa)


@pytest.fixture(scope="module")
def grid(wells):
    return benchmark_grid(wells)


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


def test_grid_has_every_combination_and_normalisation_matters(grid) -> None:
    assert (
        len(grid) == 16 and not grid.drop(columns=["normalize", "aggregate", "similarity"]).isna().any().any()
    )
    raw = grid.query("normalize == 'none' and aggregate == 'mean' and similarity == 'cosine'").iloc[0]
    assert (raw["nsc_correct"], raw["nscb_correct"]) == (51, 30)  # raw CellProfiler scales: area dominates
    assert grid.query("normalize != 'none'")["nsc"].min() > raw["nsc"] + 0.25
    # activity mAP is computed on wells, so the aggregation of wells into treatments cannot change it
    assert (grid.groupby(["normalize", "similarity"])["map_activity"].nunique() == 1).all()


def test_results_page_shows_exactly_the_computed_table(grid) -> None:
    page = ROOT / "book" / "results.md"
    assert sync_results_page(page, grid), (
        "book/results.md is stale: run sync_results_page('book/results.md', benchmark_grid(ljosa_profiles()), "
        "write=True)"
    )
    text = page.read_text()
    assert "| dmso-zscore | mean | pearson | 82.5% (85/103) | 75.0% (69/92) | 7.5 |" in text
    assert text.index("Computed here on real BBBC021") < text.index("Published results on the real BBBC021")


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


def test_a_hand_edited_table_is_caught_and_regenerated(grid, tmp_path) -> None:
    page = tmp_path / "results.md"
    page.write_text((ROOT / "book" / "results.md").read_text().replace("82.5% (85/103)", "90.0% (93/103)", 1))
    assert not sync_results_page(page, grid)
    sync_results_page(page, grid, write=True)
    assert page.read_text() == (ROOT / "book" / "results.md").read_text()


def test_real_reference_rows_are_labelled_and_match_the_grid(grid) -> None:
    rows = real_reference_rows(["none", "tvn"]).set_index("normalize")
    assert (rows["method"] == REAL_REFERENCE).all() and rows["source"].str.contains("REAL BBBC021").all()
    expected = grid.query("aggregate == 'median' and similarity == 'cosine'").set_index("normalize")
    for method in ("none", "tvn"):
        assert rows.loc[method, "nsc_correct"] == expected.loc[method, "nsc_correct"]
        assert rows.loc[method, "nscb_correct"] == expected.loc[method, "nscb_correct"]
    assert (rows.loc["tvn", "nsc_correct"], rows.loc["tvn", "nscb_correct"]) == (87, 60)


def test_published_check_labels_the_published_row(wells, ljosa) -> None:
    result, kept = vignette_recipe(wells, list(ljosa.features.columns), metrics=("nsc", "map"))
    table = published_check({"selected": (result, len(kept))})
    assert table["source"].tolist()[0] == "computed here"
    assert table["source"].tolist()[1].startswith("PUBLISHED, not computed here")
    assert table.loc[0, "NSC"] == "0.816 (84/103)" and table.loc[0, "NSC 95% CI"] == "0.73–0.89"
    assert table.loc[0, "mAP consistency"] == f"{result.metrics['map_consistency']:.3f}"
