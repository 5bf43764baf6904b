"""The stand-in's calibration table: re-derivable from the shipped real profiles, and what it says is real."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellclr_lib.data import calibration
from cellclr_lib.data.calibration import FEATURE_NAMES, FEATURES, calibration_table, load_calibration


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
        assert feature.handcrafted in {"", *feature_names()}
