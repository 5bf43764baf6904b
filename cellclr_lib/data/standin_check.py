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

from cellclr_lib.data.calibration import FEATURES, plate_shifts, signatures
from cellclr_lib.data.standin_phenotype import Calibration
from cellclr_lib.features import FeatureSet
from cellclr_lib.profiles import Profiles, well_profiles

#: calibrated feature -> hand-engineered feature measuring it (only those with one).
MEASURED: dict[str, str] = {f.name: f.handcrafted for f in FEATURES if f.handcrafted}
#: measured features in the same units on real and stand-in cells: sizes in native pixels and scale-free shape
#: and texture statistics (intensities are not: CellProfiler measured raw images, we measure 8-bit crops).
SAME_UNITS: list[str] = [f.name for f in FEATURES if f.handcrafted and "Intensity" not in f.cellprofiler]


def sample_per_well(cells: pd.DataFrame, per_well: int, seed: int = 0) -> np.ndarray:
    """Sorted row positions of at most ``per_well`` random cells of every well (measuring all cells of the
    ``small`` stand-in takes minutes; a dozen per well give every well a mean)."""
    order = np.random.default_rng(seed).permutation(len(cells))
    shuffled = cells.iloc[order][["plate", "well"]]
    keep = shuffled.groupby(["plate", "well"], sort=False).cumcount().to_numpy() < per_well
    return np.sort(order[keep])


def measured_wells(features: FeatureSet) -> Profiles:
    """Per-well means of the hand-engineered features that measure calibrated ones (columns: :data:`MEASURED`).

    Ratios are ratios of the well means, as in the real table (:func:`calibration.calibrated_features`).
    """
    names = list(features.info["feature_names"])
    columns = [names.index(handcrafted) for handcrafted in MEASURED.values()]
    wells = well_profiles(np.asarray(features.features)[:, columns], features.cells, input_level="cell")
    values = pd.DataFrame(wells.values, columns=list(MEASURED))
    for feature in FEATURES:
        parts = [p.strip() for p in feature.cellprofiler.split("/")]
        if feature.name in MEASURED and len(parts) == 2:
            numerator, denominator = (_name_of(part) for part in parts)
            values[feature.name] = values[numerator] / values[denominator]
    return Profiles(meta=wells.meta, values=values.to_numpy())


def _name_of(cellprofiler: str) -> str:
    return next(f.name for f in FEATURES if f.cellprofiler == cellprofiler)


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
