"""A notebook opened alone makes its inputs, or says exactly what to run when it cannot (the real data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellclr_lib.errors import CellclrError
from cellclr_lib.prerequisites import ensure_dataset, ensure_simclr_features, prerequisites_note


def test_real_data_is_never_invented_the_error_names_the_download(tmp_path: Path) -> None:
    with pytest.raises(CellclrError, match="no BBBC021 here") as raised:
        ensure_dataset("bbbc021", tmp_path, preset="tiny", seed=0, workers=1)
    assert f"cellclr download --out {tmp_path}" in str(raised.value)
    with pytest.raises(CellclrError, match="unknown dataset"):
        ensure_dataset("bbbc022", tmp_path, preset="tiny", seed=0, workers=1)


def test_existing_inputs_are_found_not_remade(tmp_path: Path) -> None:
    (tmp_path / "synthetic.json").write_text("{}")
    assert ensure_dataset("synthetic", tmp_path, preset="tiny", seed=0, workers=1).startswith("found")
    features = tmp_path / "features" / "simclr"
    features.mkdir(parents=True)
    (features / "features.json").write_text("{}")
    assert ensure_simclr_features(tmp_path, device="cpu", batch_size=8, seed=0) == [
        f"found the SimCLR features of notebook 4 in `{features}`"
    ]
    assert prerequisites_note(["a", "b"]) == "**Inputs of this notebook**: a; b."
