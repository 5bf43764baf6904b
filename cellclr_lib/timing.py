"""Fair wall-clock comparisons in one process, shared by ``benchmarks/`` and the notebooks.

Speed claims here are always ratios against a reference run in the same process on the same data, never
absolute thresholds: absolute numbers depend on the machine, ratios much less.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Fastest of ``repeats`` runs of each callable after one warm-up, the callables taking turns.

    Interleaving exposes every candidate to the same background load; load only ever adds time, so the minimum
    is the fairest estimate.
    """
    best = dict.fromkeys(runs, float("inf"))
    for run in runs.values():
        run()
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best
