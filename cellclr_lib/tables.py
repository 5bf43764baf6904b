"""Reading profile tables: CellProfiler / pycytominer / BBBC021 column names, metadata joins, checks.

Whatever wrote a table (``cellclr embed``, CellProfiler + pycytominer, the Broad's per-well files), this module
turns it into one thing: a float feature matrix and canonical row metadata (plate, well, compound,
concentration, moa, ...). It refuses, with a :class:`CellclrError` naming the file and the rows, every input
that would otherwise give a silent, wrong number: a non-numeric cell in a feature column, NaN or infinite
values, constant features. :func:`to_pycytominer` writes the other way, with ``Metadata_`` columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from cellclr_lib.data.metadata import control_mask, normalize_concentration, read_csv_text, read_moa_csv
from cellclr_lib.errors import CellclrError
from cellclr_lib.features import read_feature_set

Level = Literal["cell", "image", "well"]
#: canonical column -> accepted spellings (canonical first, then BBBC021 / CellProfiler / pycytominer names).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "plate": ("plate", "Image_Metadata_Plate", "Image_Metadata_Plate_DAPI", "Metadata_Plate"),
    "well": ("well", "Image_Metadata_Well", "Image_Metadata_Well_DAPI", "Metadata_Well"),
    "compound": ("compound", "Image_Metadata_Compound", "Metadata_Compound"),
    "concentration": ("concentration", "Image_Metadata_Concentration", "Metadata_Concentration"),
    "moa": ("moa", "Image_Metadata_MoA", "Metadata_MoA", "Metadata_moa"),
    "site": ("site", "Image_Metadata_Site", "Metadata_Site"),
    "image_number": ("image_number", "ImageNumber", "Metadata_ImageNumber"),
    "batch": ("batch", "Metadata_Batch"),  # what to_pycytominer writes, read back (profiles prefer it)
}
REQUIRED_COLUMNS = ("plate", "well", "compound", "concentration")
#: numeric columns that describe rows rather than phenotypes (never used as features without a prefix).
NON_FEATURE_COLUMNS = frozenset(
    {
        "batch",
        "replicate",
        "table_number",
        "TableNumber",
        "Replicate",
        "ObjectNumber",
        "cell_id",
        "x",
        "y",
        "nucleus_area",
        "is_control",
        "radius",
        "affected",
        "n_cells",
        "n_wells",
    }
)
NON_FEATURE_PREFIXES = ("Metadata_", "Image_Metadata_", "Image_FileName_", "Image_PathName_")


def canonicalize_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Rename the first present alias of each canonical column (``Image_Metadata_Plate_DAPI`` → ``plate``)."""
    renames = {}
    for canonical, spellings in COLUMN_ALIASES.items():
        found = next((s for s in spellings if s in table.columns), None)
        if found is not None and found != canonical:
            renames[found] = canonical
    return table.rename(columns=renames)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or parquet table with canonical column names; CellclrError naming the file if unreadable."""
    path = Path(path)
    if path.suffix not in {".parquet", ".pq"}:
        return canonicalize_columns(read_csv_text(path))
    if not path.is_file():
        raise CellclrError(
            "file not found", path=path, fix="pass an existing CSV/parquet table or feature-set directory"
        )
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise CellclrError(f"cannot read table ({err})", path=path, fix="pass a valid parquet file") from err
    return canonicalize_columns(table)


def _missing_error(path: Path, missing: Sequence[str], table: pd.DataFrame) -> CellclrError:
    aliases = "; ".join(f"{m} (or {' / '.join(COLUMN_ALIASES[m][1:])})" for m in missing)
    return CellclrError(
        f"missing column(s) {aliases}; found {', '.join(map(str, table.columns[:20]))}"
        + (" ..." if len(table.columns) > 20 else ""),
        path=path,
        fix="rename the columns, or pass --metadata TABLE (joined on plate and well) for compound and concentration",
    )


def attach_metadata(
    meta: pd.DataFrame, path: Path, metadata: str | Path | None = None, moa_csv: str | Path | None = None
) -> pd.DataFrame:
    """Complete the row metadata: join ``metadata`` on plate+well for missing columns, then the MoA.

    The MoA comes from the table's own ``moa`` column, or (when absent, or when ``moa_csv`` is given) from the
    MoA table joined on (compound, concentration). Rows without an MoA are later dropped; DMSO stays a control.
    """
    if metadata is not None:
        extra_path = Path(metadata)
        extra = read_table(extra_path)
        if any(c not in extra.columns for c in ("plate", "well")):
            raise _missing_error(extra_path, [c for c in ("plate", "well") if c not in extra.columns], extra)
        wanted = [
            c for c in ("compound", "concentration", "moa", "site") if c in extra.columns and c not in meta
        ]
        extra = extra[["plate", "well", *wanted]].astype({"plate": str, "well": str})
        if "concentration" in extra:
            extra["concentration"] = normalize_concentration(extra["concentration"])
        per_well = extra[["plate", "well", *[c for c in wanted if c != "site"]]].drop_duplicates()
        if per_well.duplicated(["plate", "well"]).any():
            raise CellclrError(
                "several treatments for one (plate, well)",
                path=extra_path,
                fix="give one compound and concentration per well",
            )
        meta = meta.astype({"plate": str, "well": str}).merge(per_well, on=["plate", "well"], how="left")
    missing = [c for c in REQUIRED_COLUMNS if c not in meta.columns]
    if missing:
        raise _missing_error(path, missing, meta)
    meta = meta.copy()
    try:
        meta["concentration"] = normalize_concentration(meta["concentration"])
    except (ValueError, TypeError) as err:
        raise CellclrError(f"non-numeric concentration ({err})", path=path, fix="fix those rows") from err
    if "moa" not in meta.columns or moa_csv is not None:
        moa = read_moa_csv(moa_csv)
        meta = meta.drop(columns=["moa"], errors="ignore").merge(
            moa, on=["compound", "concentration"], how="left", validate="many_to_one"
        )
    return meta


def _holds_numbers(column: pd.Series) -> bool:
    """Numbers, or text in which some cells are numbers (a feature column with a bad cell, not metadata)."""
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    return bool(pd.to_numeric(column, errors="coerce").notna().any())


def feature_columns(table: pd.DataFrame, prefixes: Sequence[str] | None = None) -> list[str]:
    """Feature columns: those starting with one of ``prefixes``, else every numeric non-metadata column.

    A text column holding some numbers counts as a feature column, so that one stray cell (``"#DIV/0!"``)
    makes :func:`load_profiles` fail naming it, rather than silently removing the whole feature.
    """
    if prefixes:
        return [c for c in table.columns if any(str(c).startswith(p) for p in prefixes)]
    return [
        c
        for c in table.columns
        if c not in COLUMN_ALIASES
        and c not in NON_FEATURE_COLUMNS
        and not str(c).startswith(NON_FEATURE_PREFIXES)
        and _holds_numbers(table[c])
    ]


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    """1-based data-row numbers where ``mask`` holds (the header is row 0), the first ``limit`` of them."""
    rows = np.flatnonzero(mask) + 1
    shown = ", ".join(map(str, rows[:limit]))
    return (
        f"row {shown}"
        if len(rows) == 1
        else f"{len(rows)} rows ({shown}{', ...' if len(rows) > limit else ''})"
    )


def feature_matrix(table: pd.DataFrame, columns: Sequence[str], path: Path) -> np.ndarray:
    """The ``columns`` as float32, refusing non-numeric cells, NaN/inf and features that never vary.

    Each refusal names the file, the column and the rows: a profile table with a bad cell must fail loudly,
    and all-constant (e.g. all-zero) features would tie every query, so NSC would be a tie-break artefact.
    """
    parsed = table[list(columns)].apply(pd.to_numeric, errors="coerce")
    bad_text = parsed.isna() & table[list(columns)].notna()
    if bad_text.to_numpy().any():
        column = bad_text.any().idxmax()
        raise CellclrError(
            f"non-numeric value {table.loc[bad_text[column], column].iloc[0]!r} in feature column {column!r} at "
            + _rows(bad_text[column].to_numpy()),
            path=path,
            fix="fix those cells, or choose the feature columns with --features-prefix",
        )
    values = parsed.to_numpy(dtype=np.float32)
    finite = np.isfinite(values)
    if not finite.all():
        columns_hit = [str(c) for c, ok in zip(columns, finite.all(axis=0), strict=True) if not ok]
        raise CellclrError(
            f"NaN or infinite feature values at {_rows(~finite.all(axis=1))} (columns {', '.join(columns_hit[:5])})",
            path=path,
            fix="impute or drop those rows/columns first",
        )
    if len(values) > 1 and not (values != values[0]).any():
        raise CellclrError(
            f"all {len(columns)} features are constant over all {len(values)} rows (e.g. all zero): every "
            "query would tie",
            path=path,
            fix="check the export: the feature columns carry no signal",
        )
    return values


def detect_level(meta: pd.DataFrame) -> Level:
    """``well`` if (plate, well) is unique, ``image`` if the image key is, else ``cell``."""
    if not meta.duplicated(["plate", "well"]).any():
        return "well"
    image_key = ["image_number"] if "image_number" in meta else ["plate", "well", "site"]
    if all(c in meta for c in image_key) and not meta.duplicated(image_key).any():
        return "image"
    return "cell"


def load_profiles(
    path: str | Path,
    *,
    features_prefix: Sequence[str] | None = None,
    metadata: str | Path | None = None,
    moa_csv: str | Path | None = None,
) -> tuple[np.ndarray, pd.DataFrame, Level]:
    """Features, canonical metadata and the detected level of a feature-set directory or a profile table."""
    path = Path(path)
    if path.is_dir():
        feature_set = read_feature_set(path)
        meta = attach_metadata(canonicalize_columns(feature_set.cells), path, metadata, moa_csv)
        return feature_set.features, meta, "cell"
    table = read_table(path)
    columns = feature_columns(table, features_prefix)
    if not columns:
        raise CellclrError(
            "no feature columns"
            + (f" starting with {', '.join(features_prefix)}" if features_prefix else ""),
            path=path,
            fix="add numeric feature columns, or choose them with --features-prefix",
        )
    values = feature_matrix(table, columns, path)
    meta = attach_metadata(table.drop(columns=columns), path, metadata, moa_csv)
    return values, meta, detect_level(meta)


def check_rows(
    meta: pd.DataFrame,
    path: Path,
    *,
    needs_plate_dmso: bool,
    drop_unannotated: bool,
    needs_labels: bool = True,
) -> None:
    """Refuse rows the benchmark cannot judge, naming them: treated compounds without an MoA, DMSO-less plates,
    fewer than two annotated compounds (no query would have a candidate: NSC 0/0, mAP without positives).

    Rows of a compound absent from the MoA table used to vanish silently (NSC then judged fewer treatments
    than the user thinks); ``drop_unannotated`` makes dropping them an explicit choice. A plate without DMSO
    wells can neither be normalised per plate nor give its wells a DMSO reference for activity mAP
    (``needs_plate_dmso``). Without ``needs_labels`` (activity mAP alone) MoAs are not looked at.
    """
    if needs_labels:
        _check_labels(meta, path, drop_unannotated)
    if needs_plate_dmso:
        plates = meta["plate"].astype(str)
        without = sorted(set(plates) - set(plates[control_mask(meta)]))
        if without:
            raise CellclrError(
                f"no DMSO well on plate(s) {', '.join(without[:5])} at {_rows(plates.isin(without).to_numpy())}",
                path=path,
                fix="add the plate's DMSO wells, or evaluate with --normalize none --metric nsc",
            )


def _check_labels(meta: pd.DataFrame, path: Path, drop_unannotated: bool) -> None:
    """Every treated compound has an MoA (or the user chose to drop those without), and two compounds remain."""
    moa = meta["moa"]  # attach_metadata always provides it (NaN where the MoA table has no row)
    treated = ~control_mask(meta)  # the store's own control name where the rows carry is_control
    unannotated = (moa.isna() | (moa.astype(str) == "")).to_numpy() & treated
    if unannotated.any() and not drop_unannotated:
        compounds = sorted(map(str, meta.loc[unannotated, "compound"].unique()))
        raise CellclrError(
            f"no MoA for compound(s) {', '.join(compounds[:5])}{' ...' if len(compounds) > 5 else ''} at "
            + _rows(unannotated),
            path=path,
            fix="add them to the MoA table (--moa-csv), or pass --drop-unannotated to evaluate the rest",
        )
    compounds = meta.loc[~unannotated & treated, "compound"].unique()
    if len(compounds) < 2:
        raise CellclrError(
            f"treatments of {len(compounds)} compound(s) ({', '.join(map(str, compounds))}): no treatment has a "
            "treatment of another compound to match",
            path=path,
            fix="evaluate a table with treatments of at least two compounds",
        )


#: canonical metadata column -> pycytominer's ``Metadata_`` name (read back by :func:`canonicalize_columns`).
PYCYTOMINER_NAMES = {
    "plate": "Metadata_Plate",
    "well": "Metadata_Well",
    "batch": "Metadata_Batch",
    "compound": "Metadata_Compound",
    "concentration": "Metadata_Concentration",
    "moa": "Metadata_MoA",
    "is_control": "Metadata_Control",
}


def to_pycytominer(meta: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """One table in pycytominer's convention: ``Metadata_*`` columns first, then the features as they are.

    pycytominer (``normalize``, ``feature_select``, ``aggregate``) tells metadata from features by that prefix;
    :func:`load_profiles` reads such a table back unchanged.
    """
    named = meta[[c for c in PYCYTOMINER_NAMES if c in meta]].rename(columns=PYCYTOMINER_NAMES)
    return pd.concat([named.reset_index(drop=True), features.reset_index(drop=True)], axis=1)
