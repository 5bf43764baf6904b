"""DDP on CPU: two gloo processes train together through the same code path as ``torchrun``."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from cellclr_lib.checkpoint import load_checkpoint
from cellclr_lib.data import store as st
from cellclr_lib.distributed import DistInfo, init_from_env

S = 12


def _store(path: Path) -> Path:
    rng = np.random.default_rng(0)
    for plate in ("Week1_1", "Week2_2"):
        cells = pd.DataFrame({c: ["-"] * 16 for c in st.CELL_COLUMNS})
        cells["plate"] = plate
        with st.ShardWriter(path, plate, S) as writer:
            writer.append(rng.integers(0, 256, (16, 3, S, S), dtype=np.uint8))
            writer.commit(cells, {})
    st.merge_shards(path, ["Week1_1", "Week2_2"], S, {"format": st.STORE_FORMAT, "parameters": {}})
    return path


def _worker(rank: int, world: int, port: int, store: str, out: str) -> None:
    import torch.distributed as dist

    import cellclr_lib.train as tr

    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    real_loader, seen = tr._store_loader, []

    def recording(config, dist_info):  # noqa: ANN001, ANN202 — records which crops this rank loads
        loader, size, channels = real_loader(config, dist_info)

        class Recorder:
            batch_sampler = loader.batch_sampler

            def __len__(self) -> int:
                return len(loader)

            def __iter__(self):  # noqa: ANN204
                for crops, index in loader:
                    seen.append((dist_info.rank, dist_info.world_size, index.numpy().copy()))
                    yield crops, index

        return Recorder(), size, channels

    tr._store_loader = recording
    config = tr.TrainConfig(
        out=out, store=store, epochs=2, batch_size=8, size=S, progress=False, device="cpu"
    )
    tr.train(config)
    np.save(Path(out).parent / f"seen_{rank}.npy", np.stack([s[2] for s in seen]))
    assert all(s[:2] == (rank, world) for s in seen)
    # interrupted after one epoch and resumed: every rank restores its own random states
    resumed = dataclasses.replace(config, out=out + "_resumed")
    tr.train(dataclasses.replace(resumed, stop_after_epochs=1))
    tr.train(dataclasses.replace(resumed, resume=True))
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_train_on_disjoint_data_and_resume_exactly(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    out = tmp_path / "run"
    mp.spawn(_worker, args=(2, _free_port(), str(store), str(out)), nprocs=2, join=True)
    seen = [np.load(tmp_path / f"seen_{r}.npy") for r in range(2)]
    # 32 crops, global batch 8 = 4 per rank: 4 steps an epoch, each rank loading 16 distinct crops
    assert all(s.shape == (8, 4) for s in seen)
    for epoch in range(2):
        a, b = seen[0][4 * epoch : 4 * epoch + 4].ravel(), seen[1][4 * epoch : 4 * epoch + 4].ravel()
        assert not set(a) & set(b) and len(set(a) | set(b)) == 32
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["epoch"] == 2 and state["step"] == 8
    assert (out / "config.json").is_file() and "world_size" in (out / "config.json").read_text()
    assert len(pd.read_csv(out / "metrics.csv")) == 8  # only rank 0 writes
    resumed = load_checkpoint(tmp_path / "run_resumed" / "checkpoints" / "last.pt")
    assert len(resumed["rng"]) == 2 and resumed["step"] == 8
    for key, value in state["model"].items():
        assert torch.equal(value, resumed["model"][key]), key


def test_single_process_without_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_from_env("cpu")
    assert info == DistInfo() and info.is_main
