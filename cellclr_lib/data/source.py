"""Which dataset a directory holds — the synthetic stand-in or real BBBC021 — and a banner that says so.

Every notebook prints this banner near its top and records the dataset kind in its metrics, so no number from
the stand-in is ever mistaken for a BBBC021 result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cellclr_lib.data.metadata import IMAGE_CSV_NAME
from cellclr_lib.errors import CellclrError
from cellclr_lib.io import read_json

SYNTHETIC_MARKER = "synthetic.json"
DatasetKind = Literal["synthetic", "bbbc021"]


def dataset_kind(root: str | Path) -> DatasetKind:
    """``"synthetic"`` when ``root`` holds the generator's ``synthetic.json``, else ``"bbbc021"``.

    The marker is looked at first: the stand-in's Cell Painting panel has a LoadData table, not BBBC021's.
    """
    root = Path(root)
    if (root / SYNTHETIC_MARKER).is_file():
        return "synthetic"
    if not (root / IMAGE_CSV_NAME).is_file():
        raise CellclrError(
            f"no {IMAGE_CSV_NAME} here: not a BBBC021-format dataset",
            path=root,
            fix="run `cellclr synth --out DIR` (stand-in) or `cellclr download --out DIR` (real data)",
        )
    return "bbbc021"


def dataset_banner(root: str | Path) -> str:
    """A Markdown banner naming the dataset a notebook runs on (and the stand-in's preset and seed)."""
    root = Path(root)
    if dataset_kind(root) == "bbbc021":
        return f"**Dataset: real BBBC021** (`{root}`)."
    info = read_json(root / SYNTHETIC_MARKER, fix="delete the folder and run `cellclr synth` again")
    return (
        f"**Dataset: the synthetic stand-in** (preset `{info.get('preset')}`, seed {info.get('seed')}, "
        f"`{root}`). It has BBBC021's layout and metadata but simulated cells: numbers here are not BBBC021 "
        "results and are not comparable with published ones."
    )
