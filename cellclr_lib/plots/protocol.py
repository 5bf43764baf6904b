"""Figures that explain the evaluation on small examples: who may be whose neighbour, what post-processing does.

Notebook 4 reproduces NSC and NSCB by hand on a handful of treatments and shows post-processing on a 2-D toy;
these figures draw those two examples. They take plain arrays, so they show the notebook's own computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from cellclr_lib.plots.palette import category_colors


def eligibility_figure(
    meta: pd.DataFrame, eligible: dict[str, np.ndarray], nearest: dict[str, np.ndarray]
) -> Figure:
    """One panel per protocol: which candidates (columns) each query (rows) may match, and the one it did.

    White cells are eligible candidates, grey ones excluded; a green circle marks a nearest neighbour with the
    query's MoA, a red cross one with another MoA. ``nearest`` holds -1 where a query has no candidate.
    """
    labels = [f"{r.compound} {r.concentration:g} · {r.batches} · {r.moa}" for r in meta.itertuples()]
    moas = meta["moa"].to_numpy()
    n = len(meta)
    fig = Figure(figsize=(4.2 * len(eligible) + 3.5, 0.42 * n + 1.6), layout="constrained")
    axes = fig.subplots(1, len(eligible), sharey=True, squeeze=False)[0]
    for ax, (protocol, mask) in zip(axes, eligible.items(), strict=True):
        ax.imshow(np.where(mask, 1.0, 0.75), cmap="gray", vmin=0, vmax=1)
        for query, hit in enumerate(nearest[protocol]):
            if hit >= 0:
                same = moas[hit] == moas[query]
                ax.plot(
                    hit,
                    query,
                    "o" if same else "x",
                    color="green" if same else "red",
                    ms=9,
                    mew=2,
                    mfc="none",
                )
        ax.set_xticks(range(n), range(n), fontsize=8)
        ax.set_yticks(range(n), [f"{i}: {label}" for i, label in enumerate(labels)], fontsize=8)
        ax.set_xticks(np.arange(n + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="0.55", lw=0.5)
        ax.tick_params(which="minor", length=0)
        ax.set_xlabel("candidate treatment")
        ax.set_title(f"{protocol.upper()}: eligible (white) and nearest", fontsize=10)
    return fig


def _covariance_ellipse(points: np.ndarray, color: str) -> Ellipse:
    """The 2-standard-deviation ellipse of a 2-D point cloud's covariance."""
    values, vectors = np.linalg.eigh(np.cov(points, rowvar=False))
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    width, height = 4 * np.sqrt(np.maximum(values[::-1], 0))
    return Ellipse(points.mean(axis=0), width, height, angle=angle, fill=False, color=color, lw=1.5)


def normalization_toy_figure(panels: dict[str, np.ndarray], meta: pd.DataFrame) -> Figure:
    """2-D profiles after each post-processing (one panel each), DMSO wells as dots with one ellipse per week.

    Treated wells (``is_control`` false) are drawn as triangles in their week's colour, so a reader sees
    whether a transform moves the treatments along with their week's controls.
    """
    weeks = meta["batch"].astype(str).to_numpy()
    control = meta["is_control"].to_numpy(dtype=bool)
    colors = category_colors(weeks)
    fig = Figure(figsize=(3.6 * len(panels), 3.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, xy) in zip(axes, panels.items(), strict=True):
        for week, color in colors.items():
            rows = weeks == week
            ax.scatter(*xy[rows & control].T, s=8, color=color, alpha=0.5, label=f"{week} DMSO")
            ax.scatter(*xy[rows & ~control].T, s=40, marker="^", color=color, edgecolor="black", lw=0.5)
            ax.add_patch(_covariance_ellipse(xy[rows & control], color))
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal", adjustable="datalim")
    axes[0].legend(fontsize=7, frameon=False, loc="best")
    return fig
