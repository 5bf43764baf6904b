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
# # 1. Data preparation: from BBBC021 fields to single-cell crops
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/cellclr/cellclr/blob/main/notebooks/01_data_preparation.ipynb)
#
# ## Overview
# BBBC021 ([Caie et al., 2010](https://doi.org/10.1158/1535-7163.MCT-09-1148);
# [Ljosa et al., 2012](https://doi.org/10.1038/nmeth.2083)) images MCF-7 breast-cancer cells treated for 24 h with 113 compounds at up to
# eight concentrations, stained for DNA (DAPI), β-tubulin and F-actin. A subset of 103 treatments has a known
# mechanism of action (MoA) — the benchmark. The paper trains on **single-cell crops**, so in this notebook we
#
# 1. look at the metadata: plates, weeks (the batches) and MoAs;
# 2. get the images — the real data, or the synthetic stand-in in the same layout;
# 3. correct uneven illumination, find nuclei, and cut crops around them into a crop store.
#
# ## Prerequisites
# | Concept | Importance | Notes |
# | --- | --- | --- |
# | numpy, pandas | Necessary | |
# | Fluorescence microscopy basics | Helpful | channels are separate stains |
# | Image segmentation (threshold, watershed) | Helpful | explained briefly below |
#
# **Time to learn**: 20 minutes.

# %% [markdown]
# ## Glossary
# The words this book uses for BBBC021's experimental design, defined once:
#
# - **MoA** (mechanism of action): how a compound acts on the cell, e.g. *microtubule destabilisers* or
#   *DNA damage*. BBBC021 annotates 12 MoAs; predicting the MoA of a treatment from images is the benchmark.
# - **Treatment**: one compound at one concentration. Profiles are computed per treatment; a compound at
#   several concentrations is several treatments with the same MoA.
# - **DMSO (vehicle control)**: dimethyl sulfoxide, the solvent the compounds are dissolved in. Wells with
#   DMSO alone show untreated cells; they are the reference that post-processing is fitted on, never a query.
# - **Well / field**: a plate has 96 wells; the microscope images 4 fields of view per well, 3 channels each.
# - **Plate**: one 96-well plate, imaged in one session. Cells on a plate share its staining and imaging.
# - **Week (batch)**: BBBC021's 55 plates were made in 10 weekly batches. Everything that differs between
#   weeks — cell passage, stain lots, microscope drift — is a *batch effect*.
# - **NSC** (not-same-compound): 1-nearest-neighbour MoA accuracy over treatments, where a query may not
#   match any treatment of its own compound ([Ljosa et al., 2013](https://doi.org/10.1177/1087057113503553)).
# - **NSCB** (not-same-compound-or-batch): the same, where a query may not match its own week either; it
#   cannot be won by recognising batch effects. Notebook 4 computes both.

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # Colab: install the library (the rest of the notebook is the same)
    import subprocess

    release = "https://github.com/cellclr/cellclr@v0.1.0"  # the library's tag this notebook was written for
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"cellclr @ git+{release}"], check=True)

# %% tags=["parameters"]
dataset = "synthetic"  # "synthetic" (the stand-in, generated here if missing) or "bbbc021" (downloaded)
data_dir = "../data/synthetic-small"  # the raw dataset in BBBC021's layout
run_dir = "../runs/quick"  # the crop store goes to run_dir/crops
synthetic_preset = "small"  # "tiny" (CI) or "small" (the book), stand-in only
crop_size = 96  # crop side in pixels (the paper: 96)
workers = 2  # processes for preparation
seed = 0

# %%
# %matplotlib inline
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from cellclr_lib.data import metadata
from cellclr_lib.data.illumination import correct, illumination_profile
from cellclr_lib.data.nuclei import detect_nuclei
from cellclr_lib.data.prep import prep_dataset, read_field
from cellclr_lib.data.source import dataset_banner
from cellclr_lib.data.store import CropStore
from cellclr_lib.plots.data import (
    background_shading_figure,
    crop_gallery,
    field_channels,
    illumination_before_after,
    nuclei_overlay,
)
from cellclr_lib.results import record_metrics

data_dir, run_dir = Path(data_dir), Path(run_dir)

# %% [markdown]
# ## BBBC021 at a glance
# The metadata ship with the library (the real files from the Broad Bioimage Benchmark Collection). Each
# **plate** belongs to a **week**; the week is the batch, and batch effects between weeks are what the NSCB
# metric guards against. The heat map counts the annotated wells of each MoA per week: most compounds sit in
# a single week, which is why a model that recognises weeks can look good on NSC and fail on NSCB.

# %% mystnb={"image": {"alt": "Heat map of annotated wells: one row per MoA, one column per week, Week1 to Week10; most MoAs fill only one or two weeks."}, "figure": {"caption": "Annotated wells per MoA and week in the real BBBC021 metadata. A compound sits in one week, so NSCB has few eligible neighbours for most queries."}}
real = metadata.benchmark_fields()
wells = real.drop_duplicates(["plate", "well"])
print(
    f"real BBBC021: {metadata.field_table().shape[0]:,} fields, {real['plate'].nunique()} plates in "
    f"{real['batch'].nunique()} weeks; benchmark: {len(metadata.treatments())} treatments of "
    f"{metadata.treatments()['compound'].nunique()} compounds in {metadata.treatments()['moa'].nunique()} MoAs"
)
weeks = sorted(wells["batch"].unique(), key=lambda w: int(w.removeprefix("Week")))
counts = pd.crosstab(wells["moa"], wells["batch"])[weeks]
fig = Figure(figsize=(9, 4.5), layout="constrained")
sns.heatmap(counts, annot=True, fmt="d", cmap="Blues", cbar=False, ax=fig.subplots())
fig.suptitle("Annotated wells per MoA and week (real BBBC021 metadata)")
fig

# %% [markdown]
# ## The images: real or synthetic
# The real BBBC021 is ~40 GB (`cellclr download` fetches it, resumably). Where that is not possible — CI, a
# laptop, this book's build — we use the **synthetic stand-in**: the same folders, file names and CSV columns,
# a subset of the real plates and wells (every plate with its six DMSO wells), and simulated cells at the real
# scale whose phenotypes and batch effects are calibrated on real BBBC021 measurements (see "How close is the
# stand-in to real BBBC021?" below). The banner below says which one this run uses.
#
# **To run every notebook on the real images**, download and prepare them once — all benchmark plates
# (~44 GB of zips), or the `colab` subset of 17 plates (~14 GB, every treatment and week; see the setup page):
#
# ```bash
# cellclr download --out data/bbbc021 --subset colab --delete-zips
# cellclr prep --data data/bbbc021 --out runs/bbbc021/crops --subset colab --workers 4
# ```
#
# from the repository root, then set the parameters `dataset="bbbc021"`, `data_dir="../data/bbbc021"` and
# `run_dir="../runs/bbbc021"` (paths relative to `notebooks/`, like the defaults; with papermill,
# `-p dataset bbbc021 -p data_dir ...`). Every notebook checks for the data and says what to run if it is missing.

# %%
if dataset == "synthetic":
    from cellclr_lib.data.synth import generate

    generate(data_dir, preset=synthetic_preset, seed=seed, workers=workers)  # a no-op when already complete
display(Markdown(dataset_banner(data_dir)))
fields = metadata.benchmark_fields(data_dir / metadata.IMAGE_CSV_NAME, data_dir / metadata.MOA_CSV_NAME)
fields.groupby("batch").agg(
    plates=("plate", "nunique"), wells=("well", "size"), compounds=("compound", "nunique")
)

# %% [markdown]
# One field of view, each channel on its own and as a composite (DAPI blue, tubulin green, actin red):

# %% mystnb={"image": {"alt": "One field of view shown as three grey-scale channels (DAPI, tubulin, actin) and a colour composite."}, "figure": {"caption": "One field: DNA (DAPI), \u03b2-tubulin and F-actin, and the composite (DAPI blue, tubulin green, actin red)."}}
example = fields[~fields["is_control"]].iloc[0]
paths = metadata.channel_file_paths(fields.loc[[example.name]], data_dir)
field = read_field([paths[channel][0] for channel in metadata.CHANNELS])
field_channels(field, title=f"{example['plate']} {example['well']}: {example['compound']} ({example['moa']})")

# %% [markdown]
# ## Illumination correction
# Microscope fields are brighter in the centre than at the edges (vignetting). The standard remedy estimates
# one **illumination profile** per plate and channel — the mean of all the plate's fields, so that cells
# average out and only the shading remains, heavily smoothed and scaled to mean 1 — and divides every field
# by it.

# %% mystnb={"image": {"alt": "Raw DAPI field, the plate's illumination profile brighter in the centre, the corrected field, and a line plot of the column means of raw field, profile and corrected field."}, "figure": {"caption": "Illumination correction: the profile (mean of the plate's fields, smoothed, mean 1) divides each field."}}
plate_rows = fields[fields["plate"] == example["plate"]]
plate_dapi = metadata.channel_file_paths(plate_rows, data_dir)["DAPI"]
profile = illumination_profile(read_field([p])[0] for p in plate_dapi)
illumination_before_after(field[0], profile, correct(field[0], profile), channel="DAPI")

# %% [markdown]
# At a display range that fits the nuclei, a few percent of shading is invisible. Stretched over the
# background (nuclei saturate), it shows — and so does whatever part of the shading the profile, estimated
# from this plate's fields, did not capture:

# %% mystnb={"image": {"alt": "The raw and the corrected DAPI field displayed over the background intensity range, nuclei saturated, and a line plot of the background level per column of both fields."}, "figure": {"caption": "The same field over its background intensity range, before and after correction, and its background level per column."}}
background_shading_figure(field[0], correct(field[0], profile))

# %% [markdown]
# ## Finding nuclei
# Crops are centred on nuclei, found in the corrected DAPI channel: Gaussian smoothing, an Otsu threshold,
# then a watershed on the distance transform to split touching nuclei, and a size filter against debris.
# Nuclei whose crop would leave the field are skipped (dashed red) rather than padded: padding would invent
# pixels that the model could learn to recognise.

# %% mystnb={"image": {"alt": "DAPI field with each detected nucleus marked by a cross and its crop window drawn as a green box, or a dashed red box where the crop would leave the field."}, "figure": {"caption": "Detected nuclei and their crop windows; dashed red windows leave the field and are skipped."}}
labels, centroids, areas = detect_nuclei(correct(field[0], profile))
nuclei_overlay(field[0], labels, centroids, crop_size=crop_size)

# %% [markdown]
# ## The crop store
# `prep_dataset` (the same function `cellclr prep` runs) does this for every field, plate by plate in
# parallel, and writes one **crop store**: a memory-mappable uint8 array `(N, 3, S, S)` and a table of the
# cells (plate, well, compound, MoA, position, nucleus area...). Each plate is committed atomically, so an
# interrupted run resumes where it stopped.

# %%
report = prep_dataset(data_dir, run_dir / "crops", crop_size=crop_size, workers=workers)
print(report.summary())
store = CropStore.open(run_dir / "crops")
store.cells.groupby("moa").size().rename("cells").to_frame().T

# %% [markdown]
# A few crops per MoA (DMSO is the control):

# %% mystnb={"image": {"alt": "Grid of single-cell crops in colour, one row per MoA including DMSO, eight cells per row."}, "figure": {"caption": "Eight random crops per MoA from the crop store (DAPI blue, tubulin green, actin red)."}}
crop_gallery(store.crops, store.cells, by="moa", per_group=8, seed=seed)

# %% [markdown]
# ## How close is the stand-in to real BBBC021?
# The stand-in is not drawn by hand: its cells are calibrated on the **real CellProfiler profiles** of
# BBBC021 (Ljosa et al. 2013, shipped with the package). `scripts/calibrate_standin.py` derives a small table
# from them — the DMSO distribution of each feature the renderer controls (sizes, shapes, intensities,
# texture, crowding), the batch structure (how far weeks and plates move the DMSO means) and every MoA's
# **signature**: the median shift of its wells from the DMSO wells of the same plate, in DMSO standard
# deviations. Each well of the stand-in gets its treatment's real signature, its plate's batch effect and a
# well-to-well deviation of the real size; one table (`cellclr_lib.data.calibration.FEATURES`) says which
# CellProfiler feature drives which drawing parameter.
#
# Here we measure every crop back with the project's hand-engineered features and compare with the real
# values. `run_baseline` writes them to `run_dir/features/handcrafted`, where notebook 6 finds them as one of
# its baselines instead of measuring every crop again.

# %% mystnb={"image": {"alt": "Horizontal bars: the real DMSO interquartile range of each size, shape and texture feature relative to its real median, with the stand-in median as a dot on each bar."}, "figure": {"caption": "DMSO wells: the stand-in's measured medians against the real BBBC021 distributions (Ljosa et al. 2013 profiles)."}}
if dataset == "synthetic":
    from cellclr_lib.baselines import run_baseline
    from cellclr_lib.data.standin_check import (
        CEILING,
        dmso_comparison,
        gap_stages,
        hardness,
        measured_wells,
        profile_spread,
        signature_correlations,
        standin_signatures,
    )
    from cellclr_lib.data.standin_phenotype import Calibration
    from cellclr_lib.data.synth import read_config
    from cellclr_lib.features import read_feature_set
    from cellclr_lib.plots.standin import dmso_calibration, gap_stages_bars, hardness_bars, signature_maps

    features_dir = run_dir / "features" / "handcrafted"
    measured = read_feature_set(run_baseline("handcrafted", run_dir / "crops", features_dir, workers=workers))
    standin_wells = measured_wells(measured)
    comparison = dmso_comparison(standin_wells)
    display(comparison.round(3))
    dmso_calibration(comparison)  # shown at the end of the cell, as every open figure

# %% [markdown]
# DMSO cells: sizes are native (a 96-px crop holds one cell, as on real data) and in `make`'s run (seed 0)
# every shape median sits inside the real interquartile range. Week and plate effects are drawn around the
# real median (their draws average to zero over the stand-in's weeks and plates), so other seeds land there
# too: over seeds 0, 1 and 2, 24 of the 27 medians do; the misses are the nucleus solidity of seeds 1 and
# 2 (0.9571 and 0.9583), just above a real range only 0.0026 wide (0.9536–0.9562), and seed 2's
# nucleus/cell area ratio (0.2401 against 0.2403). Three rows are far off, and they are what the stand-in
# lacks: its nuclei have fewer close neighbours and its cells touch less than in real colonies (the crops'
# segmentation leaves gaps between cells that touch in the image), and its chromatin texture is finer than
# CellProfiler measured. The tubulin texture sits in its range and actin's a little below it (rougher than
# real); they are not exactly comparable either: theirs come from whole fields, ours from 8-bit crops.
# Intensities are left out here: CellProfiler measured the raw images, we measure 8-bit crops, so only their
# *shifts* are comparable — the signatures below. The raw images themselves are at real levels: around DMSO
# nuclei, DAPI peaks at about 9,200 counts, tubulin's median is about 5,400 and actin's 3,400 (real raw
# crops: about 10,000, 4,800 and 2,500, over a background of 700).

# %% mystnb={"image": {"alt": "Two heat maps, real and stand-in MoA signatures: one row per MoA, one column per calibrated feature, colour = shift from DMSO in DMSO standard deviations; the Pearson r of each MoA is printed beside its name."}, "figure": {"caption": "MoA signatures, real (left) and measured back from the stand-in (right), with their correlation per MoA (r beside each MoA name)."}}
if dataset == "synthetic":
    standin = standin_signatures(standin_wells)
    correlations = signature_correlations(standin)
    real = Calibration.load().moa
    display(correlations.rename("Pearson r, stand-in vs real signature").to_frame().round(2).T)
    signature_maps(real, standin, correlations)

# %% [markdown]
# Read the maps row by row: where the real signature is red (the MoA raises a feature) the stand-in's should
# be red too. Sizes, nucleus shape, intensities and where tubulin and actin sit (nucleus/cytoplasm ratios)
# follow the real data closely; the cell outline's solidity and form factor, crowding and the texture
# statistics follow it least — on 96-px crops they are dominated by how the segmentation cuts touching cells,
# not by the drawn outlines.
#
# ### Is it as hard as real BBBC021?
# A stand-in whose MoAs were trivially separable would flatter every method in this book. So we run the
# benchmark itself on the hand-engineered features — per-plate DMSO z-score, mean of wells, Pearson, as the
# cytominer vignette does on the real CellProfiler profiles — and put the same protocol on the **real**
# profiles beside it: on the stand-in's own treatments (the fair comparison: which compounds a small
# stand-in draws changes how hard NSCB is) and on all 103. The right panel adds the vignette's feature
# selection (drop near-constant features, keep one of every group correlated above 0.9).

# %% mystnb={"image": {"alt": "Two panels of horizontal bars, NSC and NSCB for the stand-in's hand-engineered features and for real CellProfiler profiles (same treatments, all treatments), without and with feature selection."}, "figure": {"caption": "The benchmark on the stand-in's hand-engineered features beside real BBBC021 CellProfiler profiles (REAL rows), same protocol."}}
if dataset == "synthetic":
    hard = hardness(measured)
    display(hard.round(3))
    hardness_bars(hard)

# %% [markdown]
# The real rows are real BBBC021; the first row is the stand-in. The stand-in is still **harder** than the
# real data, not easier: in our runs of the `small` stand-in (seeds 0, 1 and 2, which draw different
# compounds), hand-engineered features reached NSC 0.52–0.62 and NSCB 0.46–0.56 (0.57–0.67 and 0.50–0.62
# after feature selection), where CellProfiler on the real wells of the same treatments reaches NSC
# 0.83–0.89 and NSCB 0.65–0.70. Mean average precision, which ranks every treatment and so moves less from
# seed to seed, says the same: 0.53–0.58 against 0.77.
#
# A method that wins here has not been flattered — but absolute accuracies are lower than on BBBC021, and
# with one small field per well they move by several points from seed to seed (each of ~60 treatments is 1.6
# points of NSC).
#
# ### Where is the gap lost?
# Between the real profiles and our hand-engineered features lie five stages, and each can go through the
# same protocol on the stand-in's own treatments: the real wells with all 516 CellProfiler features; the real
# wells with only the ~20 calibrated features; the stand-in's wells **as drawn** — each well's calibrated
# values (its treatment's real signature + its plate's batch effect + well noise) before any image exists;
# the same features measured back on the crops; all 135 hand-engineered features. The third row is the
# stand-in's *ceiling*: what a perfect renderer, measured back perfectly, would reach. The last two columns
# divide each feature by a within-plate DMSO SD pooled over plates instead of the SD of the plate's six DMSO
# wells.

# %% mystnb={"image": {"alt": "Horizontal bars, NSC, NSCB and mAP for five stages from the real CellProfiler profiles down to the stand-in's hand-engineered features."}, "figure": {"caption": "Where the stand-in loses to real BBBC021: the same protocol at each stage, on the stand-in's treatments (REAL rows are real data)."}}
if dataset == "synthetic":
    stages = gap_stages(measured, read_config(data_dir))
    display(stages.round(3))
    gap_stages_bars(stages)

# %% [markdown]
# Over seeds 0, 1 and 2 (means of NSC / NSCB / mAP): real wells, 516 features 0.85 / 0.69 / 0.77; only the
# calibrated features 0.76 / 0.62 / 0.72; the stand-in as drawn 0.69 / 0.50 / 0.67; measured back on its
# crops 0.56 / 0.49 / 0.56; all hand-engineered features 0.56 / 0.50 / 0.55. Three lessons:
# - **The ceiling lies below real BBBC021.** Drawn values, never rendered, reach NSC 0.64–0.75 and NSCB
#   0.44–0.60, where CellProfiler reaches 0.83–0.89 and 0.65–0.70 on the same treatments. The stand-in's
#   treatments differ only in the calibrated features, and those alone already lose 0.09 NSC on the real
#   wells; the stand-in's own draws (two wells per treatment instead of three, their noise and batch
#   effects) lose 0.07 more. No renderer can make *this* stand-in as easy as the real data — only more
#   calibrated phenotype dimensions could.
# - **Rendering and measuring lose about 0.11 mAP** (0.67 → 0.56): on 96-px crops the cell outline's
#   solidity and form factor, crowding and texture follow how the segmentation cuts touching cells more than
#   the drawn cells (the signature maps above).
# - **Per-plate z-scoring costs the stand-in more than real data.** With pooled SDs, NSC is 0.83 against
#   0.85 on the real wells, but 0.78 against 0.69 as drawn, 0.67 against 0.56 measured back and 0.65 against
#   0.56 for all features. Why is open: with an earlier version of the renderer, giving each of the 135
#   features noise of its own (up to twice its DMSO spread) won back at most 0.04 NSC, and averaging twice the
#   cells (two fields per well, well noise raised so that DMSO wells keep their spread) moved NSC only from
#   0.45 to 0.48 and mAP from 0.48 to 0.49.
#
# ### How far, and along how many directions
# Whether a treatment's nearest neighbour shares its MoA depends on how far treatments sit from DMSO in
# units of well-to-well noise, and on how many independent directions they spread along: treatments that
# all move along one line are far from DMSO yet close to each other. The table measures both for every row:
# `median_shift` is the median over features of a treatment's mean shift from its plate's DMSO wells, in
# DMSO standard deviations; `directions` is the participation ratio of the treatment profiles, (Σλ)²/Σλ²
# over the eigenvalues λ of their covariance — 1 if every treatment moved along the same line.

# %%
if dataset == "synthetic":
    display(profile_spread(measured).round(2))

# %% [markdown]
# In our runs (seeds 0, 1 and 2) the stand-in's treatments sit more than twice as far from DMSO as real
# ones (median shift 3.8–4.2 SDs against 1.6) but spread along fewer directions (1.7–1.8 against 2.5–2.6
# for the same treatments). Every one of the 135 hand-engineered features follows the same ~20 drawn
# parameters, and tubulin intensity, which moves dozens of them at once, outweighs the rest of every
# profile; a real CellProfiler feature also carries biology and noise of its own. Making the stand-in
# noisier, or averaging more cells, did not make it easier in our trials (a second field per well, a
# per-field focus drift, well-to-well noise sized feature by feature to the real wells), and neither did
# two more calibrated features, how unevenly tubulin and actin spread over a cell (their coefficients of
# variation), rendered as a weight of filaments against diffuse stain: mAP 0.51 against 0.51 without, over
# the same three seeds. What did help was making actin look more like phalloidin: bright stretches along
# the cell edges and the stain over the nucleus raised mAP from 0.48 to 0.55 and NSC from 0.45 to 0.56 over
# the three seeds (and brought the crops' actin contrast and DNA–actin correlation to the real ones). What
# would close the rest of the gap is more independent phenotype dimensions that survive the crops'
# segmentation.
#
# **What the stand-in still lacks.** It is a model of the measurements, not of the biology:
# - cells are ellipses with lobes, not segmented from real images; their variation from cell to cell is set
#   by hand (the per-well profiles hold only well means), and there are no dead cells, debris, out-of-focus
#   fields or illumination artefacts beyond a smooth vignetting;
# - tubulin filaments, actin fibres and chromatin are random textures with the right scale, not cytoskeleton;
#   bright tubulin is a little too faint — in a crop, real tubulin peaks at about 3.5 times its median, the
#   stand-in's at 2.9 (actin: 3.2 for both; DNA and actin correlate at +0.38, real +0.36) — and actin is
#   brighter than real (median 3,400 counts against 2,500);
#   multinucleated (Aurora) cells, micronuclei and mitotic figures are reduced to larger nuclei, ragged
#   outlines and round bright cells;
# - MoA effects move only the ~20 calibrated features; what the remaining ~500 CellProfiler features (and a
#   neural network) could see in real cells is absent, so absolute accuracies on the stand-in are not
#   BBBC021's;
# - it is **harder** than the real benchmark (the tables above): its treatments differ only in the calibrated
#   features, part of which the crops' segmentation loses, and spread along fewer independent directions
#   than real ones, and per-plate z-scoring costs it more than it costs real data;
# - crowding is low: nuclei sit farther apart than in real colonies (the crops' segmentation does not split
#   touching nuclei, so closer nuclei would merge), so neighbour counts and percent touching are below the
#   real ones;
# - texture is compared through a scale-free statistic (GLCM correlation) because CellProfiler's contrast
#   and ours are computed on differently scaled images.

# %% tags=["remove-cell"]
record_metrics(
    run_dir,
    "01_data_preparation",
    dataset=dataset,
    n_fields=int(report.n_fields),
    n_cells=len(store),
    cells_per_field=float(len(store) / max(report.n_fields, 1)),
    median_nucleus_area=float(np.median(store.cells["nucleus_area"])),
    **(
        {
            **{f"standin_handcrafted_{key}": float(v) for key, v in hard.iloc[0].items() if np.isfinite(v)},
            **{
                f"standin_ceiling_{key}": float(v) for key, v in stages.loc[CEILING].items() if np.isfinite(v)
            },
        }
        if dataset == "synthetic"
        else {}
    ),
)

# %% [markdown]
# ## Exercises
# 1. **What a smaller crop would keep.** Nuclei closer to the field's border than half a crop are skipped.
#    Using `centroids` (x, y of every nucleus found above) and `field.shape`, count how many of this
#    field's nuclei a 64-px crop would keep compared with the 96-px crops used here.
# 2. **Cells per well.** From `store.cells`, compute the number of cells in each well and its median per MoA.
#    Which MoAs leave fewer cells per well, and why might a treatment do that?
#
# A solution to both (expand it after trying):


# %% tags=["hide-input"]
def kept(centroids: np.ndarray, shape: tuple[int, ...], size: int) -> int:
    """Nuclei whose size × size crop lies inside the field."""
    half = size // 2
    cols, rows = centroids[:, 0], centroids[:, 1]
    inside = (rows >= half) & (cols >= half) & (rows + half <= shape[-2]) & (cols + half <= shape[-1])
    return int(inside.sum())


display(pd.Series({f"{size}-px crops": kept(np.asarray(centroids), field.shape, size) for size in (64, 96)}))
per_well = store.cells.groupby(["plate", "well", "moa"]).size().rename("cells").reset_index()
per_well.groupby("moa")["cells"].median().sort_values().rename("median cells per well").to_frame()

# %% [markdown]
# ## Summary
# - BBBC021's batches are weeks; most compounds live in one week, so batch effects can masquerade as biology.
# - Preparation: per-plate illumination correction → percentile scaling to 8 bit → nuclei → 96-px crops.
# - The crop store is what training and evaluation read; it is resumable and memory-mapped.
#
# ## What next
# [Notebook 2](02_augmentations) looks at the random views SimCLR learns from.
