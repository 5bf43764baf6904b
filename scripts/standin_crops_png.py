"""Crops of two crop stores side by side, per MoA (e.g. the stand-in before and after its calibration).

Usage: ``python scripts/standin_crops_png.py OLD_STORE NEW_STORE OUT.png``. ``docs/standin_old_vs_new.png``
was made with OLD_STORE prepared from the stand-in of commit f152c3a (``cellclr synth`` of that commit,
``compounds_per_moa=1``) and NEW_STORE from ``cellclr synth --preset small``.
"""

from __future__ import annotations

import sys

import numpy as np

from cellclr_lib.data.store import CropStore
from cellclr_lib.plots.standin import crop_rows

MOAS = ("DMSO", "Microtubule stabilizers", "Aurora kinase inhibitors", "Eg5 inhibitors")


def main(old: str, new: str, out: str, per_row: int = 6) -> None:
    rows = {}
    for moa in MOAS:
        for label, path in (("old", old), ("new", new)):
            store = CropStore.open(path)
            rows_of_moa = np.flatnonzero((store.cells["moa"] == moa).to_numpy())
            pick = rows_of_moa[:: max(len(rows_of_moa) // per_row, 1)][:per_row]
            rows[f"{label} stand-in\n{moa[:24]}"] = np.asarray(store.crops[pick])
    crop_rows(rows, per_row=per_row).savefig(out, dpi=50)


if __name__ == "__main__":
    main(*sys.argv[1:4])
