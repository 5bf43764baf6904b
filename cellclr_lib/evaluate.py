"""The evaluation pipeline and ``cellclr evaluate``: profiles in, NSC / NSCB / drop and mAP out.

rows (cells, images or wells) → well profiles → post-processing fitted on DMSO wells → treatment profiles →
metrics. Reading tables is :mod:`cellclr_lib.tables`; the metrics are :mod:`cellclr_lib.metrics.nsc` (1-NN MoA
matching) and :mod:`cellclr_lib.metrics.map` (mean average precision, by copairs). This module only joins
them, and turns every input problem into a :class:`CellclrError` naming the file.

Command line: ``cellclr evaluate PROFILES`` (a feature-set directory or a CSV, CSV.gz or parquet table), see
:func:`add_arguments`. This module and its imports do not need torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellclr_lib.errors import CellclrError
from cellclr_lib.io import atomic_path, write_json_atomic
from cellclr_lib.metrics.nsc import Evaluation, Similarity, evaluate_treatments
from cellclr_lib.normalize import DEFAULT_LAMBDA, METHODS, normalize
from cellclr_lib.profiles import Profiles, Reduce, treatment_profiles, well_profiles
from cellclr_lib.tables import Level, check_rows, load_profiles

#: the metrics ``--metric`` offers; all are cheap on well-level BBBC021 (a second for mAP). ``activity`` is
#: the activity half of ``map`` alone: it needs no MoA labels, so it judges a user's own unlabelled plates.
METRICS: tuple[str, ...] = ("nsc", "map", "activity")
#: the metrics that judge MoAs and so need every treated compound to have one.
LABELLED_METRICS = ("nsc", "map")


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
    metrics: Sequence[str] = ("nsc",),
) -> Evaluation:
    """The whole pipeline on rows of features and canonical metadata (plate, well, compound, concentration, moa).

    rows → well profiles (``cell_aggregate``; via images if asked) → ``normalization`` fitted on DMSO wells →
    treatment profiles (``aggregate`` over wells) → ``metrics``. ``image_aggregate`` (images → well) defaults
    to ``cell_aggregate``.
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
        wells,
        normalization=normalization,
        aggregate=aggregate,
        similarity=similarity,
        lam=lam,
        metrics=metrics,
    )


def evaluate_wells(
    wells: Profiles,
    *,
    normalization: str = "none",
    aggregate: Reduce = "median",
    similarity: Similarity = "cosine",
    lam: float = DEFAULT_LAMBDA,
    metrics: Sequence[str] = ("nsc",),
) -> Evaluation:
    """Normalise well profiles, aggregate them to treatments and compute ``metrics`` (``nsc`` and/or ``map``).

    mAP is opt-in here (the command line asks for both): activity mAP is computed on the normalised *wells*,
    MoA-consistency mAP on the same treatment profiles NSC judges.
    """
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not metrics:
        raise ValueError(f"unknown metric(s) {unknown or metrics}; use {' and/or '.join(METRICS)}")
    normalised = normalize(wells, normalization, lam=lam)
    treatments = treatment_profiles(normalised, aggregate)
    if set(metrics) & set(LABELLED_METRICS):
        result = evaluate_treatments(treatments, similarity)
    else:  # activity alone: no MoA to match, so no NSC queries
        result = Evaluation(metrics={"n_treatments": len(treatments)}, queries=pd.DataFrame())
    if "nsc" not in metrics:
        result = Evaluation(metrics={"n_treatments": len(treatments)}, queries=result.queries.iloc[:0])
    if "map" in metrics or "activity" in metrics:
        from cellclr_lib.metrics.map import map_metrics  # copairs only when asked for

        scored = map_metrics(normalised, treatments, similarity, consistency="map" in metrics)
        result.metrics.update(scored.metrics)
        result.tables.update({"map_activity": scored.activity, "map_consistency": scored.consistency})
    result.settings = {
        "normalize": normalization,
        "aggregate": aggregate,
        "similarity": similarity,
        "metrics": list(metrics),
        "lambda": lam,
        "n_wells": len(wells),
        "n_control_wells": int(wells.meta["is_control"].sum()),
        "n_features": int(wells.values.shape[1]),
    }
    return result


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
    metrics: Sequence[str] = ("nsc",),
    drop_unannotated: bool = False,
) -> Evaluation:
    """Load ``path`` (feature set or table), check it and evaluate it; what ``cellclr evaluate`` runs.

    Every result that would be meaningless (no treatment of another compound to match, unknown MoAs, plates
    without DMSO where the metric needs them) is a :class:`CellclrError` naming the file, never a number.
    """
    values, meta, detected = load_profiles(
        path, features_prefix=features_prefix, metadata=metadata, moa_csv=moa_csv
    )
    needs_plate_dmso = normalization == "dmso-zscore" or "map" in metrics or "activity" in metrics
    check_rows(
        meta,
        Path(path),
        needs_plate_dmso=needs_plate_dmso,
        drop_unannotated=drop_unannotated,
        needs_labels=bool(set(metrics) & set(LABELLED_METRICS)),
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
            metrics=metrics,
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


#: the protocol's choices, as ``(flag, choices, default, help)``: one table, so they read and parse alike
_CHOICE_FLAGS: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    (
        "--aggregate",
        ("mean", "median"),
        "median",
        "how wells become treatment profiles (default: median, as in the paper)",
    ),
    (
        "--cell-aggregate",
        ("mean", "median"),
        "mean",
        "how cells become well (or image) profiles (default: mean)",
    ),
    ("--similarity", ("cosine", "pearson"), "cosine", "similarity of treatment profiles (default: cosine)"),
)


def add_protocol_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``cellclr evaluate`` and ``cellclr compare``: aggregation, similarity, λ, MoA table."""
    for flag, choices, default, text in _CHOICE_FLAGS:
        parser.add_argument(flag, choices=choices, default=default, help=text)
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
        "--metric",
        nargs="+",
        choices=METRICS,
        default=list(LABELLED_METRICS),
        help="nsc: NSC/NSCB/drop; map: activity and MoA-consistency mAP by copairs (default: both); "
        "activity: activity mAP alone, which needs no MoA labels (your own unlabelled plates)",
    )
    parser.add_argument(
        "--drop-unannotated",
        action="store_true",
        help="evaluate only compounds with an MoA (default: an error naming the unannotated rows)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write metrics, settings and every query's neighbour to this JSON file (e.g. metrics.json)",
    )
    parser.add_argument(
        "--confusion", type=Path, default=None, help="save the NSC MoA confusion matrix to this PNG"
    )


def summary_lines(result: Evaluation) -> list[str]:
    """Human-readable lines of the metrics that were computed (NSCB says so when no query had a candidate)."""
    m, settings = result.metrics, result.settings
    lines = []
    if "nsc" in m:
        nscb = "n/a" if np.isnan(m["nscb"]) else f"{m['nscb']:.1%}"
        drop = "n/a" if np.isnan(m["drop"]) else f"{m['drop'] * 100:.1f} points"
        lines += [
            f"NSC  {m['nsc']:.1%} ({m['nsc_correct']}/{m['nsc_total']})",
            f"NSCB {nscb} ({m['nscb_correct']}/{m['nscb_total']}, skipped {m['nscb_skipped']})",
            f"drop {drop}",
        ]
    for name, label in (("map_activity", "activity"), ("map_consistency", "MoA consistency")):
        if name in m:
            lines.append(
                f"mAP {label} {m[name]:.3f}, retrieved at FDR<0.05: {m[name + '_retrieved']}/{m[name + '_total']}"
            )
    lines.append(f"[{settings['normalize']}, {settings['aggregate']} of wells, {settings['similarity']}]")
    return lines


def protocol_options(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed :func:`add_protocol_options` (plus ``--metric``) as keywords of the evaluation functions.

    ``cellclr evaluate`` and ``cellclr compare`` pass the same protocol on; one mapping keeps them in step.
    """
    names = ("aggregate", "cell_aggregate", "similarity", "lam", "moa_csv")
    return {**{name: getattr(args, name) for name in names}, "metrics": args.metric}


def main(args: argparse.Namespace) -> int:
    """Run ``cellclr evaluate``: print the metrics, optionally write JSON and the confusion matrix."""
    if args.confusion is not None and "nsc" not in args.metric:
        raise CellclrError("--confusion draws the NSC neighbours", fix="add nsc to --metric")
    result = run_evaluation(
        args.profiles,
        normalization=args.normalize,
        level=args.level,
        via_image=args.via_image,
        image_aggregate=args.image_aggregate,
        features_prefix=args.features_prefix,
        metadata=args.metadata,
        drop_unannotated=args.drop_unannotated,
        **protocol_options(args),
    )
    print("\n".join(summary_lines(result)))
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
