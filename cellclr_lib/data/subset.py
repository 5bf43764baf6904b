"""Plate subsets that keep the whole benchmark: enough real BBBC021 for one Colab session.

Why a subset works: BBBC021's 103 treatments sit on 17 *plate maps* (layouts), each printed on two or three
replicate plates of one week, and no treatment sits on two maps. One plate of each map therefore keeps every
treatment, every week and DMSO on every chosen plate — the same 103 NSC and 92 NSCB queries, judged on one well
per treatment instead of three — for a third of the 55 zips. Because the maps share no treatment, no smaller
set of plates can keep all treatments.

The plates are chosen from the metadata only (no images), deterministically, by a greedy set cover of the
treatments and weeks: it is written for any BBBC021-format metadata, so the synthetic stand-in's own (smaller)
plate list comes from the same code. :func:`coverage` says what a plate list keeps, including how many NSC and
NSCB queries stay evaluable under the exact protocol of :mod:`cellclr_lib.metrics.nsc`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cellclr_lib.data.metadata import benchmark_fields, natural_order
from cellclr_lib.errors import CellclrError
from cellclr_lib.metrics.nsc import evaluate_treatments
from cellclr_lib.profiles import treatment_profiles, well_profiles


def cover_plates(fields: pd.DataFrame) -> list[str]:
    """The fewest plates (greedy set cover) holding every treatment and every week of ``fields``.

    ``fields`` is a :func:`~cellclr_lib.data.metadata.benchmark_fields` table. Each step takes the plate that
    adds the most missing (treatment, week) items; ties go to the plate with more benchmark fields (more cells
    for the same ~0.8 GB zip), then to the first name, so the list never depends on row order. Returned in week
    order (Week1 … Week10).
    """
    items = _plate_items(fields)
    sizes = fields.groupby("plate").size()
    missing = set().union(*items.values())
    chosen: list[str] = []
    while missing:
        best = min(items, key=lambda p: (-len(items[p] & missing), -sizes[p], p))
        chosen.append(best)
        missing -= items[best]
    return natural_order(chosen)


def _plate_items(fields: pd.DataFrame) -> dict[str, set[tuple[str, ...]]]:
    """What each plate contributes to the cover: its week and its treatments (DMSO is on every plate)."""
    treated = fields[~fields["is_control"]]
    items: dict[str, set[tuple[str, ...]]] = {
        plate: {("week", week)} for plate, week in fields.groupby("plate")["batch"].first().items()
    }
    for plate, group in treated.groupby("plate"):
        items[plate] |= {
            ("treatment", c, f"{x:g}") for c, x in zip(group["compound"], group["concentration"], strict=True)
        }
    return items


#: named subsets: name -> chooser of plates from a benchmark-fields table.
SUBSETS: dict[str, Callable[[pd.DataFrame], list[str]]] = {"colab": cover_plates}


@dataclass(frozen=True)
class Coverage:
    """What a plate list keeps of the benchmark; ``*_total`` are the counts on the whole metadata.

    ``*_evaluable``: queries with at least one eligible neighbour (the metric's denominator).
    ``*_solvable``: queries with an eligible neighbour of their own MoA — the best accuracy any encoder can
    reach on the subset is ``solvable / evaluable``.
    """

    plates: tuple[str, ...]
    plates_total: int
    treatments: int
    treatments_total: int
    weeks: int
    weeks_total: int
    moas: int
    moas_total: int
    fields: int
    dmso_wells: int
    nsc_evaluable: int
    nsc_solvable: int
    nscb_evaluable: int
    nscb_solvable: int

    def summary(self) -> str:
        """A few lines for the terminal (``cellclr download --subset ... --dry-run``)."""
        return (
            f"{len(self.plates)} of {self.plates_total} plates; {self.treatments}/{self.treatments_total} "
            f"treatments, {self.weeks}/{self.weeks_total} weeks, {self.moas}/{self.moas_total} MoAs; "
            f"{self.fields} benchmark fields ({self.dmso_wells} DMSO wells)\n"
            f"evaluable queries: NSC {self.nsc_evaluable} ({self.nsc_solvable} with a same-MoA candidate), "
            f"NSCB {self.nscb_evaluable} ({self.nscb_solvable} with a same-MoA candidate)"
        )


def coverage(fields: pd.DataFrame, plates: Sequence[str]) -> Coverage:
    """Treatments, weeks, MoAs, fields, DMSO wells and evaluable NSC/NSCB queries kept by ``plates``.

    The queries are counted by the library's own metric on placeholder profiles: each well's profile is the
    one-hot code of its MoA, so a query has a neighbour exactly when it has an eligible candidate, and that
    neighbour is right exactly when an eligible candidate shares its MoA.
    """
    unknown = sorted(set(plates) - set(fields["plate"]))
    if unknown:
        raise CellclrError(
            f"plate(s) {', '.join(unknown)} hold no benchmark field", fix="check the plate names"
        )
    kept = fields[fields["plate"].isin(plates)].reset_index(drop=True)
    onehot = pd.get_dummies(kept["moa"]).to_numpy(dtype=np.float32)
    wells = well_profiles(onehot, kept, input_level="well")
    metrics = evaluate_treatments(treatment_profiles(wells)).metrics
    treated = kept[~kept["is_control"]]
    every = fields[~fields["is_control"]]
    return Coverage(
        plates=tuple(natural_order(plates)),
        plates_total=fields["plate"].nunique(),
        treatments=len(treated.drop_duplicates(["compound", "concentration"])),
        treatments_total=len(every.drop_duplicates(["compound", "concentration"])),
        weeks=kept["batch"].nunique(),
        weeks_total=fields["batch"].nunique(),
        moas=treated["moa"].nunique(),
        moas_total=every["moa"].nunique(),
        fields=len(kept),
        dmso_wells=len(kept[kept["is_control"]].drop_duplicates(["plate", "well"])),
        nsc_evaluable=metrics["nsc_total"],
        nsc_solvable=metrics["nsc_correct"],
        nscb_evaluable=metrics["nscb_total"],
        nscb_solvable=metrics["nscb_correct"],
    )


def subset_plates(
    name: str, image_csv: str | Path | None = None, moa_csv: str | Path | None = None
) -> list[str]:
    """The plates of the named subset, computed from this metadata (the shipped copy by default)."""
    if name not in SUBSETS:
        raise CellclrError(f"unknown subset {name!r}", fix=f"use one of {', '.join(SUBSETS)}")
    return SUBSETS[name](benchmark_fields(image_csv, moa_csv))


def add_argument(parser: argparse.ArgumentParser) -> None:
    """``--subset NAME`` for the commands that take ``--plates`` (download, prep)."""
    parser.add_argument(
        "--subset",
        choices=sorted(SUBSETS),
        help="instead of --plates: a plate list computed from the metadata; colab = one plate of each plate "
        "map, all 103 treatments and 10 weeks (see the setup page)",
    )


def resolve_plates(
    args: argparse.Namespace, image_csv: str | Path | None = None, moa_csv: str | Path | None = None
) -> list[str] | None:
    """``args.plates``, or the plates of ``args.subset`` from this metadata; both at once is an error."""
    if args.subset is None:
        return args.plates
    if args.plates:
        raise CellclrError("--plates and --subset exclude each other", fix="pass only one of them")
    return subset_plates(args.subset, image_csv, moa_csv)
