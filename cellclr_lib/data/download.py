"""``cellclr download``: fetch BBBC021's metadata and plate zips, and extract only the fields a run needs.

The Broad serves the images as 55 zips of ~0.8 GB (``BBBC021_v1_images_<Plate>.zip``), each holding a plate
folder (``Week1_22123/<file>.tif``). The raw-dataset contract wants ``ROOT/<Image_PathName_*>/<file>``
(``ROOT/Week1/Week1_22123/<file>.tif``) with the CSVs at ``ROOT/``, so members are located by their *base name*
as the image CSV lists it, wherever the zip puts them, and written under the CSV's path name.

Design choices, each for a reason:

* **Only the needed fields.** The benchmark needs the annotated fields plus DMSO controls (about a third of the
  images, :func:`~cellclr_lib.data.metadata.benchmark_fields`); ``fields="all"`` extracts every field.
* **Disk ≈ one plate.** With ``delete_zips`` each zip is removed right after its plate is extracted.
* **Resumable at every scale.** Transfers resume with HTTP ``Range`` (:mod:`cellclr_lib.data.http`); each file is
  extracted to a temporary sibling and renamed, so no half-written TIFF exists; and a per-plate marker
  ``ROOT/.done/<plate>.json`` (written last) lists the extracted files, so a rerun skips finished plates without
  any network traffic.
* **Integrity.** A zip must have the announced size and pass :meth:`zipfile.ZipFile.testzip` (every member's
  CRC-32). A bad zip is fetched once more from scratch; a second failure is an error naming plate, file and URL.
  A metadata CSV must have the announced size; a server that announces none must serve exactly the Broad's file
  (its SHA-256 is shipped, :data:`~cellclr_lib.data.metadata.SHIPPED_SHA256`), since a CSV cut at a line end
  parses as a valid, shorter table.
* **Confinement.** Every path taken from the downloaded image CSV (folders, file and plate names) must stay
  inside ROOT: ``..``, absolute paths and symbolic links leading out are refused before anything is fetched.
"""

from __future__ import annotations

import argparse
import re
import shutil
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests

from cellclr_lib import options
from cellclr_lib.data import subset as plate_subset
from cellclr_lib.data.dataset import bbbc021
from cellclr_lib.data.http import RemoteFileMissing, fetch_file
from cellclr_lib.data.metadata import (
    CHANNELS,
    IMAGE_CSV_NAME,
    MOA_CSV_NAME,
    SHIPPED_SHA256,
    benchmark_fields,
    field_table,
    read_image_csv,
    read_moa_csv,
    shipped_path,
)
from cellclr_lib.errors import CellclrError, DataError
from cellclr_lib.io import atomic_path, confined_path, read_json, write_json_atomic
from cellclr_lib.progress import progress_bar

DEFAULT_BASE_URL = "https://data.broadinstitute.org/bbbc/BBBC021/"
COMPOUND_CSV_NAME = "BBBC021_v1_compound.csv"
#: folder under ROOT for the plate zips (kept unless ``delete_zips``) and for the per-plate markers.
ZIP_DIR = "zips"
DONE_DIR = ".done"
#: rough sizes for ``--dry-run`` (no network): one zip as distributed, one uncompressed 1280x1024 uint16 TIFF.
APPROX_ZIP_BYTES = 800 * 10**6
APPROX_TIFF_BYTES = 1280 * 1024 * 2 + 8 * 1024

Fields = Literal["benchmark", "all"]


@dataclass
class DownloadReport:
    """What :func:`download_plates` did, for the CLI summary and for notebooks to display."""

    root: Path
    plates_done: list[str] = field(default_factory=list)
    plates_skipped: list[str] = field(default_factory=list)
    files_extracted: int = 0
    bytes_downloaded: int = 0
    zips_deleted: int = 0

    def summary(self) -> str:
        """One line for the terminal."""
        return (
            f"{self.root}: {len(self.plates_done)} plate(s) downloaded, {len(self.plates_skipped)} already complete; "
            f"{self.files_extracted} file(s) extracted, {self.bytes_downloaded / 1e6:.1f} MB transferred"
            + (f", {self.zips_deleted} zip(s) deleted" if self.zips_deleted else "")
        )


@dataclass(frozen=True)
class PlatePlan:
    """One plate to fetch: its zip's URL and the files (relative to ROOT) to extract from it."""

    plate: str
    url: str
    files: tuple[str, ...]


def plate_zip_name(plate: str) -> str:
    """The Broad's name of a plate's zip: ``BBBC021_v1_images_<Plate>.zip``."""
    return f"BBBC021_v1_images_{plate}.zip"


def file_url(base_url: str, name: str) -> str:
    """``base_url`` joined with a file name (with or without the base's trailing slash)."""
    if not base_url.startswith(("http://", "https://")):
        raise CellclrError(
            f"base URL {base_url!r} is not an http(s) address", fix=f"pass e.g. --base-url {DEFAULT_BASE_URL}"
        )
    return base_url.rstrip("/") + "/" + name


def download_metadata(
    root: str | Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    compound: bool = False,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
    session: requests.Session | None = None,
) -> list[Path]:
    """Fetch ``BBBC021_v1_image.csv`` and ``BBBC021_v1_moa.csv`` (and optionally the compound/SMILES CSV) to ROOT.

    Files already present are kept without asking the network. Each downloaded table is parsed with the same
    reader the pipeline uses, so an HTML error page saved under a CSV name is caught here (and deleted) rather
    than in ``prep``. The compound CSV is not needed by the pipeline; when the server lacks it (404) it is
    skipped with a note. Returns the paths present afterwards.
    """
    root = Path(root)
    readers = {IMAGE_CSV_NAME: read_image_csv, MOA_CSV_NAME: read_moa_csv}
    names = [IMAGE_CSV_NAME, MOA_CSV_NAME] + ([COMPOUND_CSV_NAME] if compound else [])
    present: list[Path] = []
    for name in names:
        dest = root / name
        try:
            result = fetch_file(
                file_url(base_url, name),
                dest,
                session=session,
                retries=retries,
                backoff=backoff,
                timeout=timeout,
                label=name,
                progress=progress,
                expected_sha256=SHIPPED_SHA256.get(name),
            )
        except RemoteFileMissing:
            if name in readers:
                raise
            print(f"{name} is not available at {base_url}; skipped (the pipeline does not need it)")
            continue
        if name in readers and not result.cached:
            try:
                readers[name](dest)
            except CellclrError as err:
                dest.unlink()
                raise DataError(
                    f"downloaded {name} from {file_url(base_url, name)} is not the expected table:\n{err}",
                    path=dest,
                    fix="check --base-url (it must serve the BBBC021 files) and rerun",
                ) from None
        present.append(dest)
    return present


def plan_plates(
    image_csv: str | Path,
    moa_csv: str | Path,
    *,
    plates: Sequence[str] | None = None,
    fields: Fields = "benchmark",
    base_url: str = DEFAULT_BASE_URL,
) -> list[PlatePlan]:
    """Which plates to fetch and which files to take from each, read from the metadata (no network).

    ``plates`` None means every plate of the image CSV; a name not in it is an error listing the valid ones.
    Plates with no field to extract (possible only with unusual CSVs) are left out.
    """
    if fields not in ("benchmark", "all"):
        raise CellclrError(f"unknown fields selection {fields!r}", fix="use 'benchmark' or 'all'")
    every = field_table(image_csv, moa_csv)
    known = sorted(every["plate"].unique())
    wanted = known if plates is None else list(dict.fromkeys(plates))
    unknown = [p for p in wanted if p not in set(known)]
    if unknown:
        raise CellclrError(
            f"unknown plate(s) {', '.join(unknown)}",
            path=image_csv,
            fix=f"choose among the {len(known)} plates of the image CSV, e.g. {', '.join(known[:3])}",
        )
    table = every if fields == "all" else every[bbbc021().in_benchmark(every)]
    plans = []
    for plate in wanted:
        rows = table[table["plate"] == plate]
        files = [
            f"{folder}/{name}"
            for channel in CHANNELS
            for folder, name in zip(
                rows[f"path_{channel.lower()}"], rows[f"file_{channel.lower()}"], strict=True
            )
        ]
        if files:
            plans.append(
                PlatePlan(plate, file_url(base_url, plate_zip_name(plate)), tuple(sorted(set(files))))
            )
    return plans


def download_plates(
    root: str | Path,
    plates: Sequence[str] | None = None,
    *,
    fields: Fields = "benchmark",
    base_url: str = DEFAULT_BASE_URL,
    delete_zips: bool = False,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> DownloadReport:
    """Download and extract plates into the raw-dataset layout ``ROOT/<Image_PathName>/<Image_FileName>``.

    Fetches the metadata first when ROOT lacks it. A plate whose marker lists every needed file (and whose
    files exist) is skipped without network traffic; otherwise its zip is fetched (resuming a ``.part``),
    verified, extracted file by file, the marker written, and the zip deleted if ``delete_zips``.
    """
    root = Path(root)
    report = DownloadReport(root)
    with requests.Session() as session:
        options = {"retries": retries, "backoff": backoff, "timeout": timeout, "progress": progress}
        download_metadata(root, base_url=base_url, session=session, **options)
        plans = plan_plates(
            root / IMAGE_CSV_NAME, root / MOA_CSV_NAME, plates=plates, fields=fields, base_url=base_url
        )
        for plan in plans:
            check_confined(root, plan)
        for plan in progress_bar(plans, desc="plates", unit="plate", disable=not progress or len(plans) < 2):
            if _plate_complete(root, plan):
                report.plates_skipped.append(plan.plate)
                continue
            zip_path = root / ZIP_DIR / plate_zip_name(plan.plate)
            report.bytes_downloaded += _fetch_verified_zip(plan, zip_path, session=session, **options)
            report.files_extracted += extract_plate(zip_path, root, plan, progress=progress)
            write_json_atomic(
                _marker_path(root, plan.plate),
                {"plate": plan.plate, "url": plan.url, "fields": fields, "files": list(plan.files)},
            )
            report.plates_done.append(plan.plate)
            if delete_zips:
                zip_path.unlink()
                report.zips_deleted += 1
    return report


_PLATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_confined(root: Path, plan: PlatePlan) -> None:
    """Refuse a plan whose plate name or file paths (from the downloaded CSV) would write outside ``root``."""
    source = root / IMAGE_CSV_NAME
    if not _PLATE_NAME.fullmatch(plan.plate):
        raise DataError(
            f"refusing the plate name {plan.plate!r}: plate names are letters, digits, '_', '.' and '-'",
            path=source,
            fix="use the BBBC021 metadata as the Broad distributes it",
        )
    for relative in plan.files:
        confined_path(root, relative, source=source)


def _marker_path(root: Path, plate: str) -> Path:
    return root / DONE_DIR / f"{plate}.json"


def _plate_complete(root: Path, plan: PlatePlan) -> bool:
    """True when the marker lists every file the plan needs and they all exist (a cheap ``stat`` each)."""
    marker = _marker_path(root, plan.plate)
    if not marker.is_file():
        return False
    try:
        listed = set(read_json(marker, fix="")["files"])
    except (DataError, KeyError, TypeError):
        return False
    return listed.issuperset(plan.files) and all((root / f).is_file() for f in plan.files)


def _fetch_verified_zip(
    plan: PlatePlan,
    zip_path: Path,
    *,
    session: requests.Session,
    retries: int,
    backoff: float,
    timeout: float,
    progress: bool,
) -> int:
    """Fetch the plate's zip and check its CRCs; one fresh re-fetch if bad. Returns bytes transferred."""
    label = f"plate {plan.plate}"
    options = {
        "session": session,
        "retries": retries,
        "backoff": backoff,
        "timeout": timeout,
        "progress": progress,
    }
    transferred = fetch_file(plan.url, zip_path, label=label, **options).bytes_transferred
    problem = zip_problem(zip_path)
    if problem is None:
        return transferred
    zip_path.unlink()
    print(f"{label}: {zip_path.name} is corrupt ({problem}); fetching it again from scratch")
    transferred += fetch_file(plan.url, zip_path, label=label, **options).bytes_transferred
    problem = zip_problem(zip_path)
    if problem is None:
        return transferred
    zip_path.unlink()
    raise DataError(
        f"{label}: {zip_path.name} from {plan.url} is corrupt twice in a row ({problem})",
        path=zip_path,
        fix="rerun later; if it persists, try another mirror with --base-url or check the disk",
    )


def zip_problem(path: str | Path) -> str | None:
    """None when every member of the zip reads back with its CRC-32, else what is wrong."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        return f"unreadable zip: {err}"
    return None if bad is None else f"CRC mismatch in member {bad}"


def extract_plate(zip_path: str | Path, root: str | Path, plan: PlatePlan, *, progress: bool = True) -> int:
    """Extract the plan's files from the zip to ``ROOT/<path>``, each atomically; returns how many were written.

    Members are matched by base name, whatever folder the zip puts them in. A file already present (from an
    interrupted earlier extraction, which only ever leaves complete files) is kept.
    """
    zip_path, root = Path(zip_path), Path(root)
    with zipfile.ZipFile(zip_path) as archive:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            if not info.is_dir():
                members.setdefault(info.filename.rsplit("/", 1)[-1], info)
        missing = [f for f in plan.files if f.rsplit("/", 1)[-1] not in members]
        if missing:
            raise DataError(
                f"plate {plan.plate}: {len(missing)} file(s) listed in {IMAGE_CSV_NAME} are not in the zip "
                f"(from {plan.url}), e.g. {', '.join(missing[:3])}",
                path=zip_path,
                fix="delete the zip and rerun; check that the image CSV matches the served plates",
            )
        written = 0
        for relative in progress_bar(
            plan.files, desc=f"extract {plan.plate}", unit="file", disable=not progress, leave=False
        ):
            target = confined_path(root, relative, source=root / IMAGE_CSV_NAME)
            if target.is_file():
                continue
            with (
                archive.open(members[relative.rsplit("/", 1)[-1]]) as source,
                atomic_path(target) as tmp,
                tmp.open("wb") as out,
            ):
                shutil.copyfileobj(source, out, length=1 << 20)
            written += 1
    return written


def estimate(plans: Sequence[PlatePlan], *, delete_zips: bool) -> dict[str, float]:
    """Rough volumes for ``--dry-run``: zips to transfer, extracted TIFFs, and peak disk use."""
    zips = len(plans) * APPROX_ZIP_BYTES
    extracted = sum(len(p.files) for p in plans) * APPROX_TIFF_BYTES
    peak = extracted + (min(len(plans), 1) * APPROX_ZIP_BYTES if delete_zips else zips)
    return {"download_bytes": zips, "extracted_bytes": extracted, "peak_disk_bytes": peak}


#: how a transfer retries, as ``(flag, type, default, help)``: one table for the three numbers that tune it
_RETRY_FLAGS: tuple[tuple[str, Any, float, str], ...] = (
    ("--retries", options.nonnegative_int, 5, "retries without progress before giving up (default 5)"),
    ("--backoff", options.nonnegative_float, 1.0, "first retry delay in seconds, doubled each time"),
    ("--timeout", options.positive_float, 60.0, "seconds without data before a connection is retried"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cellclr download``."""
    parser.add_argument(
        "--out", required=True, type=Path, help="dataset root (BBBC021 layout; created if needed)"
    )
    parser.add_argument(
        "--plates", nargs="+", metavar="PLATE", help="only these plates, e.g. Week1_22123 (default: all 55)"
    )
    plate_subset.add_argument(parser)
    parser.add_argument(
        "--all-fields",
        action="store_true",
        help="extract every field, not only the annotated benchmark fields + DMSO",
    )
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"where the files are served (default {DEFAULT_BASE_URL})",
    )
    parser.add_argument("--metadata-only", action="store_true", help="fetch only the CSVs, no images")
    parser.add_argument(
        "--compound",
        action="store_true",
        help=f"also fetch {COMPOUND_CSV_NAME} (skipped if the server lacks it)",
    )
    parser.add_argument(
        "--delete-zips", action="store_true", help="delete each zip once extracted (disk ≈ one plate)"
    )
    for flag, kind, default, text in _RETRY_FLAGS:
        parser.add_argument(flag, type=kind, default=default, help=text)
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plates and expected volume; no network"
    )


def main(args: argparse.Namespace) -> int:
    """``cellclr download``: validate options, then call :func:`download_metadata` / :func:`download_plates`."""
    fields: Fields = "all" if args.all_fields else "benchmark"
    options = {"retries": args.retries, "backoff": args.backoff, "timeout": args.timeout}
    if args.dry_run:
        return _dry_run(args, fields)
    if args.metadata_only:
        for path in download_metadata(args.out, base_url=args.base_url, compound=args.compound, **options):
            print(path)
        return 0
    if args.compound:
        download_metadata(args.out, base_url=args.base_url, compound=True, **options)
    if args.subset:  # computed from the metadata the download will use, so fetch it first
        download_metadata(args.out, base_url=args.base_url, **options)
    plates = plate_subset.resolve_plates(args, args.out / IMAGE_CSV_NAME, args.out / MOA_CSV_NAME)
    report = download_plates(
        args.out, plates, fields=fields, base_url=args.base_url, delete_zips=args.delete_zips, **options
    )
    print(report.summary())
    return 0


def _dry_run(args: argparse.Namespace, fields: Fields) -> int:
    """Print the plan from ROOT's metadata, or from the shipped copy when ROOT has none yet."""
    csvs = [args.out / IMAGE_CSV_NAME, args.out / MOA_CSV_NAME]
    if not all(p.is_file() for p in csvs):
        csvs = [shipped_path(IMAGE_CSV_NAME), shipped_path(MOA_CSV_NAME)]
    plates = plate_subset.resolve_plates(args, *csvs)
    plans = plan_plates(*csvs, plates=plates, fields=fields, base_url=args.base_url)
    done = {p.plate for p in plans if _plate_complete(args.out, p)}
    for plan in plans:
        state = "complete" if plan.plate in done else plan.url
        print(f"{plan.plate}: {len(plan.files)} files  {state}")
    todo = [p for p in plans if p.plate not in done]
    volume = estimate(todo, delete_zips=args.delete_zips)
    for key, value in volume.items():
        print(f"{key.replace('_', ' ')}: ≈ {value / 1e9:.1f} GB")
    print(
        f"{len(todo)} of {len(plans)} plate(s) to fetch ({fields} fields); nothing was downloaded (--dry-run)"
    )
    if args.subset:
        print(f"subset {args.subset}: {plate_subset.coverage(benchmark_fields(*csvs), plates).summary()}")
    return 0
