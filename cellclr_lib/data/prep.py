"""``cellclr prep``: from raw fields to a crop store, plate by plate, resumable and in parallel.

For every plate (in name order):

1. **Illumination and intensity limits** — a seeded subsample of the plate's fields (at most
   ``IlluminationParams.max_fields``) is read in parallel; each worker returns the field block-averaged and a
   fixed sample of its pixels. The running mean gives the illumination profile, the corrected pixel samples
   the 0.1/99.9 % limits (see :mod:`cellclr_lib.data.illumination`). The low-resolution profile is saved as
   ``illumination/<plate>.npy``.
2. **Crops** — every field is read, corrected, scaled to uint8, its nuclei detected on the corrected nucleus
   channel (BBBC021: DAPI) (:mod:`cellclr_lib.data.nuclei`) and cropped (:mod:`cellclr_lib.data.crops`). Fields are
   processed by a process pool, results come back in field order and are streamed into the plate's shard,
   which is committed atomically when the plate is done (:class:`cellclr_lib.data.store.ShardWriter`).

Memory is bounded by a few fields per worker plus one plate's cell *table* — never by the number of crops,
which go straight to disk. When every plate is committed, the shards are merged into ``crops.npy`` /
``cells.parquet`` and ``manifest.json`` is written last. A killed run resumes at the first plate without a
committed shard and produces the same bytes as an uninterrupted run: every step is deterministic and the
result does not depend on the number of workers.

Bad input never stops the other fields by default (``on_error="skip"``): a missing, truncated or corrupt
TIFF, a wrong dtype or shape is reported with the file's name and the field is left out; the skipped fields
are listed in the report and the manifest. ``on_error="stop"`` raises at the first such field instead
(finished plates stay committed).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import tifffile
from tqdm.std import tqdm

from cellclr_lib import __version__
from cellclr_lib.data import fields as field_tables
from cellclr_lib.data import illumination as illum
from cellclr_lib.data import subset as plate_subset
from cellclr_lib.data.crops import BORDER_MODE, extract_crops
from cellclr_lib.data.dataset import Description, description_for
from cellclr_lib.data.metadata import IMAGE_CSV_NAME, MOA_CSV_NAME, channel_file_paths
from cellclr_lib.data.nuclei import DetectionParams, detect_nuclei
from cellclr_lib.data.source import SYNTHETIC_MARKER
from cellclr_lib.data.store import (
    CELLS_NAME,
    CROPS_NAME,
    ILLUMINATION_DIR,
    MANIFEST_NAME,
    STORE_FORMAT,
    STORE_FORMAT_VERSION,
    ShardWriter,
    cell_columns,
    merge_shards,
    parameter_differences,
    read_committed_shard,
    remove_stale_temporaries,
    remove_store,
)
from cellclr_lib.errors import CellclrError, DataError
from cellclr_lib.io import atomic_path, read_json
from cellclr_lib.options import positive_int
from cellclr_lib.pool import WorkerPool
from cellclr_lib.progress import progress_bar

FieldsChoice = Literal["benchmark", "all"]
OnError = Literal["skip", "stop"]
_SKIP_FIX = "fix or re-download that file (`cellclr download`), or run with --on-error skip to leave it out"


@dataclass
class PrepReport:
    """What a prep run did: the store, crop and field counts, the plates resumed and the fields skipped."""

    store: Path
    n_crops: int
    n_fields: int
    crops_per_plate: dict[str, int]
    resumed_plates: list[str]
    skipped: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """A few lines for the terminal: counts, then the skipped fields grouped by reason."""
        lines = [
            f"crop store {self.store}: {self.n_crops} crops from {self.n_fields} fields on "
            f"{len(self.crops_per_plate)} plates ({len(self.resumed_plates)} already done) in {self.seconds:.0f} s"
        ]
        if self.skipped:
            lines.append(f"{len(self.skipped)} field(s) skipped:")
            lines += [
                f"  plate {s['plate']} image {s['image_number']}: {s['reason']}" for s in self.skipped[:20]
            ]
            if len(self.skipped) > 20:
                lines.append(f"  ... and {len(self.skipped) - 20} more (manifest.json lists all)")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------- reading


def read_channel(path: Path) -> np.ndarray:
    """Read one channel TIFF: a 2-D unsigned-integer image. Raises :class:`CellclrError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError("image file is missing", path=path, fix=_SKIP_FIX)
    try:
        image = tifffile.imread(path)
    except Exception as err:  # tifffile raises ValueError, TiffFileError, struct.error, OSError...
        raise DataError(
            f"cannot read the TIFF (truncated or corrupt?): {err}", path=path, fix=_SKIP_FIX
        ) from err
    if image.ndim != 2:
        raise DataError(f"expected a 2-D grayscale image, got shape {image.shape}", path=path, fix=_SKIP_FIX)
    if image.dtype not in (np.uint8, np.uint16):
        raise DataError(f"expected uint16 (or uint8) pixels, got {image.dtype}", path=path, fix=_SKIP_FIX)
    return image


def read_field(paths: Sequence[Path], first: str = "DAPI") -> np.ndarray:
    """The ``(C, H, W)`` field from its channel files (``first`` names the first one in messages).

    The channels must share one shape and dtype. A dtype mismatch is an error, not a cast: a uint8 channel
    beside uint16 ones would be scaled by the uint16 limits of its plate and come out black.
    """
    channels = [read_channel(p) for p in paths]
    for path, image in zip(paths[1:], channels[1:], strict=True):
        for what, own, dapi in (
            ("shape", image.shape, channels[0].shape),
            ("dtype", image.dtype, channels[0].dtype),
        ):
            if own != dapi:
                raise DataError(
                    f"{what} {own} differs from the {first} image's {dapi}", path=path, fix=_SKIP_FIX
                )
    return np.stack(channels)


def process_field(
    image: np.ndarray,
    profile: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    crop_size: int = 96,
    detection: DetectionParams | None = None,
    nucleus_channel: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Correct, scale and crop one ``(C, H, W)`` field: the whole per-field step of ``cellclr prep``.

    Nuclei are found on the corrected channel ``nucleus_channel``. Returns ``(crops, centroids_xy, areas,
    n_detected)`` for the nuclei whose crop fits in the field.
    """
    corrected = illum.correct(image, profile)
    scaled = illum.to_uint8(corrected, lo, hi)
    detection = asdict(detection or DetectionParams())
    _, centroids_xy, areas = detect_nuclei(corrected[nucleus_channel], **detection)
    crops, kept = extract_crops(scaled, centroids_xy, crop_size)
    return crops, centroids_xy[kept], areas[kept], len(kept)


# ------------------------------------------------------------------------------------ worker tasks

_PROFILE_CACHE: dict[str, np.ndarray] = {}


@dataclass(frozen=True)
class FieldFiles:
    """One field to read: its image number, its channel files in store order, the plate's field shape."""

    image_number: int
    paths: tuple[Path, ...]
    first_channel: str
    shape: tuple[int, int] | None

    def read(self) -> np.ndarray:
        """The field, refused when its shape differs from the plate's."""
        image = read_field(self.paths, self.first_channel)
        if self.shape is not None and image.shape[1:] != self.shape:
            raise DataError(
                f"field shape {image.shape[1:]} differs from the plate's {self.shape}", path=self.paths[0]
            )
        return image


@dataclass(frozen=True)
class SummaryTask:
    """Block-average a field and sample its pixels, for the plate's illumination profile and limits."""

    field: FieldFiles
    downsample: int
    sample_pixels: int


@dataclass(frozen=True)
class CropTask:
    """Correct, scale and crop a field with its plate's profile (read from ``profile_path``) and limits."""

    field: FieldFiles
    profile_path: Path
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    crop_size: int
    detection: DetectionParams
    nucleus_channel: int


@dataclass
class FieldResult:
    """What a worker sends back for one field: ``error`` (a message) or the step's ``values``."""

    image_number: int
    error: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


def _summary_task(task: SummaryTask) -> FieldResult:
    """Block-averaged field and its pixel sample (for the plate's profile and limits), or the error."""
    try:
        image = task.field.read()
        rows, cols = illum.sample_positions(image.shape[1:], task.sample_pixels)
        block = illum.block_mean(image, task.downsample)
        values = {"block": block, "sample": image[:, rows, cols], "shape": tuple(image.shape[1:])}
        return FieldResult(task.field.image_number, values=values)
    except CellclrError as err:
        return FieldResult(task.field.image_number, error=str(err))


def _crop_task(task: CropTask) -> FieldResult:
    """Crops, centroids and areas of one field (profile read from disk once per plate per worker)."""
    try:
        image = task.field.read()
        shape = image.shape[1:]
        key = f"{task.profile_path}:{shape}"
        if key not in _PROFILE_CACHE:
            _PROFILE_CACHE.clear()
            _PROFILE_CACHE[key] = illum.upsample_profile(np.load(task.profile_path), shape)
        crops, xy, areas, n_detected = process_field(
            image,
            _PROFILE_CACHE[key],
            np.asarray(task.lo),
            np.asarray(task.hi),
            crop_size=task.crop_size,
            detection=task.detection,
            nucleus_channel=task.nucleus_channel,
        )
        values = {"crops": crops, "xy": xy, "areas": areas, "n_detected": n_detected}
        return FieldResult(task.field.image_number, values=values)
    except CellclrError as err:
        return FieldResult(task.field.image_number, error=str(err))


# ------------------------------------------------------------------------------------------ planning


def select_fields(
    root: str | Path,
    fields: FieldsChoice = "benchmark",
    plates: Sequence[str] | None = None,
    description: Description | None = None,
) -> pd.DataFrame:
    """The fields to prepare, read through ``description`` (by default the one found for ``root``).

    Sorted by plate then image number. ``fields="benchmark"``: the labelled fields outside the
    description's excluded wells (BBBC021: the annotated subset without taxol control wells; ``is_control``
    = DMSO); ``"all"``: every field (``moa`` is NaN where unannotated). ``plates`` restricts to those plates.
    """
    description = description or description_for(root)
    return field_tables.select(description, root, fields, plates)


def _missing_files(table: pd.DataFrame, root: Path, channels: Sequence[str], stop: bool) -> dict[int, str]:
    """image_number → message for fields with a channel file that does not exist; with ``stop``, an error."""
    paths = channel_file_paths(table, root, channels)
    missing: dict[int, str] = {}
    for channel in channels:
        for image_number, path in zip(table["image_number"], paths[channel], strict=True):
            if int(image_number) not in missing and not path.is_file():
                missing[int(image_number)] = f"{path}: image file is missing"
    if missing and stop:
        raise DataError(
            f"{len(missing)} field(s) reference missing files; first: {next(iter(missing.values()))}",
            fix="download the missing plates (`cellclr download`), choose plates with --plates, or use --on-error skip",
        )
    return missing


def _warn_plates_without_dmso(table: pd.DataFrame) -> None:
    without = sorted(set(table["plate"]) - set(table.loc[table["is_control"], "plate"]))
    if without:
        warnings.warn(
            f"plate(s) {', '.join(without)} have no DMSO control fields: their wells cannot be normalised "
            "against their own plate's controls",
            UserWarning,
            stacklevel=3,
        )


def _subsample(n: int, k: int, plate: str) -> np.ndarray:
    """A deterministic subsample (sorted positions) of ``k`` of ``n`` fields, seeded by the plate's name."""
    rng = np.random.default_rng(zlib.crc32(plate.encode()))
    return np.sort(rng.choice(n, size=min(n, k), replace=False))


# ---------------------------------------------------------------------------------------------- prep


def prep_dataset(
    root: str | Path,
    out: str | Path,
    *,
    crop_size: int = 96,
    fields: FieldsChoice = "benchmark",
    plates: Sequence[str] | None = None,
    workers: int = 1,
    on_error: OnError = "skip",
    illumination: illum.IlluminationParams | None = None,
    detection: DetectionParams | None = None,
    progress: bool = True,
    overwrite: bool = False,
    dataset: Description | str | Path | None = None,
) -> PrepReport:
    """Build (or resume, or confirm) the crop store ``out`` from the raw dataset ``root``.

    ``dataset`` is the dataset description (object or TOML path); by default ``root/dataset.toml`` when
    present (the stand-in's), else BBBC021's.

    Raises :class:`CellclrError` for unusable arguments, for a complete store at ``out`` made with other
    parameters, under ``on_error="stop"`` for the first unreadable field, and when no crop results.
    ``overwrite`` first deletes what a previous run left in ``out`` (store, shards, profiles), to redo it
    after fixing input files.
    """
    start = time.perf_counter()
    root, out = Path(root), Path(out)
    _check_arguments(crop_size, on_error, workers)
    illumination = illumination or illum.IlluminationParams()
    detection = detection or DetectionParams()
    description = dataset if isinstance(dataset, Description) else description_for(root, dataset)
    table = select_fields(root, fields, plates, description)
    if table.empty:
        raise CellclrError(f"no {fields} fields in the metadata", path=root / description.image_csv)
    parameters = {
        "crop_size": crop_size,
        "fields": fields,
        "plates": sorted(plates) if plates is not None else None,
        "border": BORDER_MODE,
        "illumination": asdict(illumination),
        "nuclei": asdict(detection),
    }
    if overwrite:
        remove_store(out)
    done = _existing_store(out, parameters)
    if done is not None:
        return done
    remove_stale_temporaries(out)
    _warn_plates_without_dmso(table)
    missing = _missing_files(table, root, description.channel_names, stop=on_error == "stop")

    plate_names = sorted(table["plate"].unique())
    infos = _committed_plates(out, plate_names, parameters, len(description.channels))
    resumed = [p for p in plate_names if p in infos]
    pending = [p for p in plate_names if p not in infos]

    with (
        WorkerPool(workers if pending else 1) as pool,
        progress_bar(
            total=int(table["plate"].isin(pending).sum()), desc="prep", unit="field", disable=not progress
        ) as bar,
    ):
        run = PlateRun(description, root, out, parameters, missing, pool, on_error, bar)
        for plate in pending:
            infos[plate] = _prep_plate(run, plate, table[table["plate"] == plate].reset_index(drop=True))

    manifest = _manifest(run, plate_names, infos)
    _check_some_crops(manifest, out)
    merge_shards(out, plate_names, crop_size, manifest)
    return PrepReport(
        store=out,
        n_crops=manifest["n_crops"],
        n_fields=manifest["n_fields"],
        crops_per_plate={p: infos[p]["n_crops"] for p in plate_names},
        resumed_plates=resumed,
        skipped=manifest["skipped_fields"],
        seconds=time.perf_counter() - start,
    )


def _check_arguments(crop_size: int, on_error: str, workers: int) -> None:
    """Refuse unusable arguments before anything is read or written."""
    if crop_size < 8 or crop_size % 2:
        raise CellclrError(
            f"crop size must be an even number ≥ 8, got {crop_size}", fix="e.g. --crop-size 96"
        )
    if on_error not in ("skip", "stop"):
        raise CellclrError(f"on_error must be 'skip' or 'stop', not {on_error!r}")
    if workers < 1:
        raise CellclrError(f"workers must be ≥ 1, got {workers}")


def _committed_plates(
    out: Path, plates: Sequence[str], parameters: dict[str, Any], n_channels: int
) -> dict[str, dict]:
    """The info of each plate whose shard an earlier run committed with these parameters (it is resumed)."""
    infos = {p: read_committed_shard(out, p, parameters, parameters["crop_size"], n_channels) for p in plates}
    return {p: info for p, info in infos.items() if info is not None}


def _check_some_crops(manifest: dict[str, Any], out: Path) -> None:
    """Zero crops is a failure, not a store: nothing downstream can use it (and it must not be marked complete)."""
    if manifest["n_crops"]:
        return
    skipped = manifest["skipped_fields"]
    first = f"; first: {skipped[0]['reason'].splitlines()[0]}" if skipped else ""
    raise DataError(
        f"no crop from {manifest['n_fields']} processed field(s) ({len(skipped)} skipped{first}); "
        f"crop size {manifest['parameters']['crop_size']} px",
        path=out,
        fix="fix or re-download the skipped files, check that --crop-size fits inside the fields and around "
        "the nuclei, then rerun with --overwrite",
    )


def _existing_store(out: Path, parameters: dict[str, Any]) -> PrepReport | None:
    """A report for a complete store with these parameters; an error if it has others; None if absent."""
    manifest_path = out / MANIFEST_NAME
    if not manifest_path.is_file() or not (out / CROPS_NAME).is_file() or not (out / CELLS_NAME).is_file():
        return None
    manifest = read_json(manifest_path, fix="rerun with --overwrite to rebuild the store")
    if not manifest.get("complete"):
        return None
    differences = parameter_differences(manifest.get("parameters", {}), parameters)
    if differences:
        raise CellclrError(
            "a complete crop store made with other parameters is already here: " + "; ".join(differences),
            path=out,
            fix="choose another --out, or delete this store to rebuild it",
        )
    plates = manifest["plates"]
    return PrepReport(
        store=out,
        n_crops=manifest["n_crops"],
        n_fields=manifest["n_fields"],
        crops_per_plate={p: info["n_crops"] for p, info in plates.items()},
        resumed_plates=list(plates),
        skipped=manifest["skipped_fields"],
    )


@dataclass
class PlateRun:
    """What every plate of one prep run shares: the dataset, the folders, the parameters, the pool."""

    description: Description
    root: Path
    out: Path
    parameters: dict[str, Any]
    missing: dict[int, str]
    pool: WorkerPool
    on_error: OnError
    bar: tqdm

    def record(self, plate: str, result: FieldResult, errors: dict[int, str]) -> bool:
        """True for a good result; a failed one is raised (``on_error="stop"``) or noted in ``errors``."""
        if result.error is None:
            return True
        if self.on_error == "stop":
            raise DataError(f"plate {plate}, image {result.image_number}: {result.error}")
        errors.setdefault(result.image_number, result.error)
        return False


@dataclass
class PlateLimits:
    """A plate's illumination estimate: profile file, field shape, 8-bit limits, fields it came from."""

    profile_path: Path
    shape: tuple[int, int] | None
    lo: np.ndarray
    hi: np.ndarray
    n_fields: int


def _prep_plate(run: PlateRun, plate: str, plate_fields: pd.DataFrame) -> dict[str, Any]:
    """Profile, limits and crops of one plate, committed as a shard; returns the shard's info."""
    names = run.description.channel_names
    paths = channel_file_paths(plate_fields, run.root, names)
    field_paths = [tuple(ps) for ps in zip(*(paths[c] for c in names), strict=True)]
    numbers = [int(n) for n in plate_fields["image_number"]]
    errors: dict[int, str] = {n: run.missing[n] for n in numbers if n in run.missing}
    limits = _plate_limits(run, plate, numbers, field_paths, errors)
    if not limits.n_fields:
        for n in numbers:
            errors.setdefault(n, "no readable field on this plate to estimate its illumination from")

    # crops of every field, streamed into the shard in field order
    run.bar.set_postfix_str(f"{plate}: crops")
    todo = [i for i, n in enumerate(numbers) if n not in errors]
    run.bar.update(len(numbers) - len(todo))
    crop_size = run.parameters["crop_size"]
    tasks = [
        CropTask(
            field=FieldFiles(numbers[i], field_paths[i], names[0], limits.shape),
            profile_path=limits.profile_path,
            lo=tuple(limits.lo.tolist()),
            hi=tuple(limits.hi.tolist()),
            crop_size=crop_size,
            detection=DetectionParams(**run.parameters["nuclei"]),
            nucleus_channel=run.description.nucleus_index,
        )
        for i in todo
    ]
    per_field: list[tuple[int, np.ndarray, np.ndarray]] = []
    n_detected = 0
    with ShardWriter(run.out, plate, crop_size, len(names)) as writer:
        for i, result in zip(todo, run.pool.map(_crop_task, tasks), strict=True):
            run.bar.update(1)
            if run.record(plate, result, errors):
                writer.append(result.values["crops"])
                per_field.append((i, result.values["xy"], result.values["areas"]))
                n_detected += result.values["n_detected"]
        cells = _cell_rows(plate_fields, per_field, run.description.nucleus_channel)
        skipped = [{"plate": plate, "image_number": n, "reason": errors[n]} for n in numbers if n in errors]
        writer.commit(
            cells,
            {
                "plate": plate,
                "parameters": run.parameters,
                "n_fields": len(per_field),
                "n_detected": n_detected,
                "illumination_fields": limits.n_fields,
                "intensity_low": [round(float(v), 4) for v in limits.lo],
                "intensity_high": [round(float(v), 4) for v in limits.hi],
                "field_shape": list(limits.shape) if limits.shape else None,
                "skipped": skipped,
            },
        )
    return read_committed_shard(run.out, plate, run.parameters, crop_size, len(names))


def _plate_limits(
    run: PlateRun,
    plate: str,
    numbers: Sequence[int],
    field_paths: Sequence[tuple[Path, ...]],
    errors: dict[int, str],
) -> PlateLimits:
    """The plate's illumination profile (saved) and intensity limits, from a subsample of readable fields.

    The estimate itself is :func:`illumination.illumination_profile`'s; here the fields are read by the
    pool and only their block means and pixel samples come back.
    """
    run.bar.set_postfix_str(f"{plate}: illumination")
    params = illum.IlluminationParams(**run.parameters["illumination"])
    readable = [i for i, n in enumerate(numbers) if n not in errors]
    chosen = [readable[i] for i in _subsample(len(readable), params.max_fields, plate)]
    first = run.description.channel_names[0]
    reference = _first_readable_shape(field_paths, chosen)
    tasks = [
        SummaryTask(
            FieldFiles(numbers[i], field_paths[i], first, reference), params.downsample, params.sample_pixels
        )
        for i in chosen
    ]
    blocks, samples, shape = [], [], None
    for result in run.pool.map(_summary_task, tasks):
        if run.record(plate, result, errors):
            blocks.append(result.values["block"])
            samples.append(result.values["sample"])
            shape = result.values["shape"]
    profile_path = run.out / ILLUMINATION_DIR / f"{plate}.npy"
    zeros = np.zeros(len(field_paths[0]) if field_paths else 0, dtype=np.float32)
    if not blocks:
        return PlateLimits(profile_path, shape, zeros, zeros, 0)
    profile_low, lo, hi = illum.profile_and_limits(blocks, samples, shape, params)
    with atomic_path(profile_path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, profile_low)
    return PlateLimits(profile_path, shape, lo, hi, len(blocks))


def _first_readable_shape(
    field_paths: Sequence[tuple[Path, ...]], chosen: Sequence[int]
) -> tuple[int, int] | None:
    """The (rows, columns) of the first chosen field whose DAPI file reads: the plate's reference shape."""
    for i in chosen:
        try:
            return tuple(read_channel(field_paths[i][0]).shape)
        except CellclrError:
            continue
    return None


def _cell_rows(
    plate_fields: pd.DataFrame, per_field: list[tuple[int, np.ndarray, np.ndarray]], nucleus_channel: str
) -> pd.DataFrame:
    """One row per crop: the field's metadata repeated, plus the nucleus centroid and area."""
    positions = np.concatenate(
        [np.full(len(xy), i, dtype=np.int64) for i, xy, _ in per_field] or [np.zeros(0, int)]
    )
    cells = plate_fields.iloc[positions].reset_index(drop=True)
    xy = np.concatenate([xy for _, xy, _ in per_field] or [np.zeros((0, 2))])
    cells["x"] = xy[:, 0].astype(np.float32)
    cells["y"] = xy[:, 1].astype(np.float32)
    cells["nucleus_area"] = np.concatenate([a for _, _, a in per_field] or [np.zeros(0, int)]).astype(
        np.int64
    )
    return cells[cell_columns(nucleus_channel)]


def _manifest(run: PlateRun, plates: Sequence[str], infos: dict[str, dict]) -> dict[str, Any]:
    """The store's manifest: format, channels, the dataset and its description, parameters, per-plate info."""
    root, parameters = run.root, run.parameters
    kind = "synthetic" if (root / SYNTHETIC_MARKER).is_file() else run.description.name.lower()
    source = run.description.source
    per_plate = {
        p: {k: v for k, v in infos[p].items() if k not in ("parameters", "plate", "skipped")} for p in plates
    }
    return {
        "format": STORE_FORMAT,
        "format_version": STORE_FORMAT_VERSION,
        "library_version": __version__,
        "channels": list(run.description.channel_names),
        "nucleus_channel": run.description.nucleus_channel,
        "dataset": {
            "root": str(root.resolve()),
            "kind": kind,
            "description": str(source.resolve()) if source else run.description.name,
        },
        "parameters": parameters,
        "plates": per_plate,
        "n_crops": sum(info["n_crops"] for info in infos.values()),
        "n_fields": sum(info["n_fields"] for info in infos.values()),
        "skipped_fields": [s for p in plates for s in infos[p]["skipped"]],
    }


# ----------------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cellclr prep``."""
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="raw dataset directory (BBBC021, the stand-in, or your plates described by --dataset)",
    )
    parser.add_argument("--out", required=True, type=Path, help="crop store directory to write (or resume)")
    parser.add_argument(
        "--dataset",
        type=Path,
        metavar="TOML",
        help="dataset description: channels and metadata columns (default: DATA/dataset.toml if present, "
        "else BBBC021's; see the setup page of the book)",
    )
    parser.add_argument(
        "--crop-size", type=positive_int, default=96, help="crop side length in pixels (default: 96)"
    )
    parser.add_argument(
        "--all-fields",
        action="store_true",
        help="prepare every field, not only the annotated benchmark subset (taxol control wells excluded)",
    )
    parser.add_argument("--plates", nargs="+", metavar="PLATE", help="only these plates (e.g. Week4_27481)")
    plate_subset.add_argument(parser)
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="processes working on fields (default: 1, this process)",
    )
    parser.add_argument(
        "--on-error",
        choices=("skip", "stop"),
        default="skip",
        help="unreadable field: leave it out and list it at the end (skip, default) or stop with an error",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete what an earlier prep left in --out and start over (e.g. after fixing a bad file)",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``cellclr prep``: returns 0 when the store is complete (skipped fields are listed on stderr)."""
    report = prep_dataset(
        args.data,
        args.out,
        crop_size=args.crop_size,
        fields="all" if args.all_fields else "benchmark",
        plates=plate_subset.resolve_plates(args, args.data / IMAGE_CSV_NAME, args.data / MOA_CSV_NAME),
        workers=args.workers,
        on_error=args.on_error,
        progress=not args.quiet,
        overwrite=args.overwrite,
        dataset=args.dataset,
    )
    print(report.summary(), file=sys.stderr if report.skipped else sys.stdout)
    return 0
