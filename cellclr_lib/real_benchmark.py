"""The benchmark on real BBBC021 profiles: Ljosa et al. (2013) CellProfiler features through our evaluation.

Every number computed on the stand-in answers "does the code work?"; the numbers here answer "what does the
benchmark say about real cells?". They use the shipped per-well means of 516 CellProfiler features
(:mod:`cellclr_lib.data.ljosa`) and exactly the pipeline every other method goes through
(:func:`cellclr_lib.evaluate.evaluate_wells`), so they are a reference point, not a quotation.

Also here: the feature inventory (compartment × measurement × channel), pycytominer-style feature selection,
the recipe of the cytominer vignette that published NSC 0.82 on this file, and the DMSO plate means that make
the week effect visible.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from cellclr_lib.compare import ACCURACY_COLUMNS, MAP_COLUMNS
from cellclr_lib.data.ljosa import WellProfiles, load_ljosa_wells
from cellclr_lib.evaluate import METRICS, evaluate_wells
from cellclr_lib.io import sync_generated_block
from cellclr_lib.metrics.nsc import Evaluation
from cellclr_lib.normalize import METHODS, normalize
from cellclr_lib.profiles import Profiles, group_codes, reduce_groups, well_profiles

AGGREGATES: tuple[str, ...] = ("mean", "median")
SIMILARITIES: tuple[str, ...] = ("cosine", "pearson")
#: CellProfiler's name of each stain in these features, and the channel it shows.
CHANNELS = {"CorrDAPI": "DNA", "CorrTub": "Tubulin", "CorrActin": "Actin"}
NO_CHANNEL = "none (shape, position, neighbours)"
#: the cytominer vignette's result on this file (NSC and its 95% confidence interval), quoted, not computed.
PUBLISHED_VIGNETTE = {
    "nsc": 0.82,
    "ci_low": 0.73,
    "ci_high": 0.89,
    "source": "cytominer/cytominergallery vignette (published, real BBBC021 profiles)",
}
GRID_COLUMNS = ["normalize", "aggregate", "similarity", *ACCURACY_COLUMNS, *MAP_COLUMNS]


def ljosa_profiles(ljosa: WellProfiles | None = None) -> Profiles:
    """The real wells as benchmark :class:`Profiles` (DMSO flagged, taxol controls dropped, weeks added)."""
    ljosa = ljosa if ljosa is not None else load_ljosa_wells()
    return well_profiles(ljosa.values, ljosa.meta, input_level="well")


REAL_REFERENCE = "CellProfiler features (REAL BBBC021, Ljosa 2013)"


def real_reference_rows(
    normalizations: Sequence[str] = ("none", "tvn"), aggregate: str = "median", similarity: str = "cosine"
) -> pd.DataFrame:
    """The real profiles as rows shaped like :func:`cellclr_lib.compare.compare`'s, labelled as real data.

    A reference point for tables of stand-in results: same protocol options, but real CellProfiler features,
    so the ``source`` column says so and no reader mistakes one for the other.
    """
    grid = benchmark_grid(ljosa_profiles(), normalizations, [aggregate], [similarity], metrics=("nsc",))
    return grid.assign(method=REAL_REFERENCE, source="computed here on REAL BBBC021 profiles")


def feature_inventory(columns: Sequence[str]) -> pd.DataFrame:
    """One row per CellProfiler feature: compartment, measurement module and channel, parsed from the name.

    Names read ``<Compartment>_<Module>_<Measurement>[_<Stain>][_<scale>...]``: ``Nuclei_Texture_Contrast_
    CorrDAPI_3_0`` is a texture of the nucleus in the DNA channel; shape features carry no stain.
    """
    rows = []
    for name in columns:
        compartment, module = name.split("_")[:2]
        stain = next((s for s in CHANNELS if re.search(rf"_{s}(_|$)", name)), None)
        rows.append((name, compartment, module, CHANNELS.get(stain, NO_CHANNEL)))
    return pd.DataFrame(rows, columns=["feature", "compartment", "module", "channel"])


def feature_group_counts(columns: Sequence[str]) -> pd.DataFrame:
    """Number of features per measurement module (rows) and compartment (columns), with totals."""
    inventory = feature_inventory(columns)
    return pd.crosstab(inventory["module"], inventory["compartment"], margins=True, margins_name="total")


def benchmark_grid(
    wells: Profiles,
    normalizations: Sequence[str] = METHODS,
    aggregates: Sequence[str] = AGGREGATES,
    similarities: Sequence[str] = SIMILARITIES,
    metrics: Sequence[str] = METRICS,
) -> pd.DataFrame:
    """NSC / NSCB / drop and mAP for every normalisation × aggregation × similarity: one tidy row each."""
    rows = []
    for normalization, aggregate, similarity in product(normalizations, aggregates, similarities):
        result = evaluate_wells(
            wells, normalization=normalization, aggregate=aggregate, similarity=similarity, metrics=metrics
        )
        rows.append(
            {
                "normalize": normalization,
                "aggregate": aggregate,
                "similarity": similarity,
                **{k: result.metrics[k] for k in GRID_COLUMNS[3:] if k in result.metrics},
            }
        )
    return pd.DataFrame(rows).reindex(columns=[c for c in GRID_COLUMNS if any(c in r for r in rows)])


def select_features(wells: Profiles, feature_names: Sequence[str]) -> list[str]:
    """Features kept by pycytominer's ``feature_select`` (variance, then correlation threshold 0.9).

    Run on the given (normally DMSO-standardised) wells, as the cytominer vignette does before aggregating:
    near-constant features carry no signal and groups of features correlated above 0.9 would otherwise
    vote several times in every similarity. pycytominer is imported here only (the notebooks extra).
    """
    from pycytominer import feature_select

    table = pd.DataFrame(wells.values, columns=list(feature_names))
    kept = feature_select(
        table,
        features=list(feature_names),
        operation=["variance_threshold", "correlation_threshold"],
    )
    return list(kept.columns)


def subset_features(wells: Profiles, feature_names: Sequence[str], keep: Sequence[str]) -> Profiles:
    """The wells restricted to the ``keep`` features (in ``feature_names`` order)."""
    index = [i for i, name in enumerate(feature_names) if name in set(keep)]
    return Profiles(wells.meta, np.asarray(wells.values)[:, index])


def vignette_recipe(
    wells: Profiles, feature_names: Sequence[str], metrics: Sequence[str] = ("nsc",)
) -> tuple[Evaluation, list[str]]:
    """The vignette's recipe: per-plate DMSO standardisation, feature selection, mean per treatment, Pearson.

    The z-score comes first (as in the vignette), so selection sees features on one scale; the evaluation
    then starts from the already normalised wells.
    """
    standardised = normalize(wells, "dmso-zscore")
    keep = select_features(standardised, feature_names)
    result = evaluate_wells(
        subset_features(standardised, feature_names, keep),
        aggregate="mean",
        similarity="pearson",
        metrics=metrics,
    )
    return result, keep


def published_check(computed: dict[str, tuple[Evaluation, int]]) -> pd.DataFrame:
    """Our evaluations (label → (result with NSC and mAP, number of features)) beside the vignette's
    published NSC, every row saying whether it was computed here or quoted."""
    rows = []
    for label, (result, n_features) in computed.items():
        m = result.metrics
        low, high = binomial_interval(m["nsc_correct"], m["nsc_total"])
        rows.append(
            {
                "profiles": label,
                "features": str(n_features),
                "NSC": f"{m['nsc']:.3f} ({m['nsc_correct']}/{m['nsc_total']})",
                "NSC 95% CI": f"{low:.2f}–{high:.2f}",
                "NSCB": f"{m['nscb']:.3f} ({m['nscb_correct']}/{m['nscb_total']})",
                "mAP consistency": f"{m['map_consistency']:.3f}" if "map_consistency" in m else "—",
                "source": "computed here",
            }
        )
    published = PUBLISHED_VIGNETTE
    rows.append(
        {
            "profiles": "cytominer vignette, same file and recipe",
            "features": "—",
            "NSC": f"{published['nsc']:.2f}",
            "NSC 95% CI": f"{published['ci_low']:.2f}–{published['ci_high']:.2f}",
            "NSCB": "—",
            "mAP consistency": "—",
            "source": f"PUBLISHED, not computed here: {published['source']}",
        }
    )
    return pd.DataFrame(rows)


def binomial_interval(correct: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) confidence interval of an accuracy: how much 103 queries can tell apart."""
    interval = binomtest(correct, total).proportion_ci(confidence_level=level, method="exact")
    return float(interval.low), float(interval.high)


def dmso_plate_means(wells: Profiles) -> Profiles:
    """Mean DMSO profile of each plate, after scaling every feature by its spread over all DMSO wells.

    DMSO is the same biology everywhere, so differences between these means are technical: plotted by
    week they show the batch effect NSCB is designed to expose. The scaling only puts features on one scale
    (it is global, so it cannot remove the between-plate differences).
    """
    dmso = wells.subset(wells.meta["is_control"].to_numpy(dtype=bool))
    values = np.asarray(dmso.values, dtype=np.float64)
    spread = values.std(axis=0)
    scaled = np.divide(values - values.mean(axis=0), spread, out=np.zeros_like(values), where=spread > 0)
    codes, plates = group_codes(dmso.meta[["plate", "batch"]])
    return Profiles(plates.assign(n_wells=np.bincount(codes)), reduce_groups(scaled, codes, len(plates)))


#: markers around the generated real-data table in ``book/results.md`` (see :func:`sync_results_page`).
TABLE_START = "<!-- begin: generated by cellclr_lib.real_benchmark.sync_results_page; do not edit by hand -->"
TABLE_END = "<!-- end: generated table -->"


def results_markdown(grid: pd.DataFrame) -> str:
    """The grid as a Markdown table for the book: counts beside every accuracy, drop in points."""
    lines = [
        "| post-processing | wells → treatment | similarity | NSC | NSCB | drop (points) "
        "| mAP activity (retrieved) | mAP MoA consistency (retrieved) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in grid.itertuples(index=False):
        lines.append(
            f"| {r.normalize} | {r.aggregate} | {r.similarity} "
            f"| {r.nsc:.1%} ({r.nsc_correct}/{r.nsc_total}) | {r.nscb:.1%} ({r.nscb_correct}/{r.nscb_total}) "
            f"| {r.drop * 100:.1f} | {r.map_activity:.3f} ({r.map_activity_fraction:.0%}) "
            f"| {r.map_consistency:.3f} ({r.map_consistency_fraction:.0%}) |"
        )
    return "\n".join(lines)


def sync_results_page(page: str | Path, grid: pd.DataFrame, *, write: bool = False) -> bool:
    """Whether ``page``'s generated table equals :func:`results_markdown` of ``grid``; rewrite it if ``write``.

    The book's real-data table is computed, never typed: a test calls this without ``write`` so the page
    cannot drift from the library. Regenerate with ``sync_results_page(page, benchmark_grid(ljosa_profiles()),
    write=True)``.
    """
    return sync_generated_block(page, TABLE_START, TABLE_END, results_markdown(grid), write=write)
