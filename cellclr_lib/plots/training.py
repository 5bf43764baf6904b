"""Training figures: the SimCLR diagram, a similarity matrix, and the curves of a run's ``metrics.csv``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def chance_levels(batch_size: int) -> dict[str, float]:
    """NT-Xent loss and contrastive accuracy of an encoder that knows nothing, for a batch of N cells.

    Each view picks its partner among the 2N − 1 other views; with all similarities equal the softmax gives
    the partner probability 1/(2N − 1), so the loss is ln(2N − 1) and a guess is right 1/(2N − 1) of the time.
    """
    candidates = 2 * batch_size - 1
    return {"loss": float(np.log(candidates)), "accuracy": 1.0 / candidates}


def training_curves(metrics: pd.DataFrame, *, smooth: int = 1, batch_size: int | None = None) -> Figure:
    """Three panels against the optimiser step: NT-Xent loss, contrastive top-1 accuracy, learning rate.

    ``metrics`` is :func:`cellclr_lib.train.read_metrics`'s table. ``smooth > 1`` overlays a centred
    rolling mean over that many steps on the loss and accuracy (the raw values stay visible, faded): per-step
    values are noisy because every batch draws new views. With ``batch_size``, dashed lines mark chance
    (:func:`chance_levels`): a curve is only informative relative to where a know-nothing encoder would sit.
    """
    fig = Figure(figsize=(12, 3.2), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = [("loss", "NT-Xent loss"), ("accuracy", "contrastive top-1 accuracy"), ("lr", "learning rate")]
    for ax, (column, title) in zip(axes, panels, strict=True):
        noisy = smooth > 1 and column != "lr"
        ax.plot(metrics["step"], metrics[column], lw=0.8, alpha=0.35 if noisy else 1.0, color="C0")
        if noisy:
            rolled = metrics[column].rolling(smooth, center=True, min_periods=1).mean()
            ax.plot(metrics["step"], rolled, lw=1.5, color="C0", label=f"mean of {smooth} steps")
            ax.legend(frameon=False, fontsize="small")
        ax.set(title=title, xlabel="step")
        if batch_size and column in ("loss", "accuracy"):
            level = chance_levels(batch_size)[column]
            ax.axhline(level, color="0.4", ls="--", lw=1, label=f"chance ({level:.3g})")
            ax.legend(frameon=False, fontsize="small")
    axes[1].set_ylim(0, 1)
    if "epoch" in metrics and metrics["epoch"].nunique() > 1:
        ends = metrics.groupby("epoch")["step"].max().iloc[:-1]
        for ax in axes:
            for x in ends:
                ax.axvline(x, color="0.85", lw=0.6, zorder=0)
    return fig


def simclr_diagram() -> Figure:
    """SimCLR in one picture: a cell, two views, shared encoder f and head g, attraction and repulsion."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4)
    ax.set_axis_off()
    boxes = {
        "cell": (0.2, 1.6, "cell\nx"),
        "v1": (2.0, 2.7, "view x̃ᵢ"),
        "v2": (2.0, 0.5, "view x̃ⱼ"),
        "f1": (3.9, 2.7, "encoder f\n(ResNet)"),
        "f2": (3.9, 0.5, "encoder f\n(shared)"),
        "g1": (5.8, 2.7, "head g\n(MLP)"),
        "g2": (5.8, 0.5, "head g\n(shared)"),
        "z": (7.8, 1.6, "NT-Xent:\nzᵢ ↔ zⱼ close,\nother cells far"),
    }
    centre = {}
    for key, (x, y, text) in boxes.items():
        width = 1.9 if key == "z" else 1.4
        ax.add_patch(
            FancyBboxPatch((x, y), width, 0.9, boxstyle="round,pad=0.05", fc="#e8f0fb", ec="#35608f")
        )
        ax.text(x + width / 2, y + 0.45, text, ha="center", va="center", fontsize=9)
        centre[key] = (x, x + width, y + 0.45)
    for a, b, label in [
        ("cell", "v1", "t ~ T"),
        ("cell", "v2", "t′ ~ T"),
        ("v1", "f1", ""),
        ("v2", "f2", ""),
        ("f1", "g1", "h"),
        ("f2", "g2", "h"),
        ("g1", "z", "z"),
        ("g2", "z", "z"),
    ]:
        start, end = (centre[a][1], centre[a][2]), (centre[b][0], centre[b][2])
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#35608f"))
        if label:
            ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, label, ha="center", fontsize=8)
    ax.text(4.6, 3.85, "after training, h describes the cell; g is discarded", ha="center", fontsize=9)
    return fig


def similarity_heatmap(similarity: torch.Tensor | np.ndarray, positives: int | None = None) -> Figure:
    """Cosine similarities of 2N views; positives (view i and i + N) are outlined."""
    values = np.asarray(similarity, dtype=float)
    n = positives or len(values) // 2
    fig = Figure(figsize=(4.2, 3.6), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
    for i in range(len(values)):
        j = (i + n) % len(values)
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="black", lw=1.5))
    ax.set_xlabel("view k")
    ax.set_ylabel("view i")
    ax.set_title("cosine similarity sᵢₖ (positives outlined)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return fig


def epoch_metrics_figure(metrics: pd.DataFrame, epochs: pd.DataFrame) -> Figure:
    """The loss per epoch beside NSC and NSCB per epoch: is the pretext task also teaching mechanisms?

    ``metrics`` is :func:`cellclr_lib.train.read_metrics`'s table (its loss is averaged per epoch),
    ``epochs`` :func:`cellclr_lib.epoch_eval.read_epoch_metrics`'s.
    """
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    loss_ax, nsc_ax = fig.subplots(1, 2)
    loss = metrics.groupby("epoch")["loss"].mean()
    loss_ax.plot(loss.index, loss.to_numpy(), marker="o", color="C0")
    loss_ax.set(title="NT-Xent loss (mean over the epoch)", xlabel="epoch")
    for column, label, colour in (("nsc", "NSC", "C1"), ("nscb", "NSCB", "C2")):
        nsc_ax.plot(epochs["epoch"], 100 * epochs[column], marker="o", color=colour, label=label)
    nsc_ax.set(title="1-NN MoA matching of the evaluation cells", xlabel="epoch", ylabel="% of treatments")
    nsc_ax.set_ylim(0, 100)
    nsc_ax.legend(frameon=False)
    return fig
