"""The shipped real profiles: intact, fully labelled, and joined exactly as the benchmark labels wells."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cellclr_lib.data.ljosa import LJOSA_SHA256, file_sha256, ljosa_path, load_ljosa_wells
from cellclr_lib.data.metadata import is_taxol_control
from cellclr_lib.errors import CellclrError


def test_shipped_file_is_the_published_one() -> None:
    assert file_sha256(ljosa_path()) == LJOSA_SHA256
    assert (ljosa_path().parent / "LICENSE-cytominergallery").is_file()


def test_every_well_is_labelled_with_the_benchmark_annotations() -> None:
    wells = load_ljosa_wells()
    assert wells.features.shape == (632, 516)
    assert len(wells.meta) == 632
    assert wells.meta["moa"].notna().all()
    assert int(wells.meta["is_control"].sum()) == 330
    assert (wells.meta[wells.meta["is_control"]].groupby("plate").size() == 6).all()
    treated = wells.meta[~wells.meta["is_control"]]
    assert treated[["compound", "concentration"]].drop_duplicates().shape[0] == 103
    assert treated["moa"].nunique() == 12
    assert wells.meta["batch"].nunique() == 10
    assert (wells.meta["compound"] == "taxol").any()
    assert not is_taxol_control(wells.meta).any()  # no positive-control wells
    assert np.isfinite(wells.values).all()


def test_unknown_wells_and_bad_values_name_the_file(tmp_path) -> None:
    text = gzip.decompress(ljosa_path().read_bytes()).decode()
    header, first, *rest = text.splitlines()
    bad_well = tmp_path / "unknown.csv"
    bad_well.write_text("\n".join([header, first.replace(first.split(",")[1], '"Z99"', 1), *rest[:3]]))
    with pytest.raises(CellclrError, match=r"unknown\.csv.*not in the BBBC021 metadata"):
        load_ljosa_wells(bad_well)
    cells = first.split(",")
    cells[5] = "NaN"
    bad_value = tmp_path / "nan.csv"
    bad_value.write_text("\n".join([header, ",".join(cells)]))
    with pytest.raises(CellclrError, match=r"nan\.csv.*NaN or infinite"):
        load_ljosa_wells(bad_value)
