# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Augmentations: what "the same cell" means
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/cellclr/cellclr/blob/main/notebooks/02_augmentations.ipynb)
#
# ## Overview
# SimCLR never sees a label. It learns by recognising two randomly altered *views* of one cell among views of
# other cells — so the augmentations **are** the supervision: whatever they change, the representation learns
# to ignore. In this notebook we
#
# 1. look at each augmentation on its own, and decide which ones make sense for fluorescence microscopy;
# 2. compare the three presets — the paper's two recipes and our microscopy recipe;
# 3. measure why augmentations must run batched, on the device, rather than per image with PIL.
#
# ## Prerequisites
# | Concept | Importance | Notes |
# | --- | --- | --- |
# | [Notebook 1: data preparation](01_data_preparation) | Necessary | makes the crop store used here |
# | PyTorch tensors | Helpful | shapes `(B, C, H, W)` |
# | SimCLR ([Chen et al., 2020](https://arxiv.org/abs/2002.05709)) | Helpful | explained in notebook 3 |
#
# **Time to learn**: 15 minutes.

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # Colab: install the library (the rest of the notebook is the same)
    import subprocess

    release = "https://github.com/cellclr/cellclr@v0.1.0"  # the library's tag this notebook was written for
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"cellclr @ git+{release}"], check=True)

# %% tags=["parameters"]
dataset = "synthetic"  # "synthetic" (the stand-in) or "bbbc021" (the real data, downloaded and prepared)
data_dir = "../data/synthetic-small"  # the raw dataset (BBBC021 layout)
run_dir = "../runs/quick"  # where notebook 1 wrote the crop store (results go here too)
image_size = 96  # side of the augmented views (the paper: 96 px, CI: 64 px)
n_cells = 4  # cells shown in the galleries
bench_images = 256  # crops timed in the speed comparison
synthetic_preset = "small"  # stand-in made here if missing: "tiny" (CI) or "small" (the book)
crop_size = 96  # crop side of a crop store made here if missing (as notebook 1)
workers = 2  # processes for preparation when the crop store is made here
seed = 0

# %%
# %matplotlib inline
from pathlib import Path

import pandas as pd
import torch
from IPython.display import Markdown, display

from cellclr_lib.augment import PRESETS, Augmenter, preset, reference_transform
from cellclr_lib.data.source import dataset_banner
from cellclr_lib.data.store import CropStore
from cellclr_lib.plots.augment import augmentation_gallery, operations_gallery
from cellclr_lib.prerequisites import ensure_crops, ensure_dataset, prerequisites_note
from cellclr_lib.results import record_metrics
from cellclr_lib.timing import best_seconds

run_dir = Path(run_dir)

# %% [markdown]
# ## Inputs
# This notebook reads what notebook 1 made: the crop store.
# Opened alone — on Colab, or with an empty run folder — the next cell makes whatever is missing with the
# library's own functions, and says what it found or made.

# %%
notes = [
    ensure_dataset(dataset, data_dir, preset=synthetic_preset, seed=seed, workers=workers),
    ensure_crops(data_dir, run_dir, crop_size=crop_size, workers=workers),
]
display(Markdown(dataset_banner(data_dir)), Markdown(prerequisites_note(notes)))

# %% [markdown]
# ## The crops
# We take a few cells from the crop store that notebook 1 built: each crop is a `3 × S × S` uint8 array,
# channels DAPI (DNA), β-tubulin and F-actin, centred on a nucleus. In every figure DAPI is blue, tubulin green
# and actin red.

# %%
store = CropStore.open(run_dir / "crops")
rng = torch.Generator().manual_seed(seed)
picked = torch.randperm(len(store), generator=rng)[:n_cells].sort().values.numpy()
crops = torch.from_numpy(store.crops[picked])
store.cells.iloc[picked][["plate", "well", "compound", "concentration", "moa"]]

# %% [markdown]
# ## One augmentation at a time
# Each row applies a single operation to the same cell. Ask of each: *does the microscope (or the biology)
# produce this variation between two images of cells that have the same phenotype?* If yes, the model should
# ignore it, and the augmentation belongs in the recipe.
#
# - **Resized crop** — the strongest SimCLR augmentation in natural images ([Chen et al., 2020](https://arxiv.org/abs/2002.05709)). For a crop
#   centred on one nucleus, a tiny crop (8 % of the area) may contain only cytoplasm; we keep it, milder.
# - **Flips and 90° rotations** — cells have no preferred orientation on the plate. The paper tried rotations
#   and commented them out; they are free, exact and natural here.
# - **Affine jitter / elastic** — cells deform; mild shape changes are plausible, strong ones change the
#   phenotype we want to measure (cell shape *is* a readout).
# - **Per-channel intensity** — stain intensity varies between plates and weeks, i.e. exactly the batch effect
#   that NSCB punishes. Learning to ignore it is the point. Hue and saturation do *not* apply: they mix stains.
# - **Blur and noise** — focus and camera noise vary from field to field.

# %% mystnb={"image": {"alt": "Grid of one cell's crop: each row applies one augmentation (resized crop, flips and rotations, affine, elastic, intensity, blur, noise) four times."}, "figure": {"caption": "One augmentation per row, four random draws each, on the same cell."}}
operations_gallery(crops[0], k=4, seed=seed)

# %% [markdown]
# ## Three recipes
# `paper_early` is the SimCLR default the authors started from; `paper_final` their last code (with an affine
# and elastic step); `microscopy` is our recommendation: milder crops, both flips, rotations, per-channel
# jitter, blur and a little noise. Each row is one cell, each column one random view of it.

# %% mystnb={"image": {"alt": "Grid of augmented views: one row per cell, five random views per row, for one augmentation preset."}, "figure": {"caption": "Five random views of each cell under the preset named above the figure."}}
for name in PRESETS:
    display(Markdown(f"### `{name}`"))
    display(augmentation_gallery(crops, Augmenter(preset(name, image_size)), k=5, seed=seed))

# %% [markdown]
# ## Why batched, on the device
# The paper's code augments one image at a time with PIL/torchvision on CPU worker processes. On a GPU that
# trains a ResNet on thousands of crops a second, the workers cannot keep up. Here every operation acts on a
# whole batch at once, each sample still drawing its own random parameters, and the geometry (crop, flips,
# rotations, elastic) is one resampling. We time both on the same crops in this process.

# %%
bench = torch.tensor(
    store.crops[: min(bench_images, len(store))]
)  # a copy: the memory-mapped store is read-only
timings = []
for name in PRESETS:
    per_image, batched = reference_transform(name, image_size), Augmenter(name, size=image_size)
    seconds = best_seconds(
        {
            "per image (torchvision)": lambda t=per_image: [t(c) for c in bench],
            "batched (cellclr)": lambda a=batched: a(bench),
        },
        repeats=3,
    )
    for pipeline, s in seconds.items():
        timings.append({"preset": name, "pipeline": pipeline, "images/s": len(bench) / s})
speed = pd.DataFrame(timings).pivot(index="preset", columns="pipeline", values="images/s")
speed["speed-up"] = speed["batched (cellclr)"] / speed["per image (torchvision)"]
speed.round(1)

# %% mystnb={"image": {"alt": "Horizontal bar chart on a log scale: images per second of the per-image torchvision pipeline and of the batched cellclr pipeline, for each preset."}, "figure": {"caption": "Augmentation throughput on this machine's CPU threads, per preset (log scale)."}}
ax = speed[["per image (torchvision)", "batched (cellclr)"]].plot.barh(logx=True, figsize=(7, 2.8))
_ = ax.set_xlabel(f"images per second ({torch.get_num_threads()} CPU threads, log scale)")

# %% tags=["remove-cell"]
record_metrics(
    run_dir, "02_augmentations", augment_speedup={k: float(v) for k, v in speed["speed-up"].items()}
)

# %% [markdown]
# On a GPU the gap widens: the batched pipeline runs where the batch already is, while per-image transforms
# stay on the CPU. (`benchmarks/bench_augment.py` runs the same comparison from the command line.)

# %% [markdown]
# ## Exercises
# 1. **How different are two views?** Draw two `microscopy` views of the same cells (`Augmenter(preset(
#    "microscopy", image_size))(crops)` twice) and compute the mean absolute pixel difference between the two
#    views of each cell. Compare it with the difference between views of two *different* cells. A good
#    recipe makes the first clearly smaller than the second — otherwise the task cannot be solved.
# 2. **Which recipe is harshest?** Repeat for `paper_early` and `paper_final`.
#
# A solution to both (expand it after trying):


# %% tags=["hide-input"]
def view_distances(name: str, generator_seed: int) -> dict[str, float]:
    """Mean |a − b| between two views of the same cell, and between views of different cells (views in 0–1)."""
    augment, generator = Augmenter(preset(name, image_size)), torch.Generator().manual_seed(generator_seed)
    first, second = augment(crops, generator), augment(crops, generator)
    same = (first - second).abs().mean().item()
    other = (first - second.roll(1, dims=0)).abs().mean().item()
    return {"same cell": same, "different cells": other}


pd.DataFrame({name: view_distances(name, seed) for name in PRESETS}).T.round(3)

# %% [markdown]
# ## Summary
# - Augmentations define what the model must ignore; for cells that means orientation, stain intensity per
#   channel, focus and noise — not cell shape or texture, which are the phenotype.
# - Hue and saturation jitter, the natural-image defaults, make no sense for independent fluorescence stains.
# - Batched, on-device augmentation is several times faster than per-image transforms even on a CPU.
#
# ## What next
# [Notebook 3](03_contrastive_training) trains a SimCLR encoder with these views.
