"""The synthetic stand-in: BBBC021's layout read back by the real readers, determinism, biology, batch effects."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from skimage.filters import threshold_otsu

from cellclr_lib.cli import main as cli_main
from cellclr_lib.data import metadata, synth
from cellclr_lib.data.source import dataset_kind
from cellclr_lib.data.standin_phenotype import Calibration
from cellclr_lib.errors import CellclrError
from cellclr_lib.evaluate import evaluate_profiles

#: a quicker configuration for the tests that generate more than once
FAST = {"compounds_per_moa": 1, "concentrations_per_compound": 1, "replicates": 1, "field_shape": (160, 192)}


def _fields(root: Path) -> pd.DataFrame:
    return metadata.benchmark_fields(root / metadata.IMAGE_CSV_NAME, root / metadata.MOA_CSV_NAME)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "synthetic.json"
    }


@pytest.fixture()
def tiny(tiny_standin: Path) -> Path:
    return tiny_standin


def test_layout_is_read_back_by_the_real_readers(tiny: Path) -> None:
    fields = _fields(tiny)
    assert dataset_kind(tiny) == "synthetic"
    assert len(fields) == json.loads((tiny / "synthetic.json").read_text())["n_fields"]
    paths = metadata.channel_file_paths(fields, tiny)
    shape = synth.PRESETS["tiny"].field_shape
    for channel, tag in metadata.CHANNELS.items():
        for path in paths[channel]:
            assert path.parent.parent.name.startswith("Week") and f"_{tag}" in path.name
            image = tifffile.imread(path)
            assert image.dtype == np.uint16 and image.shape == shape


def test_metadata_is_a_real_subset_with_every_moa(tiny: Path) -> None:
    fields = _fields(tiny)
    real = metadata.field_table().set_index("field_id")
    assert fields.set_index("field_id")[["plate", "well", "file_dapi", "compound"]].equals(
        real.loc[fields["field_id"], ["plate", "well", "file_dapi", "compound"]]
    )
    treated = fields[~fields["is_control"]]
    assert treated["moa"].nunique() == 12
    assert fields["batch"].nunique() >= 2
    prefixed = fields["file_dapi"].str.match(r"Week\d+_")
    assert prefixed.any() and (~prefixed).any(), "both real file-name forms must occur"
    dmso_plates = set(fields.loc[fields["is_control"], "plate"])
    assert dmso_plates == set(fields["plate"]), "DMSO on every plate"
    assert not metadata.is_taxol_control(fields).any()
    same_week_pairs = treated.groupby(["moa", "batch"])["compound"].nunique()
    assert (same_week_pairs >= 2).any(), "the same-week confound of BBBC021 is represented"
    real = metadata.benchmark_fields()
    possible = real[~real["is_control"]].groupby("moa")["batch"].nunique() >= 2
    spread = treated.groupby("moa")["batch"].nunique() >= 2
    assert spread[possible].all(), "NSCB needs every MoA in two weeks wherever BBBC021 has it"


def test_truth_matches_the_fields(tiny: Path) -> None:
    truth = pd.read_parquet(tiny / synth.TRUTH_FILE)
    fields = _fields(tiny)
    assert set(truth["field_id"]) == set(fields["field_id"])
    rows, cols = synth.PRESETS["tiny"].field_shape
    inside = truth["x"].between(0, cols) & truth["y"].between(0, rows)
    assert inside.mean() > 0.9
    assert truth.loc[truth["plate"].isin(fields.loc[fields["is_control"], "plate"]), "radius"].gt(4).all()
    dmso_ids = fields.loc[fields["is_control"], "field_id"]
    assert not truth.loc[truth["field_id"].isin(dmso_ids), "affected"].any()


def _naive_drop(root: Path) -> dict:
    """NSC/NSCB of the naive profile: each channel's mean per field -> mean per well -> median per treatment."""
    fields = _fields(root)
    paths = metadata.channel_file_paths(fields, root)
    means = np.array(
        [[tifffile.imread(paths[c][i]).mean() for c in metadata.CHANNELS] for i in range(len(fields))]
    )
    return evaluate_profiles(means, fields, input_level="image", aggregate="median").metrics


def test_naive_intensity_profiles_show_a_batch_drop(tiny: Path, tmp_path: Path) -> None:
    """Batch effects make naive profiles match within a week: NSC − NSCB grows clearly when they are on.

    (Three field means are a poor profile of the calibrated phenotypes, so both accuracies are low; the drop
    is what the batch effects add.)"""
    with_batch = _naive_drop(tiny)
    without = _naive_drop(synth.generate(tmp_path / "flat", batch_effect=0, workers=2, progress=False))
    print(f"naive profile: with batch effects {with_batch}, without {without}")
    assert with_batch["nsc_total"] >= 50 and with_batch["nscb_total"] >= 40
    assert with_batch["drop"] >= without["drop"] + 0.05
    assert without["nscb"] > with_batch["nscb"], "without batch effects MoAs match across weeks more often"


def test_cells_are_at_native_scale_with_six_real_dmso_wells_per_plate(tiny: Path) -> None:
    """BBBC021's geometry: DMSO nuclei ≈ the real median area in every preset, the plates' own six DMSO wells."""
    fields = _fields(tiny)
    truth = pd.read_parquet(tiny / synth.TRUTH_FILE)
    dmso = truth[truth["field_id"].isin(fields.loc[fields["is_control"], "field_id"])]
    real_area = Calibration.load().median["nucleus_area"]
    assert 0.8 < np.median(np.pi * dmso["radius"] ** 2) / real_area < 1.2
    controls = fields[fields["is_control"]].groupby("plate")["well"].unique().map(sorted)
    real = metadata.benchmark_fields()
    real_controls = real[real["is_control"]].groupby("plate")["well"].unique().map(sorted)
    assert all(len(wells) == 6 for wells in controls)
    assert controls.to_dict() == real_controls.loc[controls.index].to_dict()


def test_raw_intensities_are_at_real_levels(tiny: Path) -> None:
    """Raw 16-bit counts like real BBBC021: background ≈ 700, nuclei up to ~10⁴, tubulin brighter than actin."""
    fields = _fields(tiny)
    paths = metadata.channel_file_paths(fields, tiny)
    first = fields.index[fields["is_control"]][0]
    dapi, tubulin, actin = (tifffile.imread(paths[c][first]).astype(float) for c in metadata.CHANNELS)
    assert 550 < np.percentile(dapi, 5) < 900
    assert 4000 < np.percentile(dapi, 99.5) < 20000
    assert np.percentile(tubulin, 95) > np.percentile(actin, 95) > 1500


def _tubulin_mean(image: np.ndarray) -> float:
    """Mean tubulin signal of the cell pixels (above the field's Otsu threshold), background removed."""
    image = image.astype(float) - np.percentile(image, 2)
    return float(image[image > threshold_otsu(image)].mean())


def test_moa_phenotypes_follow_the_real_signatures(tiny: Path) -> None:
    """Against DMSO of the same plate, as in the real profiles: stabilisers raise tubulin, Aurora inhibitors
    enlarge nuclei."""
    fields = _fields(tiny)
    paths = metadata.channel_file_paths(fields, tiny)
    tubulin = pd.Series([_tubulin_mean(tifffile.imread(p)) for p in paths["Tubulin"]], index=fields.index)
    dmso = tubulin[fields["is_control"]].groupby(fields["plate"]).mean()
    relative = (tubulin / fields["plate"].map(dmso)).groupby(fields["moa"]).mean()
    assert relative["Microtubule stabilizers"] > 1.3
    truth = pd.read_parquet(tiny / synth.TRUTH_FILE).merge(fields[["field_id", "moa"]], on="field_id")
    radius = truth.groupby("moa")["radius"].median()
    assert radius["Aurora kinase inhibitors"] > 1.1 * radius["DMSO"]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = synth.generate(tmp_path / "a", seed=1, progress=False, **FAST)
    b = synth.generate(tmp_path / "b", seed=1, workers=2, progress=False, **FAST)  # order-free
    c = synth.generate(tmp_path / "c", seed=2, progress=False, **FAST)
    assert _digest(a) == _digest(b)
    images = {k: v for k, v in _digest(a).items() if k.endswith(".tif")}
    assert images and any(_digest(c).get(k) != v for k, v in images.items())


def test_interrupted_generation_resumes_to_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = synth.generate(tmp_path / "reference", progress=False, **FAST)
    calls = {"n": 0}
    render = synth._render_task

    def flaky(task):  # dies after five fields, like a killed run
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return render(task)

    monkeypatch.setattr(synth, "_render_task", flaky)
    with pytest.raises(KeyboardInterrupt):
        synth.generate(tmp_path / "resumed", progress=False, **FAST)
    assert not (tmp_path / "resumed" / "synthetic.json").exists()
    monkeypatch.setattr(synth, "_render_task", render)
    rendered = {"n": 0}
    draw = synth.render_field

    def counting(*args, **kwargs):
        rendered["n"] += 1
        return draw(*args, **kwargs)

    monkeypatch.setattr(synth, "render_field", counting)
    synth.generate(tmp_path / "resumed", progress=False, **FAST)
    assert _digest(tmp_path / "resumed") == _digest(reference)
    n_fields = json.loads((reference / "synthetic.json").read_text())["n_fields"]
    assert rendered["n"] == n_fields - 5, "fields written before the interruption are not rendered again"


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CellclrError, match="unknown synthetic preset 'huge'"):
        synth.generate(tmp_path / "x", preset="huge")
    with pytest.raises(CellclrError, match="replicates must be 1, 2 or 3"):
        synth.generate(tmp_path / "x", replicates=5)
    done = synth.generate(tmp_path / "done", progress=False, **FAST)
    with pytest.raises(CellclrError, match="other parameters") as err:
        synth.generate(done, seed=9, progress=False, **FAST)
    assert str(done) in str(err.value)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(CellclrError, match="not empty"):
        synth.generate(foreign, progress=False, **FAST)


def test_cli_reports_what_it_wrote(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["synth", "--preset", "tiny", "--seed", "0", "--out", str(tiny)]) == 0
    assert "synthetic BBBC021 (tiny, seed 0)" in capsys.readouterr().out
    assert cli_main(["synth", "--preset", "tiny", "--seed", "3", "--out", str(tiny)]) == 2
    assert "other parameters" in capsys.readouterr().err


@pytest.fixture(scope="module")
def dmso_field(render_dmso) -> tuple:
    """One rendered DMSO field (no vignetting), its cells and their rasterisation: owner, ρ cell, ρ nucleus."""
    image, cells, rasterised = render_dmso((256, 320), 0)
    return (image.astype(float), cells, *rasterised)


def test_diffuse_stains_are_brightest_where_the_cell_is_thickest(dmso_field) -> None:
    """A widefield image sums the stain over the cell's height: actin and tubulin away from the nucleus are
    brighter over the cell body than near its edge (before the cortex)."""
    image, _, owner, rho, rho_n = dmso_field
    body = (owner >= 0) & (rho < 0.55) & (rho_n > 1.2)
    rim = (owner >= 0) & (rho > 0.75) & (rho < 0.85) & (rho_n > 1.2)
    assert body.sum() > 2000 and rim.sum() > 2000
    _, tubulin, actin = image
    assert np.median(actin[body]) > 1.08 * np.median(actin[rim])
    assert np.median(tubulin[body]) > 1.2 * np.median(tubulin[rim])


def test_every_interphase_cell_has_a_bright_centrosome_beside_its_nucleus(dmso_field) -> None:
    """Near each nucleus the brightest tubulin is a spot just outside it (1–1.6 nucleus radii from its centre)."""
    image, cells, owner, _, _ = dmso_field
    tubulin = image[1]
    rows, cols = np.mgrid[0 : tubulin.shape[0], 0 : tubulin.shape[1]]
    distances = []
    for x, y, radius, cell in cells.nuclei():
        inside = (
            2 * radius < x < tubulin.shape[1] - 2 * radius and 2 * radius < y < tubulin.shape[0] - 2 * radius
        )
        if not inside or cells.props["mitotic"][int(cell)]:
            continue
        near = (np.hypot(cols - x, rows - y) < 2 * radius) & (owner == int(cell))
        brightest = np.argmax(np.where(near, tubulin, -1))
        distances.append(np.hypot(cols.flat[brightest] - x, rows.flat[brightest] - y) / radius)
    assert len(distances) >= 8
    assert np.mean((np.array(distances) > 1.0) & (np.array(distances) < 1.6)) >= 0.8


def test_batch_effects_are_centred_over_the_standin_weeks_and_plates() -> None:
    """Week and plate effects are deviations around the real DMSO median: their draws average to zero over the
    stand-in's weeks and plates (a seed cannot move every DMSO well of its stand-in), and keep their spread."""
    config = synth.config_for("small", seed=1)
    n = len(Calibration.load().week)
    weeks, plates = synth._centred_effects(config, n)
    assert set(plates) == set(synth.choose_fields(config)["plate"])
    assert set(weeks) == {metadata.batch_of(plate) for plate in plates}
    for draws in (np.array(list(weeks.values())), np.array(list(plates.values()))):
        assert draws.shape[1] == n
        assert np.allclose(draws.mean(axis=0), 0, atol=1e-12)
        assert 0.5 < draws.std(axis=0, ddof=1).mean() < 1.5


def test_read_config_gives_back_the_configuration_a_stand_in_was_generated_with(
    tiny_standin: Path, tmp_path: Path
) -> None:
    """The ceiling of notebook 1 redraws the wells from the stand-in's own configuration, so it must round-trip;
    a folder without a finished stand-in is refused by name."""
    assert synth.read_config(tiny_standin) == synth.config_for("tiny", seed=0)
    with pytest.raises(CellclrError, match="no synthetic.json") as error:
        synth.read_config(tmp_path)
    assert str(tmp_path) in str(error.value)
