"""The crop store: every single-cell crop of a dataset in one memory-mappable array, plus its cell table.

Layout of a store directory::

    crops.npy       uint8 (N, C, S, S), channels as the manifest's "channels" lists them (BBBC021: DAPI,
                    Tubulin, Actin) — np.load(mmap_mode="r")
    cells.parquet   N rows aligned with crops (cell_columns())
    manifest.json   channels, parameters, library version, per-plate counts, skipped fields; "complete": true
    illumination/   per-plate low-resolution illumination profiles (.npy; limits are in the manifest)

**Why uint8.** Fields are scaled to 8 bit per plate and channel before cropping (see
:mod:`cellclr_lib.data.illumination`), so uint8 stores them *exactly*; float16 would take twice the space
for no information and float32 four times (a 96-px crop is 27 KB in uint8, 110 KB in float32: the real
benchmark subset is ~8 GB instead of ~33 GB). A plain ``.npy`` opens as a memory map instantly, so a loader
reads only the crops of the current batch, and the conversion to float happens on the training device.

**Writing: shards, then one merge.** ``cellclr prep`` writes each plate as a shard under ``plates/`` — raw
C-order uint8 bytes (``<plate>.crops``), its cell rows (``<plate>.parquet``) and, last, ``<plate>.json``,
which marks the shard as committed. Each file goes to a temporary name first and is moved into place with
:func:`os.replace` (atomic), so a killed run leaves only complete shards and temporary files; the next run
resumes at the first plate without a committed shard. When every plate is done, :func:`merge_shards` writes
``crops.npy`` as an ``.npy`` header followed by the shards' bytes streamed in plate order (memory bounded by
a copy buffer, not by the dataset), then ``cells.parquet``, then ``manifest.json`` (the store's own commit
marker), and finally removes the shards. Disk use peaks at twice the crops during the merge.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellclr_lib.errors import CellclrError, DataError
from cellclr_lib.io import atomic_path, read_json, write_json_atomic, write_table_atomic

CROPS_NAME = "crops.npy"
CELLS_NAME = "cells.parquet"
MANIFEST_NAME = "manifest.json"
SHARDS_DIR = "plates"
ILLUMINATION_DIR = "illumination"
STORE_FORMAT = "cellclr-crop-store"
STORE_FORMAT_VERSION = 1
CHANNEL_ORDER = ("DAPI", "Tubulin", "Actin")
CELL_COLUMNS = [
    "plate",
    "batch",
    "well",
    "site",
    "image_number",
    "replicate",
    "compound",
    "concentration",
    "moa",
    "is_control",
    "x",
    "y",
    "nucleus_area",
    "file_dapi",
]


def cell_columns(nucleus_channel: str = "DAPI") -> list[str]:
    """The cell table's columns: :data:`CELL_COLUMNS` with the file of the channel nuclei were found on."""
    return [*CELL_COLUMNS[:-1], f"file_{nucleus_channel.lower()}"]


_REBUILD_FIX = "rebuild it: `cellclr prep --data ROOT --out {path} --overwrite`"
_PREP_FIX = (
    "run `cellclr prep --data ROOT --out {path}` (rerunning the same command resumes an interrupted prep)"
)


@dataclass
class CropStore:
    """An opened crop store: ``crops`` is a read-only memory map, ``cells`` the aligned cell table."""

    path: Path
    crops: np.ndarray
    cells: pd.DataFrame
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path) -> CropStore:
        """Open a complete store. Raises :class:`CellclrError` when the store is missing or incomplete."""
        path = Path(path)
        manifest_path = path / MANIFEST_NAME
        if not manifest_path.is_file():
            interrupted = (path / SHARDS_DIR).is_dir()
            raise CellclrError(
                "incomplete crop store: prep was interrupted before it finished"
                if interrupted
                else "no crop store here (no manifest.json)",
                path=path,
                fix=_PREP_FIX.format(path=path),
            )
        manifest = read_json(manifest_path, fix=_REBUILD_FIX.format(path=path))
        if (
            not isinstance(manifest, dict)
            or manifest.get("format") != STORE_FORMAT
            or not manifest.get("complete")
        ):
            raise DataError(
                "not a complete cellclr crop store", path=manifest_path, fix=_PREP_FIX.format(path=path)
            )
        for name in (CROPS_NAME, CELLS_NAME):
            if not (path / name).is_file():
                raise DataError(f"crop store lacks {name}", path=path, fix=_PREP_FIX.format(path=path))
        try:
            crops = np.load(path / CROPS_NAME, mmap_mode="r")
            cells = pd.read_parquet(path / CELLS_NAME)
        except (OSError, ValueError) as err:  # a truncated .npy cannot be mapped; pyarrow raises OSError
            raise DataError(
                f"cannot read the crop store ({err})", path=path, fix=_REBUILD_FIX.format(path=path)
            ) from err
        if (
            crops.ndim != 4
            or crops.dtype != np.uint8
            or len(crops) != len(cells)
            or len(crops) != manifest.get("n_crops", len(crops))
        ):
            raise DataError(
                f"crops.npy {crops.dtype}{crops.shape} does not match cells.parquet ({len(cells)} rows) "
                f"and the manifest ({manifest.get('n_crops')} crops)",
                path=path,
                fix=_REBUILD_FIX.format(path=path),
            )
        return cls(path=path, crops=crops, cells=cells, manifest=manifest)

    def __len__(self) -> int:
        return len(self.crops)

    @property
    def crop_size(self) -> int:
        return int(self.crops.shape[-1])

    @property
    def channels(self) -> list[str]:
        """The channel names, in the order of the crops' second axis."""
        return list(self.manifest.get("channels", CHANNEL_ORDER))

    @property
    def nucleus_index(self) -> int:
        """Position of the channel nuclei were detected on (the first unless the manifest names another)."""
        channels = self.channels
        return channels.index(self.manifest.get("nucleus_channel", channels[0]))


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameter dicts as one level with dotted keys (``{"nuclei": {"sigma": 2}}`` → ``nuclei.sigma``)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def parameter_differences(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """``"name=actual (requested expected)"`` for every expected parameter whose stored value differs."""
    stored, wanted = flatten(actual), flatten(expected)
    return [
        f"{name}={stored.get(name, '<absent>')!r} (requested {value!r})"
        for name, value in sorted(wanted.items())
        if _normalise(stored.get(name)) != _normalise(value)
    ]


def _normalise(value: Any) -> Any:
    """Compare JSON-round-tripped values (tuples become lists, numpy scalars plain numbers)."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


# --------------------------------------------------------------------------------------------- shards


def shard_paths(store: Path, plate: str) -> dict[str, Path]:
    """Paths of one plate's shard files (plate names are file-name safe in BBBC021; slashes are replaced)."""
    stem = str(plate).replace("/", "_").replace("\\", "_")
    base = Path(store) / SHARDS_DIR
    return {suffix: base / f"{stem}.{suffix}" for suffix in ("crops", "parquet", "json")}


def read_committed_shard(
    store: Path, plate: str, parameters: Mapping[str, Any], crop_size: int, channels: int = 3
) -> dict | None:
    """The info of ``plate``'s shard if it is committed, consistent and made with ``parameters``; else None."""
    paths = shard_paths(store, plate)
    if not all(p.is_file() for p in paths.values()):
        return None
    try:
        info = json.loads(paths["json"].read_text(encoding="utf-8"))
    except ValueError:  # a damaged marker: the shard is redone
        return None
    if not isinstance(info, dict) or parameter_differences(info.get("parameters", {}), parameters):
        return None
    n = int(info["n_crops"])
    if paths["crops"].stat().st_size != n * channels * crop_size * crop_size:
        return None
    return info


class ShardWriter:
    """Stream one plate's crops to a temporary file, then commit crops, cells and info atomically.

    Use as a context manager; leaving it without :meth:`commit` (an error, an interrupt) deletes the
    temporary file and leaves any earlier shard of the plate untouched.
    """

    def __init__(self, store: Path, plate: str, crop_size: int, channels: int = 3) -> None:
        self.paths = shard_paths(store, plate)
        self.paths["crops"].parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.paths["crops"].with_name(f".{self.paths['crops'].name}.tmp-{os.getpid()}")
        self.shape = (channels, crop_size, crop_size)
        self.n_crops = 0
        self._file = None

    def __enter__(self) -> ShardWriter:
        self._file = open(self.tmp, "wb")  # noqa: SIM115 - closed in __exit__/commit
        return self

    def append(self, crops: np.ndarray) -> None:
        """Append ``(m, C, S, S)`` uint8 crops."""
        if crops.dtype != np.uint8 or crops.shape[1:] != self.shape:
            raise ValueError(
                f"expected uint8 (m, {', '.join(map(str, self.shape))}) crops, got {crops.shape}"
            )
        self._file.write(np.ascontiguousarray(crops).tobytes())
        self.n_crops += len(crops)

    def commit(self, cells: pd.DataFrame, info: dict[str, Any]) -> None:
        """Move the crops into place, then write the cells and, last, the info that marks the shard done."""
        if len(cells) != self.n_crops:
            raise ValueError(f"{len(cells)} cell rows for {self.n_crops} crops")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.tmp, self.paths["crops"])
        write_table_atomic(self.paths["parquet"], cells.reset_index(drop=True))
        write_json_atomic(self.paths["json"], {**info, "n_crops": self.n_crops})

    def __exit__(self, *exc: object) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self.tmp.unlink(missing_ok=True)


def remove_stale_temporaries(store: Path) -> list[Path]:
    """Delete the temporary files a killed run left in ``store`` (never a committed file); return them."""
    store = Path(store)
    stale = [
        p
        for folder in (store, store / SHARDS_DIR, store / ILLUMINATION_DIR)
        if folder.is_dir()
        for p in folder.glob(".*.tmp-*")
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def remove_store(store: Path) -> None:
    """Delete everything a prep run writes into ``store`` (for ``--overwrite``); other files are kept."""
    store = Path(store)
    for name in (MANIFEST_NAME, CROPS_NAME, CELLS_NAME):
        (store / name).unlink(missing_ok=True)
    for folder in (SHARDS_DIR, ILLUMINATION_DIR):
        shutil.rmtree(store / folder, ignore_errors=True)


def merge_shards(
    store: Path,
    plates: Sequence[str],
    crop_size: int,
    manifest: dict[str, Any],
    *,
    buffer_bytes: int = 64 << 20,
) -> None:
    """Concatenate committed shards (in ``plates`` order) into crops.npy / cells.parquet, then the manifest.

    The ``.npy`` payload of a C-order uint8 array is exactly its raw bytes, so the merge writes the header for
    the total shape and streams each shard's bytes after it: memory stays at ``buffer_bytes``.
    """
    store = Path(store)
    shards = [shard_paths(store, plate) for plate in plates]
    tables = [pd.read_parquet(paths["parquet"]) for paths in shards]
    n_total = sum(len(t) for t in tables)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
        "fortran_order": False,
        "shape": (n_total, len(manifest.get("channels", CHANNEL_ORDER)), crop_size, crop_size),
    }
    with atomic_path(store / CROPS_NAME) as tmp, open(tmp, "wb") as out:
        np.lib.format.write_array_header_1_0(out, header)
        for paths in shards:
            with open(paths["crops"], "rb") as src:
                shutil.copyfileobj(src, out, length=buffer_bytes)
        out.flush()
        os.fsync(out.fileno())
    cells = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=cell_columns())
    write_table_atomic(store / CELLS_NAME, cells)
    if manifest.get("n_crops", n_total) != n_total:
        raise ValueError(f"manifest counts {manifest['n_crops']} crops, the shards hold {n_total}")
    write_json_atomic(store / MANIFEST_NAME, {**manifest, "n_crops": n_total, "complete": True})
    shutil.rmtree(store / SHARDS_DIR, ignore_errors=True)
