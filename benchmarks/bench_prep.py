"""Throughput and memory of ``cellclr prep`` on stand-in-like fields at BBBC021's real size (1280×1024).

Writes a small raw dataset (``--plates`` plates × ``--fields`` fields, ~``--nuclei`` nuclei per field, some
touching, under a vignetting) in BBBC021's layout, then:

1. times the per-field steps in this process (read, correct + scale, detect, crop) on a few fields;
2. runs ``prep_dataset`` end to end with 1 worker and with ``--workers`` workers (the reference run and the
   parallel run of the same process), and reports fields/s, crops/s, fields/s per core, the speed-up, the
   peak RSS (this process + the largest worker × workers) and the extrapolated time for the 2,528-field
   benchmark subset (3,848 fields with the taxol control wells) — the target is ≤ 15 min on 2 cores with a
   peak RSS under 2 GB.

The machine may be shared: every number is a lower bound on what an idle machine does.

    python benchmarks/bench_prep.py --plates 2 --fields 12 --workers 2
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from skimage.draw import ellipse

from cellclr_lib.data import illumination as illum
from cellclr_lib.data.crops import extract_crops
from cellclr_lib.data.nuclei import detect_nuclei
from cellclr_lib.data.prep import prep_dataset, read_field

SHAPE = (1024, 1280)
BENCHMARK_FIELDS, WITH_TAXOL_CONTROLS = 2528, 3848


def draw_field(rng: np.random.Generator, n_nuclei: int) -> np.ndarray:
    """A (3, 1024, 1280) uint16 field: elliptical nuclei (r 9–15 px, some touching) and larger cell bodies."""
    rows, cols = np.mgrid[: SHAPE[0], : SHAPE[1]]
    shade = 1.0 - 0.6 * (((rows - SHAPE[0] / 2) / SHAPE[0]) ** 2 + ((cols - SHAPE[1] / 2) / SHAPE[1]) ** 2)
    field = np.stack([np.full(SHAPE, 400.0), np.full(SHAPE, 300.0), np.full(SHAPE, 350.0)])
    for _ in range(n_nuclei):
        y, x = rng.uniform(0, SHAPE[0]), rng.uniform(0, SHAPE[1])
        r, angle = rng.uniform(9, 15), rng.uniform(0, np.pi)
        brightness = rng.uniform(0.6, 1.4)
        for channel, scale, gain in ((0, 1.0, 4000), (1, 2.0, 1500), (2, 1.8, 1200)):
            rr, cc = ellipse(y, x, r * scale, r * scale * rng.uniform(0.7, 1.0), shape=SHAPE, rotation=angle)
            field[channel, rr, cc] += gain * brightness
    field = field * shade + rng.normal(0, 60, field.shape)
    return np.clip(field, 0, 65535).astype(np.uint16)


def write_dataset(root: Path, n_plates: int, n_fields: int, n_nuclei: int, seed: int = 0) -> None:
    """BBBC021-layout CSVs and TIFFs: each plate has DMSO and one compound, ``n_fields`` fields in all."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_plates):
        plate, folder = f"Week{p + 1}_{1000 + p}", f"Week{p + 1}/Week{p + 1}_{1000 + p}"
        (root / folder).mkdir(parents=True)
        for f in range(n_fields):
            well, site = f"B{f // 4 + 2:02d}", f % 4 + 1
            field = draw_field(rng, n_nuclei)
            names = [f"{well}_s{site}_{tag}{uuid.uuid4().hex.upper()}.tif" for tag in ("w1", "w2", "w4")]
            for name, image in zip(names, field, strict=True):
                tifffile.imwrite(root / folder / name, image)
            compound, conc = ("DMSO", 0.0) if f % 2 == 0 else ("taxol", 0.3)
            rows.append(
                [
                    1,
                    len(rows) + 1,
                    names[0],
                    folder,
                    names[1],
                    folder,
                    names[2],
                    folder,
                    plate,
                    well,
                    1,
                    compound,
                    conc,
                ]
            )
    columns = [
        "TableNumber",
        "ImageNumber",
        "Image_FileName_DAPI",
        "Image_PathName_DAPI",
        "Image_FileName_Tubulin",
        "Image_PathName_Tubulin",
        "Image_FileName_Actin",
        "Image_PathName_Actin",
        "Image_Metadata_Plate_DAPI",
        "Image_Metadata_Well_DAPI",
        "Replicate",
        "Image_Metadata_Compound",
        "Image_Metadata_Concentration",
    ]
    pd.DataFrame(rows, columns=columns).to_csv(root / "BBBC021_v1_image.csv", index=False)
    pd.DataFrame(
        {
            "compound": ["DMSO", "taxol"],
            "concentration": [0.0, 0.3],
            "moa": ["DMSO", "Microtubule stabilizers"],
        }
    ).to_csv(root / "BBBC021_v1_moa.csv", index=False)


def step_times(root: Path, n: int) -> dict[str, float]:
    """Mean seconds per field of each step, in this process, on ``n`` fields."""
    table = pd.read_csv(root / "BBBC021_v1_image.csv").head(n)
    paths = [
        [
            root / r.Image_PathName_DAPI / getattr(r, f"Image_FileName_{c}")
            for c in ("DAPI", "Tubulin", "Actin")
        ]
        for r in table.itertuples()
    ]
    times = dict.fromkeys(("read", "correct + scale", "detect", "crop"), 0.0)
    fields = [read_field(p) for p in paths]
    profile = illum.illumination_profile(fields)
    lo, hi = np.full(3, 300.0), np.full(3, 5000.0)
    for p in paths:
        t0 = time.perf_counter()
        field = read_field(p)
        t1 = time.perf_counter()
        corrected = illum.correct(field, profile)
        scaled = illum.to_uint8(corrected, lo, hi)
        t2 = time.perf_counter()
        _, xy, _ = detect_nuclei(corrected[0])
        t3 = time.perf_counter()
        extract_crops(scaled, xy, 96)
        t4 = time.perf_counter()
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            times[key] += dt / len(paths)
    return times


def peak_rss_mb(workers: int) -> float:
    """Upper bound of the peak resident memory: this process + ``workers`` × the largest child (MB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own + (workers * child if workers > 1 else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plates", type=int, default=2, help="plates in the generated dataset")
    parser.add_argument("--fields", type=int, default=12, help="fields per plate")
    parser.add_argument("--nuclei", type=int, default=150, help="nuclei drawn per field (BBBC021: ~100-200)")
    parser.add_argument(
        "--workers", type=int, default=2, help="workers of the parallel run (the reference has 1)"
    )
    parser.add_argument("--keep", type=Path, help="write the dataset here and keep it (default: a temp dir)")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_prep_"))
    try:
        t = time.perf_counter()
        write_dataset(root / "raw", args.plates, args.fields, args.nuclei)
        n_fields = args.plates * args.fields
        print(f"wrote {n_fields} fields of {SHAPE[1]}×{SHAPE[0]} px in {time.perf_counter() - t:.0f} s")
        print(
            "per-field steps (s):",
            {k: round(v, 3) for k, v in step_times(root / "raw", min(4, n_fields)).items()},
        )
        results = {}
        for workers in sorted({1, args.workers}):
            out = root / f"store_w{workers}"
            start = time.perf_counter()
            report = prep_dataset(root / "raw", out, workers=workers, progress=False)
            seconds = time.perf_counter() - start
            results[workers] = seconds
            print(
                f"workers={workers}: {n_fields / seconds:.2f} fields/s ({n_fields / seconds / workers:.2f} per core), "
                f"{report.n_crops / seconds:.0f} crops/s, {report.n_crops / n_fields:.0f} crops/field, "
                f"peak RSS ≤ {peak_rss_mb(workers):.0f} MB"
            )
        w = max(results)
        rate = n_fields / results[w]
        print(f"speed-up of {w} workers over 1: {results[1] / results[w]:.2f}×")
        for n, label in (
            (BENCHMARK_FIELDS, "benchmark subset"),
            (WITH_TAXOL_CONTROLS, "incl. taxol controls"),
        ):
            minutes = n / rate / 60
            print(
                f"extrapolated {label} ({n} fields) with {w} workers: {minutes:.1f} min "
                f"(target 15 min: {15 / minutes:.2f}× the needed speed)"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
