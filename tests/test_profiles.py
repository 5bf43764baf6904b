"""Profiles: cell → (image →) well → treatment aggregation, controls, the taxol control wells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellclr_lib import profiles
from cellclr_lib.profiles import reduce_groups, treatment_profiles, well_profiles


def make_cells(seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    """Cells of two treatments and DMSO on two plates, with unequal cells per image and a taxol control well."""
    rng = np.random.default_rng(seed)
    rows = []
    layout = [
        ("Week1_22123", "B02", "A", 1.0, "M1"),
        ("Week1_22123", "B03", "DMSO", 0.0, "DMSO"),
        ("Week1_22123", "B11", "taxol", 0.3, "Microtubule stabilizers"),  # a taxol control well
        ("Week2_24121", "B02", "A", 1.0, "M1"),
        ("Week2_24121", "B03", "DMSO", 0.0, "DMSO"),
        ("Week2_24121", "B04", "B", 2.0, "M2"),
        ("Week2_24121", "B05", "unannotated", 5.0, None),
    ]
    image = 0
    for plate, well, compound, concentration, moa in layout:
        for site in (1, 2):
            image += 1
            for _ in range(int(rng.integers(1, 6))):
                rows.append((plate, well, site, image, compound, concentration, moa))
    cells = pd.DataFrame(
        rows, columns=["plate", "well", "site", "image_number", "compound", "concentration", "moa"]
    )
    return rng.normal(size=(len(cells), 5)).astype(np.float32), cells


def test_cell_to_well_mean_matches_groupby() -> None:
    values, cells = make_cells()
    wells = well_profiles(values, cells)
    kept = cells["moa"].notna() & (cells["well"] != "B11")
    expected = (
        pd.DataFrame(values[kept.to_numpy()])
        .groupby([cells.loc[kept, "plate"].to_numpy(), cells.loc[kept, "well"].to_numpy()])
        .mean()
    )
    assert len(wells) == len(expected) == 5  # unannotated and taxol control wells dropped
    np.testing.assert_allclose(wells.values, expected.to_numpy(), rtol=1e-5)
    assert wells.meta["n_cells"].sum() == kept.sum()
    assert list(wells.meta["batch"].unique()) == ["Week1", "Week2"]
    assert wells.meta.loc[wells.meta["compound"] == "DMSO", "is_control"].all()


def test_median_and_image_level_differ_from_cell_mean() -> None:
    values, cells = make_cells()
    mean = well_profiles(values, cells)
    median = well_profiles(values, cells, cell_aggregate="median")
    via_image = well_profiles(values, cells, via_image=True)
    row = (mean.meta["plate"] == "Week1_22123") & (mean.meta["well"] == "B02")
    in_well = ((cells["plate"] == "Week1_22123") & (cells["well"] == "B02")).to_numpy()
    np.testing.assert_allclose(
        median.values[row.to_numpy()][0], np.median(values[in_well], axis=0), rtol=1e-6
    )
    per_image = [values[in_well & (cells["site"] == s).to_numpy()].mean(axis=0) for s in (1, 2)]
    np.testing.assert_allclose(via_image.values[row.to_numpy()][0], np.mean(per_image, axis=0), rtol=1e-5)
    assert not np.allclose(via_image.values, mean.values)  # unequal cells per image


def test_chunked_float16_memmap_mean(tmp_path, monkeypatch) -> None:
    values, cells = make_cells()
    path = tmp_path / "x.npy"
    np.save(path, values.astype(np.float16))
    mapped = np.load(path, mmap_mode="r")
    monkeypatch.setattr(profiles, "CHUNK_ROWS", 7)
    chunked = well_profiles(mapped, cells)
    np.testing.assert_allclose(
        chunked.values, well_profiles(values.astype(np.float16).astype(np.float32), cells).values, rtol=1e-5
    )


def test_reduce_groups_empty_group_is_nan_and_unknown_raises() -> None:
    out = reduce_groups(np.ones((3, 2)), np.array([0, 0, 2]), 3, "median")
    assert np.isnan(out[1]).all() and (out[[0, 2]] == 1).all()
    with pytest.raises(ValueError, match="mean"):
        reduce_groups(np.ones((3, 2)), np.zeros(3, dtype=int), 1, "max")  # type: ignore[arg-type]


def test_treatments_median_over_wells_and_batch_union() -> None:
    values, cells = make_cells()
    wells = well_profiles(values, cells)
    treatments = treatment_profiles(wells)
    assert list(zip(treatments.meta["compound"], treatments.meta["concentration"], strict=True)) == [
        ("A", 1.0),
        ("B", 2.0),
    ]
    a = treatments.meta.index[treatments.meta["compound"] == "A"][0]
    assert treatments.meta.loc[a, "batches"] == "Week1,Week2"
    assert treatments.meta.loc[a, "n_wells"] == 2
    np.testing.assert_allclose(
        treatments.values[a], np.median(wells.values[(wells.meta["compound"] == "A").to_numpy()], axis=0)
    )


def test_taxol_control_wells_do_not_change_taxol_profile() -> None:
    rng = np.random.default_rng(1)
    bench = pd.DataFrame({"plate": ["Week1_22123", "Week1_22141", "Week1_22161"], "well": ["D05"] * 3})
    controls = pd.DataFrame(
        {"plate": ["Week1_22123", "Week2_24121", "Week3_25421"], "well": ["B11", "E02", "G02"]}
    )
    table = pd.concat([bench, controls], ignore_index=True).assign(
        compound="taxol", concentration=0.3, moa="Microtubule stabilizers"
    )
    values = np.vstack([rng.normal(size=(3, 4)), 100 + rng.normal(size=(3, 4))]).astype(np.float32)
    with_controls = treatment_profiles(well_profiles(values, table, input_level="well"))
    without = treatment_profiles(well_profiles(values[:3], table.iloc[:3], input_level="well"))
    np.testing.assert_array_equal(with_controls.values, without.values)
    assert with_controls.meta["batches"].tolist() == ["Week1"]
    assert with_controls.meta["n_wells"].tolist() == [3]


def test_controls_keep_the_stores_own_name() -> None:
    """A store's ``is_control`` (from its description's ``control``) wins: a control need not be DMSO."""
    from pathlib import Path

    from cellclr_lib.tables import check_rows

    meta = pd.DataFrame(
        {
            "plate": "P1",
            "well": ["A01", "A02", "B01"],
            "compound": ["vehicle", "vehicle", "cmpd-1"],
            "concentration": 0.0,
            "moa": np.nan,
            "is_control": [True, True, False],
        }
    )
    assert profiles.prepare_metadata(meta)[0]["is_control"].tolist() == [True, True, False]
    check_rows(meta, Path("own.parquet"), needs_plate_dmso=True, drop_unannotated=False, needs_labels=False)
    without = meta.drop(columns="is_control")  # a table without the column: the control is DMSO
    assert not profiles.prepare_metadata(without)[0]["is_control"].any()


def test_a_stores_own_batch_and_plates_are_kept() -> None:
    """Rows from a user's store: its description's batch is the batch, and BBBC021's taxol wells mean nothing.

    The same rows on BBBC021's plates and without a batch column get the week and lose the taxol control well.
    """
    own = pd.DataFrame(
        {
            "plate": ["Screen7_P1", "Screen7_P1", "Screen7_P2", "Screen7_P2"],
            "batch": ["run-A", "run-A", "run-B", None],  # a missing batch falls back to the week rule
            "well": ["B11", "B03", "B11", "B03"],
            "compound": ["taxol", "DMSO", "taxol", "DMSO"],
            "concentration": [0.3, 0.0, 0.3, 0.0],
            "moa": ["Microtubule stabilizers", "DMSO", "Microtubule stabilizers", "DMSO"],
        }
    )
    meta, keep = profiles.prepare_metadata(own)
    assert keep.all(), "a user's taxol 0.3 in B11 is a treatment, not BBBC021's positive control"
    assert meta["batch"].tolist() == ["run-A", "run-A", "run-B", "Screen7"]

    bbbc021 = own.drop(columns="batch").assign(
        plate=["Week1_22123", "Week1_22123", "Week4_27481", "Week4_27481"]
    )
    meta, keep = profiles.prepare_metadata(bbbc021)
    assert keep.tolist() == [False, True, False, True]
    assert meta["batch"].tolist() == ["Week1", "Week4"]
