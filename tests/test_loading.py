"""make_loader: batches are the right crops, sampling modes keep their promises, ranks and epochs behave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cellclr_lib.data import store as st
from cellclr_lib.data.loading import CropBatchSampler, CropDataset, make_loader

S = 8
PLATES = {"Week1_1": 40, "Week1_2": 25, "Week2_3": 35}  # 100 crops
MOAS = ["A", "B", "C", "D"]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 100-crop store whose crop ``i`` has pixel value ``i`` everywhere; MoA D is rare (5 cells)."""
    path = tmp_path_factory.mktemp("store")
    start = 0
    moa = np.array(["A"] * 40 + ["B"] * 30 + ["C"] * 25 + ["D"] * 5)
    np.random.default_rng(0).shuffle(moa)
    for plate, n in PLATES.items():
        cells = pd.DataFrame({c: ["-"] * n for c in st.CELL_COLUMNS})
        cells["plate"] = plate
        cells["moa"] = moa[start : start + n]
        cells["image_number"] = np.arange(start, start + n)
        with st.ShardWriter(path, plate, S) as writer:
            writer.append(
                np.broadcast_to(
                    np.arange(start, start + n, dtype=np.uint8)[:, None, None, None], (n, 3, S, S)
                )
            )
            writer.commit(cells, {})
        start += n
    st.merge_shards(path, list(PLATES), S, {"format": st.STORE_FORMAT, "parameters": {}})
    return path


def collect(loader: torch.utils.data.DataLoader) -> list[np.ndarray]:
    batches = []
    for crops, index in loader:
        assert crops.dtype == torch.uint8 and index.dtype == torch.int64
        # every crop is the one its index names (pixel value == index), in the order of the index
        assert torch.equal(crops[:, :, 0, 0], index[:, None].to(torch.uint8).expand(-1, 3))
        batches.append(index.numpy())
    return batches


def test_random_batches_cover_each_crop_once(store_path: Path) -> None:
    batches = collect(make_loader(store_path, 16, seed=1))
    assert len(batches) == 6 and all(len(b) == 16 for b in batches)
    flat = np.concatenate(batches)
    assert len(np.unique(flat)) == 96
    last = collect(make_loader(store_path, 16, seed=1, drop_last=False))
    assert sorted(np.concatenate(last).tolist()) == list(range(100)) and len(last[-1]) == 4


def test_same_seed_and_epoch_same_batches(store_path: Path) -> None:
    a = collect(make_loader(store_path, 10, seed=3, epoch=2))
    b = collect(make_loader(store_path, 10, seed=3, epoch=2))
    c = collect(make_loader(store_path, 10, seed=3, epoch=3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    loader = make_loader(store_path, 10, seed=3)
    loader.batch_sampler.set_epoch(3)
    assert all(np.array_equal(x, y) for x, y in zip(collect(loader), c, strict=True))


def test_plate_sampling_keeps_each_batch_on_one_plate(store_path: Path) -> None:
    store = st.CropStore.open(store_path)
    batches = collect(make_loader(store, 8, sampling="plate", seed=0))
    plates = store.cells["plate"].to_numpy()
    assert all(len(set(plates[b])) == 1 for b in batches)
    assert len(batches) == 40 // 8 + 25 // 8 + 35 // 8
    assert len({plates[b][0] for b in batches[:4]}) > 1 or len(batches) < 4  # plates interleave


def test_ranks_get_disjoint_batches_of_equal_count(store_path: Path) -> None:
    per_rank = [collect(make_loader(store_path, 8, seed=5, rank=r, world_size=3)) for r in range(3)]
    assert [len(b) for b in per_rank] == [4, 4, 4]  # 12 batches of 8 from 100 crops, 12 % 3 == 0
    flat = np.concatenate([np.concatenate(b) for b in per_rank])
    assert len(np.unique(flat)) == len(flat) == 96
    single = np.concatenate(collect(make_loader(store_path, 8, seed=5)))
    assert np.array_equal(np.sort(flat), np.sort(single))
    assert len(make_loader(store_path, 8, seed=5, rank=1, world_size=5)) == 2
    with pytest.raises(ValueError, match="rank 3"):
        make_loader(store_path, 8, rank=3, world_size=3)


def test_indices_restrict_the_sample(store_path: Path) -> None:
    subset = np.arange(0, 100, 2)
    batches = collect(make_loader(store_path, 5, indices=subset, sampling="plate"))
    assert set(np.concatenate(batches)) <= set(subset.tolist())


def test_workers_reopen_the_memmap_and_match_in_process(store_path: Path) -> None:
    in_process = collect(make_loader(store_path, 16, seed=7))
    with_workers = collect(make_loader(store_path, 16, seed=7, num_workers=2))
    assert all(np.array_equal(x, y) for x, y in zip(in_process, with_workers, strict=True))


def test_dataset_fetches_a_batch_in_the_order_asked(store_path: Path) -> None:
    dataset = CropDataset(store_path)
    crops, index = dataset.__getitems__([9, 3, 77, 3])
    assert index.tolist() == [9, 3, 77, 3] and crops[:, 0, 0, 0].tolist() == [9, 3, 77, 3]
    assert dataset[42][0].shape == (3, S, S) and int(dataset[42][1]) == 42


def test_sampler_rejects_bad_arguments(store_path: Path) -> None:
    cells = st.CropStore.open(store_path).cells
    with pytest.raises(ValueError, match="sampling"):
        CropBatchSampler(cells, 4, sampling="moa")
    with pytest.raises(ValueError, match="batch_size"):
        CropBatchSampler(cells, 0)
    with pytest.raises(ValueError, match="rows 0..99"):
        CropBatchSampler(cells, 4, indices=[5, 100])
