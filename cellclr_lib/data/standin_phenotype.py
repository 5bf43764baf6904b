"""From the calibration table to the renderer's parameters: what a well of the stand-in looks like.

A well's *targets* are values of the calibrated CellProfiler features (:data:`calibration.FEATURES`): the DMSO
median plus ``sd_well`` times the sum of the treatment's real signature, the plate's week and plate effects and
a well-to-well deviation — all in the real data's within-plate DMSO standard deviations. Each renderer
parameter is then a multiplier on the renderer's DMSO value (1 for DMSO), given by the feature's ``response``
(see :func:`response`). So MoA effects, their sizes and the batch effects all come from the real profiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cellclr_lib.data.calibration import FEATURE_NAMES, FEATURES, load_calibration

#: the renderer parameters the calibration drives (each set by exactly one feature).
RENDERER_PARAMETERS: tuple[str, ...] = tuple(f.renderer for f in FEATURES if f.renderer)

#: targets are kept inside these bounds (an extreme signature plus batch effects must not make a solidity
#: above 1 or a negative area).
_BOUNDS = {
    "eccentricity": (0.05, 0.97),
    "solidity": (0.5, 0.995),
    "form_factor": (0.1, 0.97),
    "texture": (0.0, 0.995),
}


def response(kind: str, target: np.ndarray | float, median: float) -> np.ndarray:
    """Renderer multiplier for a feature value ``target`` relative to its DMSO ``median`` (1 at the median).

    ``ratio``: t/m (areas, intensities); ``deficit``: (1 − t)/(1 − m) (1 − solidity grows with the depth of an
    outline's lobes, 1 − texture correlation with the amplitude of fine texture);
    ``inverse``: (1/t − 1)/(1/m − 1) (1/form factor − 1 grows with outline roughness); ``aspect``: the excess
    axis ratio (a(t) − 1)/(a(m) − 1) of ellipses with eccentricity t and m, a(e) = 1/√(1 − e²).
    """
    t = np.asarray(target, dtype=float)
    if kind == "ratio":
        return t / median
    if kind == "deficit":
        return (1 - t) / (1 - median)
    if kind == "inverse":
        return (1 / t - 1) / (1 / median - 1)
    if kind == "aspect":
        return _excess_axis_ratio(t) / _excess_axis_ratio(median)
    raise ValueError(f"unknown response {kind!r}")


def _excess_axis_ratio(eccentricity: np.ndarray | float) -> np.ndarray:
    """a − 1 for the axis ratio a = 1/√(1 − e²) of an ellipse of eccentricity e."""
    return 1 / np.sqrt(1 - np.square(eccentricity)) - 1


@dataclass(frozen=True)
class Calibration:
    """The calibration table, parsed: DMSO ``median``, quartiles and ``sd_well``, batch spreads, signatures."""

    median: pd.Series
    q25: pd.Series
    q75: pd.Series
    sd_well: pd.Series
    week: pd.Series
    plate: pd.Series
    moa: pd.DataFrame  # index: MoA
    treatment: pd.DataFrame  # index: (compound, concentration)

    @classmethod
    def load(cls, table: pd.DataFrame | None = None) -> Calibration:
        """Parse ``table`` (default: the shipped calibration)."""
        table = table if table is not None else load_calibration()
        stat = table.set_index(["kind", "stat"])[list(FEATURE_NAMES)]
        treated = table[table["kind"] == "treatment"]
        return cls(
            median=stat.loc[("dmso", "median")],
            q25=stat.loc[("dmso", "q25")],
            q75=stat.loc[("dmso", "q75")],
            sd_well=stat.loc[("dmso", "sd_well")],
            week=stat.loc[("batch", "week")],
            plate=stat.loc[("batch", "plate")],
            moa=table[table["kind"] == "moa"].set_index("moa")[list(FEATURE_NAMES)],
            treatment=treated.set_index(["compound", treated["concentration"].round(6)])[list(FEATURE_NAMES)],
        )

    def signature(self, moa: str, compound: str, concentration: float) -> pd.Series:
        """The real signature of a treatment (its MoA's where the table lacks it; zeros for DMSO)."""
        key = (compound, round(float(concentration), 6))
        if key in self.treatment.index:
            return self.treatment.loc[key]
        if moa in self.moa.index:
            return self.moa.loc[moa]
        return pd.Series(0.0, index=list(FEATURE_NAMES))

    def targets(self, shift_sd: pd.Series) -> pd.Series:
        """Feature values ``median + sd_well × shift_sd``, kept inside physical bounds."""
        values = self.median + self.sd_well * shift_sd
        for name in values.index:
            low, high = next((b for key, b in _BOUNDS.items() if name.endswith(key)), (None, None))
            floor = 0.35 * self.median[name] if low is None else low
            values[name] = float(np.clip(values[name], floor, high))
        return values

    def renderer_multipliers(self, targets: pd.Series) -> dict[str, float]:
        """Each renderer parameter's multiplier of its DMSO value for these feature ``targets``."""
        return {
            f.renderer: max(
                1 + f.gain * (float(response(f.response, targets[f.name], self.median[f.name])) - 1), 0.05
            )
            for f in FEATURES
            if f.renderer
        }
