# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
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
# SimCLR (Chen et al., 2020) learns a representation without labels: two random views of the same cell should
# map close together, views of different cells far apart. Perakis et al. (2021) applied it to BBBC021 crops.
# In this notebook we
#
# 1. draw the idea, then write its loss — NT-Xent — and compute it by hand on a toy example;
# 2. train a ResNet encoder on the crop store, with a progress bar, and plot loss and accuracy;
# 3. note what changes on a GPU: mixed precision, batch size, several GPUs with `torchrun`, Colab.
#
# ## Prerequisites
# | Concept | Importance | Notes |
# | --- | --- | --- |
# | [Notebook 2: augmentations](02_augmentations) | Necessary | the views |
# | ResNets, training loops in PyTorch | Necessary | |
# | Softmax, cross-entropy | Necessary | the loss is a cross-entropy |
#
# **Time to learn**: 30 minutes.

# %% tags=["remove-cell"]
import sys

if "google.colab" in sys.modules:  # Colab: install the library (the rest of the notebook is the same)
    import subprocess

    repository = "https://github.com/cellclr/cellclr"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"cellclr @ git+{repository}"], check=True)

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
seed = 0

# %%
# %matplotlib inline
from pathlib import Path

import torch
from IPython.display import Markdown, display

from cellclr_lib.data.source import dataset_banner
from cellclr_lib.epoch_eval import read_epoch_metrics
from cellclr_lib.losses import NTXentLoss
from cellclr_lib.notebook_runner import record_metrics
from cellclr_lib.plots.training import (
    epoch_metrics_figure,
    simclr_diagram,
    similarity_heatmap,
    training_curves,
)
from cellclr_lib.train import TrainConfig, read_metrics, train

run_dir = Path(run_dir)
display(Markdown(dataset_banner(data_dir)))

# %% [markdown]
# ## The idea
# Each cell in a batch of N is augmented twice. Both views pass through the same encoder *f* (a ResNet) to a
# representation **h**, and a small projection head *g* maps h to **z**. The loss pulls the two z of one cell
# together and pushes them away from the 2N − 2 views of the other cells. After training, the head is thrown
# away and **h** describes the cell.

# %%
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

# %%
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
# ## Training
# `train` is the function `cellclr train` runs. It reads batches of uint8 crops straight from the memory-mapped
# store, augments them **on the device** (notebook 2), and logs loss, learning rate, images/s and the
# *contrastive accuracy* — how often a view's most similar other view is its partner — to `metrics.csv`.
# Checkpoints carry everything (model, optimiser, schedule, random states), so `resume=True` continues
# exactly where a run stopped.

# %%
config = TrainConfig(
    store=str(run_dir / "crops"), out=str(run_dir / "simclr"), arch=arch, size=image_size,
    augment=augment_preset, epochs=epochs, batch_size=batch_size, lr=lr, temperature=temperature,
    sampling=sampling, max_cells=max_cells, device=device, seed=seed, resume=True,
)  # fmt: skip
run = train(config)
metrics = read_metrics(run)
metrics.tail()

# %%
training_curves(metrics)

# %% [markdown]
# ## Is it learning mechanisms of action?
# The loss only says how well the network tells a cell's two views apart from other cells. After every epoch
# `train` also embeds a fixed set of up to 2,000 cells (`eval_cells`) with the current encoder and scores
# them like the benchmark — well profiles, treatment profiles, nearest neighbour of another compound (NSC)
# and of another compound in another batch (NSCB) — in `epoch_metrics.csv`. It costs about a second per
# epoch; with fewer cells per well than notebook 4 uses, read it as a trend, not as the result.

# %%
epoch_scores = read_epoch_metrics(run)
if epoch_scores.empty:
    print("no per-epoch evaluation: eval_cells=0, or a store without MoA labels")
else:
    first, last = epoch_scores.iloc[0], epoch_scores.iloc[-1]
    trend = "rose" if last["nsc"] > first["nsc"] else "did not rise"
    display(epoch_metrics_figure(metrics, epoch_scores))
    display(
        Markdown(
            f"While the loss fell from {metrics['loss'].iloc[0]:.2f} to {metrics['loss'].tail(5).mean():.2f}, "
            f"NSC on the evaluation cells {trend}: {first['nsc']:.0%} after epoch 1, {last['nsc']:.0%} after "
            f"epoch {int(last['epoch'])} (NSCB {first['nscb']:.0%} → {last['nscb']:.0%}). A falling loss with a "
            "flat NSC means the network is learning invariances the benchmark does not reward; a gap between "
            "NSC and NSCB that widens means it is learning batch (week) effects."
        )
    )

# %%
chance = 1 / (2 * batch_size - 1)
record_metrics(
    run_dir,
    "03_contrastive_training",
    first_loss=float(metrics["loss"].iloc[0]),
    final_loss=float(metrics["loss"].tail(5).mean()),
    final_accuracy=float(metrics["accuracy"].tail(5).mean()),
    chance_accuracy=chance,
    images_per_second=float(metrics["images_per_s"].median()),
)
print(f"contrastive accuracy {metrics['accuracy'].tail(5).mean():.2f} (chance: {chance:.3f})")

# %% [markdown]
# ## On a GPU
# - **Device and precision**: with `device="auto"` the same code runs on CUDA with automatic mixed precision
#   (bf16 where supported) and channels-last memory — typically 2–3× faster than fp32.
# - **Batch size**: NT-Xent's negatives come from the batch, so larger is usually better (the paper: 256).
#   Beyond ~1024, switch the optimiser to LARS (`optimizer="lars"`).
# - **Several GPUs**: `torchrun --nproc_per_node 4 -m cellclr_lib.train --store ... --out ...` runs
#   DistributedDataParallel; negatives are gathered from all GPUs, so the effective batch is the global one.
# - **Colab**: choose a GPU runtime, run the first cell (it installs the library), and set `dataset="bbbc021"`
#   after `cellclr download` + `cellclr prep`, or keep the stand-in.
#
# ## Summary
# - SimCLR's supervision is the augmentation: two views of one cell are positives, all other cells negatives.
# - NT-Xent is a softmax cross-entropy over cosine similarities with a temperature.
# - The training loop is device-agnostic, resumable and logs everything needed to judge a run.
#
# ## What next
# [Notebook 4](04_embedding_evaluation) turns the trained encoder into treatment profiles and scores them.
