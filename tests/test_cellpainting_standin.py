"""The stand-in's Cell Painting panel: five plausible stains, and every step on it by the CLI.

``cellclr synth --panel cellpainting`` renders BBBC021's fields with the five Cell Painting stains in
CellProfiler's LoadData layout and writes the matching ``dataset.toml``, so ``cellclr prep --data`` makes a
five-channel store with no further option; train, embed, the handcrafted baseline and evaluate then run on it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cellclr_lib import cli
from cellclr_lib.data import dataset, synth
from cellclr_lib.data.metadata import IMAGE_CSV_NAME
from cellclr_lib.data.store import CropStore
from cellclr_lib.errors import CellclrError
from cellclr_lib.features import read_feature_set

PAINT = ("DNA", "ER", "RNA", "AGP", "Mito")
SHAPE = (160, 192)


def test_cell_painting_render_has_five_plausible_stains(render_dmso) -> None:
    image, _, (owner, rho, rho_n) = render_dmso(SHAPE, 7, "cellpainting")
    assert image.shape == (5, *SHAPE) and image.dtype == np.uint16
    dna, er, rna, agp, mito = image.astype(float)
    nucleus = rho_n < 0.7
    cytoplasm = (owner >= 0) & (rho < 0.8) & (rho_n > 1.5)

    def median(channel: np.ndarray, where: np.ndarray) -> float:
        assert where.sum() > 100, "the field must hold enough pixels of each region"
        return float(np.median(channel[where]))

    assert median(dna, nucleus) > 3 * median(dna, cytoplasm)  # DNA: the nuclei
    cortex = (owner >= 0) & (rho > 0.9) & (rho < 1.0) & (rho_n > 1.5)
    interior = cytoplasm & (rho < 0.6)
    assert median(agp, cortex) > 1.2 * median(agp, interior)  # AGP: cortical actin at the cell edge
    perinuclear = (rho_n > 1.1) & (rho_n < 1.6)
    assert median(er, perinuclear) > 1.5 * median(er, cytoplasm & (rho_n > 2.5))  # ER: around the nucleus
    assert median(rna, nucleus) > median(rna, cytoplasm) > median(rna, owner < 0)  # RNA: nucleoli + cytoplasm
    assert median(mito, cytoplasm) > median(mito, nucleus)  # Mito: cytoplasmic ...
    assert np.percentile(mito[cytoplasm], 99) > 2 * median(mito, cytoplasm)  # ... and punctate
    # the same cells as BBBC021's panel: its DNA is BBBC021's DAPI up to pixel noise
    dapi = render_dmso(SHAPE, 7)[0][0].astype(float)
    assert np.corrcoef(dapi.ravel(), dna.ravel())[0, 1] > 0.95


def test_panel_description_and_marker(tmp_path: Path) -> None:
    """The panel's description reads back; BBBC021's panel, the default, is left out of the marker (sets
    written before panels existed are still recognised, and BBBC021's marker keeps its bytes)."""
    (tmp_path / dataset.DESCRIPTION_NAME).write_text(
        synth.standin_description("cellpainting"), encoding="utf-8"
    )
    description = dataset.description_for(tmp_path)
    assert description.channel_names == PAINT and description.nucleus_channel == "DNA"
    assert description.image_csv == synth.LOADDATA_CSV and description.control == "DMSO"
    assert "panel" not in synth._config_record(synth.config_for("tiny"))
    assert synth._config_record(synth.config_for("tiny", panel="cellpainting"))["panel"] == "cellpainting"
    with pytest.raises(CellclrError, match="panel must be one of"):
        synth.config_for("tiny", panel="rgb")


#: a quick stand-in: two compounds per MoA at one concentration, two replicate wells (activity mAP needs
#: them), small fields. Training as in the other CLI pipeline tests: one epoch on 64 cells of 16 px.
SYNTH = [
    *["--compounds-per-moa", "2", "--concentrations-per-compound", "1"],
    *["--replicates", "2", "--field-size", "128", "160", "--workers", "2"],
]
TRAIN = [
    *["--epochs", "1", "--batch-size", "16", "--size", "16", "--max-cells", "64"],
    *["--device", "cpu", "--no-progress"],
]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cell_painting_standin_prep_train_embed_baseline_evaluate(tmp_path: Path) -> None:
    data, crops, run = tmp_path / "data", tmp_path / "crops", tmp_path / "run"
    assert cli.main(["synth", "--preset", "tiny", "--panel", "cellpainting", "--out", str(data), *SYNTH]) == 0
    assert (data / synth.LOADDATA_CSV).is_file() and not (data / IMAGE_CSV_NAME).exists()
    assert cli.main(["prep", "--data", str(data), "--out", str(crops), "--crop-size", "32", "--quiet"]) == 0
    store = CropStore.open(crops)
    assert store.channels == list(PAINT) and store.crops.shape[1:] == (5, 32, 32)
    assert store.manifest["nucleus_channel"] == "DNA" and store.manifest["dataset"]["kind"] == "synthetic"
    assert store.cells["moa"].notna().all() and store.cells["is_control"].any()

    assert cli.main(["train", "--store", str(crops), "--out", str(run / "simclr"), *TRAIN]) == 0
    checkpoint = run / "simclr/checkpoints/last.pt"
    embed = ["embed", "--checkpoint", str(checkpoint), "--store", str(crops), "--out", str(run / "emb")]
    assert cli.main([*embed, "--device", "cpu"]) == 0
    assert cli.main(["baseline", "handcrafted", "--store", str(crops), "--out", str(run / "hand")]) == 0
    emb, hand = read_feature_set(run / "emb"), read_feature_set(run / "hand")
    assert emb.info["in_channels"] == 5 and emb.features.shape == (len(store), 512)
    assert {f"cell_mean_{c}" for c in PAINT} <= set(hand.info["feature_names"])
    for features in (emb, hand):
        assert np.isfinite(np.asarray(features.features, dtype=np.float32)).all()

    for name in ("emb", "hand"):
        out = run / f"{name}.json"
        assert cli.main(["evaluate", str(run / name), "--out", str(out)]) == 0
        metrics = json.loads(out.read_text())
        for key in ("nsc", "nscb", "map_activity", "map_consistency"):
            assert math.isfinite(metrics[key]) and 0 <= metrics[key] <= 1, (name, key)
        assert metrics["n_treatments"] > 10 and metrics["nscb_total"] > 0
        assert metrics["settings"]["n_control_wells"] > 0
