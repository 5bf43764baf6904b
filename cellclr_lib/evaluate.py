"""NSC / NSCB / drop: 1-nearest-neighbour MoA matching of treatment profiles (Ljosa et al. 2013; Ando 2017).

The protocol, exactly:

* a **treatment** is a (compound, concentration); its profile comes from :mod:`cellclr_lib.profiles`
  (cells → well mean → optional DMSO-fitted normalisation → treatment median, by default);
* **NSC** (not-same-compound): each treatment's nearest neighbour is searched among the treatments of *other
  compounds* (every concentration of the query's own compound is excluded — the classic mistake);
* **NSCB** (not-same-compound-or-batch): the MoAs *Cholesterol-lowering* and *Kinase inhibitors*, whose
  compounds sit in one batch, are removed from the table (neither query nor candidate; 92 queries remain on
  BBBC021), and candidates must also come from another **batch** (week). A treatment whose wells span several
  weeks has the union of those weeks as its batch set; a candidate is excluded when it shares *any* week with
  the query;
* a query is correct when its neighbour has the same MoA; **drop** = NSC − NSCB;
* similarity is cosine (or Pearson: cosine of the profiles centred on their own mean over features);
* **ties** (several eligible candidates at the same highest similarity) go to the lowest index in the sorted
  (compound, concentration) order, so results never depend on input order; their number is reported;
* a query with no eligible candidate is **skipped**: reported in ``*_skipped`` and left out of ``*_total``.

Command line: ``cellclr evaluate PROFILES`` (a feature-set directory or a CSV/parquet table), see
:func:`add_arguments`. This module and its imports do not need torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cellclr_lib.data.metadata import normalize_concentration, read_csv_text, read_moa_csv
from cellclr_lib.errors import CellclrError
from cellclr_lib.features import read_feature_set
from cellclr_lib.io import atomic_path, write_json_atomic
from cellclr_lib.normalize import DEFAULT_LAMBDA, METHODS, normalize
from cellclr_lib.profiles import Profiles, Reduce, treatment_profiles, well_profiles

Similarity = Literal["cosine", "pearson"]
Level = Literal["cell", "image", "well"]
NSCB_EXCLUDED_MOAS: tuple[str, ...] = ("Cholesterol-lowering", "Kinase inhibitors")
#: two candidates tie when their similarities differ by less than this.
TIE_TOLERANCE = 1e-12

#: canonical column -> accepted spellings (canonical first, then BBBC021 / CellProfiler / pycytominer names).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "plate": ("plate", "Image_Metadata_Plate", "Image_Metadata_Plate_DAPI", "Metadata_Plate"),
    "well": ("well", "Image_Metadata_Well", "Image_Metadata_Well_DAPI", "Metadata_Well"),
    "compound": ("compound", "Image_Metadata_Compound", "Metadata_Compound"),
    "concentration": ("concentration", "Image_Metadata_Concentration", "Metadata_Concentration"),
    "moa": ("moa", "Image_Metadata_MoA", "Metadata_MoA", "Metadata_moa"),
    "site": ("site", "Image_Metadata_Site", "Metadata_Site"),
    "image_number": ("image_number", "ImageNumber", "Metadata_ImageNumber"),
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


@dataclass
class Evaluation:
    """Result of one evaluation: summary ``metrics`` and one row per query treatment in ``queries``."""

    metrics: dict[str, Any]
    queries: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: metrics, settings and each query's nearest neighbour under both protocols."""
        records = []
        for row in self.queries.itertuples(index=False):
            record: dict[str, Any] = {
                "compound": row.compound,
                "concentration": float(row.concentration),
                "moa": row.moa,
                "batches": row.batches,
            }
            for protocol in ("nsc", "nscb"):
                if getattr(row, f"{protocol}_evaluated"):
                    record[protocol] = {
                        "compound": getattr(row, f"{protocol}_compound"),
                        "concentration": float(getattr(row, f"{protocol}_concentration")),
                        "moa": getattr(row, f"{protocol}_moa"),
                        "similarity": float(getattr(row, f"{protocol}_similarity")),
                        "correct": bool(getattr(row, f"{protocol}_correct")),
                        "ties": int(getattr(row, f"{protocol}_ties")),
                    }
                else:
                    record[protocol] = None
            records.append(record)
        metrics = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in self.metrics.items()}
        return {**metrics, "settings": self.settings, "queries": records}


def similarity_matrix(values: np.ndarray, kind: Similarity = "cosine") -> np.ndarray:
    """Pairwise cosine (or Pearson) similarity of the rows; an all-zero row has similarity 0 to everything."""
    x = np.asarray(values, dtype=np.float64)
    if kind == "pearson":
        x = x - x.mean(axis=1, keepdims=True)
    elif kind != "cosine":
        raise ValueError(f"unknown similarity {kind!r}; use 'cosine' or 'pearson'")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return x @ x.T


def nearest_neighbours(
    similarity: np.ndarray, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row: index of the most similar eligible column (-1 if none), its similarity, the tie count.

    Candidates within :data:`TIE_TOLERANCE` of the best similarity tie; ``argmax`` over the tie mask returns
    the first, i.e. the lowest column index, so float rounding never decides between tied candidates.
    """
    masked = np.where(eligible, similarity, -np.inf)
    best = masked.max(axis=1)
    tied = eligible & (masked >= best[:, None] - TIE_TOLERANCE)
    has_candidate = eligible.any(axis=1)
    index = np.where(has_candidate, tied.argmax(axis=1), -1)
    return index, np.where(has_candidate, best, np.nan), np.where(has_candidate, tied.sum(axis=1) - 1, 0)


def _batch_sets_share(batches: pd.Series) -> np.ndarray:
    """``share[i, j]`` is True when treatments i and j have a week in common (batch sets are comma-joined)."""
    membership = batches.str.get_dummies(sep=",").to_numpy(dtype=np.int64)
    return (membership @ membership.T) > 0


def evaluate_treatments(
    treatments: Profiles,
    similarity: Similarity = "cosine",
    nscb_excluded_moas: Sequence[str] = NSCB_EXCLUDED_MOAS,
) -> Evaluation:
    """NSC, NSCB and drop of treatment profiles (``meta``: compound, concentration, moa, batches)."""
    positional = treatments.meta.reset_index(drop=True)
    order = positional.sort_values(["compound", "concentration"], kind="stable").index.to_numpy()
    meta = positional.loc[order].reset_index(drop=True)
    sim = similarity_matrix(treatments.values[order], similarity)
    compounds, moas = meta["compound"].to_numpy(), meta["moa"].to_numpy()
    other_compound = compounds[:, None] != compounds[None, :]
    in_nscb = ~meta["moa"].isin(list(nscb_excluded_moas)).to_numpy()
    eligible = {
        "nsc": other_compound,
        "nscb": other_compound & ~_batch_sets_share(meta["batches"]) & in_nscb[None, :] & in_nscb[:, None],
    }
    queries = meta[["compound", "concentration", "moa", "batches"]].copy()
    metrics: dict[str, Any] = {}
    for protocol, mask in eligible.items():
        is_query = np.ones(len(meta), dtype=bool) if protocol == "nsc" else in_nscb
        index, best, ties = nearest_neighbours(sim, mask)
        evaluated = is_query & (index >= 0)
        safe = np.where(index >= 0, index, 0)
        correct = evaluated & (moas[safe] == moas)
        queries[f"{protocol}_evaluated"] = evaluated
        for column in ("compound", "concentration", "moa"):
            queries[f"{protocol}_{column}"] = np.where(evaluated, meta[column].to_numpy()[safe], None)
        queries[f"{protocol}_similarity"] = np.where(evaluated, best, np.nan)
        queries[f"{protocol}_correct"] = correct
        queries[f"{protocol}_ties"] = np.where(evaluated, ties, 0)
        total = int(evaluated.sum())
        metrics[protocol] = float(correct.sum() / total) if total else float("nan")
        metrics[f"{protocol}_correct"] = int(correct.sum())
        metrics[f"{protocol}_total"] = total
        metrics[f"{protocol}_skipped"] = int((is_query & (index < 0)).sum())
        metrics[f"{protocol}_ties"] = int((evaluated & (ties > 0)).sum())
    metrics["drop"] = metrics["nsc"] - metrics["nscb"]
    metrics["per_moa"] = _per_moa(queries)
    metrics["n_treatments"] = len(meta)
    return Evaluation(metrics=metrics, queries=queries)


def _per_moa(queries: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Accuracy and number of evaluated queries per MoA under both protocols (None where none evaluated)."""
    out: dict[str, dict[str, Any]] = {}
    for moa, group in queries.groupby("moa", sort=True):
        entry: dict[str, Any] = {}
        for protocol in ("nsc", "nscb"):
            evaluated = group[f"{protocol}_evaluated"]
            n = int(evaluated.sum())
            entry[protocol] = float(group.loc[evaluated, f"{protocol}_correct"].mean()) if n else None
            entry[f"{protocol}_total"] = n
        out[str(moa)] = entry
    return out


def evaluate_profiles(
    values: np.ndarray,
    meta: pd.DataFrame,
    *,
    normalization: str = "none",
    aggregate: Reduce = "median",
    input_level: Level = "cell",
    via_image: bool = False,
    cell_aggregate: Reduce = "mean",
    image_aggregate: Reduce | None = None,
    similarity: Similarity = "cosine",
    lam: float = DEFAULT_LAMBDA,
) -> Evaluation:
    """The whole pipeline on rows of features and canonical metadata (plate, well, compound, concentration, moa).

    rows → well profiles (``cell_aggregate``; via images if asked) → ``normalization`` fitted on DMSO wells →
    treatment profiles (``aggregate`` over wells) → NSC/NSCB. ``image_aggregate`` (images → well) defaults to
    ``cell_aggregate``.
    """
    wells = well_profiles(
        values,
        meta,
        input_level=input_level,
        via_image=via_image,
        cell_aggregate=cell_aggregate,
        image_aggregate=image_aggregate or cell_aggregate,
    )
    return evaluate_wells(
        wells, normalization=normalization, aggregate=aggregate, similarity=similarity, lam=lam
    )


def evaluate_wells(
    wells: Profiles,
    *,
    normalization: str = "none",
    aggregate: Reduce = "median",
    similarity: Similarity = "cosine",
    lam: float = DEFAULT_LAMBDA,
) -> Evaluation:
    """Normalise well profiles, aggregate them to treatments and evaluate (the steps after aggregation)."""
    treatments = treatment_profiles(normalize(wells, normalization, lam=lam, coral_lam=lam), aggregate)
    result = evaluate_treatments(treatments, similarity)
    result.settings = {
        "normalize": normalization,
        "aggregate": aggregate,
        "similarity": similarity,
        "lambda": lam,
        "n_wells": len(wells),
        "n_control_wells": int(wells.meta["is_control"].sum()),
        "n_features": int(wells.values.shape[1]),
    }
    return result


# --------------------------------------------------------------------------- reading inputs


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


def feature_columns(table: pd.DataFrame, prefixes: Sequence[str] | None = None) -> list[str]:
    """Feature columns: those starting with one of ``prefixes``, else every numeric non-metadata column."""
    if prefixes:
        return [c for c in table.columns if any(str(c).startswith(p) for p in prefixes)]
    return [
        c
        for c in table.select_dtypes(include="number").columns
        if c not in COLUMN_ALIASES
        and c not in NON_FEATURE_COLUMNS
        and not str(c).startswith(NON_FEATURE_PREFIXES)
    ]


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
    non_numeric = [c for c in columns if not pd.api.types.is_numeric_dtype(table[c])]
    if non_numeric:
        raise CellclrError(
            f"non-numeric feature column(s) {', '.join(non_numeric[:10])}",
            path=path,
            fix="choose numeric columns with --features-prefix",
        )
    values = table[columns].to_numpy(dtype=np.float32)
    if not np.isfinite(values).all():
        raise CellclrError(
            "feature columns contain NaN or infinite values",
            path=path,
            fix="impute or drop those rows/columns first",
        )
    meta = attach_metadata(table.drop(columns=columns), path, metadata, moa_csv)
    return values, meta, detect_level(meta)


def run_evaluation(
    path: str | Path,
    *,
    normalization: str = "none",
    aggregate: Reduce = "median",
    level: Level | None = None,
    via_image: bool = False,
    cell_aggregate: Reduce = "mean",
    image_aggregate: Reduce | None = None,
    similarity: Similarity = "cosine",
    lam: float = DEFAULT_LAMBDA,
    features_prefix: Sequence[str] | None = None,
    metadata: str | Path | None = None,
    moa_csv: str | Path | None = None,
) -> Evaluation:
    """Load ``path`` (feature set or table) and evaluate it; what ``cellclr evaluate`` runs."""
    values, meta, detected = load_profiles(
        path, features_prefix=features_prefix, metadata=metadata, moa_csv=moa_csv
    )
    input_level = level or detected
    try:
        result = evaluate_profiles(
            values,
            meta,
            normalization=normalization,
            aggregate=aggregate,
            input_level=input_level,
            via_image=via_image,
            cell_aggregate=cell_aggregate,
            image_aggregate=image_aggregate,
            similarity=similarity,
            lam=lam,
        )
    except ValueError as err:
        raise CellclrError(str(err), path=path, fix="check the input's DMSO wells and options") from err
    result.settings.update(
        {
            "input": str(path),
            "level": input_level,
            "via_image": via_image,
            "cell_aggregate": cell_aggregate,
            "image_aggregate": image_aggregate or cell_aggregate,
            "n_rows": len(meta),
        }
    )
    return result


# --------------------------------------------------------------------------- command line


def add_protocol_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``cellclr evaluate`` and ``cellclr compare``: aggregation, similarity, λ, MoA table."""
    parser.add_argument(
        "--aggregate",
        choices=("mean", "median"),
        default="median",
        help="how wells become treatment profiles (default: median, as in the paper)",
    )
    parser.add_argument(
        "--cell-aggregate",
        choices=("mean", "median"),
        default="mean",
        help="how cells become well (or image) profiles (default: mean)",
    )
    parser.add_argument(
        "--similarity",
        choices=("cosine", "pearson"),
        default="cosine",
        help="similarity of treatment profiles (default: cosine)",
    )
    parser.add_argument(
        "--lambda",
        dest="lam",
        type=float,
        default=DEFAULT_LAMBDA,
        help="regulariser of whiten/tvn, relative to the feature variance (default: 1)",
    )
    parser.add_argument(
        "--moa-csv",
        type=Path,
        default=None,
        help="MoA table joined on compound+concentration (default: the shipped BBBC021_v1_moa.csv)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cellclr evaluate``."""
    add_protocol_options(parser)
    parser.add_argument(
        "profiles",
        type=Path,
        help="feature-set directory, or CSV/parquet table of cell-, image- or well-level profiles",
    )
    parser.add_argument(
        "--normalize",
        choices=METHODS,
        default="none",
        help="post-processing of well profiles, fitted on DMSO wells (default: none)",
    )
    parser.add_argument(
        "--image-aggregate",
        choices=("mean", "median"),
        default=None,
        help="how images become well profiles, with --via-image or image-level input (default: as --cell-aggregate)",
    )
    parser.add_argument(
        "--level",
        choices=("cell", "image", "well"),
        default=None,
        help="level of the input rows when auto-detection is ambiguous",
    )
    parser.add_argument(
        "--via-image", action="store_true", help="aggregate cells to images first, then images to wells"
    )
    parser.add_argument(
        "--metadata",
        type=Path,
        default=None,
        help="metadata table joined on plate+well, when the profiles carry only plate and well",
    )
    parser.add_argument(
        "--features-prefix",
        action="append",
        default=None,
        metavar="P",
        help="use only feature columns starting with P (repeatable)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write metrics, settings and every query's neighbour to this JSON file",
    )
    parser.add_argument(
        "--confusion", type=Path, default=None, help="save the NSC MoA confusion matrix to this PNG"
    )


def main(args: argparse.Namespace) -> int:
    """Run ``cellclr evaluate``: print NSC / NSCB / drop, optionally write JSON and the confusion matrix."""
    result = run_evaluation(
        args.profiles,
        normalization=args.normalize,
        aggregate=args.aggregate,
        level=args.level,
        via_image=args.via_image,
        cell_aggregate=args.cell_aggregate,
        image_aggregate=args.image_aggregate,
        similarity=args.similarity,
        lam=args.lam,
        features_prefix=args.features_prefix,
        metadata=args.metadata,
        moa_csv=args.moa_csv,
    )
    m = result.metrics
    print(f"NSC  {m['nsc']:.1%} ({m['nsc_correct']}/{m['nsc_total']})")
    print(f"NSCB {m['nscb']:.1%} ({m['nscb_correct']}/{m['nscb_total']}, skipped {m['nscb_skipped']})")
    print(
        f"drop {m['drop'] * 100:.1f} points   [{args.normalize}, {args.aggregate} of wells, {args.similarity}]"
    )
    if args.out is not None:
        write_json_atomic(args.out, result.to_dict())
        print(f"wrote {args.out}")
    if args.confusion is not None:
        from cellclr_lib.plots.evaluation import confusion_figure

        figure = confusion_figure(result)
        with atomic_path(args.confusion) as tmp:
            figure.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
        print(f"wrote {args.confusion}")
    return 0
