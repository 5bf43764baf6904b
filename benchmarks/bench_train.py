"""Overhead of data loading + augmentation in a SimCLR training step (ResNet-18, 64 px, batch 64, CPU).

Measured in one process:

* **full step** — :func:`cellclr_lib.train.train` on a temporary crop store (memory-mapped uint8 crops,
  ``make_loader``, two augmented views on the device, forward, NT-Xent, backward, Adam step); per-step times
  from its ``metrics.csv``, which count the wait for the batch;
* **reference** — the same model, loss and optimiser on two pre-augmented float views (no loading, no
  augmentation).

Prints median step times and the overhead fraction ``1 − reference / full`` (target ≤ 0.25).
Usage: ``python benchmarks/bench_train.py [--steps 8] [--preset microscopy]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cellclr_lib.augment import Augmenter
from cellclr_lib.data import store as st
from cellclr_lib.losses import nt_xent
from cellclr_lib.models import build_model
from cellclr_lib.train import TrainConfig, read_metrics, train

SIZE, BATCH = 64, 64


def write_store(path: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    cells = pd.DataFrame({c: ["-"] * n for c in st.CELL_COLUMNS})
    cells["plate"] = "Week1_1"
    with st.ShardWriter(path, "Week1_1", SIZE) as writer:
        writer.append(rng.integers(0, 256, (n, 3, SIZE, SIZE), dtype=np.uint8))
        writer.commit(cells, {})
    st.merge_shards(path, ["Week1_1"], SIZE, {"format": st.STORE_FORMAT, "parameters": {}})
    return path


def reference_step_times(steps: int, preset: str) -> list[float]:
    torch.manual_seed(0)
    model = build_model("resnet18").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, weight_decay=1e-5)
    crops = torch.randint(0, 256, (BATCH, 3, SIZE, SIZE), dtype=torch.uint8)
    views = torch.cat(Augmenter(preset, size=SIZE).two_views(crops, torch.Generator().manual_seed(0)))
    times = []
    for _ in range(steps):
        tick = time.perf_counter()
        _, z = model(views)
        loss, _ = nt_xent(*z.chunk(2), temperature=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - tick)
    return times


def augment_times(steps: int, preset: str) -> list[float]:
    augmenter, generator = Augmenter(preset, size=SIZE), torch.Generator().manual_seed(0)
    crops = torch.randint(0, 256, (BATCH, 3, SIZE, SIZE), dtype=torch.uint8)
    times = []
    for _ in range(steps):
        tick = time.perf_counter()
        augmenter.two_views(crops, generator)
        times.append(time.perf_counter() - tick)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement (after 2 warm-up)")
    parser.add_argument("--preset", default="microscopy", help="augmentation preset")
    args = parser.parse_args()
    warm = 2
    with tempfile.TemporaryDirectory() as tmp:
        store = write_store(Path(tmp) / "store", BATCH * (args.steps + warm))
        config = TrainConfig(
            out=str(Path(tmp) / "run"),
            epochs=1,
            batch_size=BATCH,
            size=SIZE,
            augment=args.preset,
            warmup_epochs=0.1,
            checkpoint_every=0,
            progress=False,
        )
        train(config, store)
        metrics = read_metrics(config.out)
    full = statistics.median(BATCH / metrics["images_per_s"].iloc[warm:])
    ref = statistics.median(reference_step_times(args.steps + warm, args.preset)[warm:])
    aug = statistics.median(augment_times(args.steps + warm, args.preset)[warm:])
    print(
        f"torch threads: {torch.get_num_threads()}, ResNet-18, {SIZE} px, batch {BATCH} (2 x {BATCH} views)"
    )
    print(
        f"full step (load + augment + fwd + bwd + Adam): {full * 1e3:8.1f} ms  ({BATCH / full:6.1f} cells/s)"
    )
    print(
        f"reference (pre-augmented fwd + bwd + Adam):     {ref * 1e3:8.1f} ms  ({BATCH / ref:6.1f} cells/s)"
    )
    print(f"augmentation alone (two views):                 {aug * 1e3:8.1f} ms")
    print(
        f"overhead fraction 1 - reference/full: {1 - ref / full:.3f} (target <= 0.25); "
        f"augmentation / full: {aug / full:.3f}"
    )


if __name__ == "__main__":
    main()
