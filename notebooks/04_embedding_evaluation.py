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

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # Colab: install the library (the rest of the notebook is the same)
    import subprocess

    release = "https://github.com/cellclr/cellclr@v0.1.0"  # the library's tag this notebook was written for
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"cellclr @ git+{release}"], check=True)

# %% tags=["parameters"]
dataset = "synthetic"  # "synthetic" (the stand-in) or "bbbc021"
data_dir = "../data/synthetic-small"
run_dir = "../runs/quick"  # holds crops/ (notebook 1) and simclr/ (notebook 3)
device = "auto"  # "auto": CUDA when available, else CPU
batch_size = 256  # embedding batch size
synthetic_preset = "small"  # stand-in made here if missing: "tiny" (CI) or "small" (the book)
crop_size = 96  # crop side of a crop store made here if missing (as notebook 1)
workers = 2  # processes for preparation when the crop store is made here
seed = 0

# %%
# %matplotlib inline
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from cellclr_lib.data.source import dataset_banner
from cellclr_lib.embed import embed_store
from cellclr_lib.evaluate import evaluate_wells
from cellclr_lib.features import read_feature_set
from cellclr_lib.metrics.nsc import NSCB_EXCLUDED_MOAS, evaluate_treatments
from cellclr_lib.normalize import dmso_zscore, normalize, tvn, whiten
from cellclr_lib.plots.evaluation import confusion_figure, per_moa_figure, profile_map_figure
from cellclr_lib.plots.protocol import eligibility_figure, normalization_toy_figure
from cellclr_lib.prerequisites import ensure_checkpoint, ensure_crops, ensure_dataset, prerequisites_note
from cellclr_lib.profiles import Profiles, treatment_profiles, well_profiles
from cellclr_lib.results import record_metrics

run_dir = Path(run_dir)

# %% [markdown]
# ## Inputs
# This notebook reads what notebooks 1 and 3 made: the crop store and the SimCLR checkpoint.
# Opened alone — on Colab, or with an empty run folder — the next cell makes whatever is missing with the
# library's own functions, and says what it found or made.

# %%
notes = [
    ensure_dataset(dataset, data_dir, preset=synthetic_preset, seed=seed, workers=workers),
    ensure_crops(data_dir, run_dir, crop_size=crop_size, workers=workers),
]
checkpoint, note = ensure_checkpoint(run_dir, device=device, seed=seed)
notes.append(note)
display(Markdown(dataset_banner(data_dir)), Markdown(prerequisites_note(notes)))

# %% [markdown]
# ## Embed every cell
# The representation used downstream is the encoder's output **h** (before the projection head): SimCLR's
# authors found h transfers better than the projection z, which is trained to discard whatever the
# augmentations change. Embeddings are written next to the run as a *feature set* — the same on-disk format
# every baseline uses, so one evaluation path serves all methods.

# %%
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
# The protocol is due to [Ljosa et al. (2013)](https://doi.org/10.1177/1087057113503553); its point is that
# a compound and its week are confounded in BBBC021 (notebook 1), so only NSCB rewards biology alone.
#
# ### A worked example
# Take a handful of treatments — the highest two doses of a few compounds of three MoAs that span several
# weeks — and compute both scores by hand: cosine similarities, a mask of *eligible* candidates per
# protocol, the most similar eligible candidate, and whether its MoA matches. The library must agree.

# %%
pool = treatments.meta[~treatments.meta["is_control"] & ~treatments.meta["moa"].isin(NSCB_EXCLUDED_MOAS)]
top_doses = pool.sort_values(["compound", "concentration"]).groupby("compound").tail(2)
weeks_per_moa = top_doses.groupby("moa")["batches"].nunique()
picked = top_doses[top_doses["moa"].isin(weeks_per_moa[weeks_per_moa > 1].nlargest(3).index)]
few = treatments.subset(treatments.meta.index.isin(picked.groupby("moa").head(3).index))
few.meta[["compound", "concentration", "moa", "batches"]]

# %% [markdown]
# The whole computation, in ten lines:

# %%
meta, moa, compound = (
    few.meta.reset_index(drop=True),
    few.meta["moa"].to_numpy(),
    few.meta["compound"].to_numpy(),
)
unit = few.values / np.linalg.norm(few.values, axis=1, keepdims=True)
similarity = unit @ unit.T  # cosine similarity of every pair of treatments
weeks = [set(b.split(",")) for b in meta["batches"]]
eligible = {"nsc": compound[:, None] != compound[None, :]}  # never the query's own compound
eligible["nscb"] = eligible["nsc"] & np.array([[not (a & b) for b in weeks] for a in weeks])  # nor its week
nearest = {p: np.where(m.any(1), np.where(m, similarity, -np.inf).argmax(1), -1) for p, m in eligible.items()}
by_hand = {p: np.mean([moa[j] == moa[i] for i, j in enumerate(hit) if j >= 0]) for p, hit in nearest.items()}
library = evaluate_treatments(few).metrics
pd.DataFrame({"by hand": by_hand, "library": {p: library[p] for p in by_hand}}).round(3)

# %% mystnb={"image": {"alt": "Two grids, NSC and NSCB, with one row per query treatment and one column per candidate: grey cells are excluded candidates, white eligible ones; a green circle or red cross marks each query's nearest neighbour, right or wrong MoA."}, "figure": {"caption": "Eligibility under NSC (left: not the same compound) and NSCB (right: not the same compound nor week), and each query's nearest eligible neighbour: green circle, same MoA; red cross, another MoA."}}
eligibility_figure(meta, eligible, nearest)

# %% [markdown]
# Under NSC only the query's own compound is greyed out (both doses of one compound form a grey block); NSCB
# also greys out every candidate imaged in the query's week, so a query may lose its best match — or all
# of its candidates, in which case it is not scored. The library does the same on all treatments, and also
# resolves exact ties by the lowest index.
#
# ## Post-processing
# Every transform is fitted on the DMSO wells only — they are present on every plate and in every week with
# the same biology, so any difference between them is technical — and applied to all wells:
#
# - **DMSO z-score**, per plate and per feature: subtract the plate's DMSO mean, divide by its standard
#   deviation. It removes plate offsets, one dimension at a time.
# - **Whitening** (ZCA): subtract the DMSO mean of all plates and multiply by (C + λI)^−½, C the DMSO
#   covariance. Directions in which controls vary a lot (typically technical) are shrunk, rare ones are
#   amplified. λ keeps the directions that a few hundred wells cannot estimate from exploding.
# - **TVN**, typical variation normalisation ([Ando et al., 2017](https://doi.org/10.1101/161422)):
#   whitening, then, per week, a CORAL alignment ([Sun et al., 2016](https://arxiv.org/abs/1511.05547))
#   that maps that week's DMSO covariance onto the global one.
#
# A 2-D toy makes their behaviour visible: three weeks whose DMSO clouds (dots, with 2-σ ellipses) differ in
# position and shape, and in each week a treatment (triangles) with the same effect relative to its controls.

# %%
rng = np.random.default_rng(seed)
toy_meta = pd.DataFrame(
    {"batch": np.repeat(["Week1", "Week2", "Week3"], 40), "is_control": np.tile(np.arange(40) < 34, 3)}
)
toy_meta["plate"] = toy_meta["batch"]  # one plate per week
offset = {"Week1": [0, 0], "Week2": [3, 1], "Week3": [-1, 3]}  # per-week shift of every well
shape = {"Week1": [[1.5, 0], [0, 0.4]], "Week2": [[0.5, 0.4], [0.4, 0.7]], "Week3": [[0.3, 0], [0, 1.2]]}
toy = np.stack([rng.normal(size=2) @ np.array(shape[w]) + offset[w] for w in toy_meta["batch"]])
toy[~toy_meta["is_control"]] += [2.5, -2.5]  # the treatment's effect, the same in every week
panels = {
    "none": toy,
    "DMSO z-score": dmso_zscore(toy, toy_meta),
    "whiten": whiten(toy, toy_meta, lam=1e-3),
    "TVN (whiten + CORAL)": tvn(toy, toy_meta, lam=1e-3),
}

# %% mystnb={"image": {"alt": "Four scatter plots of the 2-D toy: raw, DMSO z-scored, whitened and TVN. Each week's DMSO wells are dots with an ellipse, treated wells are triangles in the week's colour."}, "figure": {"caption": "Post-processing on a 2-D toy with three weeks. Z-scoring recentres every week; whitening makes the pooled DMSO cloud round but keeps the weeks apart; CORAL then gives every week the same shape, but not the same position."}}
normalization_toy_figure(panels, toy_meta)

# %% [markdown]
# Read the panels left to right. **DMSO z-scoring** puts every week's controls at the origin with unit spread
# per axis; the treated wells move with them, but the same effect is divided by each week's own spread, and a
# tilted cloud (Week2) stays tilted, since each feature is treated alone. **Whitening** is one global transform: the pooled DMSO cloud
# becomes round, yet the weeks keep their relative offsets and shapes. **TVN**'s CORAL step gives every
# week's controls the same covariance; it does not recentre them, so week offsets survive — and are rescaled
# with everything else, which is why the treated wells fly apart here (with cosine
# similarity, an offset shared by a week's wells still pulls them together). Which transform helps depends on
# which kind of batch effect a representation carries — the next table says it for this run.


# %%
def between_week_share(profiles: Profiles) -> float:
    """Share of the DMSO wells' variance that lies between week means: the batch signal left in the controls."""
    control = profiles.meta["is_control"].to_numpy(dtype=bool)
    x, week = profiles.values[control].astype(np.float64), profiles.meta["batch"].to_numpy()[control]
    week_means = pd.DataFrame(x).groupby(week).transform("mean").to_numpy()
    return float(((week_means - x.mean(0)) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())


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
table["DMSO variance between weeks"] = [round(between_week_share(normalize(wells, m)), 3) for m in results]
table

# %% [markdown]
# The last column is the share of the DMSO wells' variance that lies *between* week means: the batch signal
# left in the controls (0: weeks indistinguishable). Why the four rows differ on this run:


# %%
def span(counts: pd.Series) -> str:
    """ "3" or "2–4": the range of a few counts, for a sentence."""
    return f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}–{counts.max()}"


whitened, aligned = normalize(wells, "whiten").values, normalize(wells, "tvn").values
change = np.linalg.norm(aligned - whitened) / np.linalg.norm(whitened)
moved = int((results["tvn"].queries["nsc_compound"] != results["whiten"].queries["nsc_compound"]).sum())
controls = wells.meta[wells.meta["is_control"]]
per_week, per_plate = controls.groupby("batch").size(), controls.groupby("plate").size()
share = table["DMSO variance between weeks"]
n_moas = int(treatments.meta.loc[~treatments.meta["is_control"], "moa"].nunique())
lines = [
    f"**TVN vs whitening**: CORAL moves the whitened profiles by {change:.1%} of their norm and changes "
    f"{moved} of {len(results['tvn'].queries)} NSC nearest neighbours. Each week has only "
    f"{span(per_week)} DMSO wells for {wells.values.shape[1]} dimensions: CORAL can align a "
    "week only in the few directions its controls span; in all the others every week gets the same transform, "
    "which cannot bring weeks together.",
    f"It squeezes each week's controls along their own spread without recentring them, so week offsets stay "
    f"and the between-week share goes from {share['whiten']:.3f} (whitening) to {share['tvn']:.3f}.",
    f"**DMSO z-score** divides by standard deviations estimated from {span(per_plate)} DMSO wells per plate"
    + (
        ", which amplifies noise in every dimension"
        if table.loc["dmso-zscore", "NSC"] < table.loc["none", "NSC"]
        else ""
    )
    + f": NSC goes from {table.loc['none', 'NSC']:.3f} to {table.loc['dmso-zscore', 'NSC']:.3f}. Its between-week share of {share['dmso-zscore']:.3f} holds by "
    "construction (each plate's controls are centred on zero) and says nothing about treated wells.",
]
for method, r in results.items():
    if r.metrics["drop"] < 0:
        level = "near-chance " if max(r.metrics["nsc"], r.metrics["nscb"]) < 2 / n_moas else ""
        lines.append(
            f"**The negative drop of {method}** ({r.metrics['drop']:+.3f}) compares two {level}scores measured on "
            f"different queries ({r.metrics['nsc_total']} for NSC, {r.metrics['nscb_total']} for NSCB, one "
            f"query = {1 / r.metrics['nscb_total']:.1%}); it is not evidence that excluding a week helps."
        )
display(Markdown("\n".join(f"- {line}" for line in lines)))

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
# ## Exercises
# 1. **Mean or median of wells?** The paper aggregates wells to treatments with the median. Score the DMSO
#    z-scored profiles with the mean instead (`evaluate_wells(wells, normalization="dmso-zscore",
#    aggregate="mean")`). Does NSC or NSCB move by more than one treatment?
# 2. **Cosine or Pearson?** Repeat with `similarity="pearson"`. Pearson centres each profile first: when
#    would that matter?
#
# A solution to both (expand it after trying):

# %% tags=["hide-input"]
choices = [
    (aggregate, similarity) for aggregate in ("median", "mean") for similarity in ("cosine", "pearson")
]
scores = {
    choice: evaluate_wells(
        wells, normalization="dmso-zscore", aggregate=choice[0], similarity=choice[1]
    ).metrics
    for choice in choices
}
pd.DataFrame(scores).T.rename_axis(["aggregate", "similarity"])[["nsc", "nscb", "drop"]].astype(float).round(
    3
)

# %% [markdown]
# ## Summary
# - Profiles are aggregated cell → well (mean) → treatment (median); DMSO is the control population and the
#   taxol control wells are excluded.
# - NSC excludes the query's whole compound; NSCB also its week; the drop measures batch sensitivity.
# - Post-processing fitted on DMSO (whitening, TVN) usually narrows the drop.
#
# ## What next
# [Notebook 5](05_real_profiles_benchmark) runs the same evaluation on real CellProfiler profiles of BBBC021; [notebook 6](06_baselines_comparison) on every baseline.
