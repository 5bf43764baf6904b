"""Crops of any channel set: one grey panel per channel, and a colour composite of the channels you choose.

BBBC021's figures can assume three stains drawn as blue, green and red; a Cell Painting store has five (DNA,
ER, RNA, AGP, Mito) and a user's plates have their own. Here the channel names come from the store, each
channel is shown on its own (grey: nothing is hidden), and up to six chosen channels are added into one RGB
composite, each in its own colour — so no figure depends on the number or the order of the stains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

#: composite colours in the order the chosen channels are given: blue, green, red, magenta, yellow, cyan.
COMPOSITE_COLOURS = ((0, 0, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 0), (0, 1, 1))


def composite(crops: np.ndarray, channels: Sequence[str], chosen: Sequence[str]) -> np.ndarray:
    """``(n, C, S, S)`` uint8 crops → ``(n, S, S, 3)`` RGB in ``[0, 1]``: the ``chosen`` channels added, each
    in its colour of :data:`COMPOSITE_COLOURS`, clipped to 1."""
    if not 1 <= len(chosen) <= len(COMPOSITE_COLOURS):
        raise ValueError(f"choose 1 to {len(COMPOSITE_COLOURS)} channels for a composite, got {len(chosen)}")
    unknown = [c for c in chosen if c not in channels]
    if unknown:
        raise ValueError(f"channel(s) {', '.join(unknown)} not among {', '.join(channels)}")
    images = np.asarray(crops, dtype=np.float32) / 255.0
    rgb = np.zeros((len(images), *images.shape[2:], 3), dtype=np.float32)
    for name, colour in zip(chosen, COMPOSITE_COLOURS, strict=False):
        rgb += images[:, list(channels).index(name), :, :, None] * np.asarray(colour, dtype=np.float32)
    return np.clip(rgb, 0, 1)


def channel_panels(
    crops: np.ndarray, channels: Sequence[str], chosen: Sequence[str] | None = None, *, panel: float = 1.3
) -> Figure:
    """One row per crop: every channel in grey (titled with its name), then the composite of ``chosen``
    (default: the first three channels)."""
    chosen = list(chosen or channels[:3])
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[1] != len(channels):
        raise ValueError(f"expected crops (n, {len(channels)}, S, S) for channels {', '.join(channels)}")
    rgb = composite(crops, channels, chosen)
    n_cols = len(channels) + 1
    fig = Figure(figsize=(panel * n_cols, panel * len(crops)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(crops), n_cols, squeeze=False))
    for row, crop in enumerate(crops):
        for col in range(len(channels)):
            axes[row, col].imshow(crop[col], cmap="gray", vmin=0, vmax=255)
        axes[row, -1].imshow(rgb[row])
    for col, name in enumerate([*channels, " + ".join(chosen)]):
        axes[0, col].set_title(name, fontsize="small")
    for ax in axes.ravel():
        ax.set_axis_off()
    return fig
