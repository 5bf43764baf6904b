"""Comparison of several feature sets under several post-processings, library and CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellclr_lib import cli
from cellclr_lib.compare import compare, parse_feature_sets
from cellclr_lib.errors import CellclrError
from cellclr_lib.evaluate import evaluate_profiles
from cellclr_lib.features import FeatureSet, write_feature_set
from cellclr_lib.plots.evaluation import comparison_figure, per_moa_figure, profile_map_figure

MOA_CSV = "compound,concentration,moa\nA,1,M1\nB,1,M1\nC,1,M2\nD,1,M2\nE,1,M3\nF,1,M3\nDMSO,0,DMSO\n"


def make_feature_set(signal: float, seed: int) -> FeatureSet:
    """Cells of 6 compounds (3 MoAs, one compound per MoA per week) and DMSO on 4 plates in 2 weeks; ``signal`` scales the MoA separation."""
    rng = np.random.default_rng(seed)
    centres = {"DMSO": 0, "A": 1, "B": 1, "C": 2, "D": 2, "E": 3, "F": 3}
    rows, values = [], []
    for plate in ("Week1_1", "Week1_2", "Week2_1", "Week2_2"):
        batch_shift = rng.normal(size=6)
        for i, compound in enumerate(centres):
            if compound != "DMSO" and (compound in "ACE") != plate.startswith("Week1"):
                continue  # A, C, E in week 1; B, D, F in week 2: NSCB has a same-MoA answer in the other week
            for rep in range(2):
                centre = np.eye(6)[centres[compound]] * signal + batch_shift
                values.append(centre + rng.normal(scale=0.5, size=(10, 6)))
                rows += [(plate, f"C{i}{rep}", compound, 0.0 if compound == "DMSO" else 1.0)] * 10
    cells = pd.DataFrame(rows, columns=["plate", "well", "compound", "concentration"])
    return FeatureSet(np.vstack(values).astype(np.float32), cells, {"method": "toy"})


@pytest.fixture
def moa_csv(tmp_path):
    path = tmp_path / "moa.csv"
    path.write_text(MOA_CSV)
    return path


def test_compare_matches_single_evaluations(moa_csv) -> None:
    sets = {"strong": make_feature_set(5.0, 0), "weak": make_feature_set(0.0, 1)}
    table = compare(sets, ["none", "dmso-zscore"], moa_csv=moa_csv)
    assert table[["method", "normalize"]].values.tolist() == [
        ["strong", "none"],
        ["strong", "dmso-zscore"],
        ["weak", "none"],
        ["weak", "dmso-zscore"],
    ]
    assert (table["nsc_total"] == 6).all() and (table["nscb_total"] == 6).all()
    strong = table.iloc[0]
    assert strong["nsc"] == 1.0 and strong["drop"] == pytest.approx(strong["nsc"] - strong["nscb"])
    assert table.loc[table["method"] == "weak", "nsc"].max() < 1.0
    from cellclr_lib.tables import attach_metadata

    fs = sets["weak"]
    single = evaluate_profiles(
        fs.features, attach_metadata(fs.cells, moa_csv, moa_csv=moa_csv), normalization="dmso-zscore"
    )
    assert table.iloc[3]["nsc"] == single.metrics["nsc"] and table.iloc[3]["nscb"] == single.metrics["nscb"]
    assert comparison_figure(table).axes[0].get_title() == "NSC"
    assert len(per_moa_figure(single).axes) == 1


def test_profile_map_figure_has_one_panel_per_colouring(moa_csv) -> None:
    from cellclr_lib.profiles import well_profiles
    from cellclr_lib.tables import attach_metadata

    fs = make_feature_set(5.0, 0)
    wells = well_profiles(fs.features, attach_metadata(fs.cells, moa_csv, moa_csv=moa_csv))
    figure = profile_map_figure(wells, color_by=("moa", "batch"))
    assert [ax.get_title() for ax in figure.axes] == [
        "t-SNE of profiles, coloured by moa",
        "t-SNE of profiles, coloured by batch",
    ]


def test_cli_compare_writes_table_and_figure(tmp_path, moa_csv) -> None:
    a = write_feature_set(tmp_path / "a", make_feature_set(5.0, 0))
    b = write_feature_set(tmp_path / "b", make_feature_set(0.5, 1))
    out, png = tmp_path / "table.csv", tmp_path / "cmp.png"
    argv = [
        "compare",
        "--feature-set",
        f"simclr={a}",
        "--feature-set",
        f"toy={b}",
        "--normalize",
        "none",
        "tvn",
        "--moa-csv",
        str(moa_csv),
        "--out",
        str(out),
        "--figure",
        str(png),
    ]
    assert cli.main(argv) == 0
    table = pd.read_csv(out)
    assert len(table) == 4 and set(table["normalize"]) == {"none", "tvn"}
    map_columns = ["map_activity", "map_activity_fraction", "map_consistency", "map_consistency_fraction"]
    assert table[map_columns].notna().all().all()  # the command line computes mAP by default
    by_method = table.set_index(["method", "normalize"])
    assert (
        by_method.loc[("simclr", "none"), "map_consistency"]
        > by_method.loc[("toy", "none"), "map_consistency"]
    )
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_parse_feature_sets_errors() -> None:
    assert list(parse_feature_sets(["x=a", "y=b"])) == ["x", "y"]
    with pytest.raises(CellclrError, match="NAME=PATH"):
        parse_feature_sets(["nonsense"])
    with pytest.raises(CellclrError, match="twice"):
        parse_feature_sets(["x=a", "x=b"])
