"""How close the stand-in measures to real BBBC021: its signatures and DMSO values beside the calibration's.

The stand-in is measured with the project's hand-engineered features (:mod:`cellclr_lib.baselines.handcrafted`)
on its crops; each calibrated feature that has a hand-engineered counterpart (:data:`calibration.FEATURES`) is
averaged per well, and the same shift definition as for the real profiles (:func:`calibration.plate_shifts`)
gives its MoA signatures. Two numbers per MoA matter: the Pearson correlation of the stand-in's and the real
signature over these features (does the stand-in move the same features the same way?), and the DMSO medians
(are the cells the right size and shape?).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellclr_lib.data.calibration import FEATURES, calibrated_features, plate_shifts, signatures
from cellclr_lib.data.ljosa import WellProfiles, load_ljosa_wells
from cellclr_lib.data.standin_phenotype import Calibration
from cellclr_lib.data.synth import SynthConfig, well_shift
from cellclr_lib.evaluate import evaluate_wells
from cellclr_lib.features import FeatureSet
from cellclr_lib.profiles import Profiles, well_profiles

#: calibrated feature -> hand-engineered feature measuring it (only those with one; ``"A / B"``: a ratio).
MEASURED: dict[str, str] = {f.name: f.handcrafted for f in FEATURES if f.handcrafted}
#: measured features in the same units on real and stand-in cells: sizes in native pixels and scale-free shape
#: and texture statistics (intensities are not: CellProfiler measured raw images, we measure 8-bit crops
#: rescaled per plate, which moves even their ratios).
SAME_UNITS: list[str] = [f.name for f in FEATURES if f.handcrafted and "Intensity" not in f.cellprofiler]


def measured_wells(features: FeatureSet) -> Profiles:
    """Per-well means of the hand-engineered features that measure calibrated ones (columns: :data:`MEASURED`).

    Ratios are ratios of the well means, as in the real table (:func:`calibration.calibrated_features`).
    """
    names = list(features.info["feature_names"])
    parts = {name: [p.strip() for p in handcrafted.split("/")] for name, handcrafted in MEASURED.items()}
    used = sorted({p for ps in parts.values() for p in ps}, key=names.index)
    columns = [names.index(name) for name in used]
    wells = well_profiles(np.asarray(features.features)[:, columns], features.cells, input_level="cell")
    means = pd.DataFrame(wells.values, columns=used)
    values = pd.DataFrame(
        {name: means[ps[0]] / means[ps[1]] if len(ps) == 2 else means[ps[0]] for name, ps in parts.items()}
    )
    return Profiles(meta=wells.meta, values=values.to_numpy())


def standin_signatures(wells: Profiles) -> pd.DataFrame:
    """MoA signatures of the stand-in (MoAs × :data:`MEASURED`), defined as for the real profiles."""
    values = pd.DataFrame(wells.values, columns=list(MEASURED))
    shifts, _ = plate_shifts(values, wells.meta.reset_index(drop=True))
    return signatures(shifts, wells.meta.reset_index(drop=True), ["moa"])


def signature_correlations(standin: pd.DataFrame, calibration: Calibration | None = None) -> pd.Series:
    """Per MoA, the Pearson correlation of the stand-in's signature with the real one over :data:`MEASURED`."""
    real = (calibration or Calibration.load()).moa[list(MEASURED)]
    common = standin.index.intersection(real.index)
    return pd.Series(
        [float(np.corrcoef(standin.loc[moa], real.loc[moa])[0, 1]) for moa in common], index=common, name="r"
    )


def dmso_comparison(wells: Profiles, calibration: Calibration | None = None) -> pd.DataFrame:
    """Real DMSO median / IQR beside the stand-in's DMSO median, per feature of :data:`SAME_UNITS`, with the
    verdicts.

    ``inside_iqr``: the stand-in's median lies in the real interquartile range of DMSO wells;
    ``within_20pct``: it is within ±20 % of the real median.
    """
    calibration = calibration or Calibration.load()
    control = wells.meta["is_control"].to_numpy()
    standin = pd.DataFrame(wells.values[control], columns=list(MEASURED)).median()[SAME_UNITS]
    out = pd.DataFrame(
        {
            "real_median": calibration.median[SAME_UNITS],
            "real_q25": calibration.q25[SAME_UNITS],
            "real_q75": calibration.q75[SAME_UNITS],
            "standin_median": standin,
        }
    )
    out["inside_iqr"] = out["standin_median"].between(out["real_q25"], out["real_q75"])
    out["within_20pct"] = (out["standin_median"] / out["real_median"] - 1).abs() <= 0.2
    return out


def hardness(features: FeatureSet, ljosa: WellProfiles | None = None) -> pd.DataFrame:
    """Is the stand-in as hard as real BBBC021? NSC / NSCB of hand-engineered features on the stand-in beside
    CellProfiler's on the real wells — of the stand-in's own treatments, and of all 103.

    Every row goes through the same two protocols: per-plate DMSO z-score, mean of wells, Pearson (``nsc``,
    ``nscb``), and the same after the cytominer vignette's feature selection (``*_selected``;
    :func:`cellclr_lib.real_benchmark.vignette_recipe`). The first protocol also gives mean average precision
    (:mod:`cellclr_lib.metrics.map`): ``map`` (MoA consistency of the treatment profiles) and ``map_activity``
    (wells retrieved against DMSO). mAP ranks every treatment, not only the nearest one, so it moves less
    from one seed's draw of compounds to the next than NSC (``small``, seeds 0–2: mAP 0.53–0.58, NSC
    0.52–0.62): the better number to compare variants of the stand-in by (NaN without replicate wells, as
    on ``tiny``). ``nsc_pooled_sd`` / ``nscb_pooled_sd``: the first protocol with each plate's DMSO mean
    removed but every feature divided by its within-plate DMSO SD pooled over plates
    (:func:`_pooled_sd_shifts`), not by the SD of the plate's six DMSO wells — how much the noise of those
    six-well estimates costs. The stand-in's treatments are a subset, and which compounds it drew changes how
    hard NSCB is, so the middle row is the fair comparison.
    """
    from cellclr_lib.real_benchmark import vignette_recipe

    table = {}
    for label, (wells, names) in _benchmark_rows(features, ljosa).items():
        selected, kept = vignette_recipe(wells, names)
        table[label] = {
            "features": len(names),
            **_protocol(wells),
            "features_selected": len(kept),
            "nsc_selected": selected.metrics["nsc"],
            "nscb_selected": selected.metrics["nscb"],
        }
    return pd.DataFrame(table).T


def _protocol(wells: Profiles) -> dict[str, float]:
    """NSC, NSCB and mAP of ``wells`` under :func:`hardness`'s protocol, and NSC / NSCB with pooled SDs."""
    metrics = ("nsc", "map") if _has_replicates(wells) else ("nsc",)
    plain = evaluate_wells(
        wells, normalization="dmso-zscore", aggregate="mean", similarity="pearson", metrics=metrics
    )
    pooled = evaluate_wells(_pooled_sd_shifts(wells), aggregate="mean", similarity="pearson")
    return {
        "treatments": plain.metrics["n_treatments"],
        "nsc": plain.metrics["nsc"],
        "nscb": plain.metrics["nscb"],
        "map": plain.metrics.get("map_consistency", np.nan),
        "map_activity": plain.metrics.get("map_activity", np.nan),
        "nsc_pooled_sd": pooled.metrics["nsc"],
        "nscb_pooled_sd": pooled.metrics["nscb"],
    }


#: the row of :func:`gap_stages` that holds the stand-in's ceiling (its wells as drawn).
CEILING = "stand-in: calibrated features as drawn (ceiling)"


def gap_stages(
    features: FeatureSet, config: SynthConfig | None, ljosa: WellProfiles | None = None
) -> pd.DataFrame:
    """Where the stand-in loses to real BBBC021, stage by stage, on the stand-in's own treatments.

    Each row goes through :func:`hardness`'s protocol (the columns of :func:`_protocol`):

    1. REAL wells, all 516 CellProfiler features;
    2. REAL wells, only the calibrated features (:data:`MEASURED`): what the calibration keeps;
    3. the stand-in's wells as drawn (:func:`drawn_wells`, before any image): its **ceiling**, what a
       perfect renderer measured back perfectly would reach (left out without ``config``);
    4. the same features measured back on the stand-in's crops (:func:`measured_wells`): what rendering and
       segmentation keep;
    5. all hand-engineered features (the first row of :func:`hardness`).

    ``config``: the stand-in's configuration (:func:`cellclr_lib.data.synth.read_config`), which decides
    the draws of row 3.
    """
    ljosa = ljosa if ljosa is not None else load_ljosa_wells()
    rows = _benchmark_rows(features, ljosa)
    standin, _ = rows["stand-in: hand-engineered features"]
    real, _ = rows["REAL BBBC021, the stand-in's treatments: CellProfiler"]
    calibrated = well_profiles(
        calibrated_features(ljosa)[list(MEASURED)].to_numpy(), ljosa.meta, input_level="well"
    )
    stages = {
        "REAL: all CellProfiler features": real,
        "REAL: the calibrated features only": _of_treatments(calibrated, standin.meta),
        CEILING: drawn_wells(standin.meta, config) if config is not None else None,
        "stand-in: calibrated features measured on crops": measured_wells(features),
        "stand-in: all hand-engineered features": standin,
    }
    return pd.DataFrame({label: _protocol(wells) for label, wells in stages.items() if wells is not None}).T


def drawn_wells(meta: pd.DataFrame, config: SynthConfig) -> Profiles:
    """The calibrated features (:data:`MEASURED`) each well of ``meta`` was drawn with, before any image: the
    shift :func:`cellclr_lib.data.synth.well_shift` gives the renderer, in real DMSO SDs."""
    calibration = Calibration.load()
    meta = meta.reset_index(drop=True)
    drawn = [well_shift(row, config, calibration)[list(MEASURED)] for row in meta.to_dict("records")]
    return Profiles(meta, np.array(drawn, dtype=np.float64).reshape(len(meta), len(MEASURED)))


def _has_replicates(wells: Profiles) -> bool:
    """Does some treatment have two wells? Activity mAP ranks a well's replicates against DMSO, so without
    any (a ``tiny`` stand-in draws one well per treatment) mAP is left out (NaN), not an error."""
    treated = wells.meta[~wells.meta["is_control"].to_numpy()]
    return bool((treated.groupby(["compound", "concentration"]).size() >= 2).any())


def _pooled_sd_shifts(wells: Profiles) -> Profiles:
    """Wells as shifts from their plate's DMSO mean in pooled within-plate DMSO SDs (0 where that SD is 0)."""
    meta = wells.meta.reset_index(drop=True)
    shifts, _ = plate_shifts(pd.DataFrame(np.asarray(wells.values, dtype=np.float64)), meta)
    values = shifts.to_numpy()
    return Profiles(wells.meta, np.where(np.isfinite(values), values, 0.0))


def _benchmark_rows(
    features: FeatureSet, ljosa: WellProfiles | None
) -> dict[str, tuple[Profiles, list[str]]]:
    """Well profiles and feature names of the stand-in and of the real wells (its treatments; all 103)."""
    from cellclr_lib.real_benchmark import ljosa_profiles

    ljosa = ljosa if ljosa is not None else load_ljosa_wells()
    real = ljosa_profiles(ljosa)
    standin = well_profiles(np.asarray(features.features), features.cells, input_level="cell")
    return {
        "stand-in: hand-engineered features": (standin, list(features.info["feature_names"])),
        "REAL BBBC021, the stand-in's treatments: CellProfiler": (
            _of_treatments(real, standin.meta),
            list(ljosa.features.columns),
        ),
        "REAL BBBC021, all 103 treatments: CellProfiler": (real, list(ljosa.features.columns)),
    }


def _of_treatments(wells: Profiles, standin: pd.DataFrame) -> Profiles:
    """The DMSO wells of ``wells`` and its wells of the treatments (compound, concentration) in ``standin``."""
    drawn = set(zip(standin["compound"], standin["concentration"].round(6), strict=True))
    keys = zip(wells.meta["compound"], wells.meta["concentration"].round(6), strict=True)
    same = wells.meta["is_control"].to_numpy() | np.array([key in drawn for key in keys])
    return Profiles(wells.meta[same].reset_index(drop=True), np.asarray(wells.values)[same])


def profile_spread(features: FeatureSet, ljosa: WellProfiles | None = None) -> pd.DataFrame:
    """How far treatments move from DMSO, and along how many independent directions: stand-in vs real.

    Each treatment's profile is the mean over its wells of the shift from the same plate's DMSO mean, in
    pooled within-plate DMSO SDs (:func:`_pooled_sd_shifts`, as the signatures). ``median_shift``: the
    median over features of the mean absolute shift — how far treatments sit from DMSO, in noise units;
    ``directions``: the participation ratio (Σλ)² / Σλ² of the treatment profiles' covariance eigenvalues λ —
    about how many independent directions the treatments spread along. Why it matters: every stand-in
    feature follows the same ~20 drawn parameters, so its treatments can lie far from DMSO and still crowd
    along fewer directions than real cells, where each feature also carries biology of its own.
    """
    table = {}
    for label, (wells, names) in _benchmark_rows(features, ljosa).items():
        shifts = pd.DataFrame(np.asarray(_pooled_sd_shifts(wells).values))
        meta = wells.meta.reset_index(drop=True)
        profiles = signatures(shifts, meta, ["compound", "concentration"], statistic="mean").to_numpy()
        eigenvalues = np.linalg.svd(profiles - profiles.mean(axis=0), compute_uv=False) ** 2
        table[label] = {
            "treatments": len(profiles),
            "features": len(names),
            "median_shift": float(np.median(np.abs(profiles).mean(axis=0))),
            "directions": float(eigenvalues.sum() ** 2 / np.square(eigenvalues).sum()),
        }
    return pd.DataFrame(table).T
