from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from cellclr_lib import cli
from cellclr_lib.checkpoint import load_checkpoint
from cellclr_lib.data import store as st
from cellclr_lib.errors import CellclrError
from cellclr_lib.train import TrainConfig, lr_factor, read_metrics, train

S = 16


def make_store(path: Path, plates: dict[str, int] | None = None, size: int = S) -> Path:
    """A small crop store with random-looking blobs (one shard per plate)."""
    rng = np.random.default_rng(0)
    for plate, n in (plates or {"Week1_1": 24, "Week2_2": 24}).items():
        cells = pd.DataFrame({c: ["-"] * n for c in st.CELL_COLUMNS})
        cells["plate"] = plate
        cells["image_number"] = np.arange(n)
        with st.ShardWriter(path, plate, size) as writer:
            writer.append(rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8))
            writer.commit(cells, {})
    st.merge_shards(
        path,
        list(plates or {"Week1_1": 0, "Week2_2": 0}),
        size,
        {"format": st.STORE_FORMAT, "parameters": {}},
    )
    return path


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("store"))


def tiny(out: Path, **kw) -> TrainConfig:
    base = dict(
        out=str(out),
        epochs=4,
        batch_size=8,
        lr=1e-3,
        warmup_epochs=0.5,
        size=12,
        augment="microscopy",
        checkpoint_every=2,
        progress=False,
        seed=3,
    )
    return TrainConfig(**{**base, **kw})


def test_resume_two_plus_two_equals_four_bit_for_bit(store_path: Path, tmp_path: Path) -> None:
    full = train(tiny(tmp_path / "full", epochs=4), store_path)
    part = tiny(tmp_path / "part", epochs=4, stop_after_epochs=2)
    train(part, store_path)
    assert load_checkpoint(tmp_path / "part/checkpoints/last.pt")["epoch"] == 2
    train(tiny(tmp_path / "part", epochs=4, resume=True), store_path)
    a = load_checkpoint(full / "checkpoints/last.pt")
    b = load_checkpoint(tmp_path / "part/checkpoints/last.pt")
    assert a["step"] == b["step"] == 4 * 6  # 48 crops / batch 8
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    ma, mb = read_metrics(full), read_metrics(tmp_path / "part")
    pd.testing.assert_series_equal(ma["loss"], mb["loss"])
    pd.testing.assert_series_equal(ma["lr"], mb["lr"])
    assert list(ma["step"]) == list(range(1, 25))
    assert (full / "checkpoints/epoch_0002.pt").is_file() and (full / "checkpoints/epoch_0004.pt").is_file()
    saved = json.loads((full / "config.json").read_text())
    assert saved["batch_size"] == 8 and saved["world_size"] == 1
    assert a["model_config"]["input_size"] == 12


def test_existing_run_needs_resume_and_same_settings(store_path: Path, tmp_path: Path) -> None:
    train(tiny(tmp_path / "run", epochs=1), store_path)
    with pytest.raises(CellclrError, match="--resume"):
        train(tiny(tmp_path / "run", epochs=1), store_path)
    with pytest.raises(CellclrError, match="lr"):
        train(tiny(tmp_path / "run", epochs=2, lr=0.1, resume=True), store_path)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cellclr_lib.train as tr

    real, calls = tr.nt_xent, []

    def poisoned(z1, z2, temperature):
        calls.append(1)
        loss, acc = real(z1, z2, temperature)
        return (loss * float("nan"), acc) if len(calls) == 9 else (loss, acc)  # step 3 of epoch 2

    monkeypatch.setattr(tr, "nt_xent", poisoned)
    with pytest.raises(CellclrError, match=r"loss became nan at step 9 \(epoch 2\)") as err:
        train(tiny(tmp_path / "run", epochs=3), store_path)
    assert "--resume" in str(err.value)
    state = load_checkpoint(tmp_path / "run/checkpoints/last.pt")
    assert state["epoch"] == 1 and state["step"] == 6
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_any_loader_of_uint8_batches_works(tmp_path: Path) -> None:
    crops = torch.randint(0, 256, (32, 3, 12, 12), dtype=torch.uint8)
    loader = DataLoader(TensorDataset(crops, torch.arange(32)), batch_size=8, shuffle=True, drop_last=True)
    run = train(tiny(tmp_path / "run", epochs=2, size=None, augment="paper_early"), loader)
    metrics = read_metrics(run)
    assert list(metrics.columns) == ["step", "epoch", "loss", "accuracy", "lr", "images_per_s", "elapsed_s"]
    assert len(metrics) == 8 and np.isfinite(metrics["loss"]).all()
    assert ((metrics["accuracy"] >= 0) & (metrics["accuracy"] <= 1)).all()
    assert load_checkpoint(run / "checkpoints/last.pt")["model_config"]["input_size"] == 12


def test_lr_schedule_per_iteration() -> None:
    total, warm = 100, 10
    f = np.array([lr_factor(s, total, warm, 0.1) for s in range(total)])
    np.testing.assert_allclose(f[:warm], np.arange(1, warm + 1) / warm)
    assert f[warm] == pytest.approx(1.0)
    assert np.all(np.diff(f[warm:]) < 0)
    assert f[-1] == pytest.approx(0.1, abs=1e-3)


def test_cli_help_documents_every_option(capsys: pytest.CaptureFixture) -> None:
    parser = cli.build_parser("train")
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    for field in TrainConfig.__dataclass_fields__:
        action = next(a for a in sub._actions if a.dest == field)
        assert action.help and "default" in action.help, field
    with pytest.raises(CellclrError, match="sampling"):
        TrainConfig(sampling="class")


def test_cli_trains(store_path: Path, tmp_path: Path) -> None:
    argv = ["train", "--store", str(store_path), "--out", str(tmp_path / "run")]
    argv += ["--epochs", "1", "--batch-size", "8", "--size", "12", "--sampling", "plate", "--no-progress"]
    assert cli.main(argv) == 0
    assert len(read_metrics(tmp_path / "run")) == 6
