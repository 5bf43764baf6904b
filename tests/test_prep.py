"""cellclr prep: illumination, nuclei, crops, the resumable plate-by-plate store build and bad input.

Most tests run on a small raw dataset written here in BBBC021's on-disk layout (2 plates × 6 fields of
256×320 px, disks for nuclei under a known vignetting), so each knows the truth it checks against.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from skimage.draw import disk, ellipse

from cellclr_lib import cli
from cellclr_lib.data import illumination as illum
from cellclr_lib.data import prep
from cellclr_lib.data.crops import extract_crops
from cellclr_lib.data.metadata import channel_file_paths
from cellclr_lib.data.nuclei import detect_nuclei
from cellclr_lib.data.store import CropStore
from cellclr_lib.errors import CellclrError

SHAPE = (256, 320)
CROP = 32
WELLS = {"B02": ("DMSO", 0.0), "C03": ("alpha", 1.0), "D04": ("beta", 3.0)}
#: the stand-in fields are 4× smaller than real ones, so is the smoothing of the illumination profile
ILLUM = illum.IlluminationParams(sigma=40)
MOAS = {"DMSO": "DMSO", "alpha": "Microtubule stabilizers", "beta": "Actin disruptors"}


def shading(shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """A smooth vignetting, 1.0 in the middle falling to ~0.6 in the corners."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    r2 = ((rows - shape[0] / 2) / shape[0]) ** 2 + ((cols - shape[1] / 2) / shape[1]) ** 2
    return 1.0 - 0.8 * r2


def draw_field(rng: np.random.Generator, n: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """A (3, H, W) uint16 field with ``n`` well-separated round nuclei; returns it and the true (x, y)."""
    centres: list[tuple[float, float]] = []
    while len(centres) < n:
        x, y = rng.uniform(10, SHAPE[1] - 10), rng.uniform(10, SHAPE[0] - 10)
        if all((x - a) ** 2 + (y - b) ** 2 > 26**2 for a, b in centres):
            centres.append((x, y))
    dapi = np.full(SHAPE, 300.0)
    tub = np.full(SHAPE, 200.0)
    act = np.full(SHAPE, 250.0)
    for x, y in centres:
        dapi[disk((y, x), 8, shape=SHAPE)] += 3000
        tub[disk((y, x), 12, shape=SHAPE)] += 1500
        act[disk((y, x), 11, shape=SHAPE)] += 1000
    field = np.stack([dapi, tub, act]) * shading() + rng.normal(0, 40, (3, *SHAPE))
    return np.clip(field, 0, 65535).astype(np.uint16), np.array(centres)


def write_dataset(
    root: Path, plates: tuple[str, ...] = ("Week1_111", "Week2_222"), seed: int = 0
) -> pd.DataFrame:
    """Write CSVs and TIFFs in BBBC021's layout; return the true nuclei (image_number, x, y)."""
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    number = 0
    for plate in plates:
        week = plate.split("_")[0]
        folder = f"{week}/{plate}"
        (root / folder).mkdir(parents=True, exist_ok=True)
        for well, (compound, conc) in WELLS.items():
            for site in (1, 2):
                number += 1
                field, centres = draw_field(rng)
                names = {}
                for channel, tag, image in zip(
                    ("DAPI", "Tubulin", "Actin"), ("w1", "w2", "w4"), field, strict=True
                ):
                    names[channel] = (
                        f"{well}_s{site}_{tag}{uuid.UUID(int=int(rng.integers(2**62))).hex.upper()}.tif"
                    )
                    tifffile.imwrite(root / folder / names[channel], image)
                rows.append(
                    {
                        "TableNumber": 1,
                        "ImageNumber": number,
                        "Image_FileName_DAPI": names["DAPI"],
                        "Image_PathName_DAPI": folder,
                        "Image_FileName_Tubulin": names["Tubulin"],
                        "Image_PathName_Tubulin": folder,
                        "Image_FileName_Actin": names["Actin"],
                        "Image_PathName_Actin": folder,
                        "Image_Metadata_Plate_DAPI": plate,
                        "Image_Metadata_Well_DAPI": well,
                        "Replicate": 1,
                        "Image_Metadata_Compound": compound,
                        "Image_Metadata_Concentration": conc,
                    }
                )
                truth += [{"image_number": number, "x": x, "y": y} for x, y in centres]
    pd.DataFrame(rows).to_csv(root / "BBBC021_v1_image.csv", index=False)
    moa = pd.DataFrame([{"compound": c, "concentration": conc, "moa": MOAS[c]} for c, conc in WELLS.values()])
    moa.to_csv(root / "BBBC021_v1_moa.csv", index=False)
    return pd.DataFrame(truth)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("raw")
    return root, write_dataset(root)


@pytest.fixture(scope="module")
def store_dir(dataset: tuple[Path, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store") / "crops"
    run(dataset[0], out)
    return out


def run(root: Path, out: Path, **kwargs: object) -> prep.PrepReport:
    """prep_dataset with the test's crop size and illumination smoothing, no progress bar."""
    options = {"crop_size": CROP, "illumination": ILLUM, "progress": False, **kwargs}
    return prep.prep_dataset(root, out, **options)


def store_bytes(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------ steps


def test_illumination_profile_recovers_the_shading() -> None:
    rng = np.random.default_rng(1)
    fields = [draw_field(rng)[0] for _ in range(12)]
    profile = illum.illumination_profile(fields, downsample=8, sigma=40)
    assert profile.shape == (3, *SHAPE)
    np.testing.assert_allclose(profile.mean(axis=(1, 2)), 1.0, atol=0.02)
    expected = shading() / shading().mean()
    # heavy smoothing costs a little in the corners; on average the shading is recovered to ~2 %
    assert np.abs(profile[0] - expected).mean() < 0.03
    assert np.abs(profile[0] - expected).max() < 0.12
    ratio = profile[0, 128, 160] / profile[0, 5, 5]
    assert ratio == pytest.approx(expected[128, 160] / expected[5, 5], rel=0.05)


def test_intensity_limits_and_uint8_scaling() -> None:
    samples = np.stack([np.arange(10001, dtype=float), np.arange(10001, dtype=float) * 2])
    lo, hi = illum.intensity_limits(samples, 0.1, 99.9)
    np.testing.assert_allclose(lo, [10, 20], atol=0.01)
    np.testing.assert_allclose(hi, [9990, 19980], atol=0.01)
    image = np.array([[[5.0, 10, 5000, 9990, 20000]], [[0, 20, 9990, 19980, 1]]])
    u8 = illum.to_uint8(image, lo, hi)
    assert u8.dtype == np.uint8
    assert u8[0, 0].tolist() == [0, 0, 128, 255, 255]
    assert u8[1, 0].tolist() == [0, 0, 127, 255, 0]


def test_detect_nuclei_splits_touching_and_drops_debris() -> None:
    image = np.full((120, 160), 100.0)
    image[disk((60, 50), 12)] = 2000
    image[disk((60, 72), 12)] = 2000  # touches the first
    image[disk((30, 130), 10)] = 2000
    image[disk((100, 130), 2)] = 2000  # debris below min_area
    rng = np.random.default_rng(0)
    labels, xy, areas = detect_nuclei(image + rng.normal(0, 20, image.shape))
    assert labels.max() == len(xy) == len(areas) == 3
    found = sorted(map(tuple, np.round(xy)))
    assert np.abs(np.array(found) - np.array([(50, 60), (72, 60), (130, 30)])).max() <= 2
    assert all(300 < a < 560 for a in areas)


def test_detect_nuclei_on_a_flat_image_finds_nothing() -> None:
    labels, xy, areas = detect_nuclei(np.full((64, 64), 7, dtype=np.uint16))
    assert labels.max() == 0 and xy.shape == (0, 2) and areas.shape == (0,)


def test_extract_crops_centres_and_skips_the_border() -> None:
    image = np.arange(3 * 50 * 60, dtype=np.int32).reshape(3, 50, 60)
    xy = np.array([[30.2, 25.4], [5.0, 25.0], [30.0, 45.0], [8.0, 8.0]])
    crops, kept = extract_crops(image, xy, 16)
    assert kept.tolist() == [True, False, False, True]
    assert crops.shape == (2, 3, 16, 16)
    np.testing.assert_array_equal(crops[0], image[:, 17:33, 22:38])
    np.testing.assert_array_equal(crops[1], image[:, 0:16, 0:16])
    assert crops[0, 1, 8, 8] == image[1, 25, 30]


# --------------------------------------------------------------------------------------- the store


def test_prep_builds_a_store_matching_the_truth(dataset: tuple[Path, pd.DataFrame], store_dir: Path) -> None:
    root, truth = dataset
    store = CropStore.open(store_dir)
    assert store.crops.dtype == np.uint8 and store.crops.shape[1:] == (3, CROP, CROP)
    assert len(store) == len(store.cells) == store.manifest["n_crops"]
    assert list(store.cells["plate"].unique()) == ["Week1_111", "Week2_222"]
    assert set(store.cells.loc[store.cells["is_control"], "compound"]) == {"DMSO"}
    assert store.manifest["parameters"]["crop_size"] == CROP
    assert store.manifest["dataset"]["kind"] == "bbbc021"
    assert sum(p["n_crops"] for p in store.manifest["plates"].values()) == len(store)
    # every true nucleus whose crop fits is found, at its true position, and nothing else
    half = CROP // 2
    fits = truth[
        (truth.x.round() >= half)
        & (truth.y.round() >= half)
        & (truth.x.round() + half <= SHAPE[1])
        & (truth.y.round() + half <= SHAPE[0])
    ]
    matched = 0
    for number, group in fits.groupby("image_number"):
        cells = store.cells[store.cells["image_number"] == number]
        d = np.hypot(
            group.x.to_numpy()[:, None] - cells.x.to_numpy(), group.y.to_numpy()[:, None] - cells.y.to_numpy()
        )
        matched += int((d.min(axis=1) < 1.5).sum())
    assert matched >= 0.95 * len(fits)
    assert len(store) <= len(fits) * 1.02
    # crops are centred on nuclei: bright DAPI centre, uint8 range used
    centre = store.crops[:, 0, half - 2 : half + 3, half - 2 : half + 3].mean(axis=(1, 2))
    corner = store.crops[:, 0, :3, :3].mean(axis=(1, 2))
    assert (centre > corner + 100).all()
    assert store.crops[:, 0].max() == 255


def test_illumination_correction_evens_out_nuclei(store_dir: Path) -> None:
    store = CropStore.open(store_dir)
    centre = store.crops[:, 0, CROP // 2 - 3 : CROP // 2 + 3, CROP // 2 - 3 : CROP // 2 + 3].mean(axis=(1, 2))
    r2 = ((store.cells["y"] - SHAPE[0] / 2) / SHAPE[0]) ** 2 + (
        (store.cells["x"] - SHAPE[1] / 2) / SHAPE[1]
    ) ** 2
    # raw nuclei lose up to ~30% towards the corners; corrected ones are flat in radius
    assert abs(np.corrcoef(r2, centre)[0, 1]) < 0.3
    profile = np.load(store_dir / "illumination" / "Week1_111.npy")
    assert profile.shape == (3, SHAPE[0] // 8, SHAPE[1] // 8)
    assert profile[0, 16, 20] > profile[0, 0, 0] * 1.3


def test_workers_give_the_same_bytes(
    dataset: tuple[Path, pd.DataFrame], store_dir: Path, tmp_path: Path
) -> None:
    run(dataset[0], tmp_path / "w2", workers=2)
    assert store_bytes(tmp_path / "w2") == store_bytes(store_dir)


def test_interrupted_prep_resumes_to_the_same_bytes(
    dataset: tuple[Path, pd.DataFrame], store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = prep._prep_plate
    calls: list[str] = []

    def die_after_first_plate(plate: str, *args: object, **kwargs: object) -> dict:
        if calls:
            raise KeyboardInterrupt
        calls.append(plate)
        return real(plate, *args, **kwargs)

    out = tmp_path / "resumed"
    monkeypatch.setattr(prep, "_prep_plate", die_after_first_plate)
    with pytest.raises(KeyboardInterrupt):
        run(dataset[0], out)
    monkeypatch.undo()
    assert (out / "plates" / "Week1_111.json").is_file() and not (out / "manifest.json").exists()
    with pytest.raises(CellclrError, match="interrupted"):
        CropStore.open(out)
    report = run(dataset[0], out)
    assert report.resumed_plates == ["Week1_111"]
    assert store_bytes(out) == store_bytes(store_dir)


def test_hard_kill_mid_plate_resumes_to_the_same_bytes(
    dataset: tuple[Path, pd.DataFrame], store_dir: Path, tmp_path: Path
) -> None:
    """SIGKILL (no cleanup runs) while the second plate's shard is being written, then resume."""
    out = tmp_path / "killed"
    script = f"""
import os, signal
from pathlib import Path
from cellclr_lib.data import illumination, prep, store
real_append = store.ShardWriter.append
def append(self, crops):
    real_append(self, crops)
    if "Week2" in self.paths["crops"].name:
        self._file.flush()
        os.kill(os.getpid(), signal.SIGKILL)
store.ShardWriter.append = append
prep.prep_dataset(Path({str(dataset[0])!r}), Path({str(out)!r}), crop_size={CROP},
                  illumination=illumination.IlluminationParams(sigma={ILLUM.sigma}), progress=False)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert (out / "plates" / "Week1_111.json").is_file() and not (out / "plates" / "Week2_222.json").exists()
    assert list((out / "plates").glob(".*.tmp-*")), "the kill should leave a partial temporary shard"
    report = run(dataset[0], out)
    assert report.resumed_plates == ["Week1_111"]
    assert store_bytes(out) == store_bytes(store_dir)


def test_complete_store_is_reused_or_protected(dataset: tuple[Path, pd.DataFrame], store_dir: Path) -> None:
    report = run(dataset[0], store_dir)
    assert report.resumed_plates == ["Week1_111", "Week2_222"] and report.n_crops == len(
        CropStore.open(store_dir)
    )
    with pytest.raises(CellclrError, match="crop_size=32 .requested 48"):
        run(dataset[0], store_dir, crop_size=48)


# ------------------------------------------------------------------------------------------ bad input


@pytest.fixture()
def broken(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """A fresh dataset with one missing, one truncated, one garbage, one float and one 3-D channel file."""
    root = tmp_path / "raw"
    write_dataset(root, plates=("Week1_111",), seed=3)
    table = pd.read_csv(root / "BBBC021_v1_image.csv")
    channels = ["DAPI", "Tubulin", "Actin", "DAPI", "Tubulin"]  # the channel broken in field i
    path = {
        i: root / table.Image_PathName_DAPI[i] / table[f"Image_FileName_{c}"][i]
        for i, c in enumerate(channels)
    }
    path[0].unlink()
    data = path[1].read_bytes()
    path[1].write_bytes(data[: len(data) // 2])
    path[2].write_bytes(b"not a tiff at all" * 10)
    tifffile.imwrite(path[3], np.zeros(SHAPE, dtype=np.float32))
    tifffile.imwrite(path[4], np.zeros((2, *SHAPE), dtype=np.uint16))
    return root, {
        "missing": path[0],
        "truncated": path[1],
        "corrupt": path[2],
        "dtype": path[3],
        "shape": path[4],
    }


def test_bad_files_are_skipped_and_named(broken: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    root, paths = broken
    report = run(root, tmp_path / "s")
    reasons = {s["image_number"]: s["reason"] for s in report.skipped}
    assert sorted(reasons) == [1, 2, 3, 4, 5]
    assert "missing" in reasons[1] and paths["missing"].name in reasons[1]
    assert "truncated or corrupt" in reasons[2] and paths["truncated"].name in reasons[2]
    assert paths["corrupt"].name in reasons[3]
    assert "float32" in reasons[4] and paths["dtype"].name in reasons[4]
    assert "2-D" in reasons[5] and paths["shape"].name in reasons[5]
    store = CropStore.open(tmp_path / "s")
    assert set(store.cells["image_number"]) == {6}
    assert len(store.manifest["skipped_fields"]) == 5
    assert "5 field(s) skipped" in report.summary()


def test_on_error_stop_raises_naming_the_file(broken: tuple[Path, dict[str, Path]], tmp_path: Path) -> None:
    root, paths = broken
    with pytest.raises(CellclrError, match=paths["missing"].name):
        run(root, tmp_path / "s", on_error="stop")
    paths["missing"].write_bytes(paths["truncated"].read_bytes())  # now truncated: found while reading
    with pytest.raises(CellclrError, match="truncated or corrupt"):
        run(root, tmp_path / "s", on_error="stop")
    assert not (tmp_path / "s" / "manifest.json").exists()


def test_plate_without_dmso_warns(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    write_dataset(root, plates=("Week1_111",))
    table = pd.read_csv(root / "BBBC021_v1_image.csv")
    table[table["Image_Metadata_Compound"] != "DMSO"].to_csv(root / "BBBC021_v1_image.csv", index=False)
    with pytest.warns(UserWarning, match="Week1_111 have no DMSO"):
        run(root, tmp_path / "s")


def test_unknown_plate_and_bad_crop_size_are_refused(
    dataset: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    with pytest.raises(CellclrError, match="Week9_999"):
        run(dataset[0], tmp_path / "s", plates=["Week9_999"])
    with pytest.raises(CellclrError, match="even number"):
        run(dataset[0], tmp_path / "s", crop_size=33)


def test_cli_prep(dataset: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli"
    argv = [
        "prep",
        "--data",
        str(dataset[0]),
        "--out",
        str(out),
        "--crop-size",
        "32",
        "--plates",
        "Week2_222",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cli.main([*argv, "--quiet"]) == 0
    store = CropStore.open(out)
    assert set(store.cells["plate"]) == {"Week2_222"} and store.manifest["parameters"]["plates"] == [
        "Week2_222"
    ]
    assert "crops from 6 fields on 1 plates" in capsys.readouterr().out
    (dataset[0] / "Week1/Week1_111").rename(dataset[0] / "Week1/gone")
    try:
        assert (
            cli.main(
                [
                    "prep",
                    "--data",
                    str(dataset[0]),
                    "--out",
                    str(tmp_path / "x"),
                    "--on-error",
                    "stop",
                    "--quiet",
                ]
            )
            == 1  # bad data, not a wrong command line
        )
        assert "image file is missing" in capsys.readouterr().err
    finally:
        (dataset[0] / "Week1/gone").rename(dataset[0] / "Week1/Week1_111")


def test_data_figures(store_dir: Path) -> None:
    from cellclr_lib.plots import data as plots

    rng = np.random.default_rng(5)
    field = draw_field(rng)[0]
    assert len(plots.field_channels(field, title="a field").axes) == 4
    profile = illum.illumination_profile([field], sigma=40)
    assert len(plots.illumination_before_after(field[0], profile[0], field[0] / profile[0]).axes) == 5
    labels, xy, _ = detect_nuclei(field[0])
    fig = plots.nuclei_overlay(field[0], labels, xy, crop_size=CROP)
    assert len(fig.axes[0].patches) == len(xy) and f"{len(xy)} nuclei" in fig.axes[0].get_title()
    store = CropStore.open(store_dir)
    gallery = plots.crop_gallery(store.crops, store.cells, per_group=4)
    assert len(gallery.axes) == 3 * 4
    rgb = plots.rgb_composite(
        np.stack([np.full((2, 2), 255), np.zeros((2, 2)), np.zeros((2, 2))]).astype(np.uint8)
    )
    assert rgb.shape == (2, 2, 3) and rgb[0, 0].tolist() == [0, 0, 1]  # DAPI is blue


# ------------------------------------------------------------------------ acceptance on the stand-in


def match(truth_xy: np.ndarray, found_xy: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matches (Hungarian on distances) closer than each true nucleus' radius: (i_truth, i_found)."""
    from scipy.optimize import linear_sum_assignment

    if len(truth_xy) == 0 or len(found_xy) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    distance = np.hypot(*(truth_xy[:, None, :] - found_xy[None, :, :]).transpose(2, 0, 1))
    rows, cols = linear_sum_assignment(np.where(distance <= radius[:, None], distance, 1e6))
    ok = distance[rows, cols] <= radius[rows]
    return rows[ok], cols[ok]


def test_detection_accuracy_with_touching_nuclei() -> None:
    """Random positions at BBBC021-like density (~120 per full field), so nuclei touch and overlap.

    Centre offsets are checked on nuclei fully inside the field: the visible part of a nucleus cut by the
    border has another centroid (and such nuclei get no crop anyway).
    """
    rng = np.random.default_rng(11)
    shape = (512, 640)
    n_true = n_found = n_matched = 0
    offsets = []
    for _ in range(3):
        image = np.full(shape, 400.0)
        truth = np.column_stack(
            [rng.uniform(0, shape[1], 30), rng.uniform(0, shape[0], 30), rng.uniform(9, 15, 30)]
        )
        for x, y, r in truth:
            rr, cc = ellipse(y, x, r, r * rng.uniform(0.7, 1.0), shape=shape, rotation=rng.uniform(0, np.pi))
            image[rr, cc] += 4000 * rng.uniform(0.6, 1.4)
        _, found, _ = detect_nuclei(image + rng.normal(0, 60, shape))
        hits, found_hits = match(truth[:, :2], found, truth[:, 2])
        n_true, n_found, n_matched = n_true + len(truth), n_found + len(found), n_matched + len(hits)
        x, y, r = truth[hits].T
        inside = (x > r) & (y > r) & (x < shape[1] - r) & (y < shape[0] - r)
        offsets.append(np.hypot(x - found[found_hits, 0], y - found[found_hits, 1])[inside])
    assert n_matched / n_true >= 0.90
    assert 1 - n_matched / n_found <= 0.05
    assert np.mean(np.concatenate(offsets) <= 3) >= 0.95


@pytest.fixture(scope="module")
def standin(tiny_standin: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The ``tiny`` synthetic stand-in (shared by the session) and its crop store built with default parameters."""
    out = tmp_path_factory.mktemp("synth_store") / "store"
    prep.prep_dataset(tiny_standin, out, progress=False)
    return tiny_standin, out


def _croppable(xy: np.ndarray, shape: tuple[int, ...], half: int = 48) -> np.ndarray:
    """Which centres lie at least ``half`` px inside the field (where a 96-px crop fits)."""
    return (
        (xy[:, 0] >= half)
        & (xy[:, 1] >= half)
        & (xy[:, 0] < shape[-1] - half)
        & (xy[:, 1] < shape[-2] - half)
    )


def test_standin_detection_accuracy(standin: tuple[Path, Path]) -> None:
    root, out = standin
    truth = pd.read_parquet(root / "synthetic_truth.parquet")
    fields = prep.select_fields(root)
    paths = channel_file_paths(fields, root)
    n_true = n_found = n_matched = n_found_matched = 0
    for i, row in enumerate(fields.itertuples()):
        image = prep.read_field([paths[c][i] for c in ("DAPI", "Tubulin", "Actin")])
        profile = illum.upsample_profile(np.load(out / "illumination" / f"{row.plate}.npy"), image.shape[1:])
        _, found, _ = detect_nuclei(illum.correct(image, profile)[0])
        true = truth[(truth["plate"] == row.plate) & (truth["image_number"] == row.image_number)]
        hits, found_hits = match(true[["x", "y"]].to_numpy(), found, true["radius"].to_numpy())
        # nuclei cut by the field's border have no crop and a shifted centroid: count the band crops can use
        true_in, found_in = (
            _croppable(true[["x", "y"]].to_numpy(), image.shape),
            _croppable(found, image.shape),
        )
        n_true, n_found = n_true + true_in.sum(), n_found + found_in.sum()
        n_matched, n_found_matched = (
            n_matched + true_in[hits].sum(),
            n_found_matched + found_in[found_hits].sum(),
        )
    recall, false_rate = n_matched / n_true, 1 - n_found_matched / n_found
    print(
        f"stand-in detection: recall {recall:.3f}, false detections {false_rate:.3f} ({n_true} true nuclei)"
    )
    assert recall >= 0.90
    assert false_rate <= 0.05


def test_standin_crops_are_centred_on_true_nuclei(standin: tuple[Path, Path]) -> None:
    root, out = standin
    truth = pd.read_parquet(root / "synthetic_truth.parquet")
    store = CropStore.open(out)
    assert store.manifest["dataset"]["kind"] == "synthetic"
    assert len(store) > 0 and store.crops.shape[1:] == (3, 96, 96)
    offsets = []
    for (plate, number), cells in store.cells.groupby(["plate", "image_number"]):
        true = truth[(truth["plate"] == plate) & (truth["image_number"] == number)]
        centres = np.rint(cells[["x", "y"]].to_numpy())  # the crop centre pixels
        hits, found = match(true[["x", "y"]].to_numpy(), centres, true["radius"].to_numpy())
        offsets.append(np.hypot(*(true[["x", "y"]].to_numpy()[hits] - centres[found]).T))
        offsets.append(np.full(len(centres) - len(found), np.inf))  # crops on no true nucleus
    offsets = np.concatenate(offsets)
    print(
        f"stand-in crop centres: median offset {np.median(offsets):.2f} px, {np.mean(offsets <= 3):.3f} within 3 px, {np.mean(np.isinf(offsets)):.3f} on no nucleus"
    )
    assert np.mean(offsets <= 3) >= 0.95
