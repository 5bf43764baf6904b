"""Figures of the data notebook: raw fields, illumination correction, detected nuclei, crops per MoA.

Colours follow the usual fluorescence convention for BBBC021's three stains: DAPI (DNA) blue, Tubulin green,
Actin red. Raw 16-bit fields are displayed between their 0.5 and 99.5 percentiles per channel (a display
stretch only: the numbers in the pipeline are untouched); uint8 crops are shown as stored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from skimage.segmentation import find_boundaries

from cellclr_lib.data.crops import crop_origins

CHANNEL_NAMES = ("DAPI", "Tubulin", "Actin")
#: RGB index each channel (DAPI, Tubulin, Actin) is drawn into.
_RGB_OF_CHANNEL = (2, 1, 0)


def stretch(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Scale each channel of ``(…, C, H, W)`` or a 2-D image to ``[0, 1]`` between two percentiles (display only)."""
    image = np.asarray(image, dtype=np.float32)
    axes = (-2, -1)
    lo = np.percentile(image, low, axis=axes, keepdims=True)
    hi = np.percentile(image, high, axis=axes, keepdims=True)
    return np.clip((image - lo) / np.maximum(hi - lo, 1e-6), 0, 1)


def rgb_composite(image: np.ndarray) -> np.ndarray:
    """``(…, 3, H, W)`` DAPI/Tubulin/Actin → ``(…, H, W, 3)`` RGB in ``[0, 1]`` (uint8 is divided by 255)."""
    image = np.asarray(image)
    values = (
        image.astype(np.float32) / 255 if image.dtype == np.uint8 else np.asarray(image, dtype=np.float32)
    )
    rgb = np.zeros_like(values)
    rgb[..., list(_RGB_OF_CHANNEL), :, :] = values
    return np.clip(np.moveaxis(rgb, -3, -1), 0, 1)


def field_channels(field: np.ndarray, *, title: str | None = None, panel_size: float = 3.2) -> Figure:
    """One raw ``(3, H, W)`` field: each channel in grey, then the RGB composite."""
    shown = stretch(field)
    fig = Figure(
        figsize=(4 * panel_size, panel_size * field.shape[1] / field.shape[2] + 0.4), layout="constrained"
    )
    axes = fig.subplots(1, 4)
    for ax, channel, name in zip(axes, shown, CHANNEL_NAMES, strict=False):
        ax.imshow(channel, cmap="gray")
        ax.set_title(name)
    axes[3].imshow(rgb_composite(shown))
    axes[3].set_title("composite (DAPI blue, Tubulin green, Actin red)", fontsize="small")
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def illumination_before_after(
    raw: np.ndarray,
    profile: np.ndarray,
    corrected: np.ndarray,
    *,
    channel: str = "DAPI",
    panel_size: float = 3.2,
) -> Figure:
    """Raw field, the plate's profile, the corrected field, and their column means (the shading at a glance).

    Raw and corrected share one display range, so the brighter centre of the raw field shows as a brighter
    centre; the last panel plots the mean of each column normalised to its own average.
    """
    lo, hi = np.percentile(raw, [0.5, 99.5])
    fig = Figure(figsize=(4 * panel_size, panel_size), layout="constrained")
    axes = fig.subplots(1, 4)
    axes[0].imshow(raw, cmap="gray", vmin=lo, vmax=hi)
    axes[0].set_title(f"{channel}: raw")
    shown = axes[1].imshow(profile, cmap="magma")
    axes[1].set_title("illumination profile (mean 1)")
    fig.colorbar(shown, ax=axes[1], fraction=0.046)
    axes[2].imshow(corrected, cmap="gray", vmin=lo, vmax=hi)
    axes[2].set_title("corrected = raw / profile")
    for ax in axes[:3]:
        ax.set_axis_off()
    for image, label in ((raw, "raw"), (corrected, "corrected"), (profile, "profile")):
        columns = np.asarray(image, dtype=np.float64).mean(axis=0)
        axes[3].plot(columns / columns.mean(), label=label)
    axes[3].set_xlabel("column (px)")
    axes[3].set_ylabel("column mean / field mean")
    axes[3].legend(fontsize="small")
    return fig


def background_shading_figure(raw: np.ndarray, corrected: np.ndarray, *, panel_size: float = 3.2) -> Figure:
    """Raw and corrected field with the display range on the background, and the background level per column.

    Shading is a few percent; at a display range that fits the nuclei it is invisible. Stretching the range
    over the background (up to the raw field's 60th percentile, nuclei saturate) shows it, and each column's
    30th percentile — the background, where nuclei cover less than 70 % of the column — plots it. Both fields
    share the range, so a flatter corrected field reads as a correction, not as a rescaling.
    """
    lo, hi = np.percentile(raw, [1, 60])
    fig = Figure(figsize=(3 * panel_size + 1, panel_size), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, image, title in ((axes[0], raw, "raw"), (axes[1], corrected, "corrected")):
        ax.imshow(image, cmap="magma", vmin=lo, vmax=hi)
        ax.set_title(f"{title}, background range")
        ax.set_axis_off()
    for image, label in ((raw, "raw"), (corrected, "corrected")):
        columns = np.percentile(np.asarray(image, dtype=np.float64), 30, axis=0)  # below the nuclei
        axes[2].plot(columns / columns.mean(), label=label)
    axes[2].set_xlabel("column (px)")
    axes[2].set_ylabel("background level / its mean")
    axes[2].legend(fontsize="small")
    return fig


def nuclei_overlay(
    dapi: np.ndarray,
    labels: np.ndarray,
    centroids_xy: np.ndarray,
    *,
    crop_size: int | None = 96,
    panel_size: float = 6.0,
) -> Figure:
    """DAPI with nucleus outlines, centroids and crop windows (dashed red: skipped at the field's border)."""
    fig = Figure(figsize=(panel_size, panel_size * dapi.shape[0] / dapi.shape[1] + 0.4), layout="constrained")
    ax = fig.subplots()
    rgb = np.repeat(stretch(dapi)[..., None], 3, axis=-1)
    rgb[find_boundaries(labels, mode="outer")] = (1.0, 0.85, 0.0)
    ax.imshow(rgb)
    ax.plot(centroids_xy[:, 0], centroids_xy[:, 1], "+", color="cyan", markersize=5)
    title = f"{len(centroids_xy)} nuclei"
    if crop_size:
        (top, left), inside = crop_origins(centroids_xy, crop_size, dapi.shape)
        for y, x, ok in zip(top, left, inside, strict=True):
            style = {"edgecolor": "lime", "linestyle": "-"} if ok else {"edgecolor": "red", "linestyle": "--"}
            ax.add_patch(
                Rectangle((x - 0.5, y - 0.5), crop_size, crop_size, fill=False, linewidth=0.6, **style)
            )
        title += (
            f", {int(inside.sum())} cropped ({crop_size} px), {int((~inside).sum())} skipped at the border"
        )
    ax.set_title(title, fontsize="small")
    ax.set_axis_off()
    return fig


def crop_gallery(
    crops: np.ndarray,
    cells: pd.DataFrame,
    *,
    by: str = "moa",
    per_group: int = 8,
    seed: int = 0,
    panel_size: float = 1.0,
) -> Figure:
    """A row of randomly chosen crops (RGB composites, as stored) for each value of ``cells[by]``."""
    groups = sorted(cells[by].dropna().unique(), key=str)
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(per_group * panel_size + 1.2, len(groups) * panel_size + 0.3), layout="constrained")
    axes = np.asarray(fig.subplots(len(groups), per_group, squeeze=False))
    for row, group in enumerate(groups):
        members = np.flatnonzero((cells[by] == group).to_numpy())
        chosen = np.sort(rng.choice(members, size=min(per_group, len(members)), replace=False))
        images = rgb_composite(np.asarray(crops[chosen]))
        for col, ax in enumerate(axes[row]):
            if col < len(images):
                ax.imshow(images[col])
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[row, 0].set_ylabel(str(group), rotation=0, ha="right", va="center", fontsize="small")
    return fig
