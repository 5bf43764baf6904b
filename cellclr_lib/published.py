"""Published NSC / NSCB results on the *real* BBBC021, for display beside ours — never mixed with them.

Values are percentages of treatments as the cited papers report them (each row names its reference); the paper
this project reproduces did not have a readable results table, so its own numbers are absent rather than
invented. Every table built from here carries ``source = "published, real BBBC021"``.
"""

from __future__ import annotations

import pandas as pd

PUBLISHED_SOURCE = "published, real BBBC021"

#: (method, kind, NSC %, NSCB % or None, reference)
_PUBLISHED: list[tuple[str, str, float | None, float | None, str]] = [
    ("CellProfiler features + factor analysis", "hand-engineered", 94.0, None, "Ljosa et al. 2013"),
    ("VAE", "unsupervised", 90.0, None, "Lafarge et al. 2019"),
    ("CytoGAN", "unsupervised", 68.0, None, "Goldsborough et al. 2017 (as cited by Lafarge et al.)"),
    ("UMM-Discovery (whole images)", "unsupervised", 97.1, None, "Janssens et al. 2021"),
    ("Weakly supervised ResNet + TVN", "weakly supervised", 97.1, 87.0, "Broad DeepProfilerExperiments"),
    ("WS-DINO ViT-S/8", "weakly supervised", 98.0, 96.0, "Cross-Zamirski et al. 2022"),
    (
        "SimCLR (Perakis et al. 2021)",
        "self-supervised",
        None,
        None,
        "Perakis et al. 2021 (table not available)",
    ),
]


def published_results() -> pd.DataFrame:
    """The published results table with NSC, NSCB and drop in percent (NaN where not reported)."""
    table = pd.DataFrame(_PUBLISHED, columns=["method", "kind", "nsc", "nscb", "reference"])
    table[["nsc", "nscb"]] = table[["nsc", "nscb"]].astype(float)
    table["drop"] = table["nsc"] - table["nscb"]
    table["source"] = PUBLISHED_SOURCE
    return table
