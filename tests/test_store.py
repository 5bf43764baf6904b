"""The crop store: shards committed atomically, merged into one memory-mappable array, opened with checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellclr_lib.data import store as st
from cellclr_lib.errors import CellclrError

S = 8
PARAMS = {"crop_size": S, "fields": "benchmark", "nuclei": {"min_area": 60, "sigma": 2.0}}


def crops_for(start: int, n: int) -> np.ndarray:
    """Crops whose every pixel holds (its global index mod 251) + channel, so any mix-up shows."""
    values = (np.arange(start, start + n) % 251).astype(np.uint8)
    return (values[:, None, None, None] + np.arange(3, dtype=np.uint8)[None, :, None, None]) * np.ones(
        (1, 1, S, S), dtype=np.uint8
    )


def cells_for(plate: str, start: int, n: int) -> pd.DataFrame:
    table = pd.DataFrame({c: ["-"] * n for c in st.CELL_COLUMNS})
    table["plate"] = plate
    table["image_number"] = np.arange(start, start + n)
    table["x"] = np.linspace(10, 20, n).astype(np.float32)
    return table


def write_store(path: Path, sizes: dict[str, int], *, buffer_bytes: int = 64 << 20) -> None:
    start = 0
    for plate, n in sizes.items():
        with st.ShardWriter(path, plate, S) as writer:
            writer.append(crops_for(start, n // 2))
            writer.append(crops_for(start + n // 2, n - n // 2))
            writer.commit(cells_for(plate, start, n), {"parameters": PARAMS})
        start += n
    manifest = {
        "format": st.STORE_FORMAT,
        "parameters": PARAMS,
        "plates": {p: {"n_crops": n} for p, n in sizes.items()},
    }
    st.merge_shards(path, list(sizes), S, manifest, buffer_bytes=buffer_bytes)


def test_shards_merge_into_one_store(tmp_path: Path) -> None:
    sizes = {"Week1_1": 5, "Week1_2": 0, "Week2_3": 7}
    write_store(tmp_path / "s", sizes, buffer_bytes=100)  # a tiny copy buffer: many chunks per shard
    store = st.CropStore.open(tmp_path / "s")
    assert len(store) == 12 and store.crop_size == S
    assert isinstance(store.crops, np.memmap) and not store.crops.flags.writeable
    np.testing.assert_array_equal(store.crops, crops_for(0, 12))
    assert store.cells["image_number"].tolist() == list(range(12))
    assert store.cells["plate"].tolist() == ["Week1_1"] * 5 + ["Week2_3"] * 7
    assert store.manifest["complete"] and store.manifest["n_crops"] == 12
    assert not (tmp_path / "s" / st.SHARDS_DIR).exists()
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "cells.parquet",
        "crops.npy",
        "manifest.json",
    ]


def test_shard_writer_without_commit_leaves_the_old_shard(tmp_path: Path) -> None:
    with st.ShardWriter(tmp_path, "P", S) as writer:
        writer.append(crops_for(0, 3))
        writer.commit(cells_for("P", 0, 3), {"parameters": PARAMS})
    before = {p.name: p.read_bytes() for p in (tmp_path / st.SHARDS_DIR).iterdir()}
    with pytest.raises(KeyboardInterrupt), st.ShardWriter(tmp_path, "P", S) as writer:
        writer.append(crops_for(10, 5))
        raise KeyboardInterrupt
    assert {p.name: p.read_bytes() for p in (tmp_path / st.SHARDS_DIR).iterdir()} == before
    assert st.read_committed_shard(tmp_path, "P", PARAMS, S)["n_crops"] == 3


def test_committed_shard_must_match_parameters_and_size(tmp_path: Path) -> None:
    with st.ShardWriter(tmp_path, "P", S) as writer:
        writer.append(crops_for(0, 4))
        writer.commit(cells_for("P", 0, 4), {"parameters": PARAMS})
    assert st.read_committed_shard(tmp_path, "P", {**PARAMS, "crop_size": 16}, S) is None
    assert st.read_committed_shard(tmp_path, "Q", PARAMS, S) is None
    crops = st.shard_paths(tmp_path, "P")["crops"]
    crops.write_bytes(crops.read_bytes()[:-1])
    assert st.read_committed_shard(tmp_path, "P", PARAMS, S) is None


def test_shard_writer_checks_its_input(tmp_path: Path) -> None:
    with st.ShardWriter(tmp_path, "P", S) as writer:
        with pytest.raises(ValueError, match="uint8"):
            writer.append(np.zeros((2, 3, S, S), dtype=np.float32))
        writer.append(crops_for(0, 2))
        with pytest.raises(ValueError, match="3 cell rows for 2 crops"):
            writer.commit(cells_for("P", 0, 3), {})


def test_open_missing_or_incomplete_store_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(CellclrError, match="no crop store here") as err:
        st.CropStore.open(tmp_path / "nothing")
    assert "cellclr prep" in str(err.value)
    with st.ShardWriter(tmp_path / "half", "P", S) as writer:
        writer.append(crops_for(0, 1))
        writer.commit(cells_for("P", 0, 1), {"parameters": PARAMS})
    with pytest.raises(CellclrError, match="interrupted") as err:
        st.CropStore.open(tmp_path / "half")
    assert "resumes" in str(err.value)
    write_store(tmp_path / "s", {"P": 3})
    (tmp_path / "s" / "crops.npy").unlink()
    with pytest.raises(CellclrError, match="lacks crops.npy"):
        st.CropStore.open(tmp_path / "s")


def test_open_rejects_misaligned_cells(tmp_path: Path) -> None:
    write_store(tmp_path / "s", {"P": 3})
    cells_for("P", 0, 4).to_parquet(tmp_path / "s" / "cells.parquet")
    with pytest.raises(CellclrError, match="4 rows"):
        st.CropStore.open(tmp_path / "s")


def test_parameter_differences_compare_json_values() -> None:
    assert st.parameter_differences({"plates": ["A", "B"], "x": 1.0}, {"plates": ("A", "B"), "x": 1}) == []
    assert st.parameter_differences({"a": {"b": 1}}, {"a.c": 2}) == ["a.c='<absent>' (requested 2)"]
