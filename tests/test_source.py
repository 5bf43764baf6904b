"""Dataset kind detection and the banner every notebook shows; the published-results table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellclr_lib.data.source import dataset_banner, dataset_kind
from cellclr_lib.errors import CellclrError
from cellclr_lib.published import PUBLISHED_SOURCE, published_results


def test_kind_follows_the_synthetic_marker(tmp_path: Path) -> None:
    (tmp_path / "BBBC021_v1_image.csv").write_text("x\n")
    assert dataset_kind(tmp_path) == "bbbc021"
    assert "real BBBC021" in dataset_banner(tmp_path)
    (tmp_path / "synthetic.json").write_text(json.dumps({"preset": "tiny", "seed": 3}))
    assert dataset_kind(tmp_path) == "synthetic"
    banner = dataset_banner(tmp_path)
    assert "synthetic stand-in" in banner and "`tiny`" in banner and "seed 3" in banner
    assert "not BBBC021 results" in banner


def test_a_folder_without_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CellclrError, match="not a BBBC021-format dataset") as err:
        dataset_kind(tmp_path)
    assert str(tmp_path) in str(err.value) and "cellclr synth" in str(err.value)


def test_published_table_is_labelled_and_drop_is_derived() -> None:
    table = published_results()
    assert (table["source"] == PUBLISHED_SOURCE).all()
    dino = table.set_index("method").loc["WS-DINO ViT-S/8"]
    assert dino["drop"] == pytest.approx(dino["nsc"] - dino["nscb"]) == pytest.approx(2.0)
    paper = table[table["method"].str.contains("Perakis")].iloc[0]
    assert paper[["nsc", "nscb"]].isna().all(), (
        "the paper's own numbers were not available: never invent them"
    )
