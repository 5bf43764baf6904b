"""Comparing the stand-in's measurements with the calibration: the helpers agree with the real data itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellclr_lib.data.calibration import FEATURES, calibrated_features
from cellclr_lib.data.ljosa import load_ljosa_wells
from cellclr_lib.data.standin_check import (
    MEASURED,
    SAME_UNITS,
    dmso_comparison,
    drawn_wells,
    gap_stages,
    hardness,
    profile_spread,
    signature_correlations,
    standin_signatures,
)
from cellclr_lib.data.standin_phenotype import Calibration
from cellclr_lib.data.synth import choose_fields, config_for
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


def _real_wells_as_measured_cells() -> FeatureSet:
    """The real wells as 'cells', under the hand-engineered names :data:`MEASURED` reads (ratios as parts)."""
    ljosa = load_ljosa_wells()
    columns = {}
    for feature in FEATURES:
        if feature.handcrafted:
            pairs = zip(feature.handcrafted.split("/"), feature.cellprofiler.split("/"), strict=True)
            columns |= {ours.strip(): ljosa.features[theirs.strip()] for ours, theirs in pairs}
    return FeatureSet(
        features=pd.DataFrame(columns).to_numpy(), cells=ljosa.meta, info={"feature_names": list(columns)}
    )


def test_gap_stages_of_the_real_wells_as_a_stand_in_measure_back_the_real_calibrated_row() -> None:
    """Fed the real wells as its cells, the stand-in's 'measured' stage is exactly the real calibrated-features
    stage and the first stage is hardness's real row; without a configuration the drawn stage is left out."""
    ljosa = load_ljosa_wells()
    as_cells = _real_wells_as_measured_cells()
    stages = gap_stages(as_cells, None, ljosa)
    assert len(stages) == 4 and (stages["treatments"] == 103).all()
    real_all, real_calibrated, measured, _ = stages.to_dict("records")
    assert measured == real_calibrated
    assert real_all["nsc"] == pytest.approx(85 / 103) and real_all["nsc"] > real_calibrated["nsc"]
    assert 0.5 < real_calibrated["map"] < real_all["map"] < 1


def test_drawn_wells_are_the_real_signatures_plus_batch_effects_and_well_noise() -> None:
    """Without noise and batch effects every treated well is drawn as its treatment's real signature and DMSO
    as 0; with them, wells scatter around that by about ``well_noise`` within a plate and plates move apart."""
    calibration = Calibration.load()
    clean = config_for("tiny", seed=0, well_noise=0.0, batch_effect=0.0)
    meta = choose_fields(clean).drop_duplicates(["plate", "well"]).reset_index(drop=True)
    drawn = np.asarray(drawn_wells(meta, clean).values)
    expected = [
        calibration.signature(row["moa"], row["compound"], row["concentration"])[list(MEASURED)]
        for row in meta.to_dict("records")
    ]
    assert drawn.shape == (len(meta), len(MEASURED)) and np.allclose(drawn, np.array(expected))
    assert np.all(drawn[meta["is_control"].to_numpy()] == 0)

    noisy = np.asarray(drawn_wells(meta, config_for("tiny", seed=0)).values) - drawn
    by_plate = pd.DataFrame(noisy).groupby(meta["plate"].to_numpy())
    within = (pd.DataFrame(noisy) - by_plate.transform("mean")).to_numpy()
    assert 0.2 < within.std() < 0.4  # well_noise = 0.3, less the plate means' share
    assert by_plate.mean().std().median() > 0.3  # real week and plate effects are several tenths of an SD
