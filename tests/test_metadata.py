"""BBBC021 metadata: counts of the real files, reader robustness on real-world variants, clear errors."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest

from cellclr_lib.data import metadata
from cellclr_lib.errors import CellclrError


@pytest.fixture(scope="module")
def fields() -> pd.DataFrame:
    return metadata.field_table()


def test_shipped_files_are_the_broads(tmp_path: Path) -> None:
    for name, digest in metadata.SHIPPED_SHA256.items():
        assert hashlib.sha256(metadata.shipped_path(name).read_bytes()).hexdigest() == digest


def test_field_table_counts(fields: pd.DataFrame) -> None:
    assert len(fields) == 13_200
    assert fields["plate"].nunique() == 55
    assert fields["batch"].nunique() == 10
    assert fields.groupby(["plate", "well"]).ngroups == 3_300
    assert set(fields["site"]) == {1, 2, 3, 4}
    assert set(fields["replicate"]) == {1, 2, 3}
    assert fields.groupby("batch")["plate"].nunique().to_dict()["Week10"] == 3


def test_annotated_subset_and_taxol_controls(fields: pd.DataFrame) -> None:
    assert fields["moa"].notna().sum() == 3_848  # the naive join, taxol controls included
    controls = metadata.is_taxol_control(fields)
    assert controls.sum() == 330 * 4
    bench = metadata.benchmark_fields()
    assert len(bench) == 3_848 - 1_320
    assert bench.groupby(["plate", "well"]).ngroups == 632
    assert bench["is_control"].sum() == 1_320
    assert (bench.loc[bench["is_control"], "compound"] == "DMSO").all()
    taxol = bench[(bench["compound"] == "taxol") & (bench["concentration"] == 0.3)]
    assert set(taxol["well"]) == {"D05"} and set(taxol["batch"]) == {"Week1"}
    assert taxol.groupby(["plate", "well"]).ngroups == 3


def test_treatment_table() -> None:
    treatments = metadata.treatments()
    assert len(treatments) == 103
    assert treatments["compound"].nunique() == 38
    assert treatments["moa"].nunique() == 12
    assert "DMSO" not in set(treatments["compound"])
    assert not treatments.duplicated(["compound", "concentration"]).any()


def test_batch_is_the_week() -> None:
    assert metadata.batch_of("Week4_27481") == "Week4"
    assert metadata.batch_of("Week10_40111") == "Week10"


def test_sites_come_from_file_names_in_both_forms(fields: pd.DataFrame) -> None:
    prefixed = fields["file_dapi"].str.match(r"Week\d+_")
    assert prefixed.any() and (~prefixed).any()
    # The research notes say weeks 4 and 8; the real file says Week8 names carry a "Week8_4sites_" prefix.
    assert set(fields.loc[~prefixed, "batch"]) == {"Week4"}


def _variant(text: str, *, quotes: bool, newline: str, short_numbers: bool, final_newline: bool) -> str:
    if not quotes:
        text = re.sub(r'"([^",]*)"', r"\1", text)  # values holding a comma stay quoted, as in real copies
    if short_numbers:
        text = re.sub(r"(\d+\.\d*?)0+(?=,|\n|$)", r"\1", text)
        text = re.sub(r"(\d+)\.(?=,|\n|$)", r"\1", text)
    text = text.rstrip("\n") + ("\n" if final_newline else "")
    return text.replace("\n", newline)


@pytest.mark.parametrize(
    ("quotes", "newline", "short_numbers", "final_newline"),
    [
        (False, "\n", False, True),
        (True, "\r\n", False, True),
        (False, "\r", True, False),
        (True, "\n", True, True),
    ],
)
def test_readers_cope_with_real_world_variants(
    tmp_path: Path, quotes: bool, newline: str, short_numbers: bool, final_newline: bool
) -> None:
    options = {
        "quotes": quotes,
        "newline": newline,
        "short_numbers": short_numbers,
        "final_newline": final_newline,
    }
    paths = {}
    for name in (metadata.IMAGE_CSV_NAME, metadata.MOA_CSV_NAME):
        text = metadata.shipped_path(name).read_text()
        paths[name] = tmp_path / name
        paths[name].write_bytes(_variant(text, **options).encode())
        assert paths[name].read_bytes() != metadata.shipped_path(name).read_bytes()
    variant = metadata.benchmark_fields(paths[metadata.IMAGE_CSV_NAME], paths[metadata.MOA_CSV_NAME])
    reference = metadata.benchmark_fields()
    pd.testing.assert_frame_equal(variant, reference)


def test_short_and_long_concentrations_join(tmp_path: Path) -> None:
    moa = tmp_path / "moa.csv"
    moa.write_text("compound,concentration,moa\nfoo,0.003,Eg5 inhibitors\n")
    assert metadata.read_moa_csv(moa)["concentration"].iloc[0] == pytest.approx(0.003)
    assert metadata.normalize_concentration(pd.Series(["0.003000", "0.003", "3e-3"])).nunique() == 1


def test_missing_columns_are_named_with_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "BBBC021_v1_moa.csv"
    bad.write_text("compound,dose,mechanism\nfoo,1,bar\n")
    with pytest.raises(CellclrError) as err:
        metadata.read_moa_csv(bad)
    message = str(err.value)
    assert str(bad) in message and "concentration" in message and "moa" in message and "Fix:" in message


def test_missing_and_empty_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CellclrError, match="file not found"):
        metadata.read_image_csv(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    with pytest.raises(CellclrError, match=r"empty\.csv: file is empty"):
        metadata.read_moa_csv(empty)


def test_non_numeric_concentration_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "moa.csv"
    bad.write_text("compound,concentration,moa\nfoo,lots,bar\n")
    with pytest.raises(CellclrError, match="non-numeric concentration"):
        metadata.read_moa_csv(bad)


def test_channel_file_paths_follow_the_table(fields: pd.DataFrame, tmp_path: Path) -> None:
    row = fields.iloc[:1]
    paths = metadata.channel_file_paths(row, tmp_path)
    assert set(paths) == {"DAPI", "Tubulin", "Actin"}
    assert paths["Actin"][0] == tmp_path / row["path_actin"].iloc[0] / row["file_actin"].iloc[0]


def test_field_ids_are_unique_where_image_numbers_are_not(fields: pd.DataFrame) -> None:
    assert not fields["image_number"].is_unique
    assert fields["field_id"].is_unique
    assert fields["file_dapi"].is_unique
