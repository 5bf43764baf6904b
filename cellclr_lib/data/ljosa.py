"""Real BBBC021 CellProfiler profiles (Ljosa et al. 2013): per-well means of 516 features, shipped.

These are the only *real* measurements of BBBC021 cells that fit in the package (2.8 MB, BSD licence, see
``resources/SOURCES.md``). They serve two jobs: the benchmark on real data (NSC / NSCB / mAP of CellProfiler
features, computed here rather than quoted), and the calibration of the synthetic stand-in's cells.

The file names wells only by (plate, well); compound and concentration come from the shipped image table and the
MoA from the shipped MoA table, so the labels are exactly the benchmark's. The taxol positive-control wells are
not in the file (only the three Week1 D05 taxol wells, which *are* the benchmark's taxol 0.3 treatment).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cellclr_lib.data.metadata import DMSO, batch_of, field_table, shipped_path
from cellclr_lib.errors import CellclrError
from cellclr_lib.tables import to_pycytominer

LJOSA_FILE = "ljosa_jbiomolscreen_2013_per_well_mean.csv.gz"
LJOSA_SHA256 = "f723a6f78bf66ce7713226c890eb499a2687f22bc095968d5043f6a40e7847ee"
PLATE_COLUMN = "Image_Metadata_Plate"
WELL_COLUMN = "Image_Metadata_Well"
#: the metadata columns of :attr:`WellProfiles.meta`, in order.
META_COLUMNS = ["plate", "well", "batch", "compound", "concentration", "moa", "is_control"]


@dataclass(frozen=True)
class WellProfiles:
    """Well-level profiles: ``meta`` (one row per well, :data:`META_COLUMNS`) and ``features`` (same rows)."""

    meta: pd.DataFrame
    features: pd.DataFrame

    @property
    def values(self) -> np.ndarray:
        """The features as a float64 matrix (wells × features)."""
        return self.features.to_numpy(dtype=np.float64)

    def to_pycytominer(self) -> pd.DataFrame:
        """One table with ``Metadata_*`` columns then the features: what pycytominer and copairs expect."""
        return to_pycytominer(self.meta, self.features)


def real_profiles_banner() -> str:
    """The Markdown banner of a notebook run on these profiles: real measurements, and which ones."""
    return (
        "**Dataset: REAL BBBC021 CellProfiler profiles** (Ljosa et al. 2013: per-well means of 516 CellProfiler "
        f"features of MCF-7 cells, 632 wells of 55 plates, shipped as `{LJOSA_FILE}`). No images are needed; "
        "every number below is computed here on real measurements, unlike the synthetic stand-in's."
    )


def ljosa_path() -> Path:
    """Path of the shipped Ljosa et al. (2013) per-well profile file."""
    return shipped_path(LJOSA_FILE)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file (the shipped data's integrity check)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _well_labels() -> pd.DataFrame:
    """(plate, well) → compound, concentration, moa, from the shipped metadata; one row per well."""
    fields = field_table()
    return fields[["plate", "well", "compound", "concentration", "moa"]].drop_duplicates(["plate", "well"])


def load_ljosa_wells(path: str | Path | None = None) -> WellProfiles:
    """The real per-well profiles joined to compound, concentration, MoA and batch (week).

    ``path`` defaults to the shipped file; any CSV (optionally gzipped) with the same columns works. Raises
    :class:`CellclrError` naming the file when it is unreadable, lacks the plate/well columns, has non-finite
    features, or names wells the BBBC021 metadata does not know.
    """
    path = Path(path) if path is not None else ljosa_path()
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, EOFError) as err:
        raise CellclrError(f"cannot read profile table ({err})", path=path, fix="restore the file") from err
    missing = [c for c in (PLATE_COLUMN, WELL_COLUMN) if c not in table.columns]
    if missing:
        raise CellclrError(f"missing column(s) {', '.join(missing)}", path=path, fix="restore the file")
    features = table.drop(columns=[PLATE_COLUMN, WELL_COLUMN]).astype(np.float64)
    if not np.isfinite(features.to_numpy()).all():
        raise CellclrError("features contain NaN or infinite values", path=path, fix="restore the file")
    keys = table[[PLATE_COLUMN, WELL_COLUMN]].astype(str).set_axis(["plate", "well"], axis=1)
    meta = keys.merge(_well_labels(), on=["plate", "well"], how="left", validate="one_to_one")
    unknown = meta["compound"].isna()
    if unknown.any():
        rows = ", ".join(
            f"{p}/{w}" for p, w in meta.loc[unknown, ["plate", "well"]].head(5).itertuples(index=False)
        )
        raise CellclrError(
            f"{int(unknown.sum())} well(s) not in the BBBC021 metadata (e.g. {rows})",
            path=path,
            fix="use the BBBC021 per-well profile file",
        )
    meta["batch"] = meta["plate"].map(batch_of)
    meta["is_control"] = meta["compound"] == DMSO
    return WellProfiles(meta=meta[META_COLUMNS], features=features.reset_index(drop=True))
