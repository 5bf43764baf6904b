"""Calibration of the synthetic stand-in on the real BBBC021 CellProfiler profiles (Ljosa et al. 2013).

The stand-in's cells, MoA phenotypes and batch effects are not invented: they are read from a small table,
``resources/standin_calibration.csv``, that :func:`calibration_table` derives from the shipped per-well
profiles (``scripts/calibrate_standin.py`` rewrites it; a test re-derives it and compares). The table holds,
for each feature of :data:`FEATURES`:

* ``dmso``: the distribution of the DMSO well means (``median``, ``q25``, ``q75``) and ``sd_well``, the
  within-plate standard deviation of DMSO wells pooled over plates — the unit of every shift below;
* ``batch``: ``week`` = spread (SD) of the week means of the DMSO plate means, and ``plate`` = spread of the
  DMSO plate means around their week's mean, both in ``sd_well`` units (how much a week / a plate moves a
  feature compared with the well-to-well noise inside a plate);
* ``moa``: each MoA's signature, the median over its treated wells of the shift from the mean of the same
  plate's DMSO wells, in ``sd_well`` units; ``treatment``: the same per (compound, concentration).

:data:`FEATURES` is the one place that says which CellProfiler measurement drives which renderer parameter
and which hand-engineered feature (:mod:`cellclr_lib.baselines.handcrafted`) measures it back on the crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from cellclr_lib.data.ljosa import WellProfiles, load_ljosa_wells

CALIBRATION_FILE = "standin_calibration.csv"
#: the label columns of the calibration table; every other column is a feature of :data:`FEATURES`.
LABEL_COLUMNS = ["kind", "stat", "moa", "compound", "concentration"]


@dataclass(frozen=True)
class CalibratedFeature:
    """A measurement the stand-in is calibrated on.

    Attributes:
        name: short name used as the table's column.
        cellprofiler: Ljosa column, or ``"A / B"`` for a ratio of two columns' well means.
        renderer: the :mod:`cellclr_lib.data.synthetic_render` cell parameter it sets (``""``: none, it
            follows from others).
        handcrafted: the hand-engineered feature measuring it on crops (``""``: not measured there), or
            ``"A / B"`` for the ratio of the well means of two of them (as for ``cellprofiler``).
        response: how the renderer parameter follows a target value ``t`` of the feature, relative to the
            DMSO median ``m`` (see :func:`cellclr_lib.data.standin_phenotype.response`): ``ratio`` = t / m
            (areas, intensities), ``deficit`` = (1 − t) / (1 − m) (solidity: lobe
            depth; texture correlation: fine-grained texture), ``inverse`` =
            (1/t − 1) / (1/m − 1) (form factor: outline roughness), ``aspect`` = the axis ratio
            1/√(1 − t²) of an ellipse of eccentricity t.
        gain: the renderer multiplier is ``1 + gain × (response − 1)``. Above 1 where the renderer parameter
            makes only part of what the measurement sees (the crops' segmentation adds its own raggedness to
            every outline; the few percent of mitotic cells are what moves a well's brightest-DNA ratio:
            Eg5 inhibitors' +10 SD, +25 % of that ratio, is about ten times the DMSO mitotic fraction).
    """

    name: str
    cellprofiler: str
    renderer: str
    handcrafted: str
    response: str = "ratio"
    gain: float = 1.0


#: CellProfiler feature -> renderer parameter -> hand-engineered feature: the single mapping of the stand-in.
FEATURES: tuple[CalibratedFeature, ...] = (
    CalibratedFeature("nucleus_area", "Nuclei_AreaShape_Area", "nucleus_area", "nucleus_area"),
    CalibratedFeature("cell_area", "Cells_AreaShape_Area", "cell_area", "cell_area"),
    CalibratedFeature(
        "nucleus_cell_area_ratio",
        "Nuclei_AreaShape_Area / Cells_AreaShape_Area",
        "",
        "nucleus_area / cell_area",
    ),
    CalibratedFeature(
        "nucleus_eccentricity",
        "Nuclei_AreaShape_Eccentricity",
        "nucleus_aspect",
        "nucleus_eccentricity",
        "aspect",
        2.0,
    ),
    CalibratedFeature(
        "cell_eccentricity", "Cells_AreaShape_Eccentricity", "cell_aspect", "cell_eccentricity", "aspect"
    ),
    CalibratedFeature(
        "nucleus_solidity", "Nuclei_AreaShape_Solidity", "nucleus_lobes", "nucleus_solidity", "deficit", 3.0
    ),
    CalibratedFeature(
        "cell_solidity", "Cells_AreaShape_Solidity", "cell_lobes", "cell_solidity", "deficit", 3.0
    ),
    CalibratedFeature(
        "nucleus_form_factor",
        "Nuclei_AreaShape_FormFactor",
        "nucleus_roughness",
        "nucleus_form_factor",
        "inverse",
        3.0,
    ),
    CalibratedFeature(
        "cell_form_factor", "Cells_AreaShape_FormFactor", "cell_roughness", "cell_form_factor", "inverse", 3.0
    ),
    CalibratedFeature("neighbours", "Nuclei_Neighbors_NumberOfNeighbors_10", "", "nucleus_neighbours"),
    CalibratedFeature(
        "percent_touching", "Cells_Neighbors_PercentTouching_3", "density", "cell_percent_touching"
    ),
    CalibratedFeature("dna_nucleus", "Nuclei_Intensity_MeanIntensity_CorrDAPI", "dna", "nucleus_mean_DAPI"),
    CalibratedFeature(
        "tubulin_cytoplasm", "Cytoplasm_Intensity_MeanIntensity_CorrTub", "tubulin", "cytoplasm_mean_Tubulin"
    ),
    CalibratedFeature(
        "actin_cytoplasm", "Cytoplasm_Intensity_MeanIntensity_CorrActin", "actin", "cytoplasm_mean_Actin"
    ),
    CalibratedFeature(
        "tubulin_nucleus", "Nuclei_Intensity_MeanIntensity_CorrTub", "", "nucleus_mean_Tubulin"
    ),
    CalibratedFeature("actin_nucleus", "Nuclei_Intensity_MeanIntensity_CorrActin", "", "nucleus_mean_Actin"),
    CalibratedFeature(
        "tubulin_nucleus_cytoplasm_ratio",
        "Nuclei_Intensity_MeanIntensity_CorrTub / Cytoplasm_Intensity_MeanIntensity_CorrTub",
        "tubulin_over_nucleus",
        "nucleus_mean_Tubulin / cytoplasm_mean_Tubulin",
    ),
    CalibratedFeature(
        "actin_nucleus_cytoplasm_ratio",
        "Nuclei_Intensity_MeanIntensity_CorrActin / Cytoplasm_Intensity_MeanIntensity_CorrActin",
        "actin_over_nucleus",
        "nucleus_mean_Actin / cytoplasm_mean_Actin",
    ),
    CalibratedFeature(
        "dna_condensation",
        "Nuclei_Intensity_MaxIntensity_CorrDAPI / Nuclei_Intensity_MeanIntensity_CorrDAPI",
        "mitotic",
        "",  # not measurable on the crops: 8-bit scaling clips the brightest chromatin
        "ratio",
        30.0,
    ),
    CalibratedFeature(
        "dna_texture",
        "Nuclei_Texture_Correlation_CorrDAPI_3_0",
        "dna_texture",
        "nucleus_correlation_d3_DAPI",
        "deficit",
    ),
    CalibratedFeature(
        "tubulin_texture",
        "Cells_Texture_Correlation_CorrTub_3_0",
        "tubulin_texture",
        "cell_correlation_d3_Tubulin",
        "deficit",
    ),
    CalibratedFeature(
        "actin_texture",
        "Cells_Texture_Correlation_CorrActin_3_0",
        "actin_texture",
        "cell_correlation_d3_Actin",
        "deficit",
    ),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


def calibrated_features(wells: WellProfiles) -> pd.DataFrame:
    """The :data:`FEATURES` of every well (rows of ``wells``), ratios computed from the well means."""
    columns = {}
    for feature in FEATURES:
        parts = [wells.features[name.strip()] for name in feature.cellprofiler.split("/")]
        columns[feature.name] = parts[0] / parts[1] if len(parts) == 2 else parts[0]
    return pd.DataFrame(columns)


def plate_shifts(values: pd.DataFrame, meta: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Every well's shift from its plate's DMSO mean in units of the pooled within-plate DMSO SD, and that SD.

    Shared by the real profiles and the stand-in's measurements, so both signatures mean the same thing. The
    pooled SD, not a robust one, on purpose: real DMSO wells have heavy tails for shape features, and the
    stand-in's Gaussian well noise in robust units would make those features dominate every profile.
    """
    dmso = values[meta["is_control"].to_numpy()]
    plates = meta.loc[meta["is_control"], "plate"].to_numpy()
    centre = dmso.groupby(plates).mean()
    sd_well = np.sqrt(dmso.groupby(plates).var(ddof=1).mean())
    shifts = (values - centre.loc[meta["plate"]].to_numpy()) / sd_well
    return shifts, sd_well


def signatures(
    shifts: pd.DataFrame, meta: pd.DataFrame, keys: list[str], statistic: str = "median"
) -> pd.DataFrame:
    """Median (or ``statistic``) shift of the treated wells per group of ``keys`` (e.g. ``["moa"]``): the
    phenotype signature; the mean per treatment is its profile as the benchmark averages wells."""
    treated = ~meta["is_control"].to_numpy()
    groups = [meta.loc[treated, key].to_numpy() for key in keys]
    return shifts[treated].groupby(groups).agg(statistic)


def _batch_spread(values: pd.DataFrame, meta: pd.DataFrame, sd_well: pd.Series) -> pd.DataFrame:
    """Week and plate spread of the DMSO plate means, in ``sd_well`` units."""
    control = meta["is_control"].to_numpy()
    plate_means = values[control].groupby(meta.loc[control, "plate"].to_numpy()).mean()
    week = plate_means.index.map(lambda plate: plate.split("_")[0])
    week_means = plate_means.groupby(week).mean()
    within_week = plate_means - week_means.loc[week].to_numpy()
    return pd.DataFrame(
        {"week": week_means.std(ddof=1) / sd_well, "plate": within_week.std(ddof=1) / sd_well}
    ).T


def calibration_table(wells: WellProfiles | None = None) -> pd.DataFrame:
    """The stand-in's calibration table from the real profiles (the shipped file is this, rounded)."""
    wells = wells if wells is not None else load_ljosa_wells()
    values, meta = calibrated_features(wells), wells.meta
    shifts, sd_well = plate_shifts(values, meta)
    dmso = values[meta["is_control"].to_numpy()]
    blocks = [
        _labelled(dmso.median(), "dmso", "median"),
        _labelled(dmso.quantile(0.25), "dmso", "q25"),
        _labelled(dmso.quantile(0.75), "dmso", "q75"),
        _labelled(sd_well, "dmso", "sd_well"),
    ]
    for stat, row in _batch_spread(values, meta, sd_well).iterrows():
        blocks.append(_labelled(row, "batch", str(stat)))
    for moa, row in signatures(shifts, meta, ["moa"]).iterrows():
        blocks.append(_labelled(row, "moa", "signature", moa=str(moa)))
    by_treatment = signatures(shifts, meta, ["moa", "compound", "concentration"])
    for (moa, compound, concentration), row in by_treatment.iterrows():
        blocks.append(_labelled(row, "treatment", "signature", str(moa), str(compound), float(concentration)))
    table = pd.DataFrame(blocks).reset_index(drop=True)
    table[list(FEATURE_NAMES)] = table[list(FEATURE_NAMES)].astype(float).map(_round)
    return table[LABEL_COLUMNS + list(FEATURE_NAMES)]


def _labelled(row: pd.Series, kind: str, stat: str, moa: str = "", compound: str = "", concentration=0.0):
    return {
        "kind": kind,
        "stat": stat,
        "moa": moa,
        "compound": compound,
        "concentration": concentration,
        **row,
    }


def _round(value: float) -> float:
    """Five significant digits: enough for the renderer, stable across platforms' last-bit differences."""
    return float(f"{value:.5g}")


def write_calibration(path: str | Path) -> Path:
    """Derive the table and write it as CSV to ``path`` (the resource file, or anywhere)."""
    path = Path(path)
    calibration_table().to_csv(path, index=False, float_format="%.6g")
    return path


def shipped_calibration_path() -> Path:
    """Path of the shipped calibration table."""
    return Path(str(resources.files("cellclr_lib.data") / "resources" / CALIBRATION_FILE))


def load_calibration(path: str | Path | None = None) -> pd.DataFrame:
    """The calibration table (the shipped one by default), labels as strings, concentrations as floats."""
    table = pd.read_csv(path or shipped_calibration_path(), keep_default_na=False)
    table["concentration"] = table["concentration"].astype(float)
    return table
