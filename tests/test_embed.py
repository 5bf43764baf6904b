from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from cellclr_lib import cli
from cellclr_lib.data import store as st
from cellclr_lib.data.store import CropStore
from cellclr_lib.embed import embed_crops, embed_store, load_encoder
from cellclr_lib.errors import CellclrError
from cellclr_lib.features import read_feature_set
from cellclr_lib.models import build_encoder
from cellclr_lib.train import TrainConfig, train

S = 16


@pytest.fixture(scope="module")
def run_and_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 20-crop store of 16 px and a one-epoch run trained on 12-px views of it."""
    path = tmp_path_factory.mktemp("store")
    cells = pd.DataFrame({c: ["-"] * 20 for c in st.CELL_COLUMNS})
    cells["plate"], cells["well"] = "Week1_1", [f"B{i:02d}" for i in range(20)]
    with st.ShardWriter(path, "Week1_1", S) as writer:
        writer.append(np.random.default_rng(0).integers(0, 256, (20, 3, S, S), dtype=np.uint8))
        writer.commit(cells, {})
    st.merge_shards(path, ["Week1_1"], S, {"format": st.STORE_FORMAT, "parameters": {}})
    run = tmp_path_factory.mktemp("run")
    train(TrainConfig(out=str(run), store=str(path), epochs=1, batch_size=8, size=12, progress=False))
    return run, path


def test_embed_store_writes_h_of_resized_crops(run_and_store: tuple[Path, Path], tmp_path: Path) -> None:
    run, store_path = run_and_store
    out = embed_store(run / "checkpoints/last.pt", store_path, tmp_path / "emb", batch_size=7, progress=False)
    fs = read_feature_set(out, mmap=False)
    store = CropStore.open(store_path)
    assert fs.features.shape == (20, 512) and fs.features.dtype == np.float32
    pd.testing.assert_frame_equal(fs.cells, store.cells)
    assert fs.info["method"] == "simclr" and fs.info["input_size"] == 12 and fs.info["epoch"] == 1
    # same as the trained encoder applied by hand, in eval mode, to the crops resized to the training size
    encoder, _ = load_encoder(run / "checkpoints/last.pt")
    x = torch.from_numpy(np.array(store.crops)).float() / 255
    x = F.interpolate(x, size=(12, 12), mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        expected = encoder.eval()(x).numpy()
    np.testing.assert_allclose(fs.features, expected, rtol=1e-4, atol=1e-5)
    # weights really come from the checkpoint: a fresh encoder gives other features
    fresh, _ = build_encoder("resnet18")
    assert not np.allclose(
        embed_crops(fresh, store.crops, 20, "cpu", size=12, progress=False), expected, atol=1e-3
    )


def test_embed_cli_float16(run_and_store: tuple[Path, Path], tmp_path: Path) -> None:
    run, store_path = run_and_store
    argv = ["embed", "--checkpoint", str(run / "checkpoints/last.pt"), "--store", str(store_path)]
    argv += ["--out", str(tmp_path / "emb"), "--dtype", "float16", "--device", "cpu"]
    assert cli.main(argv) == 0
    fs = read_feature_set(tmp_path / "emb")
    assert fs.features.dtype == np.float16 and fs.features.shape == (20, 512)


def test_embed_crops_accepts_arrays_and_stores(run_and_store: tuple[Path, Path]) -> None:
    _, store_path = run_and_store
    store = CropStore.open(store_path)
    encoder, _ = build_encoder("resnet18")
    from_store = embed_crops(encoder, store, 6, "cpu", progress=False)
    from_array = embed_crops(encoder, np.array(store.crops), 20, "cpu", progress=False)
    np.testing.assert_allclose(from_store, from_array, rtol=1e-5, atol=1e-6)
    with pytest.raises(CellclrError, match="no crops"):
        embed_crops(encoder, np.zeros((0, 3, S, S), np.uint8), 4, "cpu")


def test_bad_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CellclrError, match="checkpoint not found"):
        load_encoder(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CellclrError, match="not a cellclr training checkpoint"):
        load_encoder(tmp_path / "other.pt")
