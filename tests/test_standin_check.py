"""Comparing the stand-in's measurements with the calibration: the helpers agree with the real data itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellclr_lib.data.calibration import calibrated_features
from cellclr_lib.data.ljosa import load_ljosa_wells
from cellclr_lib.data.standin_check import (
    MEASURED,
    SAME_UNITS,
    dmso_comparison,
    hardness,
    profile_spread,
    signature_correlations,
    standin_signatures,
)
from cellclr_lib.data.standin_phenotype import Calibration
from cellclr_lib.features import FeatureSet
from cellclr_lib.profiles import Profiles


def _real_wells() -> Profiles:
    wells = load_ljosa_wells()
    return Profiles(meta=wells.meta, values=calibrated_features(wells)[list(MEASURED)].to_numpy())


def test_real_profiles_measured_as_the_stand_in_is_reproduce_the_calibration() -> None:
    """The stand-in's measurement path, fed the real wells, gives back the real signatures (r = 1) and DMSO."""
    wells = _real_wells()
    signatures = standin_signatures(wells)
    assert np.allclose(signatures, Calibration.load().moa.loc[signatures.index, list(MEASURED)], atol=1e-3)
    correlations = signature_correlations(signatures)
    assert len(correlations) == 12 and (correlations > 0.999).all()
    comparison = dmso_comparison(wells)
    assert (
        list(comparison.index) == SAME_UNITS and "cell_area" in SAME_UNITS and "dna_nucleus" not in SAME_UNITS
    )
    assert comparison["inside_iqr"].all() and comparison["within_20pct"].all()
    shifted = Profiles(meta=wells.meta, values=wells.values * 1.3)
    assert not dmso_comparison(shifted)["within_20pct"].any()


def test_hardness_of_the_real_wells_as_a_stand_in_is_the_real_benchmark() -> None:
    """Fed the real wells as its 'cells' (one per well), the stand-in row is the real benchmark itself; a
    subset of treatments changes the middle row only."""
    ljosa = load_ljosa_wells()
    names = list(ljosa.features.columns)
    as_cells = FeatureSet(features=ljosa.features.to_numpy(), cells=ljosa.meta, info={"feature_names": names})
    table = hardness(as_cells, ljosa)
    standin, same, everything = table.to_dict("records")
    assert standin == same == everything
    assert everything["treatments"] == 103 and everything["features"] == 516
    assert everything["nsc"] == pytest.approx(85 / 103) and everything["features_selected"] == 266
    assert 0.5 < everything["map"] < everything["map_activity"] <= 1
    assert everything["nsc_pooled_sd"] == pytest.approx(91 / 103)  # pooled SDs: no six-well SD estimates

    taxol_free = ljosa.meta["compound"].ne("taxol").to_numpy()
    subset = FeatureSet(
        features=ljosa.features.to_numpy()[taxol_free],
        cells=ljosa.meta[taxol_free].reset_index(drop=True),
        info={"feature_names": names},
    )
    standin, same, everything = hardness(subset, ljosa).to_dict("records")
    assert standin["treatments"] == same["treatments"] < everything["treatments"] == 103
    assert standin["nsc"] == same["nsc"] and standin["map"] == same["map"] != everything["map"]


def test_profile_spread_counts_the_directions_treatments_spread_along() -> None:
    """The real wells as a stand-in give the real rows; features that all copy one measurement (plus a little
    noise of their own) spread the treatments along one direction, far fewer than the real 516."""
    ljosa = load_ljosa_wells()
    names = list(ljosa.features.columns)
    as_cells = FeatureSet(features=ljosa.features.to_numpy(), cells=ljosa.meta, info={"feature_names": names})
    standin, same, everything = profile_spread(as_cells, ljosa).to_dict("records")
    assert standin == same == everything
    assert everything["treatments"] == 103 and everything["features"] == 516
    assert 2 < everything["directions"] < 10 and 1 < everything["median_shift"] < 3

    one = ljosa.features["Cells_AreaShape_Area"].to_numpy()[:, None]
    noise = np.random.default_rng(0).normal(0, 0.01 * one.std(), (len(one), 20))
    copies = FeatureSet(
        features=one + noise, cells=ljosa.meta, info={"feature_names": list("abcdefghijklmnopqrst")}
    )
    assert profile_spread(copies, ljosa).iloc[0]["directions"] == pytest.approx(1, abs=0.05)


def test_pooled_sd_shifts_centre_each_plate_on_its_dmso_and_keep_constant_features_finite() -> None:
    """The pooled-SD protocol's wells: DMSO wells average to 0 on every plate, and a feature without any DMSO
    spread becomes 0 instead of NaN (0 / 0)."""
    from cellclr_lib.data.standin_check import _pooled_sd_shifts

    wells = _real_wells()
    values = np.column_stack([np.asarray(wells.values)[:, 0], np.ones(len(wells.meta))])
    shifts = np.asarray(_pooled_sd_shifts(Profiles(wells.meta, values)).values)
    control = wells.meta["is_control"].to_numpy()
    plate_means = pd.DataFrame(shifts[control]).groupby(wells.meta.loc[control, "plate"].to_numpy()).mean()
    assert np.allclose(plate_means, 0, atol=1e-9)
    assert np.all(shifts[:, 1] == 0) and np.isfinite(shifts).all()
    assert shifts[~control, 0].std() > 1  # in DMSO SDs, treatments move the feature


def test_hardness_without_replicate_wells_leaves_map_out_instead_of_failing() -> None:
    """One well per treatment (the ``tiny`` stand-in) has no replicate pairs for mAP: NaN, NSC still counted."""
    ljosa = load_ljosa_wells()
    first = (
        ~ljosa.meta.duplicated(["compound", "concentration"]).to_numpy() | ljosa.meta["is_control"].to_numpy()
    )
    single = FeatureSet(
        features=ljosa.features.to_numpy()[first],
        cells=ljosa.meta[first].reset_index(drop=True),
        info={"feature_names": list(ljosa.features.columns)},
    )
    standin = hardness(single, ljosa).iloc[0]
    assert np.isnan(standin["map"]) and np.isnan(standin["map_activity"])
    assert standin["treatments"] == 103 and 0 < standin["nsc"] <= 1
