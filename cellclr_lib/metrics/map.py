"""Mean average precision (mAP) of profiles, computed by copairs (Kalinin et al., Nat Commun 2025).

NSC asks one question of each treatment: is its single nearest neighbour of the same MoA? mAP asks of the
whole ranking, and comes with a permutation p-value, so it also says *whether* a treatment is distinguishable
at all. Two questions, following copairs' documented recipes:

* **phenotypic activity**: can a treatment's wells retrieve each other among the DMSO wells? Each treated well
  ranks its replicate wells (positives) against the DMSO wells *of its own plate* (negatives; copairs'
  reference-index recipe: every DMSO well is its own reference, so DMSO wells are never positives of each
  other). AP per well, mAP per treatment.
* **MoA consistency**: can a treatment profile retrieve the other compounds of its MoA? Positives: same MoA,
  another compound; negatives: another MoA (other concentrations of the same compound are neither, as in NSC).
  One profile per treatment, so its mAP is its AP.

p-values come from copairs' null of random rankings of the same size, corrected by Benjamini–Hochberg; a
treatment is *retrieved* when its corrected p-value is below :data:`FDR`. Nothing here reimplements copairs:
it only builds copairs' inputs from :class:`~cellclr_lib.profiles.Profiles` and summarises its outputs. It
never reads files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from copairs.map import average_precision, mean_average_precision
from copairs.matching import UnpairedException, assign_reference_index

from cellclr_lib.metrics.nsc import Similarity
from cellclr_lib.profiles import TREATMENT_KEYS, Profiles

#: copairs' name of each similarity (its "correlation" is Pearson's r between profiles).
COPAIRS_DISTANCE: dict[str, str] = {"cosine": "cosine", "pearson": "correlation"}
#: false discovery rate below which a treatment counts as retrieved.
FDR = 0.05
#: size of the null distribution of each (positives, total) configuration: p-values resolve 1e-4.
NULL_SIZE = 10_000
SEED = 0
REFERENCE = "reference_index"


@dataclass
class MapResult:
    """Summary ``metrics`` and one copairs row per treatment (mAP, p-value, corrected p-value) per question."""

    metrics: dict[str, Any]
    activity: pd.DataFrame
    consistency: pd.DataFrame


def activity_input(wells: Profiles) -> tuple[pd.DataFrame, np.ndarray, dict[str, list[str]]]:
    """copairs' activity input: well metadata with a reference index, the values and the pair rules."""
    meta = wells.meta[["plate", *TREATMENT_KEYS, "moa", "is_control"]].reset_index(drop=True)
    meta = assign_reference_index(
        meta.assign(is_control=meta["is_control"].astype(int)), "is_control == 1", REFERENCE
    )
    rules = {
        "pos_sameby": [*TREATMENT_KEYS, REFERENCE],
        "pos_diffby": [],
        "neg_sameby": ["plate"],
        "neg_diffby": ["is_control", REFERENCE],
    }
    return meta, np.asarray(wells.values, dtype=np.float64), rules


def consistency_input(treatments: Profiles) -> tuple[pd.DataFrame, np.ndarray, dict[str, list[str]]]:
    """copairs' consistency input: treatment metadata, the values and the pair rules (NSC's exclusions)."""
    meta = treatments.meta[[*TREATMENT_KEYS, "moa"]].reset_index(drop=True)
    rules = {"pos_sameby": ["moa"], "pos_diffby": ["compound"], "neg_sameby": [], "neg_diffby": ["moa"]}
    return meta, np.asarray(treatments.values, dtype=np.float64), rules


def copairs_map(
    meta: pd.DataFrame,
    values: np.ndarray,
    rules: dict[str, list[str]],
    similarity: Similarity = "cosine",
    *,
    null_size: int = NULL_SIZE,
    seed: int = SEED,
) -> pd.DataFrame:
    """copairs' AP of every non-control row, then its mAP and corrected p-value per treatment.

    copairs' ``UnpairedException`` (no positive or no negative pair at all, e.g. a single treatment) becomes a
    ``ValueError`` saying which rule found nothing, like every other impossible input of the pipeline.
    """
    try:
        ap = average_precision(
            meta, values, **rules, distance=COPAIRS_DISTANCE[similarity], progress_bar=False
        )
    except UnpairedException as err:
        raise ValueError(f"mAP impossible: {err} (pair rules {rules})") from err
    if "is_control" in ap:
        ap = ap[ap["is_control"] == 0]
    return mean_average_precision(
        ap, list(TREATMENT_KEYS), null_size=null_size, threshold=FDR, seed=seed, progress_bar=False
    )


def _summary(prefix: str, table: pd.DataFrame) -> dict[str, Any]:
    """Mean mAP over treatments, the fraction retrieved at FDR < :data:`FDR`, and how many were scored."""
    return {
        prefix: float(table["mean_average_precision"].mean()),
        f"{prefix}_fraction": float(table["below_corrected_p"].mean()),
        f"{prefix}_retrieved": int(table["below_corrected_p"].sum()),
        f"{prefix}_total": len(table),
    }


def map_metrics(
    wells: Profiles,
    treatments: Profiles,
    similarity: Similarity = "cosine",
    *,
    null_size: int = NULL_SIZE,
    seed: int = SEED,
    consistency: bool = True,
) -> MapResult:
    """Activity mAP of the (normalised) ``wells`` and, if ``consistency``, MoA-consistency mAP of their
    ``treatments`` (it needs MoA labels; activity needs only the controls)."""
    options = {"null_size": null_size, "seed": seed}
    activity = copairs_map(*activity_input(wells), similarity, **options)
    metrics = _summary("map_activity", activity)
    by_moa = pd.DataFrame()
    if consistency:
        by_moa = copairs_map(*consistency_input(treatments), similarity, **options)
        metrics.update(_summary("map_consistency", by_moa))
    return MapResult(metrics=metrics, activity=activity, consistency=by_moa)
