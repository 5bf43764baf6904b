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
# # 3. Contrastive training: SimCLR on single cells
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/cellclr/cellclr/blob/main/notebooks/03_contrastive_training.ipynb)
#
# ## Overview
# SimCLR ([Chen et al., 2020](https://arxiv.org/abs/2002.05709)) learns a representation without labels: two random views of the same cell should
# map close together, views of different cells far apart. [Perakis et al. (2021)](https://arxiv.org/abs/2103.16670) applied it to BBBC021 crops.
# In this notebook we
#
# 1. draw the idea, then write its loss — NT-Xent — and compute it by hand on a toy example;
# 2. train a ResNet encoder on the crop store, with a progress bar, and plot loss and accuracy;
# 3. read the curves against chance, and see what this run cost and what the `full` profile would cost;
# 4. note what changes on a GPU: mixed precision, batch size, several GPUs with `torchrun`, Colab.
#
# ## Prerequisites
# | Concept | Importance | Notes |
# | --- | --- | --- |
# | [Notebook 2: augmentations](02_augmentations) | Necessary | the views |
# | ResNets, training loops in PyTorch | Necessary | |
# | Softmax, cross-entropy | Necessary | the loss is a cross-entropy |
#
# **Time to learn**: 30 minutes.

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # Colab: install the library (the rest of the notebook is the same)
    import subprocess

    release = "https://github.com/cellclr/cellclr@v0.1.0"  # the library's tag this notebook was written for
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"cellclr @ git+{release}"], check=True)

# %% tags=["parameters"]
dataset = "synthetic"  # "synthetic" (the stand-in) or "bbbc021"
data_dir = "../data/synthetic-small"
run_dir = "../runs/quick"  # reads run_dir/crops, writes run_dir/simclr
arch = "resnet18"  # the paper: resnet50 (ImageNet-initialised)
image_size = 64  # side of the augmented views (the paper: 96)
augment_preset = "microscopy"  # "paper_early", "paper_final" or "microscopy"
epochs = 3
batch_size = 128  # the paper: 256 (more negatives usually help)
lr = 3e-4  # Adam, as in the paper
temperature = 0.1
max_cells = None  # train on a random subset of this many cells (None: all)
sampling = "random"  # "random", or "plate": every batch from one plate (batch-aware negatives)
device = "auto"  # "auto": CUDA when available, else CPU
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

from cellclr_lib.data.source import dataset_banner
from cellclr_lib.epoch_eval import read_epoch_metrics
from cellclr_lib.losses import NTXentLoss
from cellclr_lib.plots.training import (
    chance_levels,
    epoch_metrics_figure,
    simclr_diagram,
    similarity_heatmap,
    training_curves,
)
from cellclr_lib.prerequisites import ensure_crops, ensure_dataset, prerequisites_note
from cellclr_lib.results import FULL_PROFILE_EPOCHS, record_metrics
from cellclr_lib.train import TrainConfig, read_metrics, train

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
# ## The idea
# Each cell in a batch of N is augmented twice. Both views pass through the same encoder *f* (a ResNet) to a
# representation **h**, and a small projection head *g* maps h to **z**. The loss pulls the two z of one cell
# together and pushes them away from the 2N − 2 views of the other cells. After training, the head is thrown
# away and **h** describes the cell.

# %% mystnb={"image": {"alt": "Diagram: a cell is augmented twice; both views go through the same encoder f to h and the same head g to z; the loss pulls the two z together and pushes other cells away."}, "figure": {"caption": "SimCLR: two views, a shared encoder f and projection head g, and the NT-Xent loss on z."}}
simclr_diagram()

# %% [markdown]
# ## The loss, by hand
# With cosine similarities $s_{ij} = z_i^\top z_j / (\lVert z_i\rVert \lVert z_j\rVert)$ and temperature τ,
# the loss of view *i* whose partner is *j* is a cross-entropy over the other 2N − 1 views:
#
# $$\ell_{i} = -\log \frac{\exp(s_{ij}/\tau)}{\sum_{k \neq i} \exp(s_{ik}/\tau)}$$
#
# averaged over all 2N views. A small τ sharpens the softmax, so hard negatives — similar-looking cells of
# other treatments — weigh more. Below: 4 cells, 8 views, in 2-D so we can reason about them. Views 0–3 and
# 4–7 are the two augmentations; view *i* and view *i* + 4 are positives.

# %% mystnb={"image": {"alt": "8 by 8 heat map of cosine similarities between the toy views, red for similar and blue for opposite, with each view's partner outlined."}, "figure": {"caption": "Cosine similarities of the 8 toy views; outlined cells are the positives."}}
toy = torch.tensor([[1.0, 0.1], [0.1, 1.0], [-1.0, 0.2], [0.0, -1.0]])
views = torch.cat([toy + 0.1 * torch.randn(4, 2, generator=torch.Generator().manual_seed(seed)), toy])
loss_fn = NTXentLoss(temperature=0.5)
by_hand = []
z = torch.nn.functional.normalize(views, dim=1)
similarity = z @ z.T
for i in range(8):
    partner = (i + 4) % 8
    others = [k for k in range(8) if k != i]
    by_hand.append(-(similarity[i, partner] / 0.5 - torch.logsumexp(similarity[i, others] / 0.5, dim=0)))
library_loss, library_accuracy = loss_fn(views[:4], views[4:])
print(f"by hand: {torch.stack(by_hand).mean():.4f}   library: {library_loss.item():.4f}")
similarity_heatmap(similarity)

# %% [markdown]
# **False negatives.** Every other cell in the batch counts as a negative — including cells of the same
# treatment, or of another compound with the same MoA. The loss pushes them apart although biologically they
# should be close. With 12 MoAs and random batches, about one negative in twelve shares the anchor's MoA, and
# more in a batch drawn from one plate. SimCLR tolerates this because a few false negatives barely move a
# softmax over hundreds of candidates; methods such as SupCon (below) use labels to remove them.
#
# ## Training
# `train` is the function `cellclr train` runs. It reads batches of uint8 crops straight from the memory-mapped
# store, augments them **on the device** (notebook 2), and logs loss, learning rate, images/s and the
# *contrastive accuracy* — how often a view's most similar other view is its partner — to `metrics.csv`.
# Checkpoints carry everything (model, optimiser, schedule, random states), so `resume=True` continues
# exactly where a run stopped.
#
# **Why 64-px views and the standard stem.** A ResNet's stem (a 7×7 stride-2 convolution and a max-pool)
# shrinks the input 4× before the first block, so a 64-px view reaches the last stage as a 2×2 grid and fine
# texture is averaged away early. The CIFAR variant of the stem (`small_input=True`: 3×3, stride 1, no
# max-pool) keeps 8×8 there, at 16× the activations; measured on 2 CPU cores, ResNet-18 trains at 176
# images/s with the standard stem and 10 with the CIFAR one (see `cellclr_lib.models`). On a CPU we keep the
# standard stem and 64 px; the paper used 96 px and ImageNet weights, whose learned stem would be thrown away
# by replacing it. On a GPU, try `small_input=True` or `image_size=96`.

# %%
config = TrainConfig(
    # absolute paths: a run resumes only with identical settings, whatever the working directory
    store=str((run_dir / "crops").resolve()),
    out=str((run_dir / "simclr").resolve()),
    arch=arch,
    size=image_size,
    augment=augment_preset,
    epochs=epochs,
    batch_size=batch_size,
    lr=lr,
    temperature=temperature,
    sampling=sampling,
    max_cells=max_cells,
    device=device,
    seed=seed,
    resume=True,
)
run = train(config)
metrics = read_metrics(run)
metrics.tail().round({"loss": 3, "accuracy": 3, "lr": 6, "images_per_s": 1, "elapsed_s": 1})

# %% [markdown]
# ## Reading the curves
# Dashed lines mark **chance**: an encoder that maps every view to the same point gives every candidate the
# same similarity, so a view finds its partner with probability 1/(2N − 1) and the loss is ln(2N − 1). A run
# is learning while the loss falls below its line and the accuracy rises above its own. Contrastive accuracy
# is a proxy, not the goal: it says views are recognisable, not that MoAs are separated — notebook 4 measures
# that. The learning rate warms up linearly, then decays on a cosine.

# %% mystnb={"image": {"alt": "Three line plots against the training step: NT-Xent loss falling below a dashed chance line, contrastive accuracy rising above a dashed chance line near zero, and the learning rate warming up then decaying."}, "figure": {"caption": "Training curves of this run. Dashed: chance, ln(2N \u2212 1) for the loss and 1/(2N \u2212 1) for the accuracy, N the batch size."}}
training_curves(metrics, batch_size=batch_size)

# %%
chance = chance_levels(batch_size)
display(
    Markdown(
        f"After {int(metrics['step'].iloc[-1])} steps the loss is {metrics['loss'].tail(5).mean():.2f} against "
        f"a chance level of {chance['loss']:.2f}, and the contrastive accuracy "
        f"{metrics['accuracy'].tail(5).mean():.1%} against {chance['accuracy']:.2%}."
    )
)

# %% [markdown]
# ## Is it learning mechanisms of action?
# The loss only says how well the network tells a cell's two views apart from other cells. After every epoch
# `train` also embeds a fixed set of up to 2,000 cells (`eval_cells`) with the current encoder and scores
# them like the benchmark — well profiles, treatment profiles, nearest neighbour of another compound (NSC)
# and of another compound in another batch (NSCB) — in `epoch_metrics.csv`. It costs a few seconds per
# epoch on a CPU; with fewer cells per well than notebook 4 uses, read it as a trend, not as the result.

# %% mystnb={"image": {"alt": "Two line plots against the epoch: the NT-Xent loss averaged over each epoch, and NSC and NSCB of the evaluation cells in percent of treatments."}, "figure": {"caption": "The loss per epoch beside NSC and NSCB of a fixed set of evaluation cells, scored after every epoch."}}
epoch_scores = read_epoch_metrics(run)
epoch_metrics_figure(metrics, epoch_scores)

# %%
if epoch_scores.empty:
    print("no per-epoch evaluation: eval_cells=0, or a store without MoA labels")
else:
    first, last = epoch_scores.iloc[0], epoch_scores.iloc[-1]
    trend = "rose" if last["nsc"] > first["nsc"] else "did not rise"
    display(
        Markdown(
            f"While the loss fell from {metrics['loss'].iloc[0]:.2f} to {metrics['loss'].tail(5).mean():.2f}, "
            f"NSC on the evaluation cells {trend}: {first['nsc']:.0%} after epoch 1, {last['nsc']:.0%} after "
            f"epoch {int(last['epoch'])} (NSCB {first['nscb']:.0%} → {last['nscb']:.0%}). A falling loss with a "
            "flat NSC means the network is learning invariances the benchmark does not reward; a gap between "
            "NSC and NSCB that widens means it is learning batch (week) effects."
        )
    )

# %% tags=["remove-cell"]
record_metrics(
    run_dir,
    "03_contrastive_training",
    first_loss=float(metrics["loss"].iloc[0]),
    final_loss=float(metrics["loss"].tail(5).mean()),
    final_accuracy=float(metrics["accuracy"].tail(5).mean()),
    chance_accuracy=chance["accuracy"],
    images_per_second=float(metrics["images_per_s"].median()),
)

# %% [markdown]
# ## What this run cost, and what the `full` profile would
# Time is the budget of contrastive learning: the cost grows with epochs × cells, and the time per image with
# the view size and the encoder. Below, this run's measured time and throughput, then the hours that the
# `full` profile (ResNet-50, 96-px views, 200 epochs) needs per 100,000 cells at a few GPU throughputs.
# Those throughputs are **assumptions to check** on your GPU, not measurements: this book is built on a CPU.
# `cellclr prep` reports how many cells the real crop store holds.

# %%
epochs_full = FULL_PROFILE_EPOCHS
display(
    Markdown(
        f"This run: {metrics['elapsed_s'].iloc[-1] / 60:.1f} min for {len(metrics)} steps of {batch_size} "
        f"cells (each seen as two {image_size}-px views), {metrics['images_per_s'].median():.0f} cells/s "
        f"on this machine."
    )
)
pd.DataFrame({"assumed GPU cells/s": [500, 1000, 2000]}).assign(
    **{
        "hours per 100,000 cells": lambda t: (epochs_full * 100_000 / t["assumed GPU cells/s"] / 3600).round(
            1
        )
    }
)

# %% [markdown]
# ## On a GPU
# - **Device and precision**: with `device="auto"` the same code runs on CUDA with automatic mixed precision
#   (bf16 where supported) and channels-last memory — typically 2–3× faster than fp32.
# - **Batch size**: NT-Xent's negatives come from the batch, so larger is usually better (the paper: 256).
#   The paper's Adam at a fixed learning rate is fine up to a few hundred; SimCLR's own very large batches
#   (4096) needed the LARS optimiser, which this library does not provide (`optimizer` is `adam` or `adamw`).
# - **Several GPUs**: `torchrun --nproc_per_node 4 -m cellclr_lib.train --store ... --out ...` runs
#   DistributedDataParallel; negatives are gathered from all GPUs, so the effective batch is the global one.
# - **Colab**: choose a GPU runtime, run the first cell (it installs the library), and set `dataset="bbbc021"`
#   after `cellclr download` + `cellclr prep`, or keep the stand-in.
#
# ## Exercise: batches from one plate
# With `sampling="plate"` every batch comes from a single plate, so negatives share the plate's staining and
# imaging, and plate artefacts cannot tell a cell from its negatives. Train it into its **own** run folder
# (a run folder resumes only with the settings it was started with), then compare its curves with the ones
# above:
#
# ```python
# from dataclasses import replace
#
# plate_run = train(replace(config, sampling="plate", out=str(run_dir / "simclr-plate")))
# training_curves(read_metrics(plate_run), batch_size=batch_size)
# ```
#
# To measure its effect on the drop, open notebook 4, add `checkpoint = run_dir / "simclr-plate" /
# "checkpoints" / "last.pt"` after its *Inputs* cell and run the rest: it embeds that encoder instead (into
# `features/simclr`, which notebook 5 reads; rerun notebook 4 unchanged to go back).
#
# ## Further reading
# - [BYOL](https://arxiv.org/abs/2006.07733) (Grill et al., 2020) and [DINO](https://arxiv.org/abs/2104.14294)
#   (Caron et al., 2021) learn without negatives, so false negatives disappear;
#   [WS-DINO](https://arxiv.org/abs/2209.07819) (Cross-Zamirski et al., 2022) adapts DINO to high-content
#   images with weak treatment labels.
# - [SupCon](https://arxiv.org/abs/2004.11362) (Khosla et al., 2020): contrastive learning with labels, where
#   every cell of the same class is a positive.
# - [CytoSummaryNet](https://doi.org/10.1371/journal.pcbi.1012547) (van Dijk et al., 2024) learns the
#   aggregation from cells to a well profile instead of taking the mean.
#
# ## Summary
# - SimCLR's supervision is the augmentation: two views of one cell are positives, all other cells negatives.
# - NT-Xent is a softmax cross-entropy over cosine similarities with a temperature.
# - The training loop is device-agnostic, resumable and logs everything needed to judge a run.
#
# ## What next
# [Notebook 4](04_embedding_evaluation) turns the trained encoder into treatment profiles and scores them.
