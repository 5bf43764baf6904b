"""Gallery of augmented views: what the contrastive model is asked to treat as "the same cell"."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from matplotlib.figure import Figure

from cellclr_lib.augment import AugmentConfig, Augmenter

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


def single_operations(size: int) -> dict[str, AugmentConfig]:
    """Each augmentation on its own (everything else switched off), to see what each one does."""
    off = AugmentConfig(size=size, crop_scale=None, hflip_p=0.0, jitter_p=0.0, blur_p=0.0)
    return {
        "resized crop": replace(off, crop_scale=(0.08, 1.0)),
        "flips + 90° rotations": replace(off, hflip_p=0.5, vflip_p=0.5, rot90=True),
        "affine jitter": replace(off, affine_jitter=50 / 48),
        "elastic": replace(off, elastic_p=1.0, elastic_alpha=2.0),
        "per-channel intensity": replace(off, jitter_p=1.0, brightness=0.8, contrast=0.8),
        "Gaussian blur": replace(off, blur_p=1.0),
        "Gaussian noise": replace(off, noise_p=1.0, noise_std=(0.02, 0.06)),
    }


def operations_gallery(
    crop: torch.Tensor | np.ndarray, k: int = 4, seed: int = 0, panel_size: float = 1.4
) -> Figure:
    """One row per augmentation applied alone to the same cell: the original, then ``k`` random views."""
    single = torch.as_tensor(np.asarray(crop))[None]
    operations = single_operations(single.shape[-1])
    fig = Figure(figsize=(panel_size * (k + 1) + 1.6, panel_size * len(operations)), layout="constrained")
    axes = fig.subplots(len(operations), k + 1, squeeze=False)
    original = to_rgb(single.float() / 255 if single.dtype == torch.uint8 else single.float())[0]
    generator = torch.Generator().manual_seed(seed)
    for row, (name, config) in enumerate(operations.items()):
        views = to_rgb(Augmenter(config)(single.expand(k, -1, -1, -1), generator))
        for col, image in enumerate([original, *views]):
            axes[row, col].imshow(image, interpolation="nearest")
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
        axes[row, 0].set_ylabel(name, fontsize=9)
    axes[0, 0].set_title("original", fontsize=9)
    return fig
