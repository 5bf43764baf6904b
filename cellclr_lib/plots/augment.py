"""Gallery of augmented views: what the contrastive model is asked to treat as "the same cell"."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from cellclr_lib.augment import Augmenter

# Channel order of the crops is (DAPI, Tubulin, Actin); RGB index each one is drawn into.
_RGB_OF_CHANNEL = (2, 1, 0)


def to_rgb(images: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` DAPI/Tubulin/Actin in ``[0, 1]`` → ``(N, H, W, 3)`` RGB: DAPI blue, Tubulin green, Actin red."""
    rgb = images[:, list(_RGB_OF_CHANNEL)] if images.shape[1] == 3 else images[:, :1].expand(-1, 3, -1, -1)
    return rgb.permute(0, 2, 3, 1).clamp(0, 1).cpu().numpy()


def augmentation_gallery(
    crops: torch.Tensor | np.ndarray, augmenter: Augmenter, k: int = 5, seed: int = 0, panel_size: float = 1.6
) -> Figure:
    """One row per cell: the original crop, then ``k`` augmented views.

    Channels are shown as an RGB composite in the usual fluorescence colours — DAPI (nuclei) blue, Tubulin
    (microtubules) green, Actin red — with intensities as they are (``[0, 1]``, no per-image rescaling), so
    the per-channel intensity jitter shows up as colour shifts: a redder view means Actin was brightened
    relative to the other stains. Views use a ``torch.Generator`` seeded with ``seed``, so the figure is
    reproducible.

    Args:
        crops: ``(n, 3, H, W)`` uint8 or float in ``[0, 1]``; every row of the gallery is one crop.
        augmenter: the pipeline to show (e.g. ``Augmenter("microscopy")``).
        k: views per cell.
        seed: seed of the views.
        panel_size: side of one panel in inches.
    """
    batch = torch.as_tensor(np.asarray(crops))
    originals = batch.float() / 255 if batch.dtype == torch.uint8 else batch.float()
    generator = torch.Generator().manual_seed(seed)
    views = [augmenter(batch, generator) for _ in range(k)]
    n = len(batch)
    fig = Figure(figsize=(panel_size * (k + 1), panel_size * n), layout="constrained")
    axes = fig.subplots(n, k + 1, squeeze=False)
    columns = [to_rgb(originals)] + [to_rgb(v) for v in views]
    for col, images in enumerate(columns):
        for row in range(n):
            ax = axes[row, col]
            ax.imshow(images[row], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, col].set_title("original" if col == 0 else f"view {col}", fontsize=9)
    fig.suptitle("Augmented views (DAPI blue, Tubulin green, Actin red)", fontsize=10)
    return fig
