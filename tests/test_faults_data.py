"""Fault injection, data: bad tables and files, silent successes, a full disk, wrong option values.

Each test keeps a probe of issue #11: the command must end in one clear message (the file or option and the
fix, exit 1 for data and 2 for usage, no traceback) or in a correct result — never in a success for work not
done. A full disk is injected (``ENOSPC`` from the write path), as a small tmpfs is not available everywhere.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch
from test_prep import write_dataset
from test_train import make_store

from cellclr_lib import cli
from cellclr_lib.data.store import CropStore
from cellclr_lib.errors import CellclrError, DataError
from cellclr_lib.features import FeatureSet, read_feature_set, write_feature_set
from cellclr_lib.io import write_json_atomic, write_text_atomic

pytestmark = pytest.mark.timeout(300)

TRAIN = ["--epochs", "1", "--batch-size", "8", "--size", "12", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    write_dataset(root, plates=("Week1_111",))
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("store") / "s", {"Week1_1": 24})


def _copy_raw(raw: Path, to: Path) -> Path:
    subprocess.run(["cp", "-r", str(raw), str(to)], check=True)
    return to


def _prep(data: Path, out: Path, *extra: str) -> int:
    return cli.main(["prep", "--data", str(data), "--out", str(out), "--crop-size", "32", "--quiet", *extra])


def _tiffs(root: Path, tag: str) -> list[Path]:
    return sorted(p for p in root.rglob("*.tif") if f"_{tag}" in p.name)


def _no_traceback(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# ------------------------------------------------------------------------------------- silent success


def test_train_with_fewer_cells_than_a_batch_fails_naming_both(store, tmp_path, capsys):
    argv = ["train", "--store", str(store), "--out", str(tmp_path / "run"), *TRAIN, "--max-cells", "6"]
    assert cli.main(argv) == 1
    err = _no_traceback(capsys)
    assert "6 cell(s) make no full batch of 8" in err and "--batch-size" in err
    assert not (tmp_path / "run/checkpoints/last.pt").exists()


def test_prep_with_no_crop_is_an_error_not_a_store(raw, tmp_path, capsys):
    out = tmp_path / "st"
    assert cli.main(["prep", "--data", str(raw), "--out", str(out), "--crop-size", "1000", "--quiet"]) == 1
    assert "no crop from 6 processed field(s)" in _no_traceback(capsys)
    with pytest.raises(CellclrError, match="incomplete crop store"):
        CropStore.open(out)


def test_prep_where_every_field_is_bad_is_an_error(raw, tmp_path, capsys):
    root = _copy_raw(raw, tmp_path / "raw")
    for path in _tiffs(root, "w1"):
        path.write_bytes(b"II*\x00 not a tiff")
    assert _prep(root, tmp_path / "st") == 1
    err = _no_traceback(capsys)
    assert (
        "no crop from 0 processed field(s) (6 skipped; first: " in err
        and "_w1" in err
        and "got shape (0,)" in err
    )
    assert not (tmp_path / "st/manifest.json").exists()


def test_a_channel_of_another_dtype_is_named(raw, tmp_path, capsys):
    root = _copy_raw(raw, tmp_path / "raw")
    tubulin = _tiffs(root, "w2")[0]
    tifffile.imwrite(tubulin, (tifffile.imread(tubulin) // 256).astype(np.uint8))
    assert _prep(root, tmp_path / "st", "--on-error", "stop") == 1
    err = _no_traceback(capsys)
    assert f"{tubulin}: dtype uint8 differs from the DAPI image's uint16" in err


def _edit_csv(root: Path, name: str, edit) -> None:
    table = pd.read_csv(root / name, dtype=str, keep_default_na=False)
    edit(table).to_csv(root / name, index=False)


def test_duplicate_field_rows_are_named(raw, tmp_path, capsys):
    root = _copy_raw(raw, tmp_path / "raw")
    _edit_csv(root, "BBBC021_v1_image.csv", lambda t: pd.concat([t, t.iloc[[2]]], ignore_index=True))
    assert _prep(root, tmp_path / "st") == 1
    err = _no_traceback(capsys)
    assert "same table_number + image_number on lines 4, 8" in err and "BBBC021_v1_image.csv" in err


def test_duplicate_moa_rows_are_named(raw, tmp_path, capsys):
    root = _copy_raw(raw, tmp_path / "raw")
    _edit_csv(root, "BBBC021_v1_moa.csv", lambda t: pd.concat([t, t.iloc[[1]]], ignore_index=True))
    assert _prep(root, tmp_path / "st") == 1
    assert "same compound + concentration on lines 3, 5" in _no_traceback(capsys)


def test_non_numeric_image_number_is_named(raw, tmp_path, capsys):
    root = _copy_raw(raw, tmp_path / "raw")

    def edit(table: pd.DataFrame) -> pd.DataFrame:
        table.loc[3, "ImageNumber"] = "four"
        return table

    _edit_csv(root, "BBBC021_v1_image.csv", edit)
    assert _prep(root, tmp_path / "st") == 1
    assert "non-integer ImageNumber on line(s) 5: 'four'" in _no_traceback(capsys)


def test_prep_overwrite_redoes_a_store_after_a_file_is_fixed(raw, tmp_path, capsys):
    root = _copy_raw(raw, tmp_path / "raw")
    actin = _tiffs(root, "w4")[0]
    good = actin.read_bytes()
    actin.write_bytes(good[:300])
    out = tmp_path / "st"
    assert _prep(root, out) == 0
    assert "1 field(s) skipped" in capsys.readouterr().err
    actin.write_bytes(good)
    assert _prep(root, out) == 0  # without --overwrite: the finished store, with its old skip
    assert "1 field(s) skipped" in capsys.readouterr().err
    assert _prep(root, out, "--overwrite") == 0
    report = capsys.readouterr()
    assert "skipped" not in report.err and "from 6 fields" in report.out
    assert CropStore.open(out).manifest["skipped_fields"] == []


# ------------------------------------------------------------------------------------------ feature sets


def _feature_set(path: Path, features: np.ndarray | None = None) -> Path:
    cells = pd.DataFrame(
        {"plate": ["p"] * 4, "well": list("abcd"), "compound": ["c"] * 4, "concentration": [1.0] * 4}
    )
    values = np.arange(12, dtype=np.float32).reshape(4, 3) if features is None else features
    return write_feature_set(path, FeatureSet(features=values.astype(np.float32), cells=cells))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_refused_on_read(tmp_path, value):
    features = np.ones((4, 3), dtype=np.float32)
    features[2, 1] = value
    path = _feature_set(tmp_path / "fs", features)
    with pytest.raises(DataError, match="non-finite value.*row 2, column 1"):
        read_feature_set(path)


def test_non_numeric_misaligned_and_incomplete_sets_are_refused(tmp_path):
    path = _feature_set(tmp_path / "fs")
    assert read_feature_set(path).features.shape == (4, 3)
    np.save(path / "features.npy", np.array([["a"] * 3] * 4))
    with pytest.raises(DataError, match="2-D numeric array"):
        read_feature_set(path)
    np.save(path / "features.npy", np.ones((3, 3), dtype=np.float32))
    with pytest.raises(DataError, match="does not match 4 cell rows"):
        read_feature_set(path)
    (path / "features.json").write_text('{"n_cells": 4, "n_feat')
    with pytest.raises(DataError, match="corrupt JSON"):
        read_feature_set(path)
    (path / "features.json").unlink()
    with pytest.raises(DataError, match="not a complete feature set"):
        read_feature_set(path)


def test_a_set_interrupted_while_being_rewritten_reads_as_incomplete(tmp_path, monkeypatch):
    path = _feature_set(tmp_path / "fs")

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("cellclr_lib.features.write_table_atomic", killed)  # after features.npy, before cells
    with pytest.raises(KeyboardInterrupt):
        _feature_set(path, np.zeros((4, 3)))
    with pytest.raises(DataError, match="not a complete feature set"):
        read_feature_set(path)


def test_a_set_with_a_corrupt_marker_is_recomputed_not_trusted(store, tmp_path):
    path = _feature_set(tmp_path / "fs")
    (path / "features.json").write_text("{")
    # baseline reuses a complete set; a corrupt marker must be recomputed, not trusted
    assert cli.main(["baseline", "handcrafted", "--store", str(store), "--out", str(path)]) == 0
    assert read_feature_set(path).features.shape[0] == 24


# --------------------------------------------------------------------------------------- corrupt files


def test_corrupt_manifest_and_truncated_crops_are_messages(store, tmp_path, capsys):
    broken = tmp_path / "store"
    subprocess.run(["cp", "-r", str(store), str(broken)], check=True)
    crops = (broken / "crops.npy").read_bytes()
    (broken / "crops.npy").write_bytes(crops[: len(crops) // 2])
    argv = ["train", "--store", str(broken), "--out", str(tmp_path / "run"), *TRAIN]
    assert cli.main(argv) == 1
    assert "cannot read the crop store" in _no_traceback(capsys)
    (broken / "manifest.json").write_text('{"format": "cellclr-crop-st')
    assert cli.main(argv) == 1
    err = _no_traceback(capsys)
    assert f"{broken / 'manifest.json'}: corrupt JSON" in err and "--overwrite" in err


def test_corrupt_run_config_on_resume_is_a_message(store, tmp_path, capsys):
    argv = ["train", "--store", str(store), "--out", str(tmp_path / "run"), *TRAIN]
    assert cli.main(argv) == 0
    (tmp_path / "run/config.json").write_text("\x00\x01garbage")
    assert cli.main([*argv, "--resume", "--epochs", "2"]) == 1
    assert "config.json: corrupt JSON" in _no_traceback(capsys)


def test_corrupt_synthetic_marker_is_a_message(tmp_path, capsys):
    out = tmp_path / "syn"
    out.mkdir()
    (out / "synthetic.json").write_text("{not json")
    assert cli.main(["synth", "--out", str(out)]) == 1
    assert "synthetic.json: corrupt JSON" in _no_traceback(capsys)


def test_resume_accepts_the_same_paths_written_absolute(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative_store = os.path.relpath(store, tmp_path)
    argv = ["train", "--store", relative_store, "--out", "run", *TRAIN, "--epochs", "2"]
    assert cli.main([*argv, "--stop-after-epochs", "1"]) == 0
    argv = [
        "train",
        "--store",
        str(store),
        "--out",
        str(tmp_path / "run"),
        *TRAIN,
        "--epochs",
        "2",
        "--resume",
    ]
    assert cli.main(argv) == 0
    state = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)
    assert state["epoch"] == 2


def test_checkpoint_temporary_of_a_killed_save_is_removed(store, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    ckpt = tmp_path / "run/checkpoints"
    ckpt.mkdir(parents=True)
    orphan = ckpt / f".last.pt.tmp-{dead.pid}-abc123"
    orphan.write_bytes(b"half a checkpoint")
    live = ckpt / f".last.pt.tmp-{os.getpid()}-def456"  # a live writer's temporary is left alone
    live.write_bytes(b"being written")
    assert cli.main(["train", "--store", str(store), "--out", str(tmp_path / "run"), *TRAIN]) == 0
    assert not orphan.exists() and live.exists()


# -------------------------------------------------------------------------------------- full disk


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[-1]) if args else None)


@pytest.mark.parametrize("command", ["synth", "prep", "embed", "baseline"])
def test_disk_full_is_one_message_in_every_command(command, raw, store, tmp_path, monkeypatch, capsys):
    from cellclr_lib.checkpoint import save_checkpoint
    from cellclr_lib.models import build_model

    ckpt = tmp_path / "c.pt"
    config = {"arch": "resnet18", "small_input": True, "projection_dim": 128, "dim": 512, "input_size": 16}
    save_checkpoint(
        ckpt, {"model": build_model("resnet18", small_input=True).state_dict(), "model_config": config}
    )
    out, cpu = tmp_path / "o", ["--device", "cpu"]
    argv = {
        "synth": ["synth", "--out", str(out)],
        "prep": ["prep", "--data", str(raw), "--out", str(out), "--crop-size", "32", "--quiet"],
        "embed": ["embed", "--checkpoint", str(ckpt), "--store", str(store), "--out", str(out), *cpu],
        "baseline": ["baseline", "random", "--store", str(store), "--out", str(out), *cpu],
    }[command]
    monkeypatch.setattr(os, "replace", _enospc)  # every atomic write ends in os.replace
    assert cli.main(argv) == 1
    err = _no_traceback(capsys)
    assert (
        "no space left on the device" in err and "Fix: free disk space" in err and str(tmp_path / "o") in err
    )


def test_disk_full_while_saving_a_checkpoint_keeps_the_previous_one(store, tmp_path, monkeypatch, capsys):
    argv = ["train", "--store", str(store), "--out", str(tmp_path / "run"), *TRAIN, "--epochs", "2"]
    assert cli.main([*argv, "--stop-after-epochs", "1"]) == 0
    before = (tmp_path / "run/checkpoints/last.pt").read_bytes()
    real_save = torch.save

    def full(
        obj: object, path: object
    ) -> None:  # how torch reports ENOSPC: a RuntimeError after a partial write
        real_save({"partial": torch.zeros(10)}, path)
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 46")

    monkeypatch.setattr(torch, "save", full)
    assert cli.main([*argv, "--resume"]) == 1
    err = _no_traceback(capsys)
    assert "cannot write the checkpoint (is the disk full?)" in err and "--resume" in err
    assert (tmp_path / "run/checkpoints/last.pt").read_bytes() == before
    assert [p.name for p in (tmp_path / "run/checkpoints").iterdir()] == ["last.pt"]


@pytest.mark.parametrize(
    ("code", "message"), [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only")]
)
def test_permission_and_read_only_errors_are_messages(code, message, store, tmp_path, monkeypatch, capsys):
    def denied(source: object, target: object) -> None:  # root ignores modes, so inject what a user would get
        raise OSError(code, os.strerror(code), str(target))

    monkeypatch.setattr(os, "replace", denied)
    assert cli.main(["train", "--store", str(store), "--out", str(tmp_path / "run"), *TRAIN]) == 1
    err = _no_traceback(capsys)
    assert f"{tmp_path / 'run' / 'config.json'}: {message}" in err and "Fix:" in err


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_writes_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        a = write_json_atomic(tmp_path / "a.json", {"x": 1})
        b = write_text_atomic(tmp_path / "b.txt", "x")
        plain = tmp_path / "plain"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(a.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE(b.stat().st_mode) == 0o666 & ~mask


# ---------------------------------------------------------------------------------- option values


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--store", "s", "--out", "o", "--max-cells", "0"],
            "argument --max-cells: must be ≥ 1, got 0",
        ),
        (
            ["train", "--store", "s", "--out", "o", "--device", "bogus"],
            "argument --device: expected auto, cpu",
        ),
        (["train", "--store", "s", "--out", "o", "--epochs", "-2"], "argument --epochs: must be ≥ 1, got -2"),
        (["train", "--store", "s", "--out", "o", "--batch-size", "1"], "argument --batch-size: must be ≥ 2"),
        (["train", "--store", "s", "--out", "o", "--lr", "nan"], "argument --lr: expected a finite number"),
        (
            ["train", "--store", "s", "--out", "o", "--temperature", "0"],
            "argument --temperature: must be > 0",
        ),
        (
            ["embed", "--checkpoint", "c", "--store", "s", "--out", "o", "--batch-size", "0"],
            "argument --batch-size",
        ),
        (
            ["embed", "--checkpoint", "c", "--store", "s", "--out", "o", "--device", "gpu"],
            "argument --device",
        ),
        (["prep", "--data", "d", "--out", "o", "--workers", "0"], "argument --workers: must be ≥ 1, got 0"),
        (["prep", "--data", "d", "--out", "o", "--crop-size", "-4"], "argument --crop-size: must be ≥ 1"),
        (["synth", "--out", "o", "--workers", "-1"], "argument --workers: must be ≥ 1, got -1"),
        (["download", "--out", "o", "--timeout", "0"], "argument --timeout: must be > 0"),
        (["baseline", "vae", "--store", "s", "--out", "o", "--latent-dim", "0"], "argument --latent-dim"),
        (
            ["train", "--store", "s", "--out", "o", "--seed", "x"],
            "argument --seed: expected an integer, got 'x'",
        ),
    ],
)
def test_wrong_option_values_are_refused_while_parsing(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


def test_unavailable_cuda_device_is_a_usage_error(store, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv = ["train", "--store", str(store), "--out", str(tmp_path / "run"), *TRAIN[:-2], "--device", "cuda:0"]
    assert cli.main(argv) == 2
    assert "device cuda:0 is not available" in _no_traceback(capsys)


def test_debug_shows_the_traceback(store, tmp_path, capsys):
    argv = ["--debug", "train", "--store", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), *TRAIN]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "no crop store here" in err


@pytest.mark.parametrize("damage", ["nan", "misaligned", "marker"])
def test_evaluate_and_compare_report_a_damaged_feature_set(damage, tmp_path, capsys):
    path = _feature_set(tmp_path / "fs")
    if damage == "nan":
        np.save(path / "features.npy", np.full((4, 3), np.nan, dtype=np.float32))
    elif damage == "misaligned":
        np.save(path / "features.npy", np.ones((5, 3), dtype=np.float32))
    else:
        (path / "features.json").write_text('{"n_cells": 4,')
    assert cli.main(["evaluate", str(path)]) == 1
    assert str(path) in _no_traceback(capsys)
    assert cli.main(["compare", "--feature-set", f"x={path}", "--out", str(tmp_path / "t.csv")]) == 1
    assert str(path) in _no_traceback(capsys)
