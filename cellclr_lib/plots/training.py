"""Training curves from a run's ``metrics.csv``: loss, contrastive accuracy and learning rate per step."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def training_curves(metrics: pd.DataFrame, *, smooth: int = 1) -> Figure:
    """Three panels against the optimiser step: NT-Xent loss, contrastive top-1 accuracy, learning rate.

    ``metrics`` is :func:`cellclr_lib.train.read_metrics`'s table. ``smooth > 1`` overlays a centred
    rolling mean over that many steps on the loss and accuracy (the raw values stay visible, faded): per-step
    values are noisy because every batch draws new views.
    """
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), constrained_layout=True)
    panels = [("loss", "NT-Xent loss"), ("accuracy", "contrastive top-1 accuracy"), ("lr", "learning rate")]
    for ax, (column, title) in zip(axes, panels, strict=True):
        noisy = smooth > 1 and column != "lr"
        ax.plot(metrics["step"], metrics[column], lw=0.8, alpha=0.35 if noisy else 1.0, color="C0")
        if noisy:
            rolled = metrics[column].rolling(smooth, center=True, min_periods=1).mean()
            ax.plot(metrics["step"], rolled, lw=1.5, color="C0", label=f"mean of {smooth} steps")
            ax.legend(frameon=False, fontsize="small")
        ax.set(title=title, xlabel="step")
    axes[1].set_ylim(0, 1)
    if "epoch" in metrics and metrics["epoch"].nunique() > 1:
        ends = metrics.groupby("epoch")["step"].max().iloc[:-1]
        for ax in axes:
            for x in ends:
                ax.axvline(x, color="0.85", lw=0.6, zorder=0)
    return fig
