"""The ``colab`` plate subset on the real (shipped) metadata, its CLI and its section of the setup page."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellclr_lib import cli
from cellclr_lib.data.download import APPROX_ZIP_BYTES, estimate, plan_plates
from cellclr_lib.data.metadata import (
    IMAGE_CSV_NAME,
    MOA_CSV_NAME,
    benchmark_fields,
    field_table,
    shipped_path,
)
from cellclr_lib.data.subset import cover_plates, coverage, subset_plates
from cellclr_lib.data.subset_page import sync_setup_page
from cellclr_lib.errors import CellclrError

ROOT = Path(__file__).resolve().parents[1]
CSVS = (shipped_path(IMAGE_CSV_NAME), shipped_path(MOA_CSV_NAME))
#: the size the setup page states for the subset: 17 zips of the download module's ~0.8 GB estimate.
STATED_DOWNLOAD_GB = 13.6


@pytest.fixture(scope="module")
def fields():
    return benchmark_fields(*CSVS)


@pytest.fixture(scope="module")
def colab() -> list[str]:
    return subset_plates("colab")


def test_colab_keeps_every_treatment_week_and_query(fields, colab) -> None:
    kept = coverage(fields, colab)
    assert (len(kept.plates), kept.plates_total) == (17, 55)
    assert (
        (kept.treatments, kept.weeks, kept.moas)
        == (103, 10, 12)
        == (
            kept.treatments_total,
            kept.weeks_total,
            kept.moas_total,
        )
    )
    assert (kept.nsc_evaluable, kept.nsc_solvable, kept.nscb_evaluable, kept.nscb_solvable) == (
        103,
        103,
        92,
        92,
    )
    assert (kept.fields, kept.dmso_wells) == (820, 17 * 6)
    assert set(colab) <= set(field_table(*CSVS)["plate"])
    assert colab[0] == "Week1_22123" and colab[-1].startswith("Week10_")  # week order, not text order


def test_colab_is_one_plate_of_each_plate_map_and_none_can_go(fields, colab) -> None:
    treated = fields[~fields["is_control"]]
    treatment = treated["compound"] + "@" + treated["concentration"].astype(str)
    layout = treatment.groupby(treated["plate"]).agg(frozenset)
    assert layout.nunique() == 17 and layout[colab].nunique() == 17  # every map once, no map twice
    for plate in colab:
        assert coverage(fields, [p for p in colab if p != plate]).treatments < 103


def test_subset_is_deterministic_whatever_the_row_order(fields, colab) -> None:
    shuffled = fields.sample(frac=1.0, random_state=7).reset_index(drop=True)
    assert cover_plates(shuffled) == colab == subset_plates("colab", *CSVS)


def test_download_size_is_the_stated_one(colab) -> None:
    volume = estimate(plan_plates(*CSVS, plates=colab), delete_zips=True)
    assert volume["download_bytes"] == 17 * APPROX_ZIP_BYTES
    assert round(volume["download_bytes"] / 1e9, 1) == STATED_DOWNLOAD_GB
    assert volume["peak_disk_bytes"] < 8e9  # extracted fields plus one zip at a time


def test_one_week_keeps_nsc_but_no_nscb_query(fields) -> None:
    week1 = coverage(fields, ["Week1_22123", "Week1_22361"])
    assert (week1.treatments, week1.weeks) == (19, 1)
    assert week1.nsc_evaluable == 19 and week1.nscb_evaluable == 0  # NSCB needs a candidate in another week


def test_unknown_names_and_conflicting_options_are_refused(fields, tmp_path, capsys) -> None:
    with pytest.raises(CellclrError, match="unknown subset"):
        subset_plates("everything")
    with pytest.raises(CellclrError, match="Week99_1"):
        coverage(fields, ["Week99_1"])
    argv = ["download", "--out", str(tmp_path), "--dry-run", "--subset", "colab", "--plates", "Week1_22123"]
    assert cli.main(argv) == 2
    assert "--plates and --subset exclude each other" in capsys.readouterr().err


def test_cli_dry_run_prints_plates_size_and_coverage(colab, tmp_path, capsys) -> None:
    assert cli.main(["download", "--out", str(tmp_path), "--subset", "colab", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert all(f"{plate}: " in out for plate in colab) and "Week1_22141" not in out
    assert f"download bytes: ≈ {STATED_DOWNLOAD_GB} GB" in out and "17 of 17 plate(s) to fetch" in out
    assert "103/103 treatments, 10/10 weeks" in out and "NSCB 92 (92 with a same-MoA candidate)" in out
    assert list(tmp_path.iterdir()) == []  # nothing downloaded, nothing written


def test_setup_page_shows_exactly_the_computed_subset(colab) -> None:
    page = ROOT / "book" / "setup.md"
    assert sync_setup_page(page), "book/setup.md is stale: run sync_setup_page('book/setup.md', write=True)"
    text = page.read_text()
    assert all(f"`{plate}`" in text for plate in colab)
    assert f"≈ {STATED_DOWNLOAD_GB} GB" in text and "103 of 103 treatments, 10 of 10 weeks" in text
    assert "cellclr download --out data/bbbc021 --subset colab" in text and "--subset colab --workers" in text


def test_a_hand_edited_setup_page_is_caught_and_regenerated(tmp_path) -> None:
    page = tmp_path / "setup.md"
    original = (ROOT / "book" / "setup.md").read_text()
    page.write_text(original.replace("| `Week6_31641` |", "| `Week6_31661` |"))
    assert not sync_setup_page(page)
    sync_setup_page(page, write=True)
    assert page.read_text() == original
