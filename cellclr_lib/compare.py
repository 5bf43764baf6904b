"""Compare methods: every feature set under every post-processing, evaluated the same way, in one table.

Well profiles are computed once per feature set; each normalisation is then fitted on their DMSO wells and
evaluated (see :mod:`cellclr_lib.evaluate`). Command line:
``cellclr compare --feature-set NAME=DIR ... --normalize none tvn --out table.csv [--figure PNG]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from cellclr_lib.errors import CellclrError
from cellclr_lib.evaluate import METRICS, add_protocol_options, evaluate_wells, protocol_options
from cellclr_lib.features import FeatureSet
from cellclr_lib.io import atomic_path, write_table_atomic
from cellclr_lib.metrics.nsc import Similarity
from cellclr_lib.normalize import DEFAULT_LAMBDA, METHODS
from cellclr_lib.profiles import Reduce, well_profiles
from cellclr_lib.tables import attach_metadata, canonicalize_columns, load_profiles

#: the accuracy and mAP columns every table of scores shares (this comparison, the real-data grid).
ACCURACY_COLUMNS = ["nsc", "nscb", "drop", "nsc_correct", "nsc_total", "nscb_correct", "nscb_total"]
MAP_COLUMNS = ["map_activity", "map_activity_fraction", "map_consistency", "map_consistency_fraction"]
TABLE_COLUMNS = [
    "method",
    "normalize",
    *ACCURACY_COLUMNS,
    "nscb_skipped",
    "nsc_ties",
    "nscb_ties",
    *MAP_COLUMNS,
    "aggregate",
    "similarity",
]


def compare(
    feature_sets: Mapping[str, FeatureSet | str | Path],
    normalizations: Sequence[str] = ("none", "tvn"),
    *,
    aggregate: Reduce = "median",
    cell_aggregate: Reduce = "mean",
    similarity: Similarity = "cosine",
    lam: float = DEFAULT_LAMBDA,
    moa_csv: str | Path | None = None,
    metrics: Sequence[str] = ("nsc",),
) -> pd.DataFrame:
    """Tidy table, one row per (method, normalisation): NSC, NSCB, drop, their counts and mAP.

    The mAP columns (activity and MoA consistency, see :mod:`cellclr_lib.metrics.map`) are empty unless
    ``metrics`` holds ``"map"`` (the command line asks for both). ``feature_sets`` maps a method name to a :class:`FeatureSet` (per-cell) or to a path that
    :func:`cellclr_lib.tables.load_profiles` reads (feature-set directory or profile table).
    """
    rows = []
    for name, source in feature_sets.items():
        if isinstance(source, FeatureSet):
            meta = attach_metadata(canonicalize_columns(source.cells), Path(name), None, moa_csv)
            values, level = source.features, "cell"
        else:
            values, meta, level = load_profiles(source, moa_csv=moa_csv)
        wells = well_profiles(values, meta, input_level=level, cell_aggregate=cell_aggregate)
        for method in normalizations:
            try:
                result = evaluate_wells(
                    wells,
                    normalization=method,
                    aggregate=aggregate,
                    similarity=similarity,
                    lam=lam,
                    metrics=metrics,
                )
            except ValueError as err:
                raise CellclrError(
                    f"{name}, {method}: {err}",
                    path=str(source) if not isinstance(source, FeatureSet) else None,
                ) from err
            scores = {key: result.metrics[key] for key in TABLE_COLUMNS if key in result.metrics}
            rows.append(
                {
                    "method": name,
                    "normalize": method,
                    **scores,
                    "aggregate": aggregate,
                    "similarity": similarity,
                }
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cellclr compare``."""
    add_protocol_options(parser)
    parser.add_argument(
        "--feature-set",
        action="append",
        required=True,
        metavar="NAME=PATH",
        help="a method's feature-set directory or profile table (repeatable)",
    )
    parser.add_argument(
        "--normalize",
        nargs="+",
        choices=METHODS,
        default=["none", "tvn"],
        help="post-processings to evaluate (default: none tvn)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="write the comparison table here (CSV, or parquet by extension)",
    )
    parser.add_argument(
        "--metric",
        nargs="+",
        choices=METRICS,
        default=list(METRICS),
        help="nsc: NSC/NSCB/drop; map: activity and MoA-consistency mAP by copairs (default: both)",
    )
    parser.add_argument("--figure", type=Path, default=None, help="save the comparison bar chart to this PNG")


def parse_feature_sets(specs: Sequence[str]) -> dict[str, Path]:
    """``NAME=PATH`` strings to an ordered mapping, with a clear error for a malformed or repeated name."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise CellclrError(
                f"--feature-set {spec!r} is not NAME=PATH",
                fix="write e.g. --feature-set simclr=runs/simclr/features",
            )
        if name in out:
            raise CellclrError(
                f"--feature-set name {name!r} given twice", fix="give each method its own name"
            )
        out[name] = Path(path)
    return out


def main(args: argparse.Namespace) -> int:
    """Run ``cellclr compare`` and print the table."""
    table = compare(
        parse_feature_sets(args.feature_set),
        args.normalize,
        **protocol_options(args),
    )
    print(
        table[["method", "normalize", "nsc", "nscb", "drop", "map_activity", "map_consistency"]].to_string(
            index=False, float_format="{:.3f}".format
        )
    )
    write_table_atomic(args.out, table)
    print(f"wrote {args.out}")
    if args.figure is not None:
        from cellclr_lib.plots.evaluation import comparison_figure

        with atomic_path(args.figure) as tmp:
            comparison_figure(table).savefig(tmp, format="png", dpi=150, bbox_inches="tight")
        print(f"wrote {args.figure}")
    return 0
