"""Benchmark: 1 M cells × 2048-d features → well and treatment profiles → NSC/NSCB, on CPU.

Synthetic random features (float16 by default, as embeddings are stored) on the real plate/well/treatment
layout of the shipped BBBC021 metadata (the 632 benchmark wells, cells spread over their fields). Prints the
time of :func:`cellclr_lib.evaluate.evaluate_profiles` on all cells (target ≤ 20 s), and, on a subset small
enough for pandas, the ratio against a naive pandas implementation run in the same process (a wide
DataFrame, ``groupby().mean()`` / ``.median()`` and a per-query Python loop for the neighbour search).

Memory: 1 M × 2048 float16 is 4 GB (float32: 8 GB). Run once: ``python benchmarks/bench_eval.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from cellclr_lib.data.metadata import benchmark_fields
from cellclr_lib.evaluate import evaluate_profiles


def synthetic_cells(n_cells: int, dim: int, dtype: str, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    """Random features and cell metadata laid out on the real benchmark fields (about equal cells per field)."""
    rng = np.random.default_rng(seed)
    fields = benchmark_fields()[["image_number", "plate", "well", "site", "compound", "concentration", "moa"]]
    per_field = rng.multinomial(n_cells, np.full(len(fields), 1 / len(fields)))
    cells = fields.loc[np.repeat(fields.index.to_numpy(), per_field)].reset_index(drop=True)
    values = np.empty((n_cells, dim), dtype=dtype)
    for start in range(0, n_cells, 65536):
        stop = min(start + 65536, n_cells)
        values[start:stop] = rng.standard_normal((stop - start, dim), dtype=np.float32)
    return values, cells


def naive_pandas(values: np.ndarray, cells: pd.DataFrame) -> tuple[float, float]:
    """Reference: wide DataFrame groupbys and a Python loop over queries (NSC and NSCB, cosine)."""
    meta = cells[cells["moa"].notna()].copy()
    meta = meta[
        ~((meta["compound"] == "taxol") & meta["well"].isin(["B11", "C11", "D11", "E02", "F02", "G02"]))
    ]
    wide = pd.concat(
        [meta.reset_index(drop=True), pd.DataFrame(values[meta.index.to_numpy()].astype(np.float32))], axis=1
    )
    feature_cols = list(range(values.shape[1]))
    wells = (
        wide.groupby(["plate", "well", "compound", "concentration", "moa"])[feature_cols].mean().reset_index()
    )
    wells = wells[wells["compound"] != "DMSO"]
    wells["batch"] = wells["plate"].str.split("_").str[0]
    treat = wells.groupby(["compound", "concentration", "moa"])[feature_cols].median().reset_index()
    batches = wells.groupby(["compound", "concentration"])["batch"].agg(set).reset_index(drop=True)
    scores = []
    for nscb in (False, True):
        correct = total = 0
        for i, q in treat.iterrows():
            if nscb and q["moa"] in ("Cholesterol-lowering", "Kinase inhibitors"):
                continue
            best, best_moa = -np.inf, None
            qv = q[feature_cols].to_numpy(dtype=float)
            for j, c in treat.iterrows():
                if c["compound"] == q["compound"] or (
                    nscb
                    and (c["moa"] in ("Cholesterol-lowering", "Kinase inhibitors") or batches[i] & batches[j])
                ):
                    continue
                cv = c[feature_cols].to_numpy(dtype=float)
                sim = qv @ cv / (np.linalg.norm(qv) * np.linalg.norm(cv))
                if sim > best:
                    best, best_moa = sim, c["moa"]
            if best_moa is not None:
                total += 1
                correct += best_moa == q["moa"]
        scores.append(correct / total)
    return scores[0], scores[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000, help="number of cells (default 1 M)")
    parser.add_argument("--dim", type=int, default=2048, help="feature dimension (default 2048)")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16", help="feature dtype")
    parser.add_argument(
        "--reference-cells", type=int, default=100_000, help="cells for the pandas comparison"
    )
    args = parser.parse_args()

    values, cells = synthetic_cells(args.cells, args.dim, args.dtype)
    start = time.perf_counter()
    result = evaluate_profiles(values, cells)
    full = time.perf_counter() - start
    m = result.metrics
    print(
        f"cellclr: {args.cells:,} cells × {args.dim} {args.dtype} → {m['n_treatments']} treatments, "
        f"NSC {m['nsc']:.3f} NSCB {m['nscb']:.3f} in {full:.1f} s (target ≤ 20 s)"
    )
    start = time.perf_counter()
    evaluate_profiles(values, cells, normalization="tvn")
    print(f"cellclr with TVN (whitening + 10 batch CORALs, low-rank): {time.perf_counter() - start:.1f} s")

    sub = np.sort(np.random.default_rng(1).choice(args.cells, args.reference_cells, replace=False))
    sub_values, sub_cells = values[sub], cells.iloc[sub].reset_index(drop=True)
    start = time.perf_counter()
    ours = evaluate_profiles(sub_values, sub_cells).metrics
    ours_time = time.perf_counter() - start
    start = time.perf_counter()
    ref_nsc, ref_nscb = naive_pandas(sub_values, sub_cells)
    ref_time = time.perf_counter() - start
    print(
        f"{args.reference_cells:,} cells: cellclr {ours_time:.2f} s, naive pandas {ref_time:.2f} s, "
        f"speed-up ×{ref_time / ours_time:.1f}; NSC {ours['nsc']:.3f} vs {ref_nsc:.3f}, "
        f"NSCB {ours['nscb']:.3f} vs {ref_nscb:.3f}"
    )


if __name__ == "__main__":
    main()
