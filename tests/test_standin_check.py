"""Comparing the stand-in's measurements with the calibration: the helpers agree with the real data itself."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellclr_lib.data.calibration import calibrated_features
from cellclr_lib.data.ljosa import load_ljosa_wells
from cellclr_lib.data.standin_check import (
    MEASURED,
    SAME_UNITS,
    dmso_comparison,
    sample_per_well,
    signature_correlations,
    standin_signatures,
)
from cellclr_lib.data.standin_phenotype import Calibration
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


def test_sample_per_well_keeps_at_most_k_cells_of_every_well() -> None:
    cells = pd.DataFrame({"plate": ["p"] * 7 + ["q"] * 2, "well": ["A01"] * 5 + ["B02"] * 2 + ["A01"] * 2})
    rows = sample_per_well(cells, per_well=3, seed=1)
    assert list(rows) == sorted(rows) and len(set(rows)) == len(rows)
    counts = cells.iloc[rows].groupby(["plate", "well"]).size()
    assert counts.to_dict() == {("p", "A01"): 3, ("p", "B02"): 2, ("q", "A01"): 2}
    assert np.array_equal(rows, sample_per_well(cells, per_well=3, seed=1))
