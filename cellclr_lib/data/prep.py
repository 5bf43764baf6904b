"""``cellclr prep``: from raw fields to a crop store, plate by plate, resumable and in parallel.

For every plate (in name order):

1. **Illumination and intensity limits** — a seeded subsample of the plate's fields (at most
   ``IlluminationParams.max_fields``) is read in parallel; each worker returns the field block-averaged and a
   fixed sample of its pixels. The running mean gives the illumination profile, the corrected pixel samples
   the 0.1/99.9 % limits (see :mod:`cellclr_lib.data.illumination`). The low-resolution profile is saved as
   ``illumination/<plate>.npy``.
2. **Crops** — every field is read, corrected, scaled to uint8, its nuclei detected on the corrected DAPI
   channel (:mod:`cellclr_lib.data.nuclei`) and cropped (:mod:`cellclr_lib.data.crops`). Fields are
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
from cellclr_lib.data import illumination as illum
from cellclr_lib.data import subset as plate_subset
from cellclr_lib.data.crops import BORDER_MODE, extract_crops
from cellclr_lib.data.metadata import (
    CHANNELS,
    DMSO,
    IMAGE_CSV_NAME,
    MOA_CSV_NAME,
    benchmark_fields,
    channel_file_paths,
    field_table,
)
from cellclr_lib.data.nuclei import DetectionParams, detect_nuclei
from cellclr_lib.data.source import dataset_kind
from cellclr_lib.data.store import (
    CELL_COLUMNS,
    CELLS_NAME,
    CHANNEL_ORDER,
    CROPS_NAME,
    ILLUMINATION_DIR,
    MANIFEST_NAME,
    STORE_FORMAT,
    STORE_FORMAT_VERSION,
    ShardWriter,
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


def read_field(paths: Sequence[Path]) -> np.ndarray:
    """The ``(3, H, W)`` field from its DAPI, Tubulin and Actin files; channels share one shape and dtype.

    A dtype mismatch is an error, not a cast: a uint8 channel beside uint16 ones would be scaled by the
    uint16 limits of its plate and come out black.
    """
    channels = [read_channel(p) for p in paths]
    for path, image in zip(paths[1:], channels[1:], strict=True):
        for what, own, dapi in (
            ("shape", image.shape, channels[0].shape),
            ("dtype", image.dtype, channels[0].dtype),
        ):
            if own != dapi:
                raise DataError(
                    f"{what} {own} differs from the DAPI image's {dapi}", path=path, fix=_SKIP_FIX
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Correct, scale and crop one ``(3, H, W)`` field: the whole per-field step of ``cellclr prep``.

    Returns ``(crops, centroids_xy, areas, n_detected)`` for the nuclei whose crop fits in the field.
    """
    corrected = illum.correct(image, profile)
    scaled = illum.to_uint8(corrected, lo, hi)
    _, centroids_xy, areas = detect_nuclei(corrected[0], **asdict(detection or DetectionParams()))
    crops, kept = extract_crops(scaled, centroids_xy, crop_size)
    return crops, centroids_xy[kept], areas[kept], len(kept)


# ------------------------------------------------------------------------------------ worker tasks

_PROFILE_CACHE: dict[str, np.ndarray] = {}


def _summary_task(task: tuple[int, tuple[Path, ...], int, int, tuple[int, int] | None]) -> tuple:
    """Block-averaged field and its pixel sample (for the plate's profile and limits), or the error."""
    image_number, paths, downsample, sample_pixels, shape = task
    try:
        image = read_field(paths)
        if shape is not None and image.shape[1:] != shape:
            raise DataError(f"field shape {image.shape[1:]} differs from the plate's {shape}", path=paths[0])
        rows, cols = illum.sample_positions(image.shape[1:], sample_pixels)
        return "ok", image_number, illum.block_mean(image, downsample), image[:, rows, cols], image.shape[1:]
    except CellclrError as err:
        return "error", image_number, str(err)


def _crop_task(task: tuple) -> tuple:
    """Crops, centroids and areas of one field (profile read from disk once per plate per worker)."""
    image_number, paths, profile_path, shape, lo, hi, crop_size, detection = task
    try:
        image = read_field(paths)
        if image.shape[1:] != shape:
            raise DataError(f"field shape {image.shape[1:]} differs from the plate's {shape}", path=paths[0])
        key = f"{profile_path}:{shape}"
        if key not in _PROFILE_CACHE:
            _PROFILE_CACHE.clear()
            _PROFILE_CACHE[key] = illum.upsample_profile(np.load(profile_path), shape)
        profile = _PROFILE_CACHE[key]
        crops, xy, areas, n_detected = process_field(
            image,
            profile,
            np.asarray(lo),
            np.asarray(hi),
            crop_size=crop_size,
            detection=DetectionParams(**detection),
        )
        return "ok", image_number, crops, xy, areas, n_detected
    except CellclrError as err:
        return "error", image_number, str(err)


# ------------------------------------------------------------------------------------------ planning


def select_fields(
    root: str | Path, fields: FieldsChoice = "benchmark", plates: Sequence[str] | None = None
) -> pd.DataFrame:
    """The fields to prepare, from ``ROOT``'s metadata CSVs, sorted by plate then image number.

    ``fields="benchmark"``: the annotated subset without taxol control wells (``is_control`` = DMSO);
    ``"all"``: every field (``moa`` is NaN where unannotated). ``plates`` restricts to those plates.
    """
    root = Path(root)
    image_csv, moa_csv = root / IMAGE_CSV_NAME, root / MOA_CSV_NAME
    if fields == "benchmark":
        table = benchmark_fields(image_csv, moa_csv)
    elif fields == "all":
        table = field_table(image_csv, moa_csv)
        table["is_control"] = table["compound"] == DMSO
    else:
        raise CellclrError(f"fields must be 'benchmark' or 'all', not {fields!r}")
    if plates is not None:
        unknown = sorted(set(plates) - set(table["plate"]))
        if unknown:
            raise CellclrError(
                f"plate(s) {', '.join(unknown)} have no {fields} fields in the metadata",
                path=image_csv,
                fix=f"choose among: {', '.join(sorted(table['plate'].unique()))}",
            )
        table = table[table["plate"].isin(plates)]
    return table.sort_values(["plate", "image_number"]).reset_index(drop=True)


def _missing_files(table: pd.DataFrame, root: Path) -> dict[int, str]:
    """image_number → message for fields with a channel file that does not exist."""
    paths = channel_file_paths(table, root)
    missing: dict[int, str] = {}
    for channel in CHANNELS:
        for image_number, path in zip(table["image_number"], paths[channel], strict=True):
            if int(image_number) not in missing and not path.is_file():
                missing[int(image_number)] = f"{path}: image file is missing"
    return missing


def _warn_plates_without_dmso(table: pd.DataFrame) -> None:
    without = sorted(set(table["plate"]) - set(table.loc[table["compound"] == DMSO, "plate"]))
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
) -> PrepReport:
    """Build (or resume, or confirm) the crop store ``out`` from the raw dataset ``root``.

    Raises :class:`CellclrError` for unusable arguments, for a complete store at ``out`` made with other
    parameters, under ``on_error="stop"`` for the first unreadable field, and when no crop results.
    ``overwrite`` first deletes what a previous run left in ``out`` (store, shards, profiles), to redo it
    after fixing input files.
    """
    start = time.perf_counter()
    root, out = Path(root), Path(out)
    if crop_size < 8 or crop_size % 2:
        raise CellclrError(
            f"crop size must be an even number ≥ 8, got {crop_size}", fix="e.g. --crop-size 96"
        )
    if on_error not in ("skip", "stop"):
        raise CellclrError(f"on_error must be 'skip' or 'stop', not {on_error!r}")
    if workers < 1:
        raise CellclrError(f"workers must be ≥ 1, got {workers}")
    illumination = illumination or illum.IlluminationParams()
    detection = detection or DetectionParams()
    kind = dataset_kind(root)
    table = select_fields(root, fields, plates)
    if table.empty:
        raise CellclrError(f"no {fields} fields in the metadata", path=root / IMAGE_CSV_NAME)
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
    missing = _missing_files(table, root)
    if missing and on_error == "stop":
        first = next(iter(missing.values()))
        raise DataError(
            f"{len(missing)} field(s) reference missing files; first: {first}",
            fix="download the missing plates (`cellclr download`), choose plates with --plates, or use --on-error skip",
        )

    plate_names = sorted(table["plate"].unique())
    infos: dict[str, dict] = {}
    pending: list[str] = []
    for plate in plate_names:
        info = read_committed_shard(out, plate, parameters, crop_size)
        if info is None:
            pending.append(plate)
        else:
            infos[plate] = info
    resumed = [p for p in plate_names if p in infos]

    with (
        WorkerPool(workers if pending else 1) as pool,
        progress_bar(
            total=int(table["plate"].isin(pending).sum()), desc="prep", unit="field", disable=not progress
        ) as bar,
    ):
        for plate in pending:
            plate_fields = table[table["plate"] == plate].reset_index(drop=True)
            infos[plate] = _prep_plate(
                plate, plate_fields, root, out, parameters, missing, pool, on_error, bar
            )

    manifest = _manifest(root, kind, parameters, plate_names, infos)
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


def _prep_plate(
    plate: str,
    plate_fields: pd.DataFrame,
    root: Path,
    out: Path,
    parameters: dict[str, Any],
    missing: dict[int, str],
    pool: WorkerPool,
    on_error: OnError,
    bar: tqdm,
) -> dict[str, Any]:
    """Profile, limits and crops of one plate, committed as a shard; returns the shard's info."""
    params = illum.IlluminationParams(**parameters["illumination"])
    crop_size = parameters["crop_size"]
    paths = channel_file_paths(plate_fields, root)
    field_paths = [tuple(ps) for ps in zip(*(paths[c] for c in CHANNELS), strict=True)]
    numbers = [int(n) for n in plate_fields["image_number"]]
    errors: dict[int, str] = {n: missing[n] for n in numbers if n in missing}

    def record(result: tuple) -> bool:
        if result[0] == "ok":
            return True
        if on_error == "stop":
            raise DataError(f"plate {plate}, image {result[1]}: {result[2]}")
        errors.setdefault(result[1], result[2])
        return False

    # 1. illumination profile and intensity limits from a subsample of readable fields
    bar.set_postfix_str(f"{plate}: illumination")
    readable = [i for i, n in enumerate(numbers) if n not in errors]
    chosen = [readable[i] for i in _subsample(len(readable), params.max_fields, plate)]
    running, samples, shape = illum.RunningMean(), [], None
    first_shape = _first_readable_shape(field_paths, chosen)
    summary_tasks = [
        (numbers[i], field_paths[i], params.downsample, params.sample_pixels, first_shape) for i in chosen
    ]
    for result in pool.map(_summary_task, summary_tasks):
        if record(result):
            running.add(result[2])
            samples.append(result[3])
            shape = tuple(result[4])
    profile_path = out / ILLUMINATION_DIR / f"{plate}.npy"
    lo = hi = np.zeros(3, dtype=np.float32)
    if running.count:
        profile_low = illum.smooth_profile(running.mean, downsample=params.downsample, sigma=params.sigma)
        with atomic_path(profile_path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, profile_low)
        rows, cols = illum.sample_positions(shape, params.sample_pixels)
        profile_at_samples = illum.upsample_profile(profile_low, shape)[:, rows, cols]
        corrected = np.concatenate([s / profile_at_samples for s in samples], axis=1)
        lo, hi = illum.intensity_limits(corrected, params.clip_low, params.clip_high)
    else:
        for n in numbers:
            errors.setdefault(n, "no readable field on this plate to estimate its illumination from")

    # 2. crops of every field, streamed into the shard in field order
    bar.set_postfix_str(f"{plate}: crops")
    todo = [i for i, n in enumerate(numbers) if n not in errors]
    bar.update(len(numbers) - len(todo))
    crop_tasks = [
        (
            numbers[i],
            field_paths[i],
            profile_path,
            shape,
            lo.tolist(),
            hi.tolist(),
            crop_size,
            parameters["nuclei"],
        )
        for i in todo
    ]
    per_field: list[tuple[int, np.ndarray, np.ndarray]] = []
    n_detected = 0
    with ShardWriter(out, plate, crop_size) as writer:
        for i, result in zip(todo, pool.map(_crop_task, crop_tasks), strict=True):
            bar.update(1)
            if record(result):
                _, _, crops, xy, areas, detected = result
                writer.append(crops)
                per_field.append((i, xy, areas))
                n_detected += detected
        cells = _cell_rows(plate_fields, per_field)
        skipped = [{"plate": plate, "image_number": n, "reason": errors[n]} for n in numbers if n in errors]
        writer.commit(
            cells,
            {
                "plate": plate,
                "parameters": parameters,
                "n_fields": len(per_field),
                "n_detected": n_detected,
                "illumination_fields": running.count,
                "intensity_low": [round(float(v), 4) for v in lo],
                "intensity_high": [round(float(v), 4) for v in hi],
                "field_shape": list(shape) if shape else None,
                "skipped": skipped,
            },
        )
    return read_committed_shard(out, plate, parameters, crop_size)


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
    plate_fields: pd.DataFrame, per_field: list[tuple[int, np.ndarray, np.ndarray]]
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
    return cells[CELL_COLUMNS]


def _manifest(
    root: Path, kind: str, parameters: dict[str, Any], plates: Sequence[str], infos: dict[str, dict]
) -> dict[str, Any]:
    per_plate = {
        p: {k: v for k, v in infos[p].items() if k not in ("parameters", "plate", "skipped")} for p in plates
    }
    return {
        "format": STORE_FORMAT,
        "format_version": STORE_FORMAT_VERSION,
        "library_version": __version__,
        "channels": list(CHANNEL_ORDER),
        "dataset": {"root": str(root.resolve()), "kind": kind},
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
        "--data", required=True, type=Path, help="raw dataset directory (BBBC021 or the stand-in)"
    )
    parser.add_argument("--out", required=True, type=Path, help="crop store directory to write (or resume)")
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
    )
    print(report.summary(), file=sys.stderr if report.skipped else sys.stdout)
    return 0
