"""What each notebook needs from the ones before it, made here when missing, so that any notebook runs alone.

Run in order, notebook 1 makes the stand-in and the crop store, notebook 3 the SimCLR checkpoint and notebook 4
the SimCLR features; later notebooks reuse them. Opened alone — a fresh Colab runtime, an empty run folder —
a notebook first calls these functions. Each makes what is missing with the same library call the earlier
notebook uses (a short training run stands in for notebook 3's), and returns one sentence saying what it found
or made, so the reader knows where the inputs came from.
"""

from __future__ import annotations

from pathlib import Path

from cellclr_lib.data.source import SYNTHETIC_MARKER
from cellclr_lib.errors import CellclrError
from cellclr_lib.features import INFO_FILE

#: the short SimCLR run made when notebook 3's checkpoint is missing: minutes on a CPU, enough to evaluate.
SHORT_RUN = {"arch": "resnet18", "size": 64, "epochs": 1, "batch_size": 64, "max_cells": 1024}


def ensure_dataset(dataset: str, data_dir: str | Path, *, preset: str, seed: int, workers: int) -> str:
    """The raw images: the stand-in is generated when missing (as notebook 1 does); real data must be there."""
    data_dir = Path(data_dir)
    if dataset == "synthetic":
        if (data_dir / SYNTHETIC_MARKER).is_file():
            return f"found the synthetic stand-in in `{data_dir}`"
        from cellclr_lib.data.synth import generate

        generate(data_dir, preset=preset, seed=seed, workers=workers)
        return f"generated the synthetic stand-in (preset `{preset}`) in `{data_dir}`, as notebook 1 does"
    if dataset != "bbbc021":
        raise CellclrError(f"unknown dataset {dataset!r}", fix='use "synthetic" or "bbbc021"')
    if not any(data_dir.glob("BBBC021_v1_image.csv")):
        raise CellclrError(
            "no BBBC021 here: the real images are downloaded once, then prepared",
            path=data_dir,
            fix=f"cellclr download --out {data_dir}   (or use dataset='synthetic')",
        )
    return f"found real BBBC021 in `{data_dir}`"


def ensure_crops(data_dir: str | Path, run_dir: str | Path, *, crop_size: int, workers: int) -> str:
    """The crop store ``run_dir/crops``: prepared when missing (resumable: finished plates are kept)."""
    from cellclr_lib.data.prep import prep_dataset

    store = Path(run_dir) / "crops"
    report = prep_dataset(data_dir, store, crop_size=crop_size, workers=workers, progress=False)
    if len(report.resumed_plates) == len(report.crops_per_plate):
        return f"found the crop store in `{store}` ({report.n_crops:,} crops)"
    return f"prepared the crop store in `{store}` ({report.n_crops:,} crops), as notebook 1 does"


def ensure_checkpoint(run_dir: str | Path, *, device: str | None, seed: int) -> tuple[Path, str]:
    """Notebook 3's checkpoint, or a short run's (kept apart in ``simclr-short`` so notebook 3 never resumes it)."""
    from cellclr_lib.train import TrainConfig, train

    run_dir = Path(run_dir)
    full = run_dir / "simclr" / "checkpoints" / "last.pt"
    if full.is_file():
        return full, f"found notebook 3's checkpoint `{full}`"
    config = TrainConfig(
        store=str((run_dir / "crops").resolve()),
        out=str((run_dir / "simclr-short").resolve()),
        device=device,
        seed=seed,
        resume=True,
        **SHORT_RUN,
    )
    checkpoint = train(config) / "checkpoints" / "last.pt"
    return checkpoint, (
        f"no checkpoint from notebook 3: trained a short SimCLR run ({SHORT_RUN['epochs']} epoch on "
        f"{SHORT_RUN['max_cells']:,} cells) in `{run_dir / 'simclr-short'}`; run notebook 3 for a real one"
    )


def ensure_simclr_features(
    run_dir: str | Path, *, device: str | None, batch_size: int, seed: int
) -> list[str]:
    """The SimCLR feature set ``run_dir/features/simclr`` (notebook 4's), embedded from a checkpoint when missing."""
    from cellclr_lib.embed import embed_store

    out = Path(run_dir) / "features" / "simclr"
    if (out / INFO_FILE).is_file():  # written last: its presence means complete
        return [f"found the SimCLR features of notebook 4 in `{out}`"]
    checkpoint, note = ensure_checkpoint(run_dir, device=device, seed=seed)
    embed_store(
        checkpoint, Path(run_dir) / "crops", out, batch_size=batch_size, device=device, progress=False
    )
    return [note, f"embedded every cell into `{out}`, as notebook 4 does"]


def prerequisites_note(notes: list[str]) -> str:
    """The notes as one Markdown paragraph for the notebook's output."""
    return "**Inputs of this notebook**: " + "; ".join(notes) + "."
