"""What a notebook hands to the runner: its results, in ``run_dir/metrics/<notebook>.json``.

The notebooks import this small module rather than the runner (:mod:`cellclr_book.runner`), so a notebook
opened on its own (Colab, a reader's Jupyter) needs nothing but the library. The runner reads the files back,
merges them into ``run_dir/metrics.json`` and checks them against ``notebooks/expectations/<profile>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cellclr_lib.io import write_json_atomic

#: SimCLR epochs of the ``full`` profile (paper-like settings on real BBBC021). Kept here so that notebook 3's
#: projection of what a full run costs uses the runner's number without the notebook importing the runner.
FULL_PROFILE_EPOCHS = 200


def record_metrics(run_dir: str | Path, notebook: str, **values: Any) -> Path:
    """Merge ``values`` into ``run_dir/metrics/<notebook>.json`` (atomically): a notebook's results for the runner.

    Merging (not overwriting) lets a notebook record as it goes; atomic writes mean a killed kernel leaves the
    previous file whole, never a half-written one the runner would fail to parse.
    """
    path = Path(run_dir) / "metrics" / f"{notebook}.json"
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(values)
    return write_json_atomic(path, current)
