"""Dataset descriptions: BBBC021's shipped one, a user's LoadData-style plates, and clear errors.

The user's plates are written here as CellProfiler's LoadData CSV (``FileName_OrigDNA``, ``PathName_OrigDNA``,
… ``Metadata_Plate``, ``Metadata_Well``, ``Metadata_Site``, an own treatment column) with five Cell Painting
channels of 16-bit TIFFs, so the test knows where every nucleus is.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
from skimage.draw import disk
from test_prep import CROP, run, write_dataset

from cellclr_lib import cli, models
from cellclr_lib.data import dataset, fields, metadata, prep
from cellclr_lib.data.store import CropStore
from cellclr_lib.errors import CellclrError, DataError, UsageError
from cellclr_lib.features import read_feature_set

PAINT = ("DNA", "ER", "RNA", "AGP", "Mito")
SHAPE = (160, 200)
TREATMENTS = {
    "A01": "DMSO",
    "A02": "DMSO",
    "B01": "cmpd-1",
    "B02": "cmpd-1",
    "C01": "cmpd-2",
    "C02": "cmpd-2",
}

LOADDATA_TOML = """
name = "my-cell-painting-screen"
image_csv = "load_data.csv"
control = "DMSO"
nucleus_channel = "DNA"
{channels}
[columns]
plate = "Metadata_Plate"
well = "Metadata_Well"
site = "Metadata_Site"
treatment = "Metadata_Treatment"

[batch]
column = "plate"
"""


def channel_tables(names: tuple[str, ...] = PAINT) -> str:
    return "".join(
        f'\n[[channels]]\nname = "{n}"\nfile = "FileName_Orig{n}"\npath = "PathName_Orig{n}"\n' for n in names
    )


def separated_centres(rng: np.random.Generator, n: int = 6) -> list[tuple[float, float]]:
    """``n`` nucleus centres at least 30 px apart, away from the border."""
    centres: list[tuple[float, float]] = []
    while len(centres) < n:
        x, y = rng.uniform(20, SHAPE[1] - 20), rng.uniform(20, SHAPE[0] - 20)
        if all((x - a) ** 2 + (y - b) ** 2 > 30**2 for a, b in centres):
            centres.append((x, y))
    return centres


def write_loaddata(root: Path, plates: tuple[str, ...] = ("P1", "P2"), seed: int = 0) -> pd.DataFrame:
    """Two plates × 6 wells × 2 sites of five-channel 16-bit fields, a LoadData CSV and its description."""
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    for plate in plates:
        folder = root / "images" / plate
        folder.mkdir(parents=True, exist_ok=True)
        for well, treatment in TREATMENTS.items():
            for site in (1, 2):
                centres = separated_centres(rng)
                field = np.full((len(PAINT), *SHAPE), 200.0)
                for x, y in centres:
                    field[0][disk((y, x), 7, shape=SHAPE)] += 4000
                    for c in range(1, len(PAINT)):
                        field[c][disk((y, x), 9 + c, shape=SHAPE)] += 500 * c
                field = np.clip(field + rng.normal(0, 30, field.shape), 0, 65535).astype(np.uint16)
                row = {"Metadata_Plate": plate, "Metadata_Well": well, "Metadata_Site": site}
                for name, image in zip(PAINT, field, strict=True):
                    file = f"{plate}_{well}_s{site}_{name}.tiff"
                    tifffile.imwrite(folder / file, image)
                    row[f"FileName_Orig{name}"] = file
                    row[f"PathName_Orig{name}"] = f"images/{plate}"
                rows.append({**row, "Metadata_Treatment": treatment})
                truth += [{"plate": plate, "well": well, "site": site, "x": x, "y": y} for x, y in centres]
    pd.DataFrame(rows).to_csv(root / "load_data.csv", index=False)
    (root / "my_plates.toml").write_text(LOADDATA_TOML.format(channels=channel_tables()), encoding="utf-8")
    return pd.DataFrame(truth)


@pytest.fixture(scope="module")
def painted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("loaddata")
    return root, write_loaddata(root)


@pytest.fixture(scope="module")
def painted_store(painted: tuple[Path, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, _ = painted
    out = tmp_path_factory.mktemp("painted") / "store"
    run(root, out, dataset=root / "my_plates.toml")
    return out


# ------------------------------------------------------------------------------------------ BBBC021


def test_bbbc021_description_reads_the_same_table_as_the_metadata_module() -> None:
    description = dataset.bbbc021()
    assert description.channel_names == ("DAPI", "Tubulin", "Actin")
    assert (description.control, description.nucleus_index, description.batch_split) == ("DMSO", 0, "_")
    root = metadata.shipped_path(metadata.IMAGE_CSV_NAME).parent
    pd.testing.assert_frame_equal(fields.read_fields(description, root), metadata.field_table())
    expected = metadata.benchmark_fields().sort_values(["plate", "image_number"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(fields.select(description, root), expected)


#: hashes of the store main produced (before descriptions existed) from test_prep's dataset: the crops'
#: bytes and the cell table's content. The description path must give the very same store.
MAIN_CROPS_SHA256 = "24589e568b874d6082c64857d360894951f856db84ab9e88f92d48eb604048c8"
MAIN_CELLS_SHA256 = "57074d017cc6e82eb38d7d6119b9d0a4ddf424755bcc4aac3f9b996e8c456802"


def cells_sha256(cells: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(cells, index=False).to_numpy().tobytes()).hexdigest()


def test_bbbc021_store_is_byte_identical_to_mains(tmp_path: Path) -> None:
    write_dataset(tmp_path / "raw")
    shipped = dataset.bbbc021().source
    run(tmp_path / "raw", tmp_path / "default")
    run(tmp_path / "raw", tmp_path / "described", dataset=shipped)
    for name in ("default", "described"):
        store = tmp_path / name
        assert hashlib.sha256((store / "crops.npy").read_bytes()).hexdigest() == MAIN_CROPS_SHA256
        assert cells_sha256(pd.read_parquet(store / "cells.parquet")) == MAIN_CELLS_SHA256
    assert CropStore.open(tmp_path / "described").channels == ["DAPI", "Tubulin", "Actin"]


# ------------------------------------------------------------------------------------ a user's plates


def test_loaddata_description_drives_prep(painted: tuple[Path, pd.DataFrame], painted_store: Path) -> None:
    root, truth = painted
    store = CropStore.open(painted_store)
    assert store.channels == list(PAINT)
    assert store.crops.shape[1:] == (5, CROP, CROP)
    assert store.manifest["dataset"]["kind"] == "my-cell-painting-screen"
    cells = store.cells
    assert set(cells["plate"]) == {"P1", "P2"} and set(cells["batch"]) == {"P1", "P2"}
    assert set(cells["site"]) == {1, 2} and cells["moa"].isna().all()
    assert set(cells.loc[cells["is_control"], "compound"]) == {"DMSO"}
    assert "file_dna" in cells
    # every crop sits on a true nucleus of its own field
    for (plate, well, site), group in cells.groupby(["plate", "well", "site"]):
        true = truth[(truth.plate == plate) & (truth.well == well) & (truth.site == site)][["x", "y"]]
        distance = np.hypot(
            group.x.to_numpy()[:, None] - true.x.to_numpy(), group.y.to_numpy()[:, None] - true.y.to_numpy()
        )
        assert (distance.min(axis=1) < 3).all()
    # the nucleus channel is the bright centre of each crop; the others are stains of their own
    centre = store.crops[:, :, CROP // 2, CROP // 2].astype(float).mean(axis=0)
    assert centre[0] > 150


def test_cli_prep_with_dataset(painted: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    root, _ = painted
    out = tmp_path / "store"
    prep = ["prep", "--data", str(root), "--out", str(out), "--dataset", str(root / "my_plates.toml")]
    code = cli.main([*prep, "--crop-size", str(CROP), "--quiet"])
    assert code == 0
    assert CropStore.open(out).channels == list(PAINT)


def test_missing_column_names_the_column_the_table_and_the_description(
    painted: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    root, _ = painted
    toml = tmp_path / "typo.toml"
    toml.write_text(
        (root / "my_plates.toml").read_text().replace("Metadata_Treatment", "Metadata_Treatmnt"),
        encoding="utf-8",
    )
    with pytest.raises(DataError) as err:
        prep.prep_dataset(root, tmp_path / "out", dataset=toml, progress=False)
    message = str(err.value)
    assert "Metadata_Treatmnt" in message and "load_data.csv" in message and str(toml) in message


def test_missing_image_file_is_named(painted: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    root, _ = painted
    table = pd.read_csv(root / "load_data.csv")
    table.loc[0, "FileName_OrigMito"] = "no_such_file.tiff"
    other = tmp_path / "raw"
    other.mkdir()
    (other / "images").symlink_to(root / "images")
    table.to_csv(other / "load_data.csv", index=False)
    with pytest.raises(DataError, match="no_such_file.tiff"):
        run(other, tmp_path / "out", dataset=root / "my_plates.toml", on_error="stop")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace('nucleus_channel = "DNA"', 'nucleus_channel = "Hoechst"'), "Hoechst"),
        (lambda t: t.replace('well = "Metadata_Well"\n', ""), "'well' is required"),
        (lambda t: t.replace("[batch]", "[batch]\nsplitt = '_'"), "splitt"),
        (lambda t: t + "\ncolour = 'red'\n", "colour"),
        (lambda t: t.replace('name = "my-', "name = my-"), "not a valid TOML"),
    ],
)
def test_bad_descriptions_are_refused_naming_the_file_and_key(edit, expected: str, tmp_path: Path) -> None:
    text = LOADDATA_TOML.format(channels=channel_tables())
    path = tmp_path / "bad.toml"
    path.write_text(edit(text), encoding="utf-8")
    with pytest.raises(UsageError) as err:
        dataset.read_description(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_missing_description_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CellclrError, match="dataset description not found"):
        prep.prep_dataset(tmp_path, tmp_path / "out", dataset=tmp_path / "nope.toml", progress=False)


# ------------------------------------------------------------------------------- five channels, end to end


def test_five_channel_store_trains_embeds_and_evaluates(painted_store: Path, tmp_path: Path) -> None:
    """train, embed, the handcrafted baseline and evaluate (mAP: these plates have no MoA labels) by the CLI."""
    run_dir, emb, hand = tmp_path / "run", tmp_path / "emb", tmp_path / "hand"
    train = ["--epochs", "1", "--batch-size", "16", "--size", "16", "--no-progress"]
    assert cli.main(["train", "--store", str(painted_store), "--out", str(run_dir), *train]) == 0
    checkpoint = run_dir / "checkpoints/last.pt"
    embed = ["embed", "--checkpoint", str(checkpoint), "--store", str(painted_store), "--out", str(emb)]
    assert cli.main([*embed, "--device", "cpu"]) == 0
    assert cli.main(["baseline", "handcrafted", "--store", str(painted_store), "--out", str(hand)]) == 0
    names = read_feature_set(hand).info["feature_names"]
    assert {f"cell_mean_{c}" for c in PAINT} <= set(names) and "cell_mean_DAPI" not in names
    for features in (emb, hand):
        out = tmp_path / f"{features.name}.json"
        assert cli.main(["evaluate", str(features), "--metric", "activity", "--out", str(out)]) == 0
        assert 0 <= json.loads(out.read_text())["map_activity"] <= 1


def test_imagenet_first_conv_adapts_to_any_channel_count() -> None:
    """timm's rule: RGB filters repeated cyclically and scaled by 3/C; one channel gets their sum."""
    conv = torch.nn.Conv2d(3, 4, 3)
    flat_rgb = conv(torch.ones(1, 3, 5, 5))
    for channels in (1, 6):  # a flat image gives the flat RGB response exactly
        adapted = models.adapt_first_conv(conv, channels)
        assert adapted.weight.shape[1] == channels
        torch.testing.assert_close(adapted(torch.ones(1, channels, 5, 5)), flat_rgb)
    five = models.adapt_first_conv(conv, 5).weight
    torch.testing.assert_close(five[:, 3], conv.weight[:, 0] * 3 / 5)
    encoder, _ = models.build_encoder("resnet18", in_channels=5)
    assert encoder(torch.zeros(2, 5, 32, 32)).shape == (2, 512)


def test_the_books_cell_painting_description_drives_prep(
    painted: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """The worked example on the setup page is a working description for a LoadData-style plate."""
    page = (Path(__file__).parents[1] / "book" / "setup.md").read_text(encoding="utf-8")
    example = page.split("```toml\n", 1)[1].split("```", 1)[0]
    toml = tmp_path / "my_plates.toml"
    toml.write_text(example, encoding="utf-8")
    description = dataset.read_description(toml)
    assert description.channel_names == PAINT and description.nucleus_channel == "DNA"
    root, _ = painted
    table = fields.select(description, root)
    assert len(table) == 24 and table["is_control"].sum() == 8


def test_standin_writes_bbbc021s_description_under_its_own_name(tmp_path: Path) -> None:
    from dataclasses import replace

    from cellclr_lib.data import synth

    path = tmp_path / dataset.DESCRIPTION_NAME
    path.write_text(synth.standin_description(), encoding="utf-8")
    own, reference = dataset.description_for(tmp_path), dataset.bbbc021()
    assert own.name == "BBBC021 stand-in" and own.source == path
    assert replace(own, name=reference.name, source=reference.source) == reference


def test_figures_show_any_channel_set(painted_store: Path) -> None:
    from cellclr_lib.plots.channels import channel_panels, composite

    store = CropStore.open(painted_store)
    crops = np.asarray(store.crops[:3])
    figure = channel_panels(crops, store.channels, ["DNA", "AGP", "Mito"])
    assert len(figure.axes) == 3 * 6 and figure.axes[5].get_title() == "DNA + AGP + Mito"
    rgb = composite(crops, store.channels, ["DNA"])
    np.testing.assert_allclose(rgb[..., 2], crops[:, 0] / 255, rtol=1e-6)
    assert not rgb[..., :2].any()
    with pytest.raises(ValueError, match="Hoechst"):
        composite(crops, store.channels, ["Hoechst"])
