"""Tests of the baselines: hand-engineered features, random/ImageNet encoders, weakly supervised, VAE."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import torch
from skimage.draw import disk, ellipse
from torch import nn

from cellclr_lib import cli
from cellclr_lib.baselines import METHODS, compute_baseline, handcrafted, vae, weakly_supervised
from cellclr_lib.features import read_feature_set, write_feature_set

SIZE = 48
HAS_BUILD_ENCODER = importlib.util.find_spec("cellclr_lib.models") is not None
HAS_MODELS = HAS_BUILD_ENCODER and importlib.util.find_spec("cellclr_lib.embed") is not None
needs_models = pytest.mark.skipif(
    not HAS_MODELS, reason="cellclr_lib.models / cellclr_lib.embed not written yet"
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models on a shared CPU run faster (and steadier) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def draw_cell(
    nucleus_radius: float = 6,
    cell_radii: tuple[float, float] = (14, 10),
    intensity: int = 100,
    size: int = SIZE,
    seed: int = 0,
) -> np.ndarray:
    """One ``(3, size, size)`` uint8 crop: a disk nucleus (DAPI) inside an ellipse cell (Tubulin, Actin)."""
    rng = np.random.default_rng(seed)
    crop = rng.integers(0, 6, size=(3, size, size)).astype(np.float32)  # dim background noise
    c = size // 2
    crop[0][disk((c, c), nucleus_radius, shape=(size, size))] += intensity
    rows, cols = ellipse(c, c, cell_radii[0], cell_radii[1], shape=(size, size))
    crop[1, rows, cols] += intensity * 0.6
    crop[2, rows, cols] += intensity * 0.4
    return np.clip(crop, 0, 255).astype(np.uint8)


def make_cells(n: int) -> pd.DataFrame:
    """A cells table like the crop store's: two treatments and DMSO over two plates."""
    compounds = np.array(["DMSO", "taxol", "colchicine"])[np.arange(n) % 3]
    return pd.DataFrame(
        {
            "plate": np.where(np.arange(n) < n // 2, "Week1_1", "Week2_1"),
            "well": "B02",
            "compound": compounds,
            "concentration": np.where(compounds == "DMSO", 0.0, 1.0),
            "moa": np.where(compounds == "DMSO", "DMSO", "Microtubule"),
        }
    )


# ---------------------------------------------------------------- hand-engineered features
def test_handcrafted_areas_match_drawn_shapes():
    radii = (4, 6, 8)
    crops = np.stack([draw_cell(nucleus_radius=r, seed=i) for i, r in enumerate(radii)])
    features, names, stats = handcrafted.handcrafted_features(crops, progress=False)
    assert features.shape == (3, len(names)) and len(set(names)) == len(names)
    assert np.isfinite(features).all() and stats["n_nucleus_failed"] == 0
    col = {name: features[:, i] for i, name in enumerate(names)}
    np.testing.assert_allclose(col["nucleus_area"], [np.pi * r**2 for r in radii], rtol=0.15)
    assert np.all(np.diff(col["nucleus_area"]) > 0)  # a larger drawn nucleus, a larger area
    np.testing.assert_allclose(col["cell_area"], np.pi * 14 * 10, rtol=0.15)
    assert np.all(np.abs(col["nucleus_form_factor"] - 1) < 0.25)  # a disk is round (pixelated perimeter)
    np.testing.assert_allclose(col["nucleus_eccentricity"], 0.0, atol=0.35)
    assert col["cell_eccentricity"].min() > 0.5  # the drawn cell is an ellipse
    np.testing.assert_allclose(col["nucleus_cell_area_ratio"], col["nucleus_area"] / col["cell_area"])


def test_handcrafted_intensity_scales_and_segmentation_does_not():
    dim = draw_cell(intensity=60)
    bright = dim * np.uint8(2)  # every pixel twice as bright
    features, names, _ = handcrafted.handcrafted_features(np.stack([dim, bright]), progress=False)
    col = {name: features[:, i] for i, name in enumerate(names)}
    assert col["nucleus_area"][0] == col["nucleus_area"][1]
    for name in (
        "nucleus_mean_DAPI",
        "nucleus_integrated_DAPI",
        "cytoplasm_median_Tubulin",
        "cell_q90_Actin",
    ):
        ratio = col[name][1] / col[name][0]
        assert ratio == pytest.approx(2.0, rel=1e-4), name


def test_handcrafted_splits_off_a_touching_neighbour():
    crop = draw_cell(nucleus_radius=6, cell_radii=(12, 12)).astype(np.float32)
    neighbour = (SIZE // 2, SIZE // 2 + 20)  # its cell overlaps the centre cell
    crop[0][disk(neighbour, 6, shape=(SIZE, SIZE))] += 100
    rows, cols = disk(neighbour, 12, shape=(SIZE, SIZE))
    crop[1:, rows, cols] = np.maximum(crop[1:, rows, cols], [[60], [40]])
    features, names, _ = handcrafted.handcrafted_features(crop.astype(np.uint8)[None], progress=False)
    col = dict(zip(names, features[0], strict=True))
    assert col["nucleus_area"] == pytest.approx(np.pi * 36, rel=0.15)
    # without an intensity valley the watershed splits near the midline; merged, the area would be ~1.6x
    assert 0.75 * np.pi * 144 < col["cell_area"] < 1.25 * np.pi * 144
    assert col["nucleus_neighbours"] == 1  # the nuclei's edges are 8 px apart: within CellProfiler's 10 px
    assert 10 < col["cell_percent_touching"] < 60  # the shared boundary is part of the outline, not all of it


def test_handcrafted_neighbours_ratios_and_maximum_of_a_lone_cell():
    lone = draw_cell(nucleus_radius=6, cell_radii=(12, 12)).astype(np.float32)
    far = lone.copy()
    far[0][disk((SIZE // 2, SIZE // 2 + 21), 3, shape=(SIZE, SIZE))] += 100  # 12 px away: not counted
    features, names, _ = handcrafted.handcrafted_features(
        np.stack([lone, far]).astype(np.uint8), progress=False
    )
    cols = {name: features[:, i] for i, name in enumerate(names)}
    assert list(cols["nucleus_neighbours"]) == [0, 0] and cols["cell_percent_touching"][0] == 0
    # tubulin is drawn evenly over the whole cell: as bright over the nucleus as in the cytoplasm
    assert cols["nucleus_cytoplasm_ratio_Tubulin"][0] == pytest.approx(1.0, abs=0.1)
    assert cols["nucleus_cytoplasm_ratio_DAPI"][0] > 5  # DNA sits in the nucleus
    assert np.all(cols["nucleus_max_DAPI"] >= cols["nucleus_q90_DAPI"])
    assert np.all(cols["nucleus_correlation_d1_DAPI"] != 0)  # chromatin texture is measured in the nucleus


def test_handcrafted_failed_segmentation_is_zero_and_counted():
    blank = np.zeros((3, SIZE, SIZE), np.uint8)
    crops = np.stack([draw_cell(), blank])
    features, _, stats = handcrafted.handcrafted_features(crops, progress=False)
    assert stats == {"n_nucleus_failed": 1, "n_cytoplasm_empty": 0}
    assert np.all(features[1] == 0) and np.count_nonzero(features[0]) > 0.5 * features.shape[1]


def test_handcrafted_workers_and_resize():
    crops = np.stack([draw_cell(nucleus_radius=4 + i % 4, seed=i) for i in range(6)])
    serial, _, _ = handcrafted.handcrafted_features(crops, chunk_size=4, progress=False)
    parallel, _, _ = handcrafted.handcrafted_features(crops, chunk_size=4, workers=2, progress=False)
    np.testing.assert_array_equal(serial, parallel)
    names = handcrafted.feature_names()
    area = names.index("nucleus_area")
    doubled, _, _ = handcrafted.handcrafted_features(crops[:2], size=2 * SIZE, progress=False)
    np.testing.assert_allclose(doubled[:, area], 4 * serial[:2, area], rtol=0.15)


# ---------------------------------------------------------------- toy data for the trained baselines
def tiny_encoder() -> nn.Module:
    """A few-parameter CNN mapping ``(B, 3, S, S)`` to ``(B, 16)``: enough for toy problems, fast on a CPU."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )


def toy_treatments(n_per_class: int = 12) -> tuple[np.ndarray, pd.DataFrame]:
    """Three easily told-apart 'treatments': small dim nuclei (DMSO), large bright nuclei, no cytoskeleton."""
    crops, compounds = [], []
    for i in range(n_per_class):
        crops.append(draw_cell(nucleus_radius=4, intensity=60, seed=i))
        crops.append(draw_cell(nucleus_radius=9, intensity=200, seed=100 + i))
        crop = draw_cell(nucleus_radius=6, seed=200 + i)
        crop[1:] = 0
        crops.append(crop)
        compounds += ["DMSO", "taxol", "colchicine"]
    cells = make_cells(len(crops))
    cells["compound"] = compounds
    cells["concentration"] = np.where(cells["compound"] == "DMSO", 0.0, 1.0)
    return np.stack(crops), cells


# ---------------------------------------------------------------- VAE
def test_vae_loss_decreases_and_mu_shape():
    crops, cells = toy_treatments(4)
    model, losses = vae.train_vae(
        crops, size=16, latent_dim=8, epochs=12, batch_size=12, lr=2e-3, progress=False
    )
    assert len(losses) == 12 and np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3])
    with torch.no_grad():
        mu, logvar = model.encode(torch.rand(5, 3, 16, 16))
    assert mu.shape == logvar.shape == (5, 8)


def test_vae_rejects_bad_size():
    with pytest.raises(ValueError, match="multiple of 16"):
        vae.ConvVAE(size=40)


# ---------------------------------------------------------------- weakly supervised
def test_treatment_labels_with_and_without_dmso():
    _, cells = toy_treatments(2)
    labels, classes = weakly_supervised.treatment_labels(cells)
    assert classes == ["DMSO@0", "colchicine@1", "taxol@1"] and set(labels) == {0, 1, 2}
    labels, classes = weakly_supervised.treatment_labels(cells, include_dmso=False)
    assert "DMSO@0" not in classes
    np.testing.assert_array_equal(labels == -1, cells["compound"] == "DMSO")


def test_weakly_supervised_learns_a_separable_toy_set():
    crops, cells = toy_treatments(12)
    labels, classes = weakly_supervised.treatment_labels(cells)
    model, losses = weakly_supervised.train_weakly(
        crops, labels, encoder=tiny_encoder(), epochs=25, batch_size=12, lr=1e-2, progress=False
    )
    with torch.no_grad():
        predicted = model(torch.as_tensor(crops).float() / 255).argmax(dim=1).numpy()
    accuracy = np.mean(predicted == labels)
    assert accuracy > 0.8 > 1 / len(classes), accuracy
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


@pytest.mark.skipif(not HAS_BUILD_ENCODER, reason="cellclr_lib.models not written yet")
def test_weakly_supervised_default_encoder_features():
    crops, cells = toy_treatments(2)
    fs = weakly_supervised.weakly_feature_set(crops, cells, size=16, epochs=1, batch_size=6, progress=False)
    assert fs.features.shape == (6, 512) and np.isfinite(fs.features).all()  # ResNet-18's pooled h
    assert fs.info["n_classes"] == 3 and fs.info["sees_evaluation_labels"] is True


# ---------------------------------------------------------------- encoders (need models.py / embed.py)
@needs_models
def test_random_encoder_features_shape_and_seed():
    crops, cells = toy_treatments(2)
    one = compute_baseline("random", crops, cells, arch="resnet18", size=32, seed=0)
    again = compute_baseline("random", crops, cells, arch="resnet18", size=32, seed=0)
    assert one.features.shape == (len(cells), 512)  # ResNet-18
    assert np.isfinite(one.features).all()
    np.testing.assert_allclose(one.features, again.features, rtol=1e-5)


@needs_models
def test_imagenet_skips_cleanly_without_weights(monkeypatch, tmp_path):
    from cellclr_lib.baselines.encoders import PretrainedWeightsUnavailable

    _go_offline(monkeypatch, tmp_path)
    crops, cells = toy_treatments(1)
    with pytest.raises(PretrainedWeightsUnavailable, match="ImageNet weights") as raised:
        compute_baseline("imagenet", crops, cells, arch="resnet18", size=32)
    assert "random initialisation" not in str(raised.value), "skipped, not computed on random weights"


def _go_offline(monkeypatch, tmp_path):
    """No cached weights and no network, whatever the machine running the tests has."""
    from torchvision.models import WeightsEnum

    def offline(*args, **kwargs):
        raise OSError("no network (test)")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)


# ---------------------------------------------------------------- every baseline writes a readable feature set
FAST_OPTIONS = {
    "handcrafted": {},
    "random": {"arch": "resnet18", "size": 32},
    "weakly": {"encoder": None, "size": 16, "epochs": 1, "batch_size": 12},
    "vae": {"size": 16, "epochs": 1, "batch_size": 12, "latent_dim": 8},
}


@pytest.mark.parametrize("method", list(FAST_OPTIONS))
def test_feature_set_round_trip(method, tmp_path):
    if method == "random" and not HAS_MODELS:
        pytest.skip("cellclr_lib.models / cellclr_lib.embed not written yet")
    crops, cells = toy_treatments(2)
    options = dict(FAST_OPTIONS[method])
    if "encoder" in options:
        options["encoder"] = tiny_encoder()
    if method in ("weakly", "vae"):
        options["progress"] = False
    written = compute_baseline(method, crops, cells, **options)
    fs = read_feature_set(write_feature_set(tmp_path / method, written))
    assert fs.info["method"] == method and fs.info["n_cells"] == len(cells)
    assert fs.features.shape == written.features.shape and np.isfinite(np.asarray(fs.features)).all()
    pd.testing.assert_frame_equal(fs.cells, cells.reset_index(drop=True))
    json.dumps(fs.info)  # info stays JSON


def test_compute_baseline_rejects_bad_input():
    crops, cells = toy_treatments(1)
    with pytest.raises(ValueError, match="unknown baseline"):
        compute_baseline("cellprofiler", crops, cells)
    with pytest.raises(ValueError, match="row-aligned"):
        compute_baseline("handcrafted", crops, cells.iloc[:-1])
    assert set(METHODS) == {"handcrafted", "random", "imagenet", "weakly", "vae"}


# ---------------------------------------------------------------- the CLI on a crop store
@pytest.fixture
def store_dir(tmp_path):
    """A crop store on disk in the contract's layout (crops.npy, cells.parquet, manifest.json)."""
    store = pytest.importorskip("cellclr_lib.data.store", reason="cellclr_lib.data.store not written yet")
    crops, cells = toy_treatments(2)
    path = tmp_path / "store"
    path.mkdir()
    np.save(path / store.CROPS_NAME, crops)
    cells.to_parquet(path / store.CELLS_NAME, index=False)
    manifest = {"format": store.STORE_FORMAT, "complete": True, "parameters": {"crop_size": SIZE}}
    (path / store.MANIFEST_NAME).write_text(json.dumps(manifest))
    return path


def test_cli_handcrafted_writes_then_resumes(store_dir, tmp_path, capsys):
    out = tmp_path / "handcrafted"
    argv = ["baseline", "handcrafted", "--store", str(store_dir), "--out", str(out), "--epochs", "2"]
    assert cli.main(argv) == 0
    fs = read_feature_set(out)
    assert fs.info["method"] == "handcrafted" and len(fs.cells) == len(fs.features) == 6
    assert "ignoring --epochs" in capsys.readouterr().out
    stamp = (out / "features.npy").stat().st_mtime_ns
    assert cli.main(argv) == 0
    assert "already complete" in capsys.readouterr().out
    assert (out / "features.npy").stat().st_mtime_ns == stamp


@needs_models
def test_cli_imagenet_offline_is_skipped(store_dir, tmp_path, monkeypatch, capsys):
    _go_offline(monkeypatch, tmp_path)
    out = tmp_path / "imagenet"
    assert cli.main(["baseline", "imagenet", "--store", str(store_dir), "--out", str(out)]) == 0
    assert "skipped" in capsys.readouterr().out
    assert not out.exists()


def test_cli_rejects_bad_options(tmp_path, capsys):
    argv = ["baseline", "vae", "--store", str(tmp_path), "--out", str(tmp_path / "o"), "--epochs", "0"]
    assert cli.main(argv) == 2
    assert "argument --epochs: must be ≥ 1, got 0" in capsys.readouterr().err
