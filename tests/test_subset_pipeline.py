"""``download --subset colab`` → prep → train → embed → evaluate, end to end, on a loopback HTTP server.

The server (127.0.0.1 only, from ``test_download``) serves the synthetic stand-in exactly as the Broad serves
BBBC021: the two CSVs and one ``BBBC021_v1_images_<Plate>.zip`` per plate holding ``<Plate>/<file>.tif``. The
stand-in is made with two replicate wells per treatment on distinct plates, so — like the real data — one
plate of each plate map suffices and the subset must leave plates out. Every step is the real command.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from test_download import server  # noqa: F401 (the loopback server fixture)

from cellclr_lib import cli
from cellclr_lib.data import download as dl
from cellclr_lib.data.metadata import IMAGE_CSV_NAME, MOA_CSV_NAME, benchmark_fields
from cellclr_lib.data.store import CropStore
from cellclr_lib.data.subset import coverage, subset_plates
from cellclr_lib.data.synth import generate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: the tiny stand-in, with replicate plates (the tiny preset has one well per treatment) and small fields.
STANDIN = {"replicates": 2, "field_shape": (256, 256), "concentrations_per_compound": 1}


def _plate_zips(standin: Path) -> dict[str, bytes]:
    """One zip per plate in the Broad's layout: ``BBBC021_v1_images_<Plate>.zip`` holding ``<Plate>/<file>``."""
    zips = {}
    for folder in sorted(p for p in standin.glob("Week*/Week*_*") if p.is_dir()):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for tif in sorted(folder.glob("*.tif")):
                archive.write(tif, f"{folder.name}/{tif.name}")
        zips[dl.plate_zip_name(folder.name)] = buffer.getvalue()
    return zips


def test_colab_subset_download_prep_train_embed_evaluate(server, tmp_path) -> None:  # noqa: F811 (fixture)
    served, url = server
    standin = generate(tmp_path / "standin", preset="tiny", workers=2, progress=False, **STANDIN)
    served.files.update(_plate_zips(standin))
    for name in (IMAGE_CSV_NAME, MOA_CSV_NAME):
        served.files[name] = (standin / name).read_bytes()
    csvs = (standin / IMAGE_CSV_NAME, standin / MOA_CSV_NAME)
    plates = subset_plates("colab", *csvs)
    kept = coverage(benchmark_fields(*csvs), plates)
    assert len(plates) < kept.plates_total  # replicate plates are left out ...
    assert (kept.treatments, kept.weeks) == (kept.treatments_total, kept.weeks_total)  # ... nothing else

    data, run = tmp_path / "bbbc021", tmp_path / "run"
    download = ["download", "--out", str(data), "--base-url", url, "--subset", "colab", "--backoff", "0"]
    assert cli.main(download) == 0
    zips = {name for name, _ in served.log if name.endswith(".zip")}
    assert zips == {dl.plate_zip_name(p) for p in plates}
    assert sorted(p.stem for p in (data / dl.DONE_DIR).glob("*.json")) == sorted(plates)
    served.log.clear()
    assert cli.main([*download, "--dry-run"]) == 0 and served.log == []  # complete: nothing left to fetch

    prep = [
        "prep",
        "--data",
        str(data),
        "--out",
        str(run / "crops"),
        "--subset",
        "colab",
        "--crop-size",
        "32",
    ]
    assert cli.main([*prep, "--quiet"]) == 0
    assert set(CropStore.open(run / "crops").cells["plate"]) == set(plates)
    train = [
        *["train", "--store", str(run / "crops"), "--out", str(run / "simclr")],
        *["--epochs", "1", "--batch-size", "32", "--size", "32", "--max-cells", "64"],
        *["--device", "cpu", "--no-progress"],
    ]
    assert cli.main(train) == 0
    assert len(pd.read_csv(run / "simclr" / "metrics.csv")) == 2  # 64 cells in batches of 32: two steps
    embed = ["embed", "--checkpoint", str(run / "simclr/checkpoints/last.pt"), "--store", str(run / "crops")]
    embed += ["--out", str(run / "embeddings"), "--device", "cpu"]
    assert cli.main(embed) == 0
    evaluate = ["evaluate", str(run / "embeddings"), "--metric", "nsc", "--out", str(run / "metrics.json")]
    assert cli.main(evaluate) == 0

    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["nsc"] <= 1 and 0 <= metrics["nscb"] <= 1
    assert (metrics["n_treatments"], metrics["nsc_total"], metrics["nscb_total"]) == (
        kept.treatments,
        kept.nsc_evaluable,
        kept.nscb_evaluable,
    )
    assert metrics["settings"]["n_control_wells"] == kept.dmso_wells and metrics["nscb_skipped"] == 0
