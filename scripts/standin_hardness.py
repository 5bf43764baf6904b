"""How hard is the stand-in, seed by seed? Hand-engineered NSC / NSCB on it beside real BBBC021's.

Usage: ``python scripts/standin_hardness.py OUT_DIR [--preset small] [--seeds 0 1 2] [--workers 2]``.

For every seed: ``cellclr synth`` → ``cellclr prep`` → hand-engineered features of every crop →
:func:`cellclr_lib.data.standin_check.hardness` (NSC, NSCB and mAP of the stand-in beside CellProfiler on the
real wells of the same treatments and of all 103), the number of MoAs whose signature correlates ≥ 0.7 with
the real one, how far and along how many directions the treatments spread
(:func:`~cellclr_lib.data.standin_check.profile_spread`), and the stand-in's ceiling: the same protocol on
its wells as drawn, before rendering (:func:`~cellclr_lib.data.standin_check.gap_stages`). One seed draws one
set of compounds, so a single run says little; this is the measurement behind notebook 1's prose and the
issue's acceptance. Each seed's folders stay in ``OUT_DIR`` (a rerun resumes them); about 2.5 minutes per
``small`` seed on 2 cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from cellclr_lib.baselines import run_baseline
from cellclr_lib.data.prep import prep_dataset
from cellclr_lib.data.standin_check import (
    CEILING,
    gap_stages,
    hardness,
    measured_wells,
    profile_spread,
    signature_correlations,
    standin_signatures,
)
from cellclr_lib.data.synth import generate, read_config
from cellclr_lib.features import read_feature_set

#: the columns of :func:`hardness` printed for the stand-in and for the real wells of its treatments.
BENCHMARK = (
    "nsc",
    "nscb",
    "nsc_selected",
    "nscb_selected",
    "map",
    "map_activity",
    "nsc_pooled_sd",
    "nscb_pooled_sd",
)


def seed_row(out: Path, preset: str, seed: int, workers: int) -> pd.Series:
    """The stand-in's row of :func:`hardness` for one seed, with the real same-treatment numbers beside it."""
    data = generate(out / f"seed{seed}" / "data", preset=preset, seed=seed, workers=workers, progress=False)
    crops = out / f"seed{seed}" / "crops"
    prep_dataset(data, crops, workers=workers, progress=False)
    features = run_baseline("handcrafted", crops, out / f"seed{seed}" / "handcrafted", workers=workers)
    measured = read_feature_set(features)
    table = hardness(measured)
    standin, real = table.iloc[0], table.iloc[1]
    spread = profile_spread(measured)
    correlations = signature_correlations(standin_signatures(measured_wells(measured)))
    ceiling = gap_stages(measured, read_config(data)).loc[CEILING]
    return pd.Series(
        {
            "treatments": int(standin["treatments"]),
            **{key: standin[key] for key in BENCHMARK},
            **{f"real_{key}": real[key] for key in BENCHMARK},
            **{f"ceiling_{key}": ceiling[key] for key in ("nsc", "nscb", "map")},
            "moas_r_ge_0.7": int((correlations >= 0.7).sum()),
            "median_shift": spread.iloc[0]["median_shift"],
            "real_median_shift": spread.iloc[1]["median_shift"],
            "directions": spread.iloc[0]["directions"],
            "real_directions": spread.iloc[1]["directions"],
        },
        name=seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for every seed's stand-in and crop store")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = pd.DataFrame([seed_row(args.out, args.preset, seed, args.workers) for seed in args.seeds])
    rows.loc["mean"] = rows.mean()
    print(rows.round(3).to_string())


if __name__ == "__main__":
    main()
