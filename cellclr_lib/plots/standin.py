"""Figures of the synthetic stand-in beside real BBBC021: crops, DMSO calibration, MoA signatures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def composite(crop: np.ndarray) -> np.ndarray:
    """RGB view of a ``(3, S, S)`` DAPI/Tubulin/Actin crop: actin red, tubulin green, DNA blue, each channel
    scaled to its own 99.5th percentile (as a microscopist would set each channel's display range)."""
    rgb = np.stack([crop[2], crop[1], crop[0]], axis=-1).astype(float)
    return np.clip(rgb / np.maximum(np.percentile(rgb, 99.5, axis=(0, 1)), 1e-6), 0, 1)


def crop_rows(rows: dict[str, np.ndarray], per_row: int = 8) -> Figure:
    """One row of crop composites per label (e.g. ``{"old stand-in": crops, "new stand-in": crops}``)."""
    fig, axes = plt.subplots(len(rows), per_row, figsize=(1.6 * per_row, 1.8 * len(rows)), squeeze=False)
    for ax_row, (label, crops) in zip(axes, rows.items(), strict=True):
        for k, ax in enumerate(ax_row):
            if k < len(crops):
                ax.imshow(composite(crops[k]))
            ax.set_xticks([])
            ax.set_yticks([])
        ax_row[0].set_ylabel(label, fontsize=9)
    fig.tight_layout()
    return fig


def dmso_calibration(comparison: pd.DataFrame) -> Figure:
    """Real DMSO median and interquartile range (bar) beside the stand-in's median (dot), relative to the real
    median, per feature (``comparison`` from :func:`cellclr_lib.data.standin_check.dmso_comparison`)."""
    scale = comparison["real_median"]
    y = np.arange(len(comparison))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(comparison) + 1))
    ax.hlines(
        y, comparison["real_q25"] / scale, comparison["real_q75"] / scale, lw=6, color="0.7", label="real IQR"
    )
    ax.plot(np.ones(len(y)), y, "|", color="k", ms=12, label="real median")
    ax.plot(comparison["standin_median"] / scale, y, "o", color="C3", label="stand-in median")
    ax.axvspan(0.8, 1.2, color="C0", alpha=0.08, label="±20 %")
    ax.set_yticks(y, comparison.index)
    ax.set_xlabel("DMSO well median / real DMSO median")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))  # beside the rows, never over them
    fig.tight_layout()
    return fig


def signature_maps(real: pd.DataFrame, standin: pd.DataFrame, correlations: pd.Series) -> Figure:
    """Real and stand-in MoA signatures (MoAs × features, in DMSO SDs) as two heat maps; r per MoA on the right."""
    moas, feats = standin.index, list(standin.columns)
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.35 * len(moas) + 2.5), sharey=True)
    for ax, (title, table) in zip(
        axes, (("real (Ljosa et al. 2013)", real), ("stand-in", standin)), strict=True
    ):
        values = table.loc[moas, feats].to_numpy(dtype=float)
        limit = np.percentile(np.abs(values), 95)
        image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(len(feats)), feats, rotation=90, fontsize=7)
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.6, label="shift from plate DMSO (DMSO SDs)")
    axes[0].set_yticks(range(len(moas)), [f"{m}  (r = {correlations[m]:.2f})" for m in moas], fontsize=8)
    fig.tight_layout()
    return fig


def hardness_bars(table: pd.DataFrame) -> Figure:
    """NSC and NSCB per row of :func:`cellclr_lib.data.standin_check.hardness`, without and with feature
    selection: is the stand-in as hard as real BBBC021 for the same kind of features?"""
    panels = (
        ("all features", {"NSC": "nsc", "NSCB": "nscb"}),
        ("after feature selection", {"NSC": "nsc_selected", "NSCB": "nscb_selected"}),
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.55 * len(table) + 1.8), sharey=True, sharex=True)
    for ax, (title, columns) in zip(axes, panels, strict=True):
        _score_bars(ax, table, columns)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("1-NN MoA accuracy")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def gap_stages_bars(table: pd.DataFrame) -> Figure:
    """NSC, NSCB and mAP per stage of :func:`cellclr_lib.data.standin_check.gap_stages`, top to bottom from
    the real profiles to the stand-in's hand-engineered features: where along the way the accuracy is lost."""
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(table) + 1.6))
    _score_bars(ax, table, {"NSC": "nsc", "NSCB": "nscb", "mAP": "map"})
    ax.set_xlabel("NSC / NSCB (1-NN MoA accuracy), mAP (MoA consistency)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _score_bars(ax: plt.Axes, table: pd.DataFrame, columns: dict[str, str]) -> None:
    """One group of horizontal bars per row of ``table`` (one bar per column, its value written beside it)."""
    height = 0.8 / len(columns)
    y = np.arange(len(table))
    for k, (label, column) in enumerate(columns.items()):
        offsets = y + (k - (len(columns) - 1) / 2) * height
        values = table[column].astype(float).to_numpy()
        ax.barh(offsets, values, height=height * 0.95, color=f"C{k}", label=label)
        for offset, value in zip(offsets, values, strict=True):
            if np.isfinite(value):
                ax.text(value + 0.01, offset, f"{value:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.1)
    ax.set_yticks(y, [label.replace(": ", ":\n") for label in table.index], fontsize=8)
    if not ax.yaxis_inverted():  # axes sharing y are inverted together
        ax.invert_yaxis()
