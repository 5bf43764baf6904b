"""Our per-plate DMSO z-score is pycytominer's ``normalize(method="standardize")`` per plate, up to ddof.

pycytominer standardises with scikit-learn's StandardScaler: population standard deviation (ddof=0), and a
feature whose DMSO values do not vary gets scale 1 (it is only centred). Ours divides by the sample standard
deviation (ddof=1) and sets such a feature to 0. So, with n DMSO wells on a plate,
``pycytominer = ours · sqrt(n / (n − 1))`` wherever the plate's DMSO standard deviation is non-zero, and the
test checks exactly that, feature by feature, on every plate of the real table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pycytominer = pytest.importorskip("pycytominer")

from cellclr_lib.data.ljosa import load_ljosa_wells  # noqa: E402
from cellclr_lib.normalize import dmso_zscore  # noqa: E402


def test_dmso_zscore_equals_pycytominer_standardize_per_plate() -> None:
    ljosa = load_ljosa_wells()
    table = ljosa.to_pycytominer()
    features = list(ljosa.features.columns)
    ours = dmso_zscore(ljosa.values, ljosa.meta)
    checked = 0
    for plate, rows in table.groupby("Metadata_Plate").groups.items():
        plate_table = table.loc[rows]
        theirs = pycytominer.normalize(
            plate_table,
            features=features,
            meta_features=[c for c in table.columns if c.startswith("Metadata_")],
            samples="Metadata_Compound == 'DMSO'",
            method="standardize",
        )[features].to_numpy()
        dmso = ljosa.values[np.asarray(rows)][plate_table["Metadata_Compound"].to_numpy() == "DMSO"]
        n = len(dmso)
        varies = dmso.std(axis=0, ddof=1) > 0
        assert n == 6, plate
        np.testing.assert_allclose(
            theirs[:, varies], ours[np.asarray(rows)][:, varies] * np.sqrt(n / (n - 1)), rtol=1e-6, atol=1e-9
        )
        assert (ours[np.asarray(rows)][:, ~varies] == 0).all()
        checked += int(varies.sum())
    assert checked > 0.95 * 55 * len(features)  # nearly every (plate, feature) pair is a real comparison


def test_export_keeps_pycytominer_metadata_apart_from_features() -> None:
    table = load_ljosa_wells().to_pycytominer()
    inferred = pycytominer.cyto_utils.infer_cp_features(table)
    assert len(inferred) == 516 and not any(c.startswith("Metadata_") for c in inferred)
    assert pd.api.types.is_bool_dtype(table["Metadata_Control"])
    assert table.loc[table["Metadata_Control"], "Metadata_Compound"].eq("DMSO").all()
