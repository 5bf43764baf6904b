"""Batches of uint8 crops from a crop store: one sorted memory-map read per batch, deterministic sampling.

**Reading.** The sampler yields whole batches of store indices; :class:`CropDataset` answers each with
``__getitems__``, i.e. one fancy index of the ``crops.npy`` memory map with the indices *sorted* (the OS
then reads the file front to back, and neighbouring crops share pages), un-permuted afterwards. No per-item
decoding, no per-item Python call, and the batch stays uint8 until it reaches the training device (4× less
host→device traffic than float32). The memory map is opened lazily in each process, so the dataset pickles
as a path and works with ``num_workers > 0`` under fork and spawn alike.

**Sampling** (:class:`CropBatchSampler`), all deterministic functions of ``(seed, epoch)``:

* ``"random"`` — a permutation of the indices cut into batches.
* ``"plate"`` — each plate's indices permuted and cut into batches separately, then the batch order
  shuffled: every batch holds cells of one plate only. Negatives in the contrastive loss then come from the
  same plate, so the network cannot separate cells by plate/batch effects — the "batch-aware negatives"
  experiment.

**Distributed.** Every rank builds the same global list of batches (same seed and epoch) and takes every
``world_size``-th one starting at ``rank``, after trimming the list to a multiple of ``world_size``: the ranks
get disjoint batches, equally many. Call ``loader.batch_sampler.set_epoch(epoch)`` before each epoch (as with
``DistributedSampler``) or build the loader with ``epoch=``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cellclr_lib.data.store import CROPS_NAME, CropStore

Sampling = Literal["random", "plate"]


class CropDataset(Dataset):
    """The crops of a store as a map-style dataset; ``__getitems__`` fetches a whole batch in one read."""

    def __init__(self, store_path: str | Path) -> None:
        self.path = Path(store_path) / CROPS_NAME
        self._crops: np.ndarray | None = None
        self._length = len(self._memmap())

    def _memmap(self) -> np.ndarray:
        if self._crops is None:
            self._crops = np.load(self.path, mmap_mode="r")
        return self._crops

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_crops": None}  # workers reopen the memory map

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        crops, indices = self.__getitems__([index])
        return crops[0], indices[0]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(crops uint8 [B, 3, S, S], indices int64 [B])`` in the order asked, via one sorted read."""
        indices = np.asarray(indices, dtype=np.int64)
        order = np.argsort(indices, kind="stable")
        batch = np.empty((len(indices), *self._memmap().shape[1:]), dtype=np.uint8)
        batch[order] = self._memmap()[indices[order]]
        return torch.from_numpy(batch), torch.from_numpy(indices)


def _as_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate function: ``__getitems__`` already returns the batch."""
    return batch


class CropBatchSampler(Sampler[list[int]]):
    """Batches of store indices by ``sampling``, sharded over ``world_size`` ranks (see the module docstring).

    Args:
        cells: the store's cell table (its ``plate`` column is used).
        batch_size: crops per batch.
        sampling: ``"random"`` or ``"plate"``.
        indices: the store rows to sample from (all by default).
        drop_last: drop incomplete batches (per plate under ``"plate"``).
    """

    def __init__(
        self,
        cells: pd.DataFrame,
        batch_size: int,
        *,
        sampling: Sampling = "random",
        indices: Sequence[int] | np.ndarray | None = None,
        seed: int = 0,
        epoch: int = 0,
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if sampling not in ("random", "plate"):
            raise ValueError(f"sampling must be 'random' or 'plate', not {sampling!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.indices = np.arange(len(cells)) if indices is None else np.asarray(indices, dtype=np.int64)
        if len(self.indices) == 0 or self.indices.min() < 0 or self.indices.max() >= len(cells):
            raise ValueError(
                f"indices must be a non-empty selection of rows 0..{len(cells) - 1} of the store"
            )
        self.batch_size, self.sampling, self.seed, self.epoch = batch_size, sampling, seed, epoch
        self.drop_last, self.rank, self.world_size = drop_last, rank, world_size
        if sampling == "plate":
            self.groups = _codes(cells["plate"].to_numpy()[self.indices])
        self._n_batches = len(self._global_batches())

    def set_epoch(self, epoch: int) -> None:
        """Use the batches of ``epoch`` on the next iteration."""
        self.epoch = epoch

    def _global_batches(self) -> list[np.ndarray]:
        """All ranks' batches of this epoch, trimmed to a multiple of ``world_size``."""
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.sampling == "random":
            batches = self._cut(self.indices[rng.permutation(len(self.indices))])
        elif self.sampling == "plate":
            batches = [
                b
                for g in range(self.groups.max() + 1)
                for b in self._cut(rng.permutation(self.indices[self.groups == g]))
            ]
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches[: len(batches) - len(batches) % self.world_size]

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        return [order[i : i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._global_batches()[self.rank :: self.world_size]:
            yield batch.tolist()

    def __len__(self) -> int:
        return self._n_batches // self.world_size


def _codes(values: np.ndarray) -> np.ndarray:
    """Integer codes 0..k-1 of the distinct values, in sorted order of the values."""
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def make_loader(
    store: CropStore | str | Path,
    batch_size: int,
    *,
    sampling: Sampling = "random",
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = True,
    rank: int = 0,
    world_size: int = 1,
    epoch: int = 0,
    indices: Sequence[int] | np.ndarray | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader over a crop store yielding ``(crops uint8 [B, 3, S, S], index int64 [B])``.

    ``index`` are store rows (``store.cells.iloc[index]`` gives their metadata). Convert on the device:
    ``crops.to(device).float() / 255``. See the module docstring for ``sampling`` and distributed sharding.
    """
    if not isinstance(store, CropStore):
        store = CropStore.open(store)
    sampler = CropBatchSampler(
        store.cells,
        batch_size,
        sampling=sampling,
        indices=indices,
        seed=seed,
        epoch=epoch,
        drop_last=drop_last,
        rank=rank,
        world_size=world_size,
    )
    return DataLoader(
        CropDataset(store.path),
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=_as_batch,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
