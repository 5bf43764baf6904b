"""Figures of the NSC/NSCB evaluation: confusion matrix, per-MoA accuracy, method comparison, profile maps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cellclr_lib.plots.palette import category_colors

if TYPE_CHECKING:
    from cellclr_lib.metrics.nsc import Evaluation
    from cellclr_lib.profiles import Profiles


def confusion_figure(result: Evaluation, protocol: str = "nsc") -> Figure:
    """MoA of each query (rows) against the MoA of its nearest neighbour (columns), counts in the cells."""
    queries = result.queries[result.queries[f"{protocol}_evaluated"]]
    moas = sorted(set(queries["moa"]) | set(queries[f"{protocol}_moa"]))
    table = pd.crosstab(queries["moa"], queries[f"{protocol}_moa"]).reindex(
        index=moas, columns=moas, fill_value=0
    )
    fig = Figure(figsize=(1 + 0.45 * len(moas), 1 + 0.4 * len(moas)))
    ax = fig.subplots()
    image = ax.imshow(table.to_numpy(), cmap="Blues")
    for (i, j), count in np.ndenumerate(table.to_numpy()):
        if count:
            ax.text(
                j,
                i,
                str(count),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if count > table.to_numpy().max() / 2 else "black",
            )
    ax.set_xticks(range(len(moas)), moas, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(moas)), moas, fontsize=8)
    ax.set_xlabel("MoA of nearest neighbour")
    ax.set_ylabel("MoA of query treatment")
    score = result.metrics[protocol]
    ax.set_title(
        f"{protocol.upper()} {score:.1%} ({result.metrics[f'{protocol}_correct']}/{result.metrics[f'{protocol}_total']})"
    )
    fig.colorbar(image, ax=ax, shrink=0.7, label="treatments")
    fig.tight_layout()
    return fig


def per_moa_figure(result: Evaluation) -> Figure:
    """Horizontal bars: NSC and NSCB accuracy of each MoA (NSCB missing for the two excluded MoAs)."""
    per_moa = pd.DataFrame(result.metrics["per_moa"]).T.sort_index()
    fig = Figure(figsize=(6, 0.35 * len(per_moa) + 1.2))
    ax = fig.subplots()
    y = np.arange(len(per_moa))
    for offset, protocol in ((-0.2, "nsc"), (0.2, "nscb")):
        scores = pd.to_numeric(per_moa[protocol], errors="coerce").fillna(0).to_numpy()
        ax.barh(y + offset, scores, height=0.4, label=protocol.upper())
    ax.set_yticks(y, per_moa.index, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("1-NN accuracy")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def comparison_figure(table: pd.DataFrame) -> Figure:
    """NSC and NSCB of each method (groups) under each normalisation (bars), from :func:`compare.compare`."""
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, metric in zip(axes, ("nsc", "nscb"), strict=True):
        wide = table.pivot(index="method", columns="normalize", values=metric)
        wide.plot.bar(ax=ax, rot=0, width=0.8)
        ax.set_title(metric.upper())
        ax.set_ylim(0, 1)
        ax.set_xlabel("")
        ax.set_ylabel("1-NN MoA accuracy")
        ax.legend(title="post-processing", fontsize=8)
    fig.tight_layout()
    return fig


def profile_map_figure(
    profiles: Profiles, color_by: Sequence[str] = ("moa", "batch"), seed: int = 0, perplexity: float = 30.0
) -> Figure:
    """t-SNE map of profiles (wells or treatments), one panel coloured by each metadata column.

    t-SNE on cosine distance, as the evaluation uses cosine similarity; the perplexity is capped below the
    number of profiles so small sets still work. Exact gradients below 2,000 profiles (BBBC021 has 632 wells
    and 103 treatments): faster and steadier there than the Barnes-Hut approximation.
    """
    from sklearn.manifold import TSNE

    perplexity = min(perplexity, max(2.0, (len(profiles) - 1) / 3))
    xy = TSNE(
        n_components=2,
        metric="cosine",
        init="random",
        perplexity=perplexity,
        method="exact" if len(profiles) < 2000 else "barnes_hut",
        random_state=seed,
    ).fit_transform(np.asarray(profiles.values, dtype=np.float64))
    fig = Figure(figsize=(6 * len(color_by), 5))
    axes = fig.subplots(1, len(color_by), squeeze=False)
    for ax, column in zip(axes[0], color_by, strict=True):
        labels = profiles.meta[column].astype(str)
        if column == "batch" and "batches" in profiles.meta:
            labels = profiles.meta["batches"].astype(str)
        for label, color in category_colors(labels).items():
            rows = (labels == label).to_numpy()
            ax.scatter(xy[rows, 0], xy[rows, 1], s=12, label=label, color=color)
        ax.set_title(f"t-SNE of profiles, coloured by {column}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, markerscale=1.2, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def dmso_week_figure(plate_means: Profiles, seed: int = 0) -> Figure:
    """DMSO plate means on their first two principal components, coloured by week; PC1 by week beside it.

    DMSO is the same treatment on every plate, so any structure here is technical. Weeks are in numeric order.
    """
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed)
    xy = pca.fit_transform(np.asarray(plate_means.values, dtype=np.float64))
    weeks = plate_means.meta["batch"].astype(str)
    colours = category_colors(weeks)
    fig = Figure(figsize=(11, 4.2))
    scatter_ax, strip_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
    for i, (week, colour) in enumerate(colours.items()):
        rows = (weeks == week).to_numpy()
        scatter_ax.scatter(xy[rows, 0], xy[rows, 1], s=30, color=colour, label=week)
        strip_ax.scatter(np.full(rows.sum(), i), xy[rows, 0], s=30, color=colour)
    explained = pca.explained_variance_ratio_
    scatter_ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    scatter_ax.set_ylabel(f"PC2 ({explained[1]:.0%})")
    scatter_ax.set_title("DMSO mean profile of each plate")
    scatter_ax.legend(fontsize=7, ncol=2)
    strip_ax.set_xticks(range(len(colours)), list(colours), rotation=45, fontsize=8)
    strip_ax.set_ylabel("PC1 of the plate's DMSO mean")
    strip_ax.set_title("Plates of one week sit together")
    fig.tight_layout()
    return fig
