"""mAP: our wrapper returns exactly what copairs computes, and its pinned values on the real profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from copairs.map import average_precision, mean_average_precision

from cellclr_lib.metrics.map import NULL_SIZE, SEED, activity_input, copairs_map, map_metrics
from cellclr_lib.normalize import normalize
from cellclr_lib.profiles import Profiles, treatment_profiles
from cellclr_lib.real_benchmark import ljosa_profiles


@pytest.fixture(scope="module")
def real_zscored() -> tuple[Profiles, Profiles]:
    wells = normalize(ljosa_profiles(), "dmso-zscore")
    return wells, treatment_profiles(wells, "mean")


def _copairs_activity(wells: Profiles, distance: str) -> pd.DataFrame:
    """copairs' documented activity recipe, written out here independently of our wrapper."""
    meta = wells.meta[["plate", "compound", "concentration", "is_control"]].copy()
    meta["negcon"] = meta.pop("is_control").astype(int)
    meta["ref"] = np.where(meta["negcon"] == 1, np.arange(len(meta)), -1)
    ap = average_precision(
        meta,
        np.asarray(wells.values, dtype=np.float64),
        pos_sameby=["compound", "concentration", "ref"],
        pos_diffby=[],
        neg_sameby=["plate"],
        neg_diffby=["negcon", "ref"],
        distance=distance,
        progress_bar=False,
    )
    ap = ap.query("negcon == 0")
    return mean_average_precision(
        ap, ["compound", "concentration"], null_size=NULL_SIZE, threshold=0.05, seed=SEED, progress_bar=False
    )


def _copairs_consistency(treatments: Profiles, distance: str) -> pd.DataFrame:
    meta = treatments.meta[["compound", "concentration", "moa"]]
    ap = average_precision(
        meta,
        np.asarray(treatments.values, dtype=np.float64),
        pos_sameby=["moa"],
        pos_diffby=["compound"],
        neg_sameby=[],
        neg_diffby=["moa"],
        distance=distance,
        progress_bar=False,
    )
    return mean_average_precision(
        ap, ["compound", "concentration"], null_size=NULL_SIZE, threshold=0.05, seed=SEED, progress_bar=False
    )


@pytest.mark.parametrize(("similarity", "distance"), [("cosine", "cosine"), ("pearson", "correlation")])
def test_wrapper_equals_copairs_called_directly(real_zscored, similarity: str, distance: str) -> None:
    wells, treatments = real_zscored
    ours = map_metrics(wells, treatments, similarity)
    columns = ["compound", "concentration", "mean_average_precision", "p_value", "corrected_p_value"]
    pd.testing.assert_frame_equal(ours.activity[columns], _copairs_activity(wells, distance)[columns])
    direct = _copairs_consistency(treatments, distance)
    pd.testing.assert_frame_equal(ours.consistency[columns], direct[columns])
    assert ours.metrics["map_consistency"] == direct["mean_average_precision"].mean()
    assert ours.metrics["map_consistency_fraction"] == (direct["corrected_p_value"] < 0.05).mean()


def test_pinned_real_values(real_zscored) -> None:
    """Per-plate DMSO z-score, mean of wells: deterministic (seeded null), so pinned to 1e-9."""
    wells, treatments = real_zscored
    pearson = map_metrics(wells, treatments, "pearson").metrics
    assert pearson["map_activity"] == pytest.approx(0.9513099090768993, abs=1e-9)
    assert (pearson["map_activity_retrieved"], pearson["map_activity_total"]) == (90, 103)
    assert pearson["map_consistency"] == pytest.approx(0.7385740004752874, abs=1e-9)
    assert (pearson["map_consistency_retrieved"], pearson["map_consistency_total"]) == (96, 103)
    cosine = map_metrics(wells, treatments, "cosine").metrics
    assert cosine["map_activity"] == pytest.approx(0.9486130374479889, abs=1e-9)
    assert cosine["map_activity_retrieved"] == 90
    assert cosine["map_consistency"] == pytest.approx(0.7345491754726144, abs=1e-9)
    assert cosine["map_consistency_retrieved"] == 95


def test_inactive_treatment_is_not_retrieved_and_active_one_is() -> None:
    """Two plates, 6 DMSO wells each; 'active' sits far from DMSO, 'inert' is drawn like DMSO."""
    rng = np.random.default_rng(0)
    rows, values = [], []
    for plate in ("Week1_1", "Week1_2"):
        for compound, shift in (("DMSO", 0.0), ("active", 5.0), ("inert", 0.0)):
            for i in range(6 if compound == "DMSO" else 2):
                moa = "DMSO" if compound == "DMSO" else "M"
                rows.append((plate, f"{compound}{i}", compound, 1.0, moa, compound == "DMSO", "Week1", 1))
                values.append(rng.normal(size=8) + shift * np.r_[1.0, -1.0, np.zeros(6)])
    columns = ["plate", "well", "compound", "concentration", "moa", "is_control", "batch", "n_cells"]
    meta = pd.DataFrame(rows, columns=columns)
    wells = Profiles(meta, np.array(values))
    activity = copairs_map(*activity_input(wells), "cosine")
    by_compound = activity.set_index("compound")
    assert by_compound.loc["active", "mean_average_precision"] == 1.0
    assert by_compound.loc["inert", "mean_average_precision"] < 0.8
    assert bool(by_compound.loc["active", "below_p"]) and not bool(
        by_compound.loc["inert", "below_corrected_p"]
    )


def test_single_treatment_is_a_clear_error() -> None:
    meta = pd.DataFrame(
        {
            "compound": ["A"],
            "concentration": [1.0],
            "moa": ["M"],
            "is_control": [False],
            "batches": ["Week1"],
        }
    )
    wells = Profiles(
        pd.DataFrame(
            {
                "plate": ["P1"] * 3,
                "compound": ["A", "DMSO", "DMSO"],
                "concentration": [1.0, 0.0, 0.0],
                "moa": ["M", "DMSO", "DMSO"],
                "is_control": [False, True, True],
            }
        ),
        np.eye(3),
    )
    with pytest.raises(ValueError, match="mAP impossible"):
        map_metrics(wells, Profiles(meta, np.ones((1, 3))), "cosine")
