"""The stand-in's calibration table: re-derivable from the shipped real profiles, and what it says is real."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellclr_lib.data import calibration
from cellclr_lib.data.calibration import FEATURE_NAMES, FEATURES, calibration_table, load_calibration
from cellclr_lib.data.standin_phenotype import Calibration, response


@pytest.fixture(scope="module")
def derived() -> pd.DataFrame:
    return calibration_table()


def test_shipped_table_is_what_the_code_derives(derived: pd.DataFrame, tmp_path) -> None:
    shipped = load_calibration()
    rewritten = load_calibration(calibration.write_calibration(tmp_path / "table.csv"))
    for table in (shipped, rewritten):
        assert table[calibration.LABEL_COLUMNS[:-1]].equals(derived[calibration.LABEL_COLUMNS[:-1]])
        assert np.allclose(table["concentration"], derived["concentration"])
        assert np.allclose(table[list(FEATURE_NAMES)], derived[list(FEATURE_NAMES)], rtol=1e-4)


def test_table_holds_dmso_batch_and_every_moa_and_treatment(derived: pd.DataFrame) -> None:
    counts = derived["kind"].value_counts()
    assert counts["moa"] == 12 and counts["treatment"] == 103
    dmso = derived[derived["kind"] == "dmso"].set_index("stat")[list(FEATURE_NAMES)]
    assert 900 < dmso.loc["median", "nucleus_area"] < 1100 and 3600 < dmso.loc["median", "cell_area"] < 4400
    assert (dmso.loc["q25"] <= dmso.loc["median"]).all() and (dmso.loc["median"] <= dmso.loc["q75"]).all()
    assert (dmso.loc["sd_well"] > 0).all()
    batch = derived[derived["kind"] == "batch"].set_index("stat")
    assert batch.loc["week", "tubulin_cytoplasm"] > 3 > batch.loc["week", "nucleus_area"], (
        "stains vary by week"
    )


def test_known_phenotypes_of_real_moas(derived: pd.DataFrame) -> None:
    """Signatures the literature describes: stabilisers raise tubulin, Aurora inhibitors enlarge cells."""
    moa = derived[derived["kind"] == "moa"].set_index("moa")
    assert moa.loc["Microtubule stabilizers", "tubulin_cytoplasm"] > 10
    assert moa.loc["Aurora kinase inhibitors", ["nucleus_area", "cell_area"]].min() > 4
    assert moa.loc["Microtubule destabilizers", "cell_solidity"] < -2


def test_one_mapping_names_real_columns() -> None:
    from cellclr_lib.baselines.handcrafted import feature_names
    from cellclr_lib.data.ljosa import load_ljosa_wells

    columns = set(load_ljosa_wells().features.columns)
    for feature in FEATURES:
        assert {part.strip() for part in feature.cellprofiler.split("/")} <= columns
        assert {part.strip() for part in feature.handcrafted.split("/")} <= {"", *feature_names()}


def test_responses_are_one_at_the_dmso_median_and_follow_the_feature() -> None:
    for kind in ("ratio", "deficit", "inverse", "aspect"):
        assert response(kind, 0.6, 0.6) == pytest.approx(1.0)
    assert response("ratio", 2.0, 1.0) == pytest.approx(2.0)
    assert response("deficit", 0.8, 0.9) == pytest.approx(2.0), "lower solidity, deeper lobes"
    assert response("inverse", 0.4, 0.5) > 1 > response("inverse", 0.6, 0.5), "lower form factor, rougher"
    assert response("aspect", 0.8, 0.6) > 1, "higher eccentricity, more elongated"
    with pytest.raises(ValueError, match="unknown response"):
        response("cube", 1.0, 1.0)


def test_dmso_draws_the_renderer_defaults_and_signatures_move_them() -> None:
    cal = Calibration.load()
    zero = pd.Series(0.0, index=list(FEATURE_NAMES))
    assert all(
        v == pytest.approx(1.0, abs=1e-3) for v in cal.renderer_multipliers(cal.targets(zero)).values()
    )
    taxol = cal.signature("Microtubule stabilizers", "taxol", 1.0)
    assert taxol.equals(cal.treatment.loc[("taxol", 1.0)])
    stabilised = cal.renderer_multipliers(cal.targets(taxol))
    assert stabilised["tubulin"] > 1.5
    deficit = response("deficit", cal.targets(taxol)["cell_solidity"], cal.median["cell_solidity"])
    assert stabilised["cell_lobes"] == pytest.approx(1 + 3.0 * (float(deficit) - 1)), (
        "with the feature's gain"
    )
    unknown = cal.signature("Aurora kinase inhibitors", "no-such-compound", 1.0)
    assert unknown.equals(cal.moa.loc["Aurora kinase inhibitors"])
    assert (cal.signature("DMSO", "DMSO", 0.0) == 0).all()
    extreme = cal.targets(pd.Series(-1000.0, index=list(FEATURE_NAMES)))
    assert (extreme >= 0).all() and extreme["cell_solidity"] >= 0.5 and extreme["cell_area"] > 0


def test_mitotic_arrest_comes_from_the_real_brightest_chromatin() -> None:
    """MoAs that arrest mitosis (Eg5, both microtubule classes) get the most mitotic cells — read from the real
    brightest-DNA ratio, not chosen — and stabilisers put more tubulin over the nucleus."""
    cal = Calibration.load()
    mitotic = {
        moa: cal.renderer_multipliers(cal.targets(cal.moa.loc[moa]))["mitotic"] for moa in cal.moa.index
    }
    top_three = sorted(mitotic, key=mitotic.get)[-3:]
    assert set(top_three) == {"Eg5 inhibitors", "Microtubule destabilizers", "Microtubule stabilizers"}
    assert mitotic["Eg5 inhibitors"] > 5 > 1 > mitotic["DNA damage"]
    stabilised = cal.renderer_multipliers(cal.targets(cal.moa.loc["Microtubule stabilizers"]))
    assert stabilised["tubulin_over_nucleus"] > 1.2
