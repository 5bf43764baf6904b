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
# # 4. From embeddings to MoA: profiles, NSC, NSCB and the drop
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/cellclr/cellclr/blob/main/notebooks/04_embedding_evaluation.ipynb)
#
# ## Overview
# A representation is only as good as what it lets us *find*. BBBC021's benchmark asks: if we summarise every
# treatment (compound × concentration) by a profile, is its nearest neighbour a treatment with the same
# mechanism of action (MoA)? In this notebook we
#
# 1. embed every cell with the encoder trained in notebook 3;
# 2. aggregate cells → wells → treatments, the way the paper's code does;
# 3. compute **NSC**, **NSCB** and the **drop**, with four post-processings (none, DMSO z-score, whitening, TVN);
# 4. look at the mistakes (per MoA, confusion matrix) and *see* batch effects on a 2-D map.
#
# ## Prerequisites
# | Concept | Importance | Notes |
# | --- | --- | --- |
# | [Notebook 3: contrastive training](03_contrastive_training) | Necessary | the checkpoint evaluated here |
# | Cosine similarity, nearest neighbours | Necessary | |
# | PCA / whitening | Helpful | for the post-processing section |
#
# **Time to learn**: 20 minutes.

# %% tags=["remove-cell"]
import sys

if "google.colab" in sys.modules:  # Colab: install the library (the rest of the notebook is the same)
    import subprocess

    repository = "https://github.com/cellclr/cellclr"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"cellclr @ git+{repository}"], check=True)

# %% tags=["parameters"]
dataset = "synthetic"  # "synthetic" (the stand-in) or "bbbc021"
data_dir = "../data/synthetic-small"
run_dir = "../runs/quick"  # holds crops/ (notebook 1) and simclr/ (notebook 3)
device = "auto"  # "auto": CUDA when available, else CPU
batch_size = 256  # embedding batch size
seed = 0

# %%
# %matplotlib inline
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from cellclr_lib.data.source import dataset_banner
from cellclr_lib.embed import embed_store
from cellclr_lib.evaluate import evaluate_wells
from cellclr_lib.features import read_feature_set
from cellclr_lib.normalize import normalize
from cellclr_lib.notebook_runner import record_metrics
from cellclr_lib.plots.evaluation import confusion_figure, per_moa_figure, profile_map_figure
from cellclr_lib.profiles import treatment_profiles, well_profiles

run_dir = Path(run_dir)
display(Markdown(dataset_banner(data_dir)))

# %% [markdown]
# ## Embed every cell
# The representation used downstream is the encoder's output **h** (before the projection head): SimCLR's
# authors found h transfers better than the projection z, which is trained to discard whatever the
# augmentations change. Embeddings are written next to the run as a *feature set* — the same on-disk format
# every baseline uses, so one evaluation path serves all methods.

# %%
checkpoint = run_dir / "simclr" / "checkpoints" / "last.pt"
out = embed_store(
    checkpoint, run_dir / "crops", run_dir / "features" / "simclr", batch_size=batch_size, device=device
)
features = read_feature_set(out)
print(f"{features.features.shape[0]:,} cells × {features.features.shape[1]} dimensions")

# %% [markdown]
# ## Cells → wells → treatments
# Following the paper's code: the **mean** over a well's cells gives a well profile; post-processing is fitted
# on the DMSO (control) wells; the **median** over a treatment's wells gives its profile. DMSO is never a query
# nor a neighbour, only the reference. The taxol 0.3 µM positive-control wells that sit on every plate are
# dropped: BBBC021's taxol 0.3 treatment is only its three Week 1 wells.

# %%
wells = well_profiles(features.features, features.cells, input_level="cell")
treatments = treatment_profiles(wells, how="median")
summary = pd.Series(
    {
        "cells": len(features.cells),
        "wells": len(wells),
        "DMSO wells": int(wells.meta["is_control"].sum()),
        "treatments": int((~treatments.meta["is_control"]).sum()),
        "compounds": treatments.meta.loc[~treatments.meta["is_control"], "compound"].nunique(),
        "MoAs": treatments.meta.loc[~treatments.meta["is_control"], "moa"].nunique(),
        "batches (weeks)": wells.meta["batch"].nunique(),
    }
)
summary.to_frame("count")

# %% [markdown]
# ## NSC, NSCB and the drop
# For each treatment, find its most cosine-similar treatment and check whether the MoA matches:
#
# - **NSC** (not-same-compound): candidates exclude *every* concentration of the query's own compound —
#   otherwise a compound would simply find itself at another dose.
# - **NSCB** (not-same-compound-or-batch): candidates must also come from another week. Two MoAs
#   (cholesterol-lowering and kinase inhibitors) live in a single week and are left out.
# - **drop** = NSC − NSCB: how much of the NSC accuracy came from recognising the *batch* rather than the
#   biology. Lower is better.
#
# Post-processing, each fitted on DMSO wells only: per-plate **DMSO z-score**; **whitening** (PCA-whiten with
# the DMSO covariance + λI); **TVN** (whitening, then aligning each week's DMSO covariance to the global one).

# %%
results = {
    method: evaluate_wells(wells, normalization=method) for method in ("none", "dmso-zscore", "whiten", "tvn")
}
table = pd.DataFrame(
    {
        method: {
            "NSC": round(r.metrics["nsc"], 3),
            "NSCB": round(r.metrics["nscb"], 3),
            "drop": round(r.metrics["drop"], 3),
            "NSC correct": f"{r.metrics['nsc_correct']}/{r.metrics['nsc_total']}",
            "NSCB correct": f"{r.metrics['nscb_correct']}/{r.metrics['nscb_total']}",
        }
        for method, r in results.items()
    }
).T
table.index.name = "post-processing"
table

# %% tags=["remove-cell"]
record_metrics(
    run_dir,
    "04_embedding_evaluation",
    simclr={m: {k: r.metrics[k] for k in ("nsc", "nscb", "drop")} for m, r in results.items()},
)

# %% [markdown]
# ## Where it goes wrong
# Accuracy per MoA shows which phenotypes the representation separates; the confusion matrix shows which MoAs
# are mistaken for which (rows: the query's MoA, columns: its nearest neighbour's).

# %% mystnb={"image": {"alt": "Horizontal bar chart: NSC and NSCB accuracy for each MoA, between 0 and 1."}, "figure": {"caption": "Per-MoA 1-NN accuracy under the post-processing with the best NSCB."}}
best = max(results, key=lambda m: results[m].metrics["nscb"])
per_moa_figure(results[best])

# %% mystnb={"image": {"alt": "Confusion matrix: rows are the query treatment's MoA, columns the MoA of its nearest neighbour, with counts; correct matches lie on the diagonal."}, "figure": {"caption": "NSC confusion matrix under the same post-processing: off-diagonal counts are the mistakes."}}
confusion_figure(results[best], "nsc")

# %% [markdown]
# ## Seeing batch effects
# A t-SNE map of the well profiles, coloured by MoA and by week. Before post-processing, wells often cluster
# by *week* — the batch effect NSCB measures. After TVN, weeks should mix while MoAs stay together.

# %% mystnb={"image": {"alt": "Two t-SNE scatter plots of the well profiles without post-processing, coloured by MoA on the left and by week on the right."}, "figure": {"caption": "Well profiles without post-processing, coloured by MoA (left) and week (right)."}}
display(Markdown("**No post-processing**"))
profile_map_figure(wells.subset(~wells.meta["is_control"].to_numpy()), color_by=("moa", "batch"), seed=seed)

# %% mystnb={"image": {"alt": "Two t-SNE scatter plots of the well profiles after TVN, coloured by MoA on the left and by week on the right."}, "figure": {"caption": "Well profiles after TVN, coloured by MoA (left) and week (right)."}}
display(Markdown("**After TVN**"))
tvn_wells = normalize(wells, "tvn")
profile_map_figure(
    tvn_wells.subset(~tvn_wells.meta["is_control"].to_numpy()), color_by=("moa", "batch"), seed=seed
)

# %% [markdown]
# ## Summary
# - Profiles are aggregated cell → well (mean) → treatment (median); DMSO is the control population and the
#   taxol control wells are excluded.
# - NSC excludes the query's whole compound; NSCB also its week; the drop measures batch sensitivity.
# - Post-processing fitted on DMSO (whitening, TVN) usually narrows the drop.
#
# ## What next
# [Notebook 5](05_baselines_comparison) runs the same evaluation on every baseline.
