"""NSC / NSCB evaluation on hand-built tables whose answers are known by construction."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cellclr_lib import cli
from cellclr_lib.data.metadata import benchmark_fields
from cellclr_lib.errors import CellclrError
from cellclr_lib.evaluate import evaluate_profiles, run_evaluation
from cellclr_lib.metrics.nsc import evaluate_treatments, similarity_matrix
from cellclr_lib.profiles import Profiles
from cellclr_lib.tables import detect_level, read_table


def treatments(rows: list[tuple[str, float, str, str, list[float]]]) -> Profiles:
    """Treatment profiles from (compound, concentration, moa, batches, vector) rows."""
    meta = pd.DataFrame([r[:4] for r in rows], columns=["compound", "concentration", "moa", "batches"])
    return Profiles(meta, np.array([r[4] for r in rows], dtype=np.float32))


def query(result, compound: str, concentration: float = 1.0) -> pd.Series:
    q = result.queries
    return q[(q["compound"] == compound) & (q["concentration"] == concentration)].iloc[0]


def test_same_compound_trap() -> None:
    result = evaluate_treatments(
        treatments(
            [
                ("A", 1.0, "M1", "Week1", [1, 0, 0]),
                ("A", 2.0, "M1", "Week2", [1, 0.01, 0]),  # nearest, but the same compound: excluded
                ("B", 1.0, "M2", "Week3", [0.9, 0.3, 0]),
                ("C", 1.0, "M1", "Week3", [0, 0, 1]),
            ]
        )
    )
    a = query(result, "A")
    assert (a["nsc_compound"], a["nsc_correct"]) == ("B", False)
    assert result.metrics["nsc_total"] == 4
    assert result.metrics["nsc_correct"] == 1  # A1->B, A2->B, B->A2 wrong; C ties at 0 with all -> A1, right
    c = query(result, "C")
    assert c["nsc_compound"] == "A" and c["nsc_correct"]


def test_multi_week_treatment_excludes_any_shared_week() -> None:
    result = evaluate_treatments(
        treatments(
            [
                ("Q", 1.0, "M1", "Week1,Week2", [1, 0]),
                ("X", 1.0, "M1", "Week2", [1, 0.05]),  # nearest, shares Week2 with Q
                ("Y", 1.0, "M1", "Week3", [1, 0.5]),
                ("Z", 1.0, "M2", "Week3", [0, 1]),
            ]
        )
    )
    assert query(result, "Q")["nsc_compound"] == "X"
    assert query(result, "Q")["nscb_compound"] == "Y"
    assert query(result, "X")["nscb_compound"] == "Y"  # Q shares X's week
    assert result.metrics["nscb_total"] == 4


def test_ties_break_to_lowest_sorted_treatment_regardless_of_order() -> None:
    rows = [
        ("Q", 1.0, "M1", "Week1", [1, 0]),
        ("B", 1.0, "M2", "Week2", [1, 1]),
        ("A", 3.0, "M1", "Week2", [2, 2]),  # same direction as B: a cosine tie
        ("A", 0.5, "M3", "Week3", [0, 1]),
    ]
    first = evaluate_treatments(treatments(rows))
    second = evaluate_treatments(treatments(rows[::-1]))
    for result in (first, second):
        q = query(result, "Q")
        assert (q["nsc_compound"], q["nsc_concentration"], q["nsc_ties"]) == ("A", 3.0, 1)
    assert first.metrics["nsc_ties"] == second.metrics["nsc_ties"] >= 1
    pd.testing.assert_frame_equal(first.queries, second.queries)


def test_nscb_removes_the_two_single_batch_moas() -> None:
    result = evaluate_treatments(
        treatments(
            [
                ("K", 1.0, "Kinase inhibitors", "Week2", [1, 0.01]),  # nearest to Q, but out of NSCB
                ("L", 1.0, "Cholesterol-lowering", "Week3", [1, 0.02]),
                ("Q", 1.0, "M1", "Week1", [1, 0]),
                ("R", 1.0, "M1", "Week4", [1, 0.5]),
                ("S", 1.0, "M2", "Week5", [0, 1]),
            ]
        )
    )
    assert query(result, "Q")["nsc_compound"] == "K"
    assert query(result, "Q")["nscb_compound"] == "R"
    assert query(result, "K")["nscb_evaluated"] == False  # noqa: E712
    m = result.metrics
    assert (m["nsc_total"], m["nscb_total"], m["nscb_skipped"]) == (5, 3, 0)
    assert m["per_moa"]["Kinase inhibitors"]["nscb"] is None
    assert m["drop"] == pytest.approx(m["nsc"] - m["nscb"])


def test_query_without_candidate_is_skipped() -> None:
    result = evaluate_treatments(
        treatments(
            [
                ("A", 1.0, "M1", "Week1", [1, 0]),
                ("B", 1.0, "M1", "Week1", [1, 1]),
                ("C", 1.0, "M2", "Week1,Week2", [0, 1]),
            ]
        )
    )
    m = result.metrics
    assert (m["nscb_total"], m["nscb_skipped"]) == (0, 3)
    assert np.isnan(m["nscb"])
    assert result.to_dict()["nscb"] is None and result.to_dict()["queries"][0]["nscb"] is None


def test_cosine_and_pearson_pick_different_neighbours() -> None:
    profiles = treatments(
        [
            ("Q", 1.0, "M1", "Week1", [1, 2, 3]),
            ("A", 1.0, "M1", "Week2", [11, 12, 13]),  # Pearson 1, cosine 0.95
            ("B", 1.0, "M2", "Week2", [1, 2, 3.5]),  # cosine 0.998, Pearson 0.994
        ]
    )
    assert query(evaluate_treatments(profiles, "cosine"), "Q")["nsc_compound"] == "B"
    assert query(evaluate_treatments(profiles, "pearson"), "Q")["nsc_compound"] == "A"
    assert similarity_matrix(np.array([[1.0, 2, 3], [11, 12, 13]]), "pearson")[0, 1] == pytest.approx(1)
    assert similarity_matrix(np.zeros((2, 3)))[0, 1] == 0


def well_table() -> pd.DataFrame:
    """Well-level table: 3 compounds in 2 MoAs over 2 weeks plus DMSO, features separating the MoAs."""
    rng = np.random.default_rng(0)
    rows = []
    for plate in ("Week1_1", "Week2_1"):
        for i, (compound, concentration, centre) in enumerate(
            [("DMSO", 0.0, 0), ("A", 1.0, 1), ("B", 1.0, 1), ("C", 2.0, -1), ("D", 2.0, -1)]
        ):
            for rep in range(2):
                rows.append(
                    (
                        plate,
                        f"B{i}{rep}",
                        compound,
                        concentration,
                        *(centre * np.array([1, 2, 0]) + 0.1 * rng.normal(size=3)),
                    )
                )
    return pd.DataFrame(rows, columns=["plate", "well", "compound", "concentration", "f_0", "f_1", "f_2"])


@pytest.fixture
def moa_csv(tmp_path):
    path = tmp_path / "moa.csv"
    path.write_text("compound,concentration,moa\nA,1.0,M1\nB,1.000000,M1\nC,2,M2\nD,2.0,M2\nDMSO,0,DMSO\n")
    return path


def test_table_with_bbbc021_aliases_and_moa_join(tmp_path, moa_csv) -> None:
    table = well_table()
    canonical = tmp_path / "wells.csv"
    table.to_csv(canonical, index=False)
    aliased = tmp_path / "aliased.parquet"
    table.rename(
        columns={
            "plate": "Image_Metadata_Plate_DAPI",
            "well": "Image_Metadata_Well",
            "compound": "Image_Metadata_Compound",
            "concentration": "Image_Metadata_Concentration",
        }
    ).to_parquet(aliased)
    a = run_evaluation(canonical, moa_csv=moa_csv)
    b = run_evaluation(aliased, moa_csv=moa_csv)
    assert (a.metrics["nsc"], a.metrics["nsc_total"]) == (1.0, 4)
    assert (a.metrics["nscb_total"], a.metrics["nscb_skipped"]) == (0, 4)  # all span both weeks: skipped
    assert a.settings["level"] == "well" and a.settings["n_control_wells"] == 4
    pd.testing.assert_frame_equal(a.queries, b.queries)


def test_separate_metadata_table(tmp_path, moa_csv) -> None:
    table = well_table()
    profiles = tmp_path / "profiles.csv"
    table.drop(columns=["compound", "concentration"]).to_csv(profiles, index=False)
    metadata = tmp_path / "image.csv"
    sites = pd.concat([table[["plate", "well", "compound", "concentration"]]] * 4)  # several fields per well
    sites.rename(
        columns={
            "plate": "Image_Metadata_Plate_DAPI",
            "well": "Image_Metadata_Well_DAPI",
            "compound": "Image_Metadata_Compound",
            "concentration": "Image_Metadata_Concentration",
        }
    ).to_csv(metadata, index=False)
    joined = run_evaluation(profiles, metadata=metadata, moa_csv=moa_csv)
    pd.testing.assert_frame_equal(
        joined.queries, run_evaluation(_write(tmp_path, table), moa_csv=moa_csv).queries
    )


def _write(tmp_path, table: pd.DataFrame):
    path = tmp_path / "full.csv"
    table.to_csv(path, index=False)
    return path


def test_clear_errors(tmp_path, moa_csv) -> None:
    broken = tmp_path / "broken.csv"
    well_table().drop(columns=["compound"]).to_csv(broken, index=False)
    with pytest.raises(CellclrError, match=r"broken\.csv.*compound"):
        run_evaluation(broken, moa_csv=moa_csv)
    with pytest.raises(CellclrError, match="not found"):
        run_evaluation(tmp_path / "nothing.csv")
    with pytest.raises(CellclrError, match="no feature columns starting with g_"):
        run_evaluation(_write(tmp_path, well_table()), features_prefix=["g_"], moa_csv=moa_csv)
    no_dmso = tmp_path / "no_dmso.csv"
    well_table().query("compound != 'DMSO'").to_csv(no_dmso, index=False)
    with pytest.raises(CellclrError, match=r"no_dmso\.csv.*DMSO"):
        run_evaluation(no_dmso, normalization="whiten", moa_csv=moa_csv)


def test_real_metadata_gives_103_treatments_103_nsc_92_nscb() -> None:
    fields = benchmark_fields()
    wells = fields.drop_duplicates(["plate", "well"])[["plate", "well", "compound", "concentration", "moa"]]
    assert len(wells) == 632
    values = np.random.default_rng(0).normal(size=(len(wells), 8)).astype(np.float32)
    result = evaluate_profiles(values, wells.reset_index(drop=True), input_level="well", normalization="tvn")
    m = result.metrics
    assert (m["n_treatments"], m["nsc_total"], m["nscb_total"], m["nsc_skipped"], m["nscb_skipped"]) == (
        103,
        103,
        92,
        0,
        0,
    )
    taxol = query(result, "taxol", 0.3)
    assert taxol["batches"] == "Week1"


def test_cli_writes_json_and_confusion(tmp_path, moa_csv) -> None:
    path = _write(tmp_path, well_table())
    out, png = tmp_path / "metrics.json", tmp_path / "confusion.png"
    code = cli.main(
        [
            "evaluate",
            str(path),
            "--moa-csv",
            str(moa_csv),
            "--normalize",
            "dmso-zscore",
            "--out",
            str(out),
            "--confusion",
            str(png),
        ]
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert {
        "nsc",
        "nscb",
        "drop",
        "nsc_correct",
        "nsc_total",
        "nscb_correct",
        "nscb_total",
        "nscb_skipped",
        "per_moa",
        "queries",
        "settings",
    } <= set(data)
    assert data["settings"]["normalize"] == "dmso-zscore"
    assert data["queries"][0]["nsc"]["compound"] in {"A", "B", "C", "D"}
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["evaluate", str(tmp_path / "missing.csv")]) == 2


def test_importable_without_torch() -> None:
    """torch is made unimportable the way a missing install is (ModuleNotFoundError), not by a None entry
    in sys.modules, which scipy's array-API probe (reached through copairs → statsmodels) would trip over."""
    code = (
        "import sys, importlib.abc\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch': raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import cellclr_lib.evaluate, cellclr_lib.profiles, cellclr_lib.normalize, cellclr_lib.compare\n"
        "import cellclr_lib.tables, cellclr_lib.metrics.nsc, cellclr_lib.metrics.map\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_feature_set_directory_equals_table_of_well_means(tmp_path, moa_csv) -> None:
    """Cell-level feature set → wells by mean gives the same answer as a table of those well means."""
    from cellclr_lib.features import FeatureSet, write_feature_set

    wells = well_table()
    rng = np.random.default_rng(5)
    repeats = rng.integers(2, 6, size=len(wells))
    cells = wells.loc[np.repeat(wells.index.to_numpy(), repeats)].reset_index(drop=True)
    cells["site"] = np.arange(len(cells)) % 2 + 1
    features = cells[["f_0", "f_1", "f_2"]].to_numpy() + rng.normal(scale=0.01, size=(len(cells), 3))
    meta = cells.drop(columns=["f_0", "f_1", "f_2"])
    directory = write_feature_set(tmp_path / "fs", FeatureSet(features.astype(np.float32), meta))
    means = meta.assign(f_0=features[:, 0], f_1=features[:, 1], f_2=features[:, 2])
    means = means.groupby(["plate", "well", "compound", "concentration"], as_index=False)[
        ["f_0", "f_1", "f_2"]
    ].mean()
    from_dir = run_evaluation(directory, moa_csv=moa_csv, normalization="tvn")
    from_table = run_evaluation(_write(tmp_path, means), moa_csv=moa_csv, normalization="tvn")
    assert from_dir.settings["level"] == "cell" and from_table.settings["level"] == "well"
    pd.testing.assert_frame_equal(from_dir.queries, from_table.queries, atol=1e-5)
    via_image = run_evaluation(directory, moa_csv=moa_csv, via_image=True, image_aggregate="median")
    assert via_image.settings["image_aggregate"] == "median" and via_image.metrics["nsc_total"] == 4


def test_detect_level() -> None:
    table = well_table()
    assert detect_level(table) == "well"
    images = pd.concat([table.assign(site=1), table.assign(site=2)])
    assert detect_level(images) == "image"
    assert detect_level(pd.concat([images, images])) == "cell"


def test_profile_tables_with_cr_only_line_endings_are_read(tmp_path) -> None:
    table = tmp_path / "profiles.csv"
    table.write_bytes(
        b"Image_Metadata_Plate,compound,concentration,f1\rWeek1_1,taxol,0.3,1.5\rWeek1_1,DMSO,0,2.5"
    )
    read = read_table(table)
    assert list(read["plate"]) == ["Week1_1", "Week1_1"] and list(read["f1"]) == [1.5, 2.5]


def _bad(tmp_path, name: str, edit) -> str:
    """well_table() changed by ``edit`` (a function of the table), written to ``name``."""
    table = well_table().astype({"f_1": object})
    path = tmp_path / name
    edit(table).to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        (
            "text_cell.csv",
            lambda t: t.assign(f_1=t["f_1"].where(t.index != 3, "#DIV/0!")),
            r"text_cell\.csv: non-numeric value '#DIV/0!' in feature column 'f_1' at row 4",
        ),
        (
            "nan.csv",
            lambda t: t.assign(f_0=t["f_0"].where(t.index != 5, np.nan)),
            r"nan\.csv: NaN or infinite feature values at row 6 \(columns f_0\)",
        ),
        (
            "zeros.csv",
            lambda t: t.assign(f_0=0.0, f_1=0.0, f_2=0.0),
            r"zeros\.csv: all 3 features are constant over all 20 rows",
        ),
        (
            "no_moa.csv",
            lambda t: t.replace({"compound": {"D": "E"}}),
            r"no_moa\.csv: no MoA for compound\(s\) E at 4 rows \(9, 10, 19, 20\)",
        ),
        (
            "plate_without_dmso.csv",
            lambda t: t[~((t["plate"] == "Week2_1") & (t["compound"] == "DMSO"))],
            r"plate_without_dmso\.csv: no DMSO well on plate\(s\) Week2_1 at 8 rows",
        ),
        (
            "one_compound.csv",
            lambda t: t[t["compound"].isin(["DMSO", "A"])],
            r"one_compound\.csv: treatments of 1 compound\(s\) \(A\): no treatment has a treatment of another",
        ),
    ],
)
def test_bad_input_is_a_one_line_error_naming_file_and_rows(
    tmp_path, moa_csv, capsys, name, edit, message
) -> None:
    path = _bad(tmp_path, name, edit)
    with pytest.raises(CellclrError, match=message):
        run_evaluation(path, moa_csv=moa_csv, metrics=("nsc", "map"))
    assert cli.main(["evaluate", path, "--moa-csv", str(moa_csv)]) == 2
    error = capsys.readouterr().err
    assert name in error.splitlines()[0] and "Fix:" in error


def test_unannotated_rows_can_be_dropped_explicitly(tmp_path, moa_csv) -> None:
    path = _bad(tmp_path, "extra.csv", lambda t: pd.concat([t, t[t["compound"] == "D"].assign(compound="E")]))
    result = run_evaluation(path, moa_csv=moa_csv, drop_unannotated=True)
    assert result.metrics["n_treatments"] == 4


def test_gzipped_csv_reads_like_plain_csv(tmp_path, moa_csv) -> None:
    plain, zipped = tmp_path / "wells.csv", tmp_path / "wells.csv.gz"
    well_table().to_csv(plain, index=False)
    well_table().to_csv(zipped, index=False, compression="gzip")
    assert zipped.read_bytes()[:2] == b"\x1f\x8b"
    pd.testing.assert_frame_equal(read_table(zipped), read_table(plain))


def test_cli_on_the_shipped_cellprofiler_table_gives_the_pinned_numbers(tmp_path, capsys) -> None:
    """The real per-well file (gzipped, Image_Metadata_* names, no compound column) + the image table."""
    from cellclr_lib.data.ljosa import ljosa_path
    from cellclr_lib.data.metadata import IMAGE_CSV_NAME, shipped_path

    out = tmp_path / "metrics.json"
    argv = ["evaluate", str(ljosa_path()), "--metadata", str(shipped_path(IMAGE_CSV_NAME)), "--out", str(out)]
    options = ["--normalize", "dmso-zscore", "--aggregate", "mean", "--similarity", "pearson"]
    assert cli.main(argv + options) == 0
    printed = capsys.readouterr().out
    assert "NSC  82.5% (85/103)" in printed and "NSCB 75.0% (69/92, skipped 0)" in printed
    data = json.loads(out.read_text())
    assert (data["nsc_correct"], data["nscb_correct"], data["map_activity_retrieved"]) == (85, 69, 90)
    assert data["map_consistency"] == pytest.approx(0.7385740004752874, abs=1e-9)
    assert data["settings"]["metrics"] == ["nsc", "map"] and data["settings"]["n_features"] == 516


def test_pycytominer_export_reads_back_to_the_same_evaluation(tmp_path) -> None:
    from cellclr_lib.data.ljosa import load_ljosa_wells

    exported = tmp_path / "profiles.csv.gz"
    table = load_ljosa_wells().to_pycytominer()
    assert list(table.columns[:7]) == [
        "Metadata_Plate",
        "Metadata_Well",
        "Metadata_Batch",
        "Metadata_Compound",
        "Metadata_Concentration",
        "Metadata_MoA",
        "Metadata_Control",
    ]
    table.to_csv(exported, index=False)
    result = run_evaluation(
        exported, normalization="dmso-zscore", aggregate="mean", similarity="cosine", metrics=("nsc",)
    )
    assert (result.metrics["nsc_correct"], result.metrics["nscb_correct"]) == (85, 67)
    assert result.settings["n_features"] == 516


def test_summary_says_na_when_no_nscb_query_has_a_candidate(tmp_path, moa_csv) -> None:
    from cellclr_lib.evaluate import summary_lines

    result = run_evaluation(_write(tmp_path, well_table()), moa_csv=moa_csv, metrics=("nsc", "map"))
    lines = summary_lines(result)
    assert lines[:3] == ["NSC  100.0% (4/4)", "NSCB n/a (0/0, skipped 4)", "drop n/a"]
    assert lines[3].startswith("mAP activity ") and lines[4].startswith("mAP MoA consistency ")
