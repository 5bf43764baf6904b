"""BBBC021 metadata: the field table, the MoA annotations and the benchmark's annotated subset.

The real ``BBBC021_v1_image.csv`` and ``BBBC021_v1_moa.csv`` ship inside the package (see
``resources/SOURCES.md``), so everything that needs only metadata works offline. The synthetic stand-in writes
files with the same columns, and the *same* readers load both.

Public copies of these files differ in small ways (quoted or bare headers, CR-only, CRLF or LF line endings,
``0.003000`` vs ``0.003``), so the readers normalise line endings before parsing and round concentrations to
6 decimals before any join: ``0.003`` and ``0.003000`` must name the same treatment.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from cellclr_lib.data.dataset import bbbc021
from cellclr_lib.errors import CellclrError, DataError

IMAGE_CSV_NAME = "BBBC021_v1_image.csv"
MOA_CSV_NAME = "BBBC021_v1_moa.csv"
GZIP_MAGIC = b"\x1f\x8b"

#: sha256 of the shipped files, equal to the Broad's distribution (see resources/SOURCES.md).
SHIPPED_SHA256 = {
    IMAGE_CSV_NAME: "7fd8a9363970548736a03eba3e14bd2b737c967f0e0fdf436bc91004676f50e7",
    MOA_CSV_NAME: "cddb6c6b72c043fd25f3a41d84624d4817927a1d76fe87dc829674181dd62719",
}

#: channel name -> wavelength tag in BBBC021 file names (w1 DAPI, w2 Tubulin, w4 Actin).
CHANNELS: dict[str, str] = {"DAPI": "w1", "Tubulin": "w2", "Actin": "w4"}

DMSO = "DMSO"

#: canonical column -> accepted spellings in image CSVs (the first is the Broad's own).
IMAGE_COLUMNS: dict[str, tuple[str, ...]] = {
    "table_number": ("TableNumber",),
    "image_number": ("ImageNumber",),
    "file_dapi": ("Image_FileName_DAPI",),
    "path_dapi": ("Image_PathName_DAPI",),
    "file_tubulin": ("Image_FileName_Tubulin",),
    "path_tubulin": ("Image_PathName_Tubulin",),
    "file_actin": ("Image_FileName_Actin",),
    "path_actin": ("Image_PathName_Actin",),
    "plate": ("Image_Metadata_Plate_DAPI", "Image_Metadata_Plate"),
    "well": ("Image_Metadata_Well_DAPI", "Image_Metadata_Well"),
    "replicate": ("Replicate",),
    "compound": ("Image_Metadata_Compound",),
    "concentration": ("Image_Metadata_Concentration",),
}
MOA_COLUMNS: dict[str, tuple[str, ...]] = {
    "compound": ("compound",),
    "concentration": ("concentration",),
    "moa": ("moa",),
}
#: the columns every field table starts with, for any dataset (:mod:`cellclr_lib.data.fields`), in order.
METADATA_COLUMNS = [
    "field_id",
    "table_number",
    "image_number",
    "plate",
    "batch",
    "well",
    "site",
    "replicate",
    "compound",
    "concentration",
    "moa",
]
#: the column order of :func:`field_table`: then each channel's folder and file.
FIELD_COLUMNS = METADATA_COLUMNS + [
    f"{kind}_{name.lower()}" for name in CHANNELS for kind in ("path", "file")
]


def shipped_path(name: str) -> Path:
    """Path of a metadata file shipped inside the package (``BBBC021_v1_image.csv`` or ``..._moa.csv``)."""
    return Path(str(resources.files("cellclr_lib.data") / "resources" / name))


@cache
def bbbc021_plates() -> frozenset[str]:
    """The 55 plate names of the shipped image CSV (the stand-in reuses them): how rows say they are BBBC021's."""
    return frozenset(read_image_csv()["plate"].astype(str))


def batch_of(plate: str) -> str:
    """The batch of a plate is its week: the plate name's prefix before ``_`` (``Week4_27481`` -> ``Week4``)."""
    return str(plate).split("_", 1)[0]


def natural_order(labels: Iterable[str]) -> list[str]:
    """The distinct labels (weeks, plates) with digit runs compared as numbers: Week1, Week2, ..., Week10."""
    return sorted(set(map(str, labels)), key=natural_key)


def natural_key(label: str) -> tuple:
    """Sort key reading digit runs as numbers: ``Week2`` before ``Week10``."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(label)))


def normalize_concentration(values: pd.Series) -> pd.Series:
    """Concentrations as floats rounded to 6 decimals, so printed variants of one number compare equal."""
    return pd.to_numeric(values, errors="raise").astype(float).round(6)


def read_csv_text(path: str | Path, **read_csv_options: object) -> pd.DataFrame:
    """Read any CSV, gzipped or not, whatever its line endings (LF, CRLF, CR-only) or BOM; clear errors.

    Gzip is recognised by its magic bytes rather than the ``.gz`` suffix, so a renamed file still reads.
    """
    path = Path(path)
    if not path.is_file():
        raise CellclrError(
            "file not found",
            path=path,
            fix="pass the right path; for metadata run `cellclr download --metadata-only` or omit it",
        )
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw).decode("utf-8-sig")
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as err:
        raise DataError(
            f"not a UTF-8 text (or gzipped text) file ({err})", path=path, fix="re-download the file"
        ) from err
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataError("file is empty", path=path, fix="re-download the file")
    try:
        return pd.read_csv(io.StringIO(text), **read_csv_options)
    except (pd.errors.ParserError, ValueError) as err:
        raise DataError(f"cannot parse as CSV ({err})", path=path, fix="re-download the file") from err


def read_csv_robust(
    path: str | Path,
    columns: dict[str, tuple[str, ...]],
    fix: str = "use the BBBC021 v1 file as distributed by the Broad (or rename the columns)",
) -> pd.DataFrame:
    """Read a metadata CSV whatever its quoting and line endings, renamed to canonical ``columns``.

    Raises :class:`CellclrError` naming the file when it is missing, unreadable, or lacks columns (then
    with ``fix``: a dataset description names its own columns, so its fix is to correct the description).
    """
    path = Path(path)
    table = read_csv_text(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    table.columns = [str(c).strip() for c in table.columns]
    renames: dict[str, str] = {}
    missing: list[str] = []
    for canonical, spellings in columns.items():
        found = next((s for s in spellings if s in table.columns), None)
        if found is None:
            missing.append(" or ".join(spellings))
        else:
            renames[found] = canonical
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}; found {', '.join(table.columns)}",
            path=path,
            fix=fix,
        )
    table = table.rename(columns=renames)[list(columns)]
    if "concentration" in table:
        try:
            table["concentration"] = normalize_concentration(table["concentration"])
        except ValueError as err:
            raise DataError(f"non-numeric concentration ({err})", path=path, fix="fix that row") from err
    return table


def read_image_csv(path: str | Path | None = None) -> pd.DataFrame:
    """The image (field) table with canonical column names; the shipped copy when ``path`` is None."""
    path = path or shipped_path(IMAGE_CSV_NAME)
    table = read_csv_robust(path, IMAGE_COLUMNS)
    integer_columns(table, IMAGE_COLUMNS, path, blank_allowed=("replicate",))
    refuse_duplicates(table, ["table_number", "image_number"], path)
    return table


def integer_columns(
    table: pd.DataFrame,
    columns: dict[str, tuple[str, ...]],
    path: str | Path,
    blank_allowed: Sequence[str] = (),
    names: Sequence[str] = ("table_number", "image_number", "replicate"),
) -> None:
    """Convert ``names`` (those present) to nullable integers in place; a non-integer is an error naming
    the line and the file's own column name (``columns[name][0]``). ``blank_allowed`` may be empty cells."""
    for column in (n for n in names if n in table):
        values = pd.to_numeric(table[column], errors="coerce").astype("Int64")
        bad = values.isna() & (table[column].str.strip() != "") if column in blank_allowed else values.isna()
        if bad.any():
            raise DataError(
                f"non-integer {columns[column][0]} on line(s) {_lines(bad)}: "
                f"{', '.join(repr(v) for v in table.loc[bad, column].head(3))}",
                path=path,
                fix="fix those rows, or re-download the file (`cellclr download --metadata-only`)",
            )
        table[column] = values


def _lines(rows: pd.Series) -> str:
    """CSV line numbers (the header is line 1) of the True rows, at most five."""
    lines = [str(i + 2) for i in np.flatnonzero(rows.to_numpy())]
    return ", ".join(lines[:5]) + (f" (and {len(lines) - 5} more)" if len(lines) > 5 else "")


def refuse_duplicates(table: pd.DataFrame, key: list[str], path: str | Path) -> None:
    """A key that occurs twice would process a field twice (or give a treatment two MoAs): refuse it."""
    repeated = table.duplicated(key, keep=False)
    if repeated.any():
        raise DataError(
            f"rows with the same {' + '.join(key)} on lines {_lines(repeated)}",
            path=path,
            fix="delete the duplicated rows (each must occur once), or re-download the file",
        )


def read_moa_csv(path: str | Path | None = None) -> pd.DataFrame:
    """The MoA table (``compound, concentration, moa``), DMSO row included; the shipped copy by default."""
    path = path or shipped_path(MOA_CSV_NAME)
    table = read_csv_robust(path, MOA_COLUMNS)
    refuse_duplicates(table, ["compound", "concentration"], path)
    return table


def field_table(image_csv: str | Path | None = None, moa_csv: str | Path | None = None) -> pd.DataFrame:
    """Every field of view joined to its MoA (NaN where unannotated), with ``batch`` (week) and ``site``.

    The site number is parsed from the DAPI file name (``..._s3_w1....tif``); names are never rebuilt.
    """
    fields = read_image_csv(image_csv)
    moa = read_moa_csv(moa_csv)
    fields["batch"] = fields["plate"].map(batch_of)
    fields["field_id"] = field_ids(fields)
    site = fields["file_dapi"].str.extract(r"_s(\d+)_w", expand=False)
    fields["site"] = pd.to_numeric(site, errors="coerce").astype("Int64")
    fields = fields.merge(moa, on=["compound", "concentration"], how="left", validate="many_to_one")
    return fields[FIELD_COLUMNS]


def field_ids(fields: pd.DataFrame) -> pd.Series:
    """A unique integer per field: ``ImageNumber`` repeats across the CSV's tables, ``(table, image)`` does not."""
    return (fields["table_number"].astype("int64") * 100_000 + fields["image_number"].astype("int64")).rename(
        "field_id"
    )


def control_mask(meta: pd.DataFrame) -> np.ndarray:
    """True for the negative-control rows: the table's boolean ``is_control`` where it has one, else DMSO.

    A crop store's cells, and every feature set made from them, carry ``is_control`` set from their dataset
    description's ``control``: so plates whose control is not called DMSO are judged against their own
    controls. Tables without the column (BBBC021's, CellProfiler and pycytominer exports) fall back to DMSO.
    """
    if "is_control" in meta and pd.api.types.is_bool_dtype(meta["is_control"]):
        return meta["is_control"].to_numpy(dtype=bool)
    return (meta["compound"] == DMSO).to_numpy()


def is_taxol_control(fields: pd.DataFrame) -> pd.Series:
    """True for the taxol 0.3 positive-control wells present on every plate (not the benchmark's treatment).

    The wells are those of the ``exclude`` rule of BBBC021's description (``resources/bbbc021.toml``): the
    benchmark's taxol 0.3 treatment is only its three Week1 D05 wells, so these must leave the annotated set.
    """
    return bbbc021().excluded(fields)


def benchmark_fields(image_csv: str | Path | None = None, moa_csv: str | Path | None = None) -> pd.DataFrame:
    """The annotated benchmark fields: 103 treatments plus DMSO controls, taxol control wells removed.

    The selection is BBBC021's description's (:meth:`~cellclr_lib.data.dataset.Description.in_benchmark`),
    the one ``cellclr prep`` applies. Adds ``is_control`` (True for DMSO), which is never a query or a
    neighbour, only the normalisation reference.
    """
    fields = field_table(image_csv, moa_csv)
    description = bbbc021()
    annotated = fields[description.in_benchmark(fields)].copy()
    annotated["is_control"] = annotated["compound"] == description.control
    return annotated.reset_index(drop=True)


def treatments(moa_csv: str | Path | None = None) -> pd.DataFrame:
    """The benchmark's treatments (compound, concentration, moa), DMSO excluded: 103 rows on the real data."""
    moa = read_moa_csv(moa_csv)
    return (
        moa[moa["compound"] != DMSO].sort_values(["moa", "compound", "concentration"]).reset_index(drop=True)
    )


def channel_file_paths(
    fields: pd.DataFrame, root: str | Path, channels: Sequence[str] = tuple(CHANNELS)
) -> dict[str, list[Path]]:
    """Absolute file path of each field for each of ``channels``, exactly as the table names them."""
    root = Path(root)
    return {
        channel: [
            root / folder / name
            for folder, name in zip(
                fields[f"path_{channel.lower()}"], fields[f"file_{channel.lower()}"], strict=True
            )
        ]
        for channel in channels
    }
